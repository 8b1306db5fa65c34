//! Per-organisation day totals with a bitmap of active people (migration
//! 0005): the fast path for unfiltered summaries and daily series. Distinct
//! people over a range are the union of the days' bitmaps, so the answer is
//! exact for any range and costs one row per day.

use super::sql_err;
use crate::aggregate::{CellDelta, CellKey, GRAIN_DAY};
use crate::contract::Result;
use crate::query::Figures;
use roaring::RoaringBitmap;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct DayRow {
    pub d: CellDelta,
    pub users: RoaringBitmap,
}

pub(super) fn add(a: &mut CellDelta, b: &CellDelta) {
    a.total_cost += b.total_cost;
    a.actual_cost += b.actual_cost;
    a.messages += b.messages;
    a.tokens_in += b.tokens_in;
    a.tokens_out += b.tokens_out;
    a.cached_in += b.cached_in;
    a.cache_write_in += b.cache_write_in;
    a.unpriced += b.unpriced;
    a.convs += b.convs;
}

/// The organisations a recompute covers: the one named, or all in id order.
pub(super) fn orgs_to_recompute(conn: &Connection, org: Option<i64>) -> Result<Vec<i64>> {
    if let Some(o) = org {
        return Ok(vec![o]);
    }
    let mut s = conn
        .prepare("SELECT id FROM orgs ORDER BY id")
        .map_err(sql_err)?;
    let ids = s.query_map([], |r| r.get(0)).map_err(sql_err)?;
    ids.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

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

const INSERT: &str = "INSERT INTO org_days (org, day, total_cost, actual_cost, messages, tokens_in, tokens_out,
    cached_in, cache_write_in, unpriced, convs, users) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

fn put(
    conn: &Connection,
    sql: &str,
    org: i64,
    day: i64,
    d: &CellDelta,
    users: &RoaringBitmap,
) -> Result<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| {
            s.execute(params![
                org,
                day,
                d.total_cost,
                d.actual_cost,
                d.messages,
                d.tokens_in,
                d.tokens_out,
                d.cached_in,
                d.cache_write_in,
                d.unpriced,
                d.convs,
                bits(users)
            ])
        })
        .map(|_| ())
        .map_err(sql_err)
}

/// Add the day cells of a transaction's deltas (called with the cube upserts).
pub fn add_day_cells(conn: &Connection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    let mut days: HashMap<(i64, i64), DayRow> = HashMap::new();
    for (k, d) in cells.iter().filter(|(k, _)| k.grain == GRAIN_DAY) {
        let row = days.entry((k.org, k.bucket)).or_default();
        add(&mut row.d, d);
        if d.messages != 0 || d.convs != 0 {
            row.users.insert(k.groups.user as u32);
        }
    }
    for ((org, day), row) in days {
        let old: Option<(Vec<u8>,)> = conn
            .prepare_cached("SELECT users FROM org_days WHERE org = ?1 AND day = ?2")
            .and_then(|mut s| {
                s.query_row(params![org, day], |r| Ok((r.get(0)?,)))
                    .optional()
            })
            .map_err(sql_err)?;
        let mut users = old.map(|(b,)| read_bits(&b)).unwrap_or_default();
        users |= &row.users;
        let upsert = format!(
            "{INSERT} ON CONFLICT (org, day) DO UPDATE SET total_cost = total_cost + excluded.total_cost,
               actual_cost = actual_cost + excluded.actual_cost, messages = messages + excluded.messages,
               tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out,
               cached_in = cached_in + excluded.cached_in, cache_write_in = cache_write_in + excluded.cache_write_in,
               unpriced = unpriced + excluded.unpriced, convs = convs + excluded.convs, users = excluded.users"
        );
        put(conn, &upsert, org, day, &row.d, &users)?;
    }
    Ok(())
}

/// Recompute the rows of days from `from` on (one organisation or all) from
/// the cube's day cells: at open when the table is new, after rebuild and erasure.
pub fn recompute(conn: &Connection, org: Option<i64>, from: i64) -> Result<()> {
    let org_filter = org.map_or(String::new(), |o| format!(" AND org = {o}"));
    conn.execute(
        &format!("DELETE FROM org_days WHERE day >= ?1{org_filter}"),
        [from],
    )
    .map_err(sql_err)?;
    let mut days: HashMap<(i64, i64), DayRow> = HashMap::new();
    {
        let mut s = conn
            .prepare(&format!(
                "SELECT org, bucket, user, sum(total_cost), sum(actual_cost), sum(messages), sum(tokens_in),
                        sum(tokens_out), sum(cached_in), sum(cache_write_in), sum(unpriced), sum(convs)
                 FROM cube WHERE grain = 1 AND bucket >= ?1{org_filter} GROUP BY org, bucket, user"
            ))
            .map_err(sql_err)?;
        let mut rows = s.query([from]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let g = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
            let row = days.entry((g(0)?, g(1)?)).or_default();
            row.users.insert(g(2)? as u32);
            add(
                &mut row.d,
                &CellDelta {
                    total_cost: g(3)?,
                    actual_cost: g(4)?,
                    messages: g(5)?,
                    tokens_in: g(6)?,
                    tokens_out: g(7)?,
                    cached_in: g(8)?,
                    cache_write_in: g(9)?,
                    unpriced: g(10)?,
                    convs: g(11)?,
                },
            );
        }
    }
    for ((org, day), row) in days {
        put(conn, INSERT, org, day, &row.d, &row.users)?;
    }
    Ok(())
}

/// Fill the table from the cube when it is new and the cube is not.
pub fn fill_if_new(conn: &Connection) -> Result<()> {
    let needed: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM cube WHERE grain = 1) AND NOT EXISTS (SELECT 1 FROM org_days)",
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if needed {
        tracing::info!("filling the organisation day totals from the cube");
        recompute(conn, None, i64::MIN)?;
    }
    Ok(())
}

/// Unfiltered figures of `[from, to)`: all days together (`by_day` false) or
/// one row per day with spend.
pub fn figures(
    conn: &Connection,
    org: i64,
    from: i32,
    to: i32,
    by_day: bool,
) -> Result<Vec<(i32, Figures)>> {
    let mut s = conn
        .prepare_cached(
            "SELECT day, total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in,
                    unpriced, convs, users
             FROM org_days WHERE org = ?1 AND day >= ?2 AND day < ?3 ORDER BY day",
        )
        .map_err(sql_err)?;
    let mut rows = s.query(params![org, from, to]).map_err(sql_err)?;
    let mut out: Vec<(i32, Figures)> = Vec::new();
    let mut all = Figures::default();
    let mut users = RoaringBitmap::new();
    while let Some(r) = rows.next().map_err(sql_err)? {
        let g = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
        let blob: Vec<u8> = r.get(10).map_err(sql_err)?;
        let day_users = read_bits(&blob);
        let f = Figures {
            total_cost: i128::from(g(1)?),
            actual_api_cost: i128::from(g(2)?),
            messages: g(3)? as u64,
            tokens_in: g(4)? as u64,
            tokens_out: g(5)? as u64,
            cached_tokens_in: g(6)? as u64,
            cache_write_tokens_in: g(7)? as u64,
            unpriced_events: g(8)? as u64,
            conversations: g(9)? as u64,
            active_users: day_users.len(),
        };
        if by_day {
            out.push((g(0)? as i32, f));
        } else {
            users |= day_users;
            all.add_disjoint(&Figures {
                active_users: 0,
                ..f
            });
        }
    }
    if !by_day {
        all.active_users = users.len();
        if all.messages > 0 {
            out.push((from, all));
        }
    }
    Ok(out)
}
