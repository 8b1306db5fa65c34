//! Event files: JSON (an array or `{"events": [...]}`), NDJSON, CSV (one
//! column per event field), any of them gzip-compressed. Each record becomes
//! the JSON the API would receive, so the same validation applies.

use anyhow::{bail, Context};
use serde_json::{Map, Value};
use spendlens_domain::ErrorCode;
use spendlens_store::model::ItemError;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
}

/// One record of a file: where it is (1-based line or CSV record) and its JSON.
pub struct Record {
    pub position: u64,
    pub item: Result<Value, ItemError>,
}

pub fn detect(path: &Path) -> anyhow::Result<Format> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    Ok(if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
        Format::Ndjson
    } else if name.ends_with(".json") {
        Format::Json
    } else if name.ends_with(".csv") {
        Format::Csv
    } else {
        bail!(
            "{}: cannot tell the format from the name; use --format json|ndjson|csv",
            path.display()
        )
    })
}

pub fn open(path: &Path) -> anyhow::Result<(Box<dyn BufRead + Send>, u64)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader: Box<dyn BufRead + Send> = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    Ok((reader, size))
}

fn invalid_json(position: u64, message: String) -> ItemError {
    ItemError {
        index: 0,
        event_id: None,
        code: ErrorCode::InvalidJson,
        field: None,
        message,
        line: Some(position as usize),
    }
}

/// Records of a file, read lazily (NDJSON, CSV) or at once (JSON).
pub fn records(
    format: Format,
    mut reader: Box<dyn BufRead + Send>,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Record>> + Send>> {
    Ok(match format {
        Format::Ndjson => Box::new(ndjson(reader)),
        Format::Json => {
            let mut text = Vec::new();
            reader.read_to_end(&mut text)?;
            let value: Value = serde_json::from_slice(&text).map_err(|e| {
                anyhow::anyhow!(
                    "not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                )
            })?;
            let list = match value {
                Value::Array(list) => list,
                Value::Object(mut o) => match o.remove("events") {
                    Some(Value::Array(list)) => list,
                    _ => bail!("expected a JSON array of events or {{\"events\": [...]}}"),
                },
                _ => bail!("expected a JSON array of events or {{\"events\": [...]}}"),
            };
            Box::new(list.into_iter().enumerate().map(|(i, v)| {
                Ok(Record {
                    position: i as u64 + 1,
                    item: Ok(v),
                })
            }))
        }
        Format::Csv => Box::new(csv_records(reader)?),
    })
}

fn ndjson(reader: Box<dyn BufRead + Send>) -> impl Iterator<Item = anyhow::Result<Record>> + Send {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let position = i as u64 + 1;
        match line {
            Err(e) => Some(Err(anyhow::anyhow!("line {position}: {e}"))),
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(Ok(Record {
                position,
                item: serde_json::from_str(&line)
                    .map_err(|e| invalid_json(position, format!("line {position}: {e}"))),
            })),
        }
    })
}

/// Columns holding integers; every other cell is a string (money included:
/// the API takes decimal strings, which keeps them exact).
const INTEGER_FIELDS: &[&str] = &[
    "tokens_in",
    "tokens_out",
    "cached_tokens_in",
    "cache_write_tokens_in",
];

fn csv_records(
    reader: Box<dyn BufRead + Send>,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Record>> + Send> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers: Vec<String> = csv
        .headers()
        .context("reading the CSV header row")?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok(csv.into_records().enumerate().map(move |(i, rec)| {
        let position = i as u64 + 2; // the header is line 1
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                return Ok(Record {
                    position,
                    item: Err(invalid_json(
                        position,
                        format!("CSV record {position}: {e}"),
                    )),
                })
            }
        };
        let mut obj = Map::new();
        for (name, cell) in headers.iter().zip(rec.iter()) {
            if cell.is_empty() {
                continue; // an empty cell is an absent field
            }
            let value = if INTEGER_FIELDS.contains(&name.as_str()) {
                cell.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(cell))
            } else {
                Value::from(cell)
            };
            obj.insert(name.clone(), value);
        }
        Ok(Record {
            position,
            item: Ok(Value::Object(obj)),
        })
    }))
}
