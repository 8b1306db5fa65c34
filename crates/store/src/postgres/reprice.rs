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
use super::{db_err, resolve};
use crate::aggregate::{CubeDeltas, Groups};
use crate::contract::{Result, StoreError};
use crate::model::Repriced;
use crate::rules::{reprice_row, RepriceRow};
use spendlens_domain::time::Day;
use spendlens_domain::Catalog;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

fn row(r: &PgRow) -> sqlx::Result<RepriceRow> {
    Ok(RepriceRow {
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
    let rows: Vec<RepriceRow> = sqlx::query(
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
        if let Some((total, actual, flags)) = reprice_row(&info, catalog, r, &mut deltas, &mut out)
        {
            for (col, v) in changed.iter_mut().zip([r.id, total, actual, flags]) {
                col.push(v);
            }
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
