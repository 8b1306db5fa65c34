//! `spendlens backfill`: place the quarantined events that can be placed now
//! (their organisation exists, or their user has exactly one membership) and
//! count them, in one transaction with the same rules as ingestion.

use super::writer::WriterState;
use super::{resolve, sql_err};
use crate::contract::Result;
use crate::model::{BackfillOutcome, IngestBatch, IngestScope};
use jiff::Timestamp;
use spendlens_domain::Event;

pub fn backfill(w: &mut WriterState, actor: &str) -> Result<BackfillOutcome> {
    let rows: Vec<(i64, String, String, String, i64)> = {
        let mut s = w
            .conn
            .prepare(
                "SELECT id, org_hint, user_ext, payload, received_at FROM quarantine ORDER BY id",
            )
            .map_err(sql_err)?;
        let rows = s
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(sql_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_err)?
    };
    let now = Timestamp::now();
    let mut out = BackfillOutcome::default();
    let mut batches = Vec::new();
    for (id, hint, user, payload, received_us) in rows {
        let scope = if !hint.is_empty() {
            resolve::org(w, &hint)?.map(|_| IngestScope::Org(hint.clone()))
        } else {
            (resolve::admin_orgs_of(w, &user)?.len() == 1).then_some(IngestScope::Platform)
        };
        // The payload is the event as parsed at ingest, so it parses again.
        let event = serde_json::from_str(&payload)
            .ok()
            .and_then(|v| Event::parse(&v, now).ok());
        let (Some(scope), Some(event)) = (scope, event) else {
            out.still_quarantined += 1;
            continue;
        };
        w.conn
            .execute("DELETE FROM quarantine WHERE id = ?1", [id])
            .map_err(sql_err)?;
        let received_at = Timestamp::from_microsecond(received_us).unwrap_or(now);
        batches.push(IngestBatch {
            scope,
            events: vec![(0, event)],
            received_at,
        });
    }
    for o in super::ingest::ingest(w, batches)? {
        out.accepted += o.accepted;
        out.duplicates += o.duplicates;
        out.rejected += o.rejected;
        out.still_quarantined += o.quarantined;
    }
    w.conn
        .execute(
            "INSERT INTO audit (at, actor, org, action, target, detail) VALUES (?1, ?2, NULL, 'quarantine.backfill', 'quarantine', ?3)",
            rusqlite::params![super::now_us(), actor, serde_json::to_string(&out).unwrap_or_default()],
        )
        .map_err(sql_err)?;
    Ok(out)
}
