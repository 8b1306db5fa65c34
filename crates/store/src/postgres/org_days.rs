//! Per organisation and local day: the nine figures and the people bitmap
//! (sqlite/org_days.rs): the fast path for unfiltered summaries and daily
//! series. Distinct people over a range are the union of the days' bitmaps,
//! so the answer is exact for any range and costs one row per day.
//!
//! A bitmap cannot be added with `x = x + excluded.x` like the figures: it is
//! read, merged and written back, so each touched row is locked first, and
//! every transaction locks its rows in (org, day) order so that concurrent
//! ingestions wait for each other instead of deadlocking.

use super::db_err;
use crate::aggregate::{CellDelta, CellKey, GRAIN_DAY};
use crate::blocks;
use crate::contract::{Result, StoreError};
use crate::packs::people_union::PeopleUnion;
use crate::query::Figures;
use futures_util::TryStreamExt;
use roaring::RoaringBitmap;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap};

#[derive(Default)]
pub(super) struct DayRow {
    pub(super) d: CellDelta,
    pub(super) users: RoaringBitmap,
}

/// The same serialization as SQLite's BLOB, so the two stores hold the same bytes.
pub(super) fn bits(users: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(users.serialized_size());
    users
        .serialize_into(&mut out)
        .expect("writing to a Vec cannot fail");
    out
}

pub(super) fn read_bits(blob: &[u8]) -> RoaringBitmap {
    RoaringBitmap::deserialize_from(blob).unwrap_or_default()
}

type Rows = BTreeMap<(i64, i64), DayRow>;

/// Fold the day cells of a transaction into org_days and org_blocks (locking
/// each touched row; every transaction locks days before blocks).
pub async fn add_day_cells(
    c: &mut PgConnection,
    cells: &HashMap<CellKey, CellDelta>,
) -> Result<()> {
    let mut days = Rows::new();
    for (k, d) in cells.iter().filter(|(k, _)| k.grain == GRAIN_DAY) {
        let row = days.entry((k.org, k.bucket)).or_default();
        row.d.add(d);
        if d.messages != 0 || d.convs != 0 {
            row.users.insert(k.groups.user as u32);
        }
    }
    merge(c, "org_days", &days).await?;
    merge(c, "org_blocks", &to_blocks(days.iter())).await
}

/// Day rows summed into the blocks that hold them.
fn to_blocks<'a>(days: impl Iterator<Item = (&'a (i64, i64), &'a DayRow)>) -> Rows {
    let mut out = Rows::new();
    for ((org, day), row) in days {
        let b = out.entry((*org, blocks::start(*day))).or_default();
        b.d.add(&row.d);
        b.users |= &row.users;
    }
    out
}

/// Add `rows` to `table` (org_days or org_blocks), keyed (org, day).
async fn merge(c: &mut PgConnection, table: &str, days: &Rows) -> Result<()> {
    if days.is_empty() {
        return Ok(());
    }
    let (orgs, keys): (Vec<i64>, Vec<i64>) = days.keys().copied().unzip();
    // A missing row is created empty first, so that every row then takes the
    // same lock-merge-write path whichever transaction created it.
    sqlx::query(&format!(
        "INSERT INTO {table} (org, day, total_cost, actual_cost, messages, tokens_in, tokens_out,
         cached_in, cache_write_in, unpriced, convs, users)
         SELECT k.org, k.day, 0, 0, 0, 0, 0, 0, 0, 0, 0, $3
         FROM UNNEST($1::bigint[], $2::bigint[]) AS k(org, day) ORDER BY k.org, k.day
         ON CONFLICT (org, day) DO NOTHING"
    ))
    .bind(&orgs)
    .bind(&keys)
    .bind(bits(&RoaringBitmap::new()))
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    // FOR UPDATE locks rows as the sort returns them: in key order.
    let rows = sqlx::query(&format!(
        "SELECT org, day, users FROM {table}
         WHERE (org, day) IN (SELECT * FROM UNNEST($1::bigint[], $2::bigint[]))
         ORDER BY org, day FOR UPDATE"
    ))
    .bind(&orgs)
    .bind(&keys)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    if rows.len() != days.len() {
        // A rebuild or erasure deleted a row between the two statements.
        return Err(StoreError::Other(anyhow::Error::new(
            super::ingest::RaceLost,
        )));
    }
    let mut cols: [Vec<i64>; 11] = Default::default();
    let mut users: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
    for r in &rows {
        let key: (i64, i64) = (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?);
        let old: Vec<u8> = r.try_get(2).map_err(db_err)?;
        let Some(row) = days.get(&key) else {
            return Err(StoreError::Other(anyhow::anyhow!(
                "{table} returned a row that was not asked for: {key:?}"
            )));
        };
        let mut merged = read_bits(&old);
        merged |= &row.users;
        let d = &row.d;
        for (col, v) in cols
            .iter_mut()
            .zip([key.0, key.1].into_iter().chain(d.values()))
        {
            col.push(v);
        }
        users.push(bits(&merged));
    }
    let sql = format!(
        "UPDATE {table} o SET total_cost = o.total_cost + v.total_cost,
            actual_cost = o.actual_cost + v.actual_cost, messages = o.messages + v.messages,
            tokens_in = o.tokens_in + v.tokens_in, tokens_out = o.tokens_out + v.tokens_out,
            cached_in = o.cached_in + v.cached_in, cache_write_in = o.cache_write_in + v.cache_write_in,
            unpriced = o.unpriced + v.unpriced, convs = o.convs + v.convs, users = v.users
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
            $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
            $12::bytea[])
            AS v(org, day, total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in,
            cache_write_in, unpriced, convs, users)
         WHERE o.org = v.org AND o.day = v.day"
    );
    let mut q = sqlx::query(&sql);
    for col in cols {
        q = q.bind(col);
    }
    q.bind(users).execute(&mut *c).await.map_err(db_err)?;
    Ok(())
}

/// (day, figures) of days [from, to), one row per day when `by_day`, else one total.
pub async fn figures(
    c: &mut PgConnection,
    org: i64,
    from: i32,
    to: i32,
    by_day: bool,
) -> Result<Vec<(i32, Figures)>> {
    if !by_day {
        let total = totals_many(c, &[(org, from, to)]).await?.pop().flatten();
        return Ok(total.map(|f| (from, f)).into_iter().collect());
    }
    let mut rows = sqlx::query(
        "SELECT day, total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in,
                cache_write_in, unpriced, convs, users
         FROM org_days WHERE org = $1 AND day >= $2 AND day < $3 ORDER BY day",
    )
    .bind(org)
    .bind(i64::from(from))
    .bind(i64::from(to))
    .fetch(&mut *c);
    let mut out: Vec<(i32, Figures)> = Vec::new();
    while let Some(r) = rows.try_next().await.map_err(db_err)? {
        let blob: Vec<u8> = r.try_get(10).map_err(db_err)?;
        let day = r.try_get::<i64, _>(0).map_err(db_err)? as i32;
        out.push((
            day,
            Figures {
                active_users: read_bits(&blob).len(),
                ..sums_at(&r, 1)?
            },
        ));
    }
    Ok(out)
}

/// The nine sums of an `org_days` row read from column `first` on, in the
/// table's order; no active people.
fn sums_at(r: &sqlx::postgres::PgRow, first: usize) -> Result<Figures> {
    Ok(Figures::from_sums(super::dim_days::sums_at(r, first)?))
}

/// Unfiltered totals of several organisations and periods, one read of the
/// day and block rows per distinct period: `asks[i]` is (organisation, from,
/// to); the answer `i` is its
/// sums and distinct people (None when it had no message).
/// The platform endpoints ask one per organisation and period: a
/// transaction each took 60–100 ms for `medium`'s 100 organisations.
pub async fn totals_many(
    c: &mut PgConnection,
    asks: &[(i64, i32, i32)],
) -> Result<Vec<Option<Figures>>> {
    // Asks of one range read its whole blocks and the days at either end
    // (blocks.rs): one query per distinct range (the platform asks one or two).
    let mut ranges: BTreeMap<(i32, i32), Vec<usize>> = BTreeMap::new();
    for (i, (_, from, to)) in asks.iter().enumerate() {
        ranges.entry((*from, *to)).or_default().push(i);
    }
    let mut sums = vec![Figures::default(); asks.len()];
    let mut people: Vec<PeopleUnion> = (0..asks.len()).map(|_| PeopleUnion::default()).collect();
    for ((from, to), of_range) in ranges {
        let mut of_org: HashMap<i64, Vec<usize>> = HashMap::new();
        for i in of_range {
            of_org.entry(asks[i].0).or_default().push(i);
        }
        let orgs: Vec<i64> = of_org.keys().copied().collect();
        let split = blocks::split(i64::from(from), i64::from(to));
        let cols = "org, total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in,
                    cache_write_in, unpriced, convs, users";
        // Each part a plain range, its bounds written in (integers only), so
        // that each is planned for its own range: a prepared statement's
        // generic plan for an OR of ranges read every organisation's days.
        let parts: Vec<String> = [
            ("org_days", split.days[0]),
            ("org_days", split.days[1]),
            ("org_blocks", split.blocks),
        ]
        .into_iter()
        .filter(|(_, (lo, hi))| lo < hi)
        .map(|(table, (lo, hi))| {
            format!(
                "SELECT {cols} FROM {table} WHERE org IN (SELECT UNNEST($1::bigint[]))
                 AND day >= {lo} AND day < {hi}"
            )
        })
        .collect();
        if parts.is_empty() {
            continue;
        }
        // Summed per organisation in the database, the people's bitmaps
        // passed on as one array: a row per organisation instead of one per
        // day and block (~4,000 for 500 organisations over 30 days), whose
        // columns taken apart one `try_get` at a time were a fifth of the
        // server's CPU for the platform summary.
        let sums_sql = super::dim_days::each_sum(|s| format!("SUM({s})::bigint"));
        let sql = format!(
            "SELECT org, {sums_sql}, array_agg(users) FROM ({}) x GROUP BY org",
            parts.join(" UNION ALL ")
        );
        let mut rows = sqlx::query(&sql)
            .persistent(false)
            .bind(&orgs)
            .fetch(&mut *c);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let org: i64 = r.try_get(0).map_err(db_err)?;
            let Some(wanted) = of_org.get(&org) else {
                continue;
            };
            let f = sums_at(&r, 1)?;
            let blobs: Vec<Vec<u8>> = r.try_get(10).map_err(db_err)?;
            for &i in wanted {
                sums[i].add_disjoint(&f);
                for blob in &blobs {
                    people[i].add_stored(blob);
                }
            }
        }
    }
    Ok(sums
        .into_iter()
        .zip(people)
        .map(|(mut f, p)| {
            f.active_users = p.len();
            (f.messages > 0).then_some(f)
        })
        .collect())
}

/// Recompute organisation `org`'s blocks from the one holding `from` on from
/// its day rows (after those were recomputed, or to fill the table).
pub async fn recompute_blocks(c: &mut PgConnection, org: i64, from: i64) -> Result<()> {
    let from = blocks::start(from);
    sqlx::query("DELETE FROM org_blocks WHERE org = $1 AND day >= $2")
        .bind(org)
        .bind(from)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    let mut days = Rows::new();
    {
        let mut rows = sqlx::query(
            "SELECT day, total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in,
                    cache_write_in, unpriced, convs, users
             FROM org_days WHERE org = $1 AND day >= $2",
        )
        .bind(org)
        .bind(from)
        .fetch(&mut *c);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let sums = super::dim_days::sums_at(&r, 1)?;
            days.insert(
                (org, r.try_get(0).map_err(db_err)?),
                DayRow {
                    d: CellDelta::from_values(sums),
                    users: read_bits(&r.try_get::<Vec<u8>, _>(10).map_err(db_err)?),
                },
            );
        }
    }
    merge(c, "org_blocks", &to_blocks(days.iter())).await
}

/// Whether a store from before org_blocks has day rows but no blocks yet.
pub async fn blocks_need_fill(pool: &sqlx::PgPool) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM org_days) AND NOT EXISTS (SELECT 1 FROM org_blocks)",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)
}
