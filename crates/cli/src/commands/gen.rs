//! `spendlens gen NAME FILE`: a standard dataset of BENCH.md as NDJSON.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use spendlens_datagen::{setup, write_ndjson, Spec};
use std::io::BufWriter;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// small, medium, large or demo
    pub name: String,
    /// Where to write the NDJSON (.gz compresses it).
    pub file: PathBuf,
    /// The last day of the data (default: today, UTC).
    #[arg(long)]
    pub anchor: Option<jiff::civil::Date>,
    /// Also write the organisations, teams, members and keys as JSON here.
    #[arg(long)]
    pub setup: Option<PathBuf>,
}

pub fn today_utc() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

pub fn spec(name: &str, anchor: jiff::civil::Date) -> anyhow::Result<Spec> {
    if name == "demo" {
        return Ok(Spec::demo(anchor));
    }
    Spec::standard(name, anchor)
        .with_context(|| format!("unknown dataset {name:?}: small, medium, large or demo"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = spec(&args.name, args.anchor.unwrap_or_else(today_utc))?;
    if let Some(path) = &args.setup {
        std::fs::write(path, serde_json::to_vec_pretty(&setup(&spec))?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let file = std::fs::File::create(&args.file)
        .with_context(|| format!("creating {}", args.file.display()))?;
    let expected = spec.events + spec.events * 3 / 100;
    let bar = ProgressBar::new(expected).with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} lines {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(args.name.clone());
    let gz = args.file.extension().is_some_and(|e| e == "gz");
    let lines = if gz {
        let mut enc =
            flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
        let n = write_ndjson(&spec, &mut enc, |n| bar.set_position(n))?;
        enc.finish()?;
        n
    } else {
        write_ndjson(&spec, BufWriter::new(file), |n| bar.set_position(n))?
    };
    bar.finish_and_clear();
    println!(
        "{}: {lines} lines ({} distinct events, anchor {}) → {}",
        args.name,
        spec.events,
        spec.anchor,
        args.file.display()
    );
    Ok(())
}
