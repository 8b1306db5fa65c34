//! Repricing retained events after a price change (API.md §2, §6), the
//! rules of sqlite/reprice.rs: costs the server computed are computed again
//! with the prices in force now for each event's time (negotiated, else
//! catalog) and the organisation's markup now; costs a client sent are never
//! touched. The cube is corrected by the exact difference of each changed
//! event, in its hour, day and month.
//!
//! The organisation's row is locked first (see lifecycle.rs): an ingestion
//! committing between the read of the events and the correction of the cube
//! would otherwise be corrected for events this reprice never saw.

use super::admin::audit;
use super::cells::add_cells;
use super::ctx::Ctx;
use super::lifecycle::lock_org;
use super::{db_err, resolve, ts};
use crate::aggregate::{
    costs_of, CellKey, CubeDeltas, Groups, ACTUAL_COMPUTED, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH,
    TOTAL_COMPUTED, UNPRICED,
};
use crate::contract::{Result, StoreError};
use crate::model::Repriced;
use crate::sqlite::ingest::price_at;
use spendlens_domain::time::{local_hour_start, Day};
use spendlens_domain::{Catalog, Nanos};
use sqlx::postgres::PgRow;
use sqlx::Row as _;

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

fn row(r: &PgRow) -> sqlx::Result<Row> {
    Ok(Row {
        id: r.try_get(0)?,
        at: r.try_get(1)?,
        model: r.try_get(2)?,
        groups: Groups {
            user: r.try_get(3)?,
            team: r.try_get(4)?,
            dept: r.try_get(5)?,
            key: r.try_get(6)?,
            model: r.try_get(7)?,
            provider: r.try_get(8)?,
        },
        day: r.try_get(9)?,
        tokens: [
            r.try_get(10)?,
            r.try_get(11)?,
            r.try_get(12)?,
            r.try_get(13)?,
        ],
        total: r.try_get(14)?,
        actual: r.try_get(15)?,
        flags: r.try_get(16)?,
    })
}

pub async fn reprice(c: &mut Ctx, org: &str, from: Day, to: Day, actor: &str) -> Result<Repriced> {
    lock_org(&mut c.tx, org).await?;
    let info = resolve::org(c, org)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let rows: Vec<Row> = sqlx::query(
        "SELECT e.id, e.occurred_at, m.name, e.usr, e.team, e.dept, e.key, e.model, e.provider, e.day,
                e.tokens_in, e.cached_in, e.cache_write_in, e.tokens_out, e.total_cost, e.actual_cost,
                e.cost_flags
         FROM events e JOIN models m ON m.id = e.model
         WHERE e.org = $1 AND e.day >= $2 AND e.day < $3 AND (e.cost_flags & 3) <> 0
         ORDER BY e.id",
    )
    .bind(info.id)
    .bind(i64::from(from.0))
    .bind(i64::from(to.0))
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?
    .iter()
    .map(row)
    .collect::<sqlx::Result<_>>()
    .map_err(db_err)?;
    let catalog = Catalog::builtin();
    let mut deltas = CubeDeltas::default();
    let mut out = Repriced::default();
    // The changed events' (id, total, actual, flags), written in one statement.
    let mut changed: [Vec<i64>; 4] = Default::default();
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
        for (col, v) in changed.iter_mut().zip([r.id, total.0, actual.0, flags]) {
            col.push(v);
        }
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
    if !changed[0].is_empty() {
        let [ids, totals, actuals, flags] = changed;
        sqlx::query(
            "UPDATE events e SET total_cost = v.total, actual_cost = v.actual, cost_flags = v.flags
             FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(id, total, actual, flags)
             WHERE e.org = $1 AND e.id = v.id",
        )
        .bind(info.id)
        .bind(ids)
        .bind(totals)
        .bind(actuals)
        .bind(flags)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    add_cells(&mut c.tx, &deltas.cells).await?;
    audit(
        c,
        actor,
        Some(info.id),
        "reprice",
        org,
        serde_json::json!({"from": from.to_string(), "to": to.to_string(), "changed": out.changed,
            "total_cost_delta_nanos": out.total_cost_delta.to_string()}),
    )
    .await?;
    Ok(out)
}
