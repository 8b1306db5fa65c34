//! Adding cell deltas to the aggregates — the cube (dropping the packs of
//! the buckets it changes), `org_days`, `dim_days` with `dim_blocks`,
//! `person_cum` and `spend_days` — in key order, one statement per table. The one place every
//! aggregate change goes through: ingestion, reprice, rebuild and erasure.

use super::db_err;
use crate::aggregate::{CellDelta, CellKey, GRAIN_DAY};
use crate::contract::Result;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};

/// Add cell deltas to the cube, org_days and spend_days, each in key order
/// (one statement for the cube and one for spend_days). Shared by
/// ingestion, reprice, rebuild and erasure.
pub async fn add_cells(c: &mut PgConnection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    if cells.is_empty() {
        return Ok(());
    }
    super::packs::forget(c, cells.keys().map(|k| (k.org, k.grain, k.bucket))).await?;
    let mut sorted: Vec<(&CellKey, &CellDelta)> = cells.iter().collect();
    sorted.sort_by_key(|(k, _)| k.numbers());
    let mut keys: [Vec<i64>; 9] = Default::default();
    let mut vals: [Vec<i64>; 9] = Default::default();
    for (k, d) in &sorted {
        for (col, v) in keys.iter_mut().zip(k.numbers()) {
            col.push(v);
        }
        for (col, v) in vals.iter_mut().zip(d.values()) {
            col.push(v);
        }
    }
    let mut q = sqlx::query(
        "INSERT INTO cube (org, grain, bucket, usr, team, dept, key, model, provider, total_cost,
         actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in, unpriced, convs)
         SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bigint[],
         $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
         $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
         $18::bigint[])
         ON CONFLICT (org, grain, bucket, usr, team, dept, key, model, provider) DO UPDATE SET
         total_cost = cube.total_cost + excluded.total_cost,
         actual_cost = cube.actual_cost + excluded.actual_cost,
         messages = cube.messages + excluded.messages, tokens_in = cube.tokens_in + excluded.tokens_in,
         tokens_out = cube.tokens_out + excluded.tokens_out,
         cached_in = cube.cached_in + excluded.cached_in,
         cache_write_in = cube.cache_write_in + excluded.cache_write_in,
         unpriced = cube.unpriced + excluded.unpriced, convs = cube.convs + excluded.convs",
    );
    for (i, col) in keys.iter().enumerate() {
        q = if i == 1 {
            q.bind(col.iter().map(|v| *v as i16).collect::<Vec<i16>>())
        } else {
            q.bind(col.clone())
        };
    }
    for col in vals {
        q = q.bind(col);
    }
    q.execute(&mut *c).await.map_err(db_err)?;
    super::org_days::add_day_cells(c, cells).await?;
    super::dim_days::add_day_cells(c, cells).await?;
    let slices = super::person_cum::add_day_cells(c, cells).await?;
    spend_days(c, cells).await?;
    // Last: the slices' day rows are the one lock two folds both take that
    // is not in a table's key order with the rest.
    super::person_cum::renumber(c, &slices).await
}

/// The day cells' cost, per budget scope (see the spend_days table).
async fn spend_days(c: &mut PgConnection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    let mut spend: BTreeMap<(i64, i16, i64, i64), i64> = BTreeMap::new();
    for (k, d) in cells {
        if k.grain != GRAIN_DAY || d.total_cost == 0 {
            continue;
        }
        let g = k.groups;
        for (kind, id) in [(0, 0), (1, g.user), (2, g.team), (3, g.dept), (4, g.key)] {
            *spend.entry((k.org, kind, id, k.bucket)).or_default() += d.total_cost;
        }
    }
    if spend.is_empty() {
        return Ok(());
    }
    let (mut org, mut kind, mut id, mut day, mut cost) = (vec![], vec![], vec![], vec![], vec![]);
    for ((o, k, i, d), v) in spend {
        org.push(o);
        kind.push(k);
        id.push(i);
        day.push(d);
        cost.push(v);
    }
    sqlx::query(
        "INSERT INTO spend_days (org, kind, id, day, total_cost)
         SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bigint[])
         ON CONFLICT (org, kind, id, day) DO UPDATE SET total_cost = spend_days.total_cost + excluded.total_cost",
    )
    .bind(org)
    .bind(kind)
    .bind(id)
    .bind(day)
    .bind(cost)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}
