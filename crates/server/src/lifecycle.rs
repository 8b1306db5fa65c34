//! Detail retention (API.md §6): message and conversation detail older than
//! an organisation's window is deleted in small chunks, by a background task
//! of `serve` and by `spendlens retention`. Aggregates stay, so every figure
//! of an old period is unchanged.

use jiff::{SignedDuration, Timestamp};
use spendlens_domain::time::{local_day, parse_timezone, Day};
use spendlens_store::model::{Org, RetentionStep};
use spendlens_store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Rows per retention transaction: small, so a writer waits milliseconds.
pub const CHUNK: usize = 5_000;

/// The instant before which detail is deleted.
pub fn cutoff(org: &Org, now: Timestamp) -> Timestamp {
    now - SignedDuration::from_hours(24 * i64::from(org.retention_days))
}

/// The first local day wholly inside the window (what verify and rebuild cover).
pub fn first_full_day(org: &Org, now: Timestamp) -> Day {
    let tz = parse_timezone(&org.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    Day(local_day(cutoff(org, now), &tz).0 + 1)
}

/// Delete everything past the window for one organisation, chunk by chunk;
/// `progress` sees the running total after each chunk.
pub async fn apply(
    store: &dyn Store,
    org: &Org,
    now: Timestamp,
    mut progress: impl FnMut(RetentionStep),
) -> Result<RetentionStep, StoreError> {
    let before = cutoff(org, now);
    let mut total = RetentionStep::default();
    loop {
        let step = store.retention_step(&org.id, before, CHUNK).await?;
        if step == RetentionStep::default() {
            return Ok(total);
        }
        total.events_deleted += step.events_deleted;
        total.titles_cleared += step.titles_cleared;
        progress(total);
        // Let waiting ingestion commit between chunks.
        tokio::task::yield_now().await;
    }
}

/// `serve`'s background retention: every `every`, each organisation.
pub fn start(store: Arc<dyn Store>, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let orgs = match store.list_orgs().await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(error = %e, "retention cannot list organisations");
                    continue;
                }
            };
            for org in orgs {
                match apply(store.as_ref(), &org, Timestamp::now(), |_| {}).await {
                    Ok(done) if done.events_deleted > 0 || done.titles_cleared > 0 => {
                        tracing::info!(
                            org = %org.id,
                            events_deleted = done.events_deleted,
                            titles_cleared = done.titles_cleared,
                            "retention"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(org = %org.id, error = %e, "retention failed; next round retries")
                    }
                }
            }
        }
    });
}
