//! Repricing retained events after a price change (API.md §2, §6): costs the
//! server computed are computed again with the prices in force now for each
//! event's time (negotiated, else catalog) and the organisation's markup now;
//! costs a client sent are never touched. The cube is corrected by the exact
//! difference of each changed event, in its hour, day and month.

use super::admin::audit;
use super::ingest::add_cells;
use super::writer::WriterState;
use super::{resolve, sql_err};
use crate::aggregate::{CubeDeltas, Groups};
use crate::contract::{Result, StoreError};
use crate::model::Repriced;
use crate::rules::{reprice_row, RepriceRow};
use rusqlite::params;
use spendlens_domain::time::Day;
use spendlens_domain::Catalog;

pub fn reprice(
    w: &mut WriterState,
    org: &str,
    from: Day,
    to: Day,
    actor: &str,
) -> Result<Repriced> {
    let info =
        resolve::org(w, org)?.ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let rows: Vec<RepriceRow> = {
        let mut s = w
            .conn
            .prepare(
                "SELECT e.id, e.occurred_at, m.name, e.user, e.team, e.dept, e.key, e.model, e.provider, e.day,
                        e.tokens_in, e.cached_in, e.cache_write_in, e.tokens_out, e.total_cost, e.actual_cost,
                        e.cost_flags
                 FROM events e JOIN models m ON m.id = e.model
                 WHERE e.org = ?1 AND e.day >= ?2 AND e.day < ?3 AND (e.cost_flags & 3) != 0",
            )
            .map_err(sql_err)?;
        let mapped = s
            .query_map(params![info.id, from.0, to.0], |r| {
                Ok(RepriceRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    model: r.get(2)?,
                    groups: Groups {
                        user: r.get(3)?,
                        team: r.get(4)?,
                        dept: r.get(5)?,
                        key: r.get(6)?,
                        model: r.get(7)?,
                        provider: r.get(8)?,
                    },
                    day: r.get(9)?,
                    tokens: [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?],
                    total: r.get(14)?,
                    actual: r.get(15)?,
                    flags: r.get(16)?,
                })
            })
            .map_err(sql_err)?;
        mapped.collect::<rusqlite::Result<_>>().map_err(sql_err)?
    };
    let catalog = Catalog::builtin();
    let mut deltas = CubeDeltas::default();
    let mut out = Repriced::default();
    for r in &rows {
        if let Some((total, actual, flags)) = reprice_row(&info, catalog, r, &mut deltas, &mut out)
        {
            w.conn
                .prepare_cached("UPDATE events SET total_cost = ?2, actual_cost = ?3, cost_flags = ?4 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![r.id, total, actual, flags]))
                .map_err(sql_err)?;
        }
    }
    add_cells(&w.conn, &deltas.cells)?;
    audit(
        w,
        actor,
        Some(info.id),
        "reprice",
        org,
        serde_json::json!({"from": from.to_string(), "to": to.to_string(), "changed": out.changed,
            "total_cost_delta_nanos": out.total_cost_delta.to_string()}),
    )?;
    Ok(out)
}
