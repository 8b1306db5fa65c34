//! `spendlens copy --from sqlite://… --to postgres://…`: from laptop to
//! production, the whole store with progress (see spendlens_store::copy).

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The embedded store to copy (sqlite://path or a path); no server may be using it.
    #[arg(long)]
    pub from: String,
    /// An empty PostgreSQL database (postgres://…); its schema is created.
    #[arg(long)]
    pub to: String,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.from.starts_with("postgres") {
        anyhow::bail!(
            "--from: copy reads an embedded store (sqlite://path), not {}",
            args.from
        );
    }
    if !(args.to.starts_with("postgres://") || args.to.starts_with("postgresql://")) {
        anyhow::bail!(
            "--to: copy writes to PostgreSQL (postgres://…), not {}",
            args.to
        );
    }
    let path = args.from.strip_prefix("sqlite://").unwrap_or(&args.from);
    if !std::path::Path::new(path).exists() {
        anyhow::bail!("--from: {path} does not exist");
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{spinner} {msg:>20} {pos}/{len} rows")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let copied = spendlens_store::copy::sqlite_to_postgres(
        std::path::Path::new(path),
        &args.to,
        |table, done, total| {
            bar.set_message(table.to_owned());
            bar.set_length(total);
            bar.set_position(done);
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("copy failed, nothing was committed: {e}"))?;
    bar.finish_and_clear();
    let rows: u64 = copied.iter().map(|(_, n)| n).sum();
    for (table, n) in &copied {
        println!("{table:>20} {n}");
    }
    println!(
        "copied {rows} rows of {} tables in {:.1} s into {}",
        copied.len(),
        started.elapsed().as_secs_f64(),
        redact(&args.to)
    );
    Ok(())
}

/// The URL without its password, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
