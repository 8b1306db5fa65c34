//! The store alone, without HTTP: how fast the writer takes a dataset in
//! transactions of 4,000 events (what 4 clients × 1,000 give the group commit).
//!
//! `cargo run --release -p spendlens-store --example ingest_profile -- medium 300000`

use jiff::Timestamp;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::{Event, Markup};
use spendlens_store::model::*;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = args.first().map_or("medium", String::as_str);
    let limit: usize = args.get(1).map_or(Ok(300_000), |s| s.parse())?;
    let spec = Spec::standard(name, jiff::civil::date(2026, 11, 28))
        .ok_or_else(|| anyhow::anyhow!("unknown dataset"))?;
    let dir = tempfile::tempdir()?;
    let store = spendlens_store::open(
        &format!("sqlite://{}", dir.path().join("p.db").display()),
        spendlens_store::Durability::Process,
    )
    .await?;
    for org in setup(&spec).orgs {
        let new = NewOrg {
            id: org.id.clone(),
            name: org.name,
            timezone: org.timezone,
            markup: Markup::parse(&org.markup)?,
            webhook_url: None,
            retention_days: 365,
        };
        store.create_org(new, "profile").await?;
        for k in org.keys {
            store
                .create_api_key(&org.id, &k.id, &k.name, Some(&k.provider), "profile")
                .await?;
        }
    }
    let now = Timestamp::now();
    let all: Vec<Event> = events(&spec)
        .take(limit)
        .map(|v| Event::parse(&v, now))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let started = Instant::now();
    let mut accepted = 0;
    for chunk in all.chunks(4_000) {
        let batch = IngestBatch {
            scope: IngestScope::Platform,
            events: chunk.iter().cloned().enumerate().collect(),
            received_at: now,
        };
        accepted += store.ingest(vec![batch]).await?[0].accepted;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name}: {} events ({accepted} accepted) in {secs:.2} s = {:.0} events/s (store only)",
        all.len(),
        all.len() as f64 / secs
    );
    Ok(())
}
