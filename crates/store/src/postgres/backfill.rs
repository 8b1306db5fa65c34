//! `spendlens backfill`: place the quarantined events that can be placed now
//! (their organisation exists, or their user has exactly one membership) and
//! count them, in one transaction with the same rules as ingestion (the
//! rules of sqlite/backfill.rs).

use super::ctx::Ctx;
use super::{db_err, resolve};
use crate::contract::Result;
use crate::model::{BackfillOutcome, IngestBatch, IngestScope};
use jiff::Timestamp;
use spendlens_domain::Event;

pub async fn backfill(c: &mut Ctx, actor: &str) -> Result<BackfillOutcome> {
    // Locked: a backfill running at the same time on another server waits,
    // then finds the rows this one placed gone, so no event is counted twice
    // (once accepted, once as a duplicate).
    let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, org_hint, user_ext, payload, received_at FROM quarantine ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    let now = Timestamp::now();
    let mut out = BackfillOutcome::default();
    let mut batches = Vec::new();
    for (id, hint, user, payload, received_us) in rows {
        let scope = if !hint.is_empty() {
            resolve::org(c, &hint)
                .await?
                .map(|_| IngestScope::Org(hint.clone()))
        } else {
            (resolve::admin_orgs_of(c, &user).await?.len() == 1).then_some(IngestScope::Platform)
        };
        // The payload is the event as parsed at ingest, so it parses again.
        let event = serde_json::from_str(&payload)
            .ok()
            .and_then(|v| Event::parse(&v, now).ok());
        let (Some(scope), Some(event)) = (scope, event) else {
            out.still_quarantined += 1;
            continue;
        };
        sqlx::query("DELETE FROM quarantine WHERE id = $1")
            .bind(id)
            .execute(&mut *c.tx)
            .await
            .map_err(db_err)?;
        let received_at = Timestamp::from_microsecond(received_us).unwrap_or(now);
        batches.push(IngestBatch {
            scope,
            events: vec![(0, event)],
            received_at,
        });
    }
    // Its queued deltas are folded after the commit (`PgStore::backfill`).
    let (outcomes, _queued) = super::ingest::ingest(c, batches).await?;
    for o in outcomes {
        out.accepted += o.accepted;
        out.duplicates += o.duplicates;
        out.rejected += o.rejected;
        out.still_quarantined += o.quarantined;
    }
    sqlx::query(
        "INSERT INTO audit (at, actor, org, action, target, detail)
         VALUES ($1, $2, NULL, 'quarantine.backfill', 'quarantine', $3)",
    )
    .bind(super::now_us())
    .bind(actor)
    .bind(serde_json::to_string(&out).unwrap_or_default())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    Ok(out)
}
