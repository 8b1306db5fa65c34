//! Per-organisation day totals per value of one dimension, and their
//! eight-day blocks (migration 0003; sqlite/dim_days.rs keeps the same
//! rows): the fast path for one-dimension lists (people, teams,
//! departments, keys, models, providers) and for one value's figures. Such
//! a question reads one row per day or block and value instead of every
//! cube cell of the range. Distinct people stay exact: each row keeps its
//! group's people as a bitmap, and a range's people are the union.
//!
//! Writing: the sums are added by one upsert per table, which creates and
//! locks every touched row in key order (so concurrent ingestions wait for
//! each other instead of deadlocking); then the bitmaps that gain someone
//! are read back, merged and written. A person's own rows keep no bitmap.
//! Unlike SQLite, the blocks hold people's rows too (see the migration).

use super::db_err;
use super::org_days::{bits, read_bits, DayRow};
use crate::aggregate::{CellDelta, CellKey, Groups, GRAIN_DAY};
use crate::blocks;
use crate::contract::{Result, StoreError};
use crate::packs::people_union::PeopleUnion;
use crate::query::{Dim, FigureQuery, Figures, PERSON};
use futures_util::TryStreamExt;
use roaring::RoaringBitmap;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap};

pub(super) const SUMS: &str =
    "total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in, unpriced, convs";

/// `each` applied to every sum column, joined by commas.
pub(super) fn each_sum(each: impl Fn(&str) -> String) -> String {
    SUMS.split(", ").map(each).collect::<Vec<_>>().join(", ")
}

/// (org, dim, day, value); a BTreeMap keeps the rows in lock order.
type RowKey = (i64, i64, i64, i64);
type Rows = BTreeMap<RowKey, DayRow>;

fn fold(rows: &mut Rows, org: i64, day: i64, g: &Groups, d: &CellDelta) {
    let active = d.messages != 0 || d.convs != 0;
    for (dim, value) in (0..).zip(g.day_table_values()) {
        let row = rows.entry((org, dim, day, value)).or_default();
        row.d.add(d);
        if active && dim != PERSON {
            row.users.insert(g.user as u32);
        }
    }
}

fn to_blocks(rows: &Rows) -> Rows {
    let mut out = Rows::new();
    for ((org, dim, day, value), row) in rows {
        let b = out
            .entry((*org, *dim, blocks::start(*day), *value))
            .or_default();
        b.d.add(&row.d);
        b.users |= &row.users;
    }
    out
}

/// The rows' keys and sums as 13 columns for `UNNEST`.
fn columns<'a>(rows: impl Iterator<Item = (&'a RowKey, &'a DayRow)>) -> [Vec<i64>; 13] {
    let mut cols: [Vec<i64>; 13] = Default::default();
    for (k, row) in rows {
        let vals = [k.0, k.1, k.2, k.3].into_iter().chain(row.d.values());
        for (col, v) in cols.iter_mut().zip(vals) {
            col.push(v);
        }
    }
    cols
}

fn bind_columns<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    cols: [Vec<i64>; 13],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    for (i, col) in cols.into_iter().enumerate() {
        q = if i == 1 {
            q.bind(col.into_iter().map(|v| v as i16).collect::<Vec<i16>>())
        } else {
            q.bind(col)
        };
    }
    q
}

const UNNEST: &str = "UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[],
    $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
    $11::bigint[], $12::bigint[], $13::bigint[])";

/// Add `rows` to `table`: sums added, people united.
async fn merge(c: &mut PgConnection, table: &str, rows: &Rows) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let add_sums = each_sum(|s| format!("{s} = {table}.{s} + excluded.{s}"));
    // The arrays are in key order, and so are the rows this locks.
    let sql = format!(
        "INSERT INTO {table} (org, dim, day, value, {SUMS}, users)
         SELECT *, $14 FROM {UNNEST}
         ON CONFLICT (org, dim, day, value) DO UPDATE SET {add_sums}"
    );
    bind_columns(sqlx::query(&sql), columns(rows.iter()))
        .bind(bits(&RoaringBitmap::new()))
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    let with_people: Vec<(&RowKey, &DayRow)> = rows
        .iter()
        .filter(|(k, r)| k.1 != PERSON && !r.users.is_empty())
        .collect();
    if with_people.is_empty() {
        return Ok(());
    }
    let mut key: [Vec<i64>; 4] = Default::default();
    for (k, _) in &with_people {
        for (col, v) in key.iter_mut().zip([k.0, k.1, k.2, k.3]) {
            col.push(v);
        }
    }
    let dims: Vec<i16> = key[1].iter().map(|v| *v as i16).collect();
    // This transaction holds these rows' locks since the upsert.
    let stored = sqlx::query(&format!(
        "SELECT org, dim, day, value, users FROM {table}
         WHERE (org, dim, day, value) IN
             (SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[]))"
    ))
    .bind(&key[0])
    .bind(&dims)
    .bind(&key[2])
    .bind(&key[3])
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    if stored.len() != with_people.len() {
        return Err(StoreError::Other(anyhow::anyhow!(
            "{table}: {} of {} upserted rows read back",
            stored.len(),
            with_people.len()
        )));
    }
    let mut changed: [Vec<i64>; 4] = Default::default();
    let mut users: Vec<Vec<u8>> = Vec::new();
    for r in &stored {
        let g = |i: usize| r.try_get::<i64, _>(i).map_err(db_err);
        let k = (
            g(0)?,
            i64::from(r.try_get::<i16, _>(1).map_err(db_err)?),
            g(2)?,
            g(3)?,
        );
        let old = read_bits(&r.try_get::<Vec<u8>, _>(4).map_err(db_err)?);
        let Some(row) = rows.get(&k) else {
            return Err(StoreError::Other(anyhow::anyhow!(
                "{table} returned a row that was not asked for: {k:?}"
            )));
        };
        if row.users.is_subset(&old) {
            continue;
        }
        for (col, v) in changed.iter_mut().zip([k.0, k.1, k.2, k.3]) {
            col.push(v);
        }
        users.push(bits(&(old | &row.users)));
    }
    if users.is_empty() {
        return Ok(());
    }
    let dims: Vec<i16> = changed[1].iter().map(|v| *v as i16).collect();
    sqlx::query(&format!(
        "UPDATE {table} t SET users = v.users
         FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[], $5::bytea[])
             AS v(org, dim, day, value, users)
         WHERE t.org = v.org AND t.dim = v.dim AND t.day = v.day AND t.value = v.value"
    ))
    .bind(&changed[0])
    .bind(&dims)
    .bind(&changed[2])
    .bind(&changed[3])
    .bind(users)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Add the day cells of a transaction's deltas (called with the cube's upsert).
pub async fn add_day_cells(
    c: &mut PgConnection,
    cells: &HashMap<CellKey, CellDelta>,
) -> Result<()> {
    let mut rows = Rows::new();
    for (k, d) in cells.iter().filter(|(k, _)| k.grain == GRAIN_DAY) {
        fold(&mut rows, k.org, k.bucket, &k.groups, d);
    }
    merge(c, "dim_days", &rows).await?;
    merge(c, "dim_blocks", &to_blocks(&rows)).await
}

/// Rows per INSERT when writing whole tables.
const CHUNK: usize = 10_000;

async fn write_all(c: &mut PgConnection, table: &str, rows: &Rows) -> Result<()> {
    let all: Vec<(&RowKey, &DayRow)> = rows.iter().collect();
    let sql = format!(
        "INSERT INTO {table} (org, dim, day, value, {SUMS}, users)
         SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[], $4::bigint[],
             $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
             $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bytea[])"
    );
    for chunk in all.chunks(CHUNK) {
        let users: Vec<Vec<u8>> = chunk.iter().map(|(_, r)| bits(&r.users)).collect();
        bind_columns(sqlx::query(&sql), columns(chunk.iter().copied()))
            .bind(users)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Recompute organisation `org`'s rows of days from `from` on (and the
/// blocks from the one holding `from`) from the cube's day cells: after a
/// rebuild or an erasure, under the organisation's row lock.
pub async fn recompute(c: &mut PgConnection, org: i64, from: i64) -> Result<()> {
    let from = blocks::start(from);
    for table in ["dim_days", "dim_blocks"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE org = $1 AND day >= $2"))
            .bind(org)
            .bind(from)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
    }
    let mut rows = Rows::new();
    let sql = format!(
        "SELECT bucket, usr, team, dept, key, model, provider, {SUMS}
         FROM cube WHERE org = $1 AND grain = 1 AND bucket >= $2"
    );
    {
        let mut cells = sqlx::query(&sql).bind(org).bind(from).fetch(&mut *c);
        while let Some(r) = cells.try_next().await.map_err(db_err)? {
            let g = |i: usize| r.try_get::<i64, _>(i).map_err(db_err);
            let groups = Groups {
                user: g(1)?,
                team: g(2)?,
                dept: g(3)?,
                key: g(4)?,
                model: g(5)?,
                provider: g(6)?,
            };
            let mut v = [0i64; 9];
            for (i, x) in v.iter_mut().enumerate() {
                *x = g(7 + i)?;
            }
            fold(&mut rows, org, g(0)?, &groups, &CellDelta::from_values(v));
        }
    }
    write_all(c, "dim_days", &rows).await?;
    write_all(c, "dim_blocks", &to_blocks(&rows)).await
}

/// Whether a store from before these tables has day cells but no rows in
/// them yet (migrate.rs then fills them).
pub async fn needs_fill(pool: &sqlx::PgPool) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM cube WHERE grain = 1) AND NOT EXISTS (SELECT 1 FROM dim_days)",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)
}

/// After `spendlens copy` has copied SQLite's rows: its blocks hold no
/// person rows, which these blocks do (see the migration).
pub async fn add_person_blocks(c: &mut PgConnection) -> Result<()> {
    let sums = each_sum(|s| format!("SUM({s})::bigint"));
    sqlx::query(&format!(
        "INSERT INTO dim_blocks (org, dim, day, value, {SUMS}, users)
         SELECT org, dim, day - ((day % {span}) + {span}) % {span}, value, {sums}, $1
         FROM dim_days WHERE dim = {PERSON} GROUP BY 1, 2, 3, 4",
        span = blocks::SPAN
    ))
    .bind(bits(&RoaringBitmap::new()))
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub use crate::packs::KeyedFigures;

/// Figures of a question about one dimension only — grouped by it, filtered
/// to one of its values, or both, and optionally by day, week or month — or
/// `None` when the question needs the cube. `filters` are the question's
/// filters as (dimension, internal id). Rows come ordered by their keys.
pub async fn figures(
    c: &mut PgConnection,
    org: i64,
    q: &FigureQuery,
    filters: &[(Dim, i64)],
) -> Result<Option<Vec<KeyedFigures>>> {
    let Some(number) = q.day_table_dim(filters) else {
        return Ok(None);
    };
    let (from, to) = (i64::from(q.period.from.0), i64::from(q.period.to.0));
    let one = filters.first().map(|(_, id)| *id);
    let mut out = if q.group_by.iter().any(|d| d.is_time()) {
        by_days(c, org, number, q, (from, to), one).await?
    } else {
        by_value(c, org, number, !q.group_by.is_empty(), (from, to), one).await?
    };
    out.retain(|(k, f)| !k.is_empty() || f.messages > 0);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}

/// The nine sums of a row from column `at` on, in `SUMS` order (NULL as 0).
pub(super) fn sums_at(r: &sqlx::postgres::PgRow, at: usize) -> Result<[i64; 9]> {
    let mut v = [0i64; 9];
    for (i, x) in v.iter_mut().enumerate() {
        *x = r
            .try_get::<Option<i64>, _>(at + i)
            .map_err(db_err)?
            .unwrap_or(0);
    }
    Ok(v)
}

/// Without days, weeks or months: summed in the database over the range's
/// whole blocks and the days at either end, one row per value.
async fn by_value(
    c: &mut PgConnection,
    org: i64,
    number: i64,
    grouped: bool,
    (from, to): (i64, i64),
    one: Option<i64>,
) -> Result<Vec<KeyedFigures>> {
    let split = blocks::split(from, to);
    let sums = each_sum(|s| format!("SUM({s})::bigint"));
    // A person's group is that person: active when anything happened.
    let people = if number == PERSON {
        "(SUM(messages) > 0 OR SUM(convs) > 0)"
    } else {
        "array_agg(users)"
    };
    let cols = format!(
        "value, {SUMS}{}",
        if number == PERSON { "" } else { ", users" }
    );
    // One value: a lookup per day and block of the range. All values: a
    // range scan per part, each its own SELECT so that each seeks the key.
    let (parts, binds): (String, Vec<Vec<i64>>) = if let Some(v) = one {
        let days: Vec<i64> = split.days.iter().flat_map(|(lo, hi)| *lo..*hi).collect();
        let blocks: Vec<i64> = (split.blocks.0..split.blocks.1)
            .step_by(blocks::SPAN as usize)
            .collect();
        (
            format!(
                "SELECT {cols} FROM dim_days WHERE org = $1 AND dim = $2 AND value = {v} AND day = ANY($3)
                 UNION ALL
                 SELECT {cols} FROM dim_blocks WHERE org = $1 AND dim = $2 AND value = {v} AND day = ANY($4)"
            ),
            vec![days, blocks],
        )
    } else {
        (
            format!(
                "SELECT {cols} FROM dim_days WHERE org = $1 AND dim = $2 AND day >= $3 AND day < $4
                 UNION ALL
                 SELECT {cols} FROM dim_blocks WHERE org = $1 AND dim = $2 AND day >= $5 AND day < $6
                 UNION ALL
                 SELECT {cols} FROM dim_days WHERE org = $1 AND dim = $2 AND day >= $7 AND day < $8"
            ),
            vec![
                vec![split.days[0].0],
                vec![split.days[0].1],
                vec![split.blocks.0],
                vec![split.blocks.1],
                vec![split.days[1].0],
                vec![split.days[1].1],
            ],
        )
    };
    let sql = format!("SELECT value, {sums}, {people} FROM ({parts}) x GROUP BY value");
    let mut query = sqlx::query(&sql)
        .persistent(false)
        .bind(org)
        .bind(number as i16);
    for b in binds {
        query = if one.is_some() {
            query.bind(b)
        } else {
            query.bind(b[0])
        };
    }
    let rows = query.fetch_all(&mut *c).await.map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let value: i64 = r.try_get(0).map_err(db_err)?;
        let mut f = Figures::from_sums(sums_at(r, 1)?);
        f.active_users = if number == PERSON {
            u64::from(r.try_get::<bool, _>(10).map_err(db_err)?)
        } else {
            let blobs: Vec<Vec<u8>> = r.try_get(10).map_err(db_err)?;
            let mut users = PeopleUnion::default();
            for b in &blobs {
                users.add_stored(b);
            }
            users.len()
        };
        out.push((if grouped { vec![value] } else { vec![] }, f));
    }
    Ok(out)
}

/// Grouped by day, week or month: the day rows, summed here by group key.
async fn by_days(
    c: &mut PgConnection,
    org: i64,
    number: i64,
    q: &FigureQuery,
    (from, to): (i64, i64),
    one: Option<i64>,
) -> Result<Vec<KeyedFigures>> {
    let select =
        format!("SELECT day, value, {SUMS}, users FROM dim_days WHERE org = $1 AND dim = $2");
    let query = if let Some(v) = one {
        let days: Vec<i64> = (from..to).collect();
        sqlx::query(&format!("{select} AND value = {v} AND day = ANY($3)"))
            .persistent(false)
            .bind(org)
            .bind(number as i16)
            .bind(days)
            .fetch_all(&mut *c)
            .await
    } else {
        sqlx::query(&format!("{select} AND day >= $3 AND day < $4"))
            .persistent(false)
            .bind(org)
            .bind(number as i16)
            .bind(from)
            .bind(to)
            .fetch_all(&mut *c)
            .await
    };
    let rows = query.map_err(db_err)?;
    let mut groups: HashMap<Vec<i64>, (Figures, PeopleUnion)> = HashMap::new();
    for r in &rows {
        let g = |i: usize| r.try_get::<i64, _>(i).map_err(db_err);
        let (day, value) = (g(0)?, g(1)?);
        let key: Vec<i64> = q.group_by.iter().map(|d| d.key_of(day, value)).collect();
        let (f, users) = groups.entry(key).or_default();
        let sums = sums_at(r, 2)?;
        f.add_disjoint(&Figures::from_sums(sums));
        if number == PERSON {
            if sums[2] != 0 || sums[8] != 0 {
                users.insert(value as u32);
            }
        } else {
            users.add_stored(r.try_get(11).map_err(db_err)?);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, (mut f, users))| {
            f.active_users = users.len();
            (k, f)
        })
        .collect())
}
