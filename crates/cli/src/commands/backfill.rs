//! `spendlens backfill`: count the quarantined events that can now be placed.

use super::DbArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let o = store.backfill("cli").await?;
    println!(
        "quarantine: {} placed and counted, {} already counted, {} refused by the ingestion rules, {} still without an organisation",
        o.accepted, o.duplicates, o.rejected, o.still_quarantined
    );
    Ok(())
}
