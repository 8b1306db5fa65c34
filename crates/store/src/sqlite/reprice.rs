//! Repricing retained events after a price change (API.md §2, §6): costs the
//! server computed are computed again with the prices in force now for each
//! event's time (negotiated, else catalog) and the organisation's markup now;
//! costs a client sent are never touched. The cube is corrected by the exact
//! difference of each changed event, in its hour, day and month.

use super::admin::audit;
use super::ingest::{add_cells, price_at};
use super::writer::WriterState;
use super::{resolve, sql_err, ts};
use crate::aggregate::{
    costs_of, CellKey, CubeDeltas, Groups, ACTUAL_COMPUTED, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH,
    TOTAL_COMPUTED, UNPRICED,
};
use crate::contract::{Result, StoreError};
use crate::model::Repriced;
use rusqlite::params;
use spendlens_domain::time::{local_hour_start, Day};
use spendlens_domain::{Catalog, Nanos};

struct Row {
    id: i64,
    at: i64,
    model: String,
    groups: Groups,
    day: i64,
    tokens: [i64; 4],
    total: i64,
    actual: i64,
    flags: i64,
}

pub fn reprice(
    w: &mut WriterState,
    org: &str,
    from: Day,
    to: Day,
    actor: &str,
) -> Result<Repriced> {
    let info =
        resolve::org(w, org)?.ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let rows: Vec<Row> = {
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
                Ok(Row {
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
        out.examined += 1;
        // Only the costs the client sent are kept as they are.
        let sent_actual = (r.flags & ACTUAL_COMPUTED == 0).then_some(Nanos(r.actual));
        let sent_total = (r.flags & TOTAL_COMPUTED == 0).then_some(Nanos(r.total));
        let price = price_at(&info, catalog, &r.model, r.at, ts(r.at));
        let (total, actual, flags) = costs_of(
            r.tokens.map(|t| t as u64),
            sent_actual,
            sent_total,
            price,
            info.markup,
        );
        if (total.0, actual.0, flags) == (r.total, r.actual, r.flags) {
            continue;
        }
        w.conn
            .prepare_cached("UPDATE events SET total_cost = ?2, actual_cost = ?3, cost_flags = ?4 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![r.id, total.0, actual.0, flags]))
            .map_err(sql_err)?;
        out.changed += 1;
        out.total_cost_delta += i128::from(total.0 - r.total);
        out.actual_api_cost_delta += i128::from(actual.0 - r.actual);
        let unpriced = i64::from(flags & UNPRICED != 0) - i64::from(r.flags & UNPRICED != 0);
        let hour = local_hour_start(ts(r.at), info.zone_at(r.at));
        let month = i64::from(Day(r.day as i32).month().0);
        for (grain, bucket) in [(GRAIN_HOUR, hour), (GRAIN_DAY, r.day), (GRAIN_MONTH, month)] {
            let cell = deltas
                .cells
                .entry(CellKey {
                    org: info.id,
                    grain,
                    bucket,
                    groups: r.groups,
                })
                .or_default();
            cell.total_cost += total.0 - r.total;
            cell.actual_cost += actual.0 - r.actual;
            cell.unpriced += unpriced;
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
