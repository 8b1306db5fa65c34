//! Lists as downloads (API.md §4): `format=csv|ndjson|json`, or `Accept:
//! text/csv`, gives the whole result with a header row and a file name. Text
//! cells that a spreadsheet would run as a formula are neutralised.

use crate::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> ApiResult<Format> {
        match text {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            "json" => Ok(Format::Json),
            other => Err(ApiError::param(
                "format",
                format!("{other:?}: csv, ndjson or json"),
            )),
        }
    }
    fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Json => "json",
        }
    }
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
            Format::Json => "application/json",
        }
    }
}

/// `Accept: text/csv` on a GET means `format=csv` (unless a format is given):
/// rewritten once here so every list sees only the query parameter.
pub async fn accept_csv(mut req: Request<Body>, next: axum::middleware::Next) -> Response {
    let wants_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    let query = req.uri().query().unwrap_or("");
    if wants_csv
        && req.method() == axum::http::Method::GET
        && !query.split('&').any(|p| p.starts_with("format="))
    {
        let pq = if query.is_empty() {
            format!("{}?format=csv", req.uri().path())
        } else {
            format!("{}?{query}&format=csv", req.uri().path())
        };
        if let Ok(uri) = pq.parse() {
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}

/// A text cell a spreadsheet would evaluate gets a leading `'`; numbers
/// (money strings included) are left as they are.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if !cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        return cell.into();
    }
    let number = cell.parse::<f64>().is_ok() && !cell.starts_with(['\t', '\r']);
    if !number {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => neutralise(s).into_owned(),
        Value::Array(items) => neutralise(
            &items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join("; "),
        )
        .into_owned(),
        other => other.to_string(),
    }
}

/// One row as bytes in `format` (for CSV, the values of `columns` in order).
pub fn encode_row(
    format: Format,
    columns: &[&str],
    row: &Map<String, Value>,
    first: bool,
    out: &mut Vec<u8>,
) {
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            let _ = w.write_record(
                columns
                    .iter()
                    .map(|c| cell(row.get(*c).unwrap_or(&Value::Null))),
            );
            out.extend(w.into_inner().unwrap_or_default());
        }
        Format::Ndjson => {
            out.extend(serde_json::to_vec(row).unwrap_or_default());
            out.push(b'\n');
        }
        Format::Json => {
            out.extend_from_slice(if first { b"\n" } else { b",\n" });
            out.extend(serde_json::to_vec(row).unwrap_or_default());
        }
    }
}

pub fn head(format: Format, columns: &[&str]) -> Vec<u8> {
    match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            let _ = w.write_record(columns);
            w.into_inner().unwrap_or_default()
        }
        Format::Ndjson => Vec::new(),
        Format::Json => b"[".to_vec(),
    }
}

pub fn tail(format: Format) -> &'static [u8] {
    match format {
        Format::Json => b"\n]\n",
        _ => b"",
    }
}

pub fn file_name(org: &str, list: &str, from: &str, to: &str, format: Format) -> String {
    let safe: String = format!("spendlens-{org}-{list}-{from}-{to}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.{}", format.ext())
}

/// A whole list already in memory.
pub fn download(
    format: Format,
    name: &str,
    columns: &[&str],
    rows: &[Map<String, Value>],
) -> Response {
    let mut body = head(format, columns);
    for (i, r) in rows.iter().enumerate() {
        encode_row(format, columns, r, i == 0, &mut body);
    }
    body.extend_from_slice(tail(format));
    respond(format, name, Body::from(body))
}

/// A streamed body: chunks arrive as they are produced.
pub fn stream(
    format: Format,
    name: &str,
    chunks: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> Response {
    respond(format, name, Body::from_stream(chunks))
}

fn respond(format: Format, name: &str, body: Body) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1+1"), "'+1+1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("-cmd"), "'-cmd");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("-0.500000000"), "-0.500000000");
        assert_eq!(neutralise("0.025000000"), "0.025000000");
        assert_eq!(neutralise("alice"), "alice");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name("acme", "users", "2026-11-01", "2026-12-01", Format::Csv),
            "spendlens-acme-users-2026-11-01-2026-12-01.csv"
        );
        assert_eq!(
            file_name("a\"b/c", "x", "1", "2", Format::Json),
            "spendlens-a_b_c-x-1-2.json"
        );
    }
}
