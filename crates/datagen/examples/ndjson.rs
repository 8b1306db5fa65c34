//! Write a dataset as NDJSON and report the generation speed.
//!
//! `cargo run --release -p spendlens-datagen --example ndjson -- small [FILE] [ANCHOR]`
//! (FILE defaults to /dev/null, ANCHOR to 2026-11-28; `setup` as FILE prints the setup JSON).

use spendlens_datagen::{setup, write_ndjson, Spec};
use std::io::BufWriter;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("small", String::as_str);
    let path = args.get(1).map_or("/dev/null", String::as_str);
    let anchor: jiff::civil::Date = args.get(2).map_or("2026-11-28", String::as_str).parse()?;
    let spec = if name == "demo" {
        Spec::demo(anchor)
    } else {
        Spec::standard(name, anchor).ok_or("unknown dataset")?
    };
    if path == "setup" {
        println!("{}", serde_json::to_string_pretty(&setup(&spec))?);
        return Ok(());
    }
    let started = Instant::now();
    let file = BufWriter::new(std::fs::File::create(path)?);
    let lines = write_ndjson(&spec, file, |n| {
        if n % 1_000_000 == 0 {
            eprintln!("{n} lines, {:.1} s", started.elapsed().as_secs_f64());
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name}: {lines} lines ({} distinct events) in {secs:.2} s = {:.0} lines/s",
        spec.events,
        lines as f64 / secs
    );
    Ok(())
}
