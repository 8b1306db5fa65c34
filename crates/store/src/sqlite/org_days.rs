//! Per-organisation day totals with a bitmap of active people (migration
//! 0005): the fast path for unfiltered summaries and daily series. Distinct
//! people over a range are the union of the days' bitmaps, so the answer is
//! exact for any range and costs one row per day.

use super::sql_err;
use crate::aggregate::{CellDelta, CellKey, GRAIN_DAY};
use crate::blocks;
use crate::contract::Result;
use crate::query::Figures;
use roaring::RoaringBitmap;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Default)]
pub(super) struct DayRow {
    pub d: CellDelta,
    pub users: RoaringBitmap,
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

/// Unchecked: the blobs are only ever written by `bits` (or copied from
/// another store that wrote them so); validating every container of every
/// row showed in the platform endpoints' profile.
pub(super) fn read_bits(blob: &[u8]) -> RoaringBitmap {
    RoaringBitmap::deserialize_unchecked_from(blob).unwrap_or_default()
}

/// The nine sums every aggregate table stores, in `CellDelta::values` order.
pub(super) const SUMS: &str = "total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in, unpriced, convs";

/// An upsert's `DO UPDATE SET` adding the nine sums of the new row.
pub(super) const ADD_SUMS: &str = "total_cost = total_cost + excluded.total_cost,
    actual_cost = actual_cost + excluded.actual_cost, messages = messages + excluded.messages,
    tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out,
    cached_in = cached_in + excluded.cached_in, cache_write_in = cache_write_in + excluded.cache_write_in,
    unpriced = unpriced + excluded.unpriced, convs = convs + excluded.convs";

/// The nine sums of a row, from column `first` on (in `SUMS` order).
pub(super) fn sums_from(r: &rusqlite::Row, first: usize) -> rusqlite::Result<[i64; 9]> {
    let mut sums = [0i64; 9];
    for (i, v) in sums.iter_mut().enumerate() {
        *v = r.get(first + i)?;
    }
    Ok(sums)
}

/// The people bitmap stored in column `i`, read in place.
pub(super) fn people_at(r: &rusqlite::Row, i: usize) -> rusqlite::Result<RoaringBitmap> {
    Ok(read_bits(people_bytes(r, i)?))
}

/// The stored bytes of a row's people bitmap, for `PeopleUnion::add_stored`.
pub(super) fn people_bytes<'r>(r: &'r rusqlite::Row, i: usize) -> rusqlite::Result<&'r [u8]> {
    Ok(r.get_ref(i)?.as_blob()?)
}

fn insert(table: &str) -> String {
    format!(
        "INSERT INTO {table} (org, day, {SUMS}, users) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    )
}

/// The statements of one table, built once.
struct Table {
    name: &'static str,
    insert: String,
    upsert: String,
    select_people: String,
}

impl Table {
    fn new(name: &'static str) -> Table {
        Table {
            name,
            insert: insert(name),
            upsert: format!(
                "{} ON CONFLICT (org, day) DO UPDATE SET {ADD_SUMS}, users = excluded.users",
                insert(name)
            ),
            select_people: format!("SELECT users FROM {name} WHERE org = ?1 AND day = ?2"),
        }
    }
}

static DAYS: LazyLock<Table> = LazyLock::new(|| Table::new("org_days"));
static BLOCKS: LazyLock<Table> = LazyLock::new(|| Table::new("org_blocks"));

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

/// Rows keyed by (org, day), folded into the blocks holding their days.
fn to_blocks(days: &HashMap<(i64, i64), DayRow>) -> HashMap<(i64, i64), DayRow> {
    let mut blocks: HashMap<(i64, i64), DayRow> = HashMap::new();
    for ((org, day), row) in days {
        let b = blocks.entry((*org, blocks::start(*day))).or_default();
        b.d.add(&row.d);
        b.users |= &row.users;
    }
    blocks
}

/// Add rows to what `table` holds (sums added, people united).
fn merge(conn: &Connection, table: &Table, rows: HashMap<(i64, i64), DayRow>) -> Result<()> {
    for ((org, day), row) in rows {
        let old: Option<Vec<u8>> = conn
            .prepare_cached(&table.select_people)
            .and_then(|mut s| s.query_row(params![org, day], |r| r.get(0)).optional())
            .map_err(sql_err)?;
        let mut users = old.map(|b| read_bits(&b)).unwrap_or_default();
        users |= &row.users;
        put(conn, &table.upsert, org, day, &row.d, &users)?;
    }
    Ok(())
}

fn write_all(conn: &Connection, table: &Table, rows: &HashMap<(i64, i64), DayRow>) -> Result<()> {
    for ((org, day), row) in rows {
        put(conn, &table.insert, *org, *day, &row.d, &row.users)?;
    }
    Ok(())
}

/// Add the day cells of a transaction's deltas (called with the cube upserts).
pub fn add_day_cells(conn: &Connection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    let mut days: HashMap<(i64, i64), DayRow> = HashMap::new();
    for (k, d) in cells.iter().filter(|(k, _)| k.grain == GRAIN_DAY) {
        let row = days.entry((k.org, k.bucket)).or_default();
        row.d.add(d);
        if d.messages != 0 || d.convs != 0 {
            row.users.insert(k.groups.user as u32);
        }
    }
    let blocks = to_blocks(&days);
    merge(conn, &DAYS, days)?;
    merge(conn, &BLOCKS, blocks)
}

/// Recompute the rows of days from `from` on (one organisation or all) from
/// the cube's day cells, and the blocks they fall in (from the block holding
/// `from`): at open when the table is new, after rebuild and erasure.
pub fn recompute(conn: &Connection, org: Option<i64>, from: i64) -> Result<()> {
    let from = blocks::start(from);
    let org_filter = org.map_or(String::new(), |o| format!(" AND org = {o}"));
    for table in [&DAYS, &BLOCKS] {
        conn.execute(
            &format!("DELETE FROM {} WHERE day >= ?1{org_filter}", table.name),
            [from],
        )
        .map_err(sql_err)?;
    }
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
            row.d
                .add(&CellDelta::from_values(sums_from(r, 3).map_err(sql_err)?));
        }
    }
    write_all(conn, &DAYS, &days)?;
    write_all(conn, &BLOCKS, &to_blocks(&days))
}

/// Fill the tables when they are new: the days from the cube, the blocks
/// from the days (a store from before the blocks).
pub fn fill_if_new(conn: &Connection) -> Result<()> {
    let (no_days, no_blocks): (bool, bool) = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM cube WHERE grain = 1) AND NOT EXISTS (SELECT 1 FROM org_days),
                    EXISTS (SELECT 1 FROM org_days) AND NOT EXISTS (SELECT 1 FROM org_blocks)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql_err)?;
    if no_days {
        tracing::info!("filling the organisation day totals from the cube");
        recompute(conn, None, i64::MIN)?;
    } else if no_blocks {
        tracing::info!("filling the organisation eight-day totals from the day totals");
        let mut days: HashMap<(i64, i64), DayRow> = HashMap::new();
        each_row(
            conn,
            &DAYS,
            Orgs::Share(1, 0),
            (i64::MIN, i64::MAX),
            |org, day, sums, users| {
                let row = days.entry((org, day)).or_default();
                row.d = CellDelta::from_values(sums);
                row.users = read_bits(users);
                Ok(())
            },
        )?;
        write_all(conn, &BLOCKS, &to_blocks(&days))?;
    }
    Ok(())
}

/// Which organisations a read of the day tables covers.
#[derive(Clone, Copy)]
pub enum Orgs {
    One(i64),
    /// Those whose id is `rest` modulo `of` (`Share(1, 0)`: all): two
    /// readers each take one residue, which spreads the large organisations
    /// of a Zipf-like platform over both.
    Share(i64, i64),
}

/// Every row of `table` (one organisation's, or those `Share` covers) whose
/// day is in `[lo, hi)`, in (org, day) order: its nine sums and its people.
fn each_row(
    conn: &Connection,
    table: &Table,
    org: Orgs,
    (lo, hi): (i64, i64),
    mut f: impl FnMut(i64, i64, [i64; 9], &[u8]) -> Result<()>,
) -> Result<()> {
    if lo >= hi {
        return Ok(());
    }
    // Two statements rather than `?1 IS NULL OR org = ?1`, which SQLite
    // cannot answer from the key and scans the whole table for. All
    // organisations: each seeks its own days (`CROSS JOIN` keeps `orgs` the
    // outer loop), so a short range does not read every row of the table.
    let sql = if let Orgs::One(_) = org {
        format!(
            "SELECT org, day, {SUMS}, users
             FROM {} WHERE org = ?1 AND day >= ?2 AND day < ?3 ORDER BY org, day",
            table.name
        )
    } else {
        format!(
            "SELECT d.org, d.day, {}, d.users
             FROM orgs o CROSS JOIN {} d
             WHERE o.id % ?4 = ?1 AND d.org = o.id AND d.day >= ?2 AND d.day < ?3 ORDER BY o.id, d.day",
            SUMS.split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            table.name
        )
    };
    let mut s = conn.prepare_cached(&sql).map_err(sql_err)?;
    let mut rows = match org {
        Orgs::One(id) => s.query(params![id, lo, hi]),
        Orgs::Share(of, rest) => s.query(params![rest, lo, hi, of]),
    }
    .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let g = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
        let people = people_bytes(r, 11).map_err(sql_err)?;
        f(g(0)?, g(1)?, sums_from(r, 2).map_err(sql_err)?, people)?;
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
    let (from, to) = (i64::from(from), i64::from(to));
    let mut out: Vec<(i32, Figures)> = Vec::new();
    if by_day {
        each_row(
            conn,
            &DAYS,
            Orgs::One(org),
            (from, to),
            |_, day, sums, people| {
                let mut f = Figures::from_sums(sums);
                f.active_users = read_bits(people).len();
                out.push((day as i32, f));
                Ok(())
            },
        )?;
        return Ok(out);
    }
    if let Some(all) = totals(conn, Orgs::One(org), from, to)?.remove(&org) {
        out.push((from as i32, all));
    }
    Ok(out)
}

/// Unfiltered totals of `[from, to)` of every organisation with spend in it,
/// read for all of them at once: the platform endpoints ask this of 500
/// organisations, and three statements for all beat three for each.
pub fn figures_of_all(
    conn: &Connection,
    orgs: Orgs,
    from: i32,
    to: i32,
) -> Result<HashMap<i64, Figures>> {
    totals(conn, orgs, i64::from(from), i64::from(to))
}

/// Totals of `[from, to)` by organisation (one or all): whole blocks, and
/// days only at either end.
fn totals(conn: &Connection, org: Orgs, from: i64, to: i64) -> Result<HashMap<i64, Figures>> {
    let mut acc: HashMap<i64, (Figures, crate::packs::people_union::PeopleUnion)> = HashMap::new();
    let split = blocks::split(from, to);
    for (table, range) in [
        (&DAYS, split.days[0]),
        (&BLOCKS, split.blocks),
        (&DAYS, split.days[1]),
    ] {
        each_row(conn, table, org, range, |org, _, sums, people| {
            let (all, users) = acc.entry(org).or_default();
            users.add_stored(people);
            all.add_disjoint(&Figures::from_sums(sums));
            Ok(())
        })?;
    }
    Ok(acc
        .into_iter()
        .filter(|(_, (all, _))| all.messages > 0)
        .map(|(org, (mut all, users))| {
            all.active_users = users.len();
            (org, all)
        })
        .collect())
}
