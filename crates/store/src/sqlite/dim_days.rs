//! Per-organisation day totals per value of one dimension (migration 0006):
//! the fast path for one-dimension lists (people, teams, departments, keys,
//! models, providers) and for one value's figures (a key's, a team's or a
//! person's page). Such a question reads one row per day and value instead of
//! every cube cell of the range, which carries all six dimensions at once.
//! Distinct people stay exact: each row keeps the day's people of its group
//! as a bitmap, and a range's people are the union.

use super::org_days::{
    bits, people_at, people_bytes, read_bits, sums_from, DayRow, ADD_SUMS, SUMS,
};
use super::sql_err;
use crate::aggregate::{CellDelta, CellKey, Groups, GRAIN_DAY};
use crate::blocks;
use crate::contract::Result;
use crate::packs::people_union::PeopleUnion;
use crate::query::{Dim, FigureQuery, Figures, PERSON};
use roaring::RoaringBitmap;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::LazyLock;

/// (org, dim, day, value)
type RowKey = (i64, i64, i64, i64);

fn fold(rows: &mut HashMap<RowKey, DayRow>, org: i64, day: i64, g: &Groups, d: &CellDelta) {
    let active = d.messages != 0 || d.convs != 0;
    for (dim, value) in (0..).zip(g.day_table_values()) {
        let row = rows.entry((org, dim, day, value)).or_default();
        row.d.add(d);
        if active && dim != PERSON {
            row.users.insert(g.user as u32);
        }
    }
}

fn insert(table: &str) -> String {
    format!(
        "INSERT INTO {table} (org, dim, day, value, {SUMS}, users)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    )
}

/// The upsert adding a row's sums to `table`; `{people}` is how the
/// stored bitmap changes: replaced by the merged one, or kept.
fn upsert(table: &str, people: &str) -> String {
    format!(
        "{} ON CONFLICT (org, dim, day, value) DO UPDATE SET {ADD_SUMS}, users = {people}",
        insert(table)
    )
}

/// The statements of one table, built once.
struct Table {
    name: &'static str,
    insert: String,
    with_people: String,
    keeping_people: String,
    select_people: String,
}

impl Table {
    fn new(name: &'static str) -> Table {
        Table {
            name,
            insert: insert(name),
            with_people: upsert(name, "excluded.users"),
            keeping_people: upsert(name, "users"),
            select_people: format!(
                "SELECT users FROM {name} WHERE org = ?1 AND dim = ?2 AND day = ?3 AND value = ?4"
            ),
        }
    }
}

static DAYS: LazyLock<Table> = LazyLock::new(|| Table::new("dim_days"));
static BLOCKS: LazyLock<Table> = LazyLock::new(|| Table::new("dim_blocks"));

/// Rows folded into the blocks holding their days; people's own rows are
/// left out (their ranges come from person_cum).
fn to_blocks(rows: &HashMap<RowKey, DayRow>) -> HashMap<RowKey, DayRow> {
    let mut out: HashMap<RowKey, DayRow> = HashMap::new();
    for ((org, dim, day, value), row) in rows.iter().filter(|(k, _)| k.1 != PERSON) {
        let b = out
            .entry((*org, *dim, blocks::start(*day), *value))
            .or_default();
        b.d.add(&row.d);
        b.users |= &row.users;
    }
    out
}

fn put(
    conn: &Connection,
    sql: &str,
    k: RowKey,
    d: &CellDelta,
    users: &RoaringBitmap,
) -> Result<()> {
    let key = [k.0, k.1, k.2, k.3].map(rusqlite::types::Value::Integer);
    let sums = d.values().map(rusqlite::types::Value::Integer);
    let blob = rusqlite::types::Value::Blob(bits(users));
    conn.prepare_cached(sql)
        .and_then(|mut s| {
            s.execute(rusqlite::params_from_iter(
                key.into_iter().chain(sums).chain([blob]),
            ))
        })
        .map(|_| ())
        .map_err(sql_err)
}

/// Add rows to what `table` holds (sums added, people united).
fn merge(conn: &Connection, table: &Table, rows: HashMap<RowKey, DayRow>) -> Result<()> {
    for (key, mut row) in rows {
        let sql = if key.1 == PERSON || row.users.is_empty() {
            // Nobody new (a person row's people are never stored).
            &table.keeping_people
        } else {
            let old: Option<Vec<u8>> = conn
                .prepare_cached(&table.select_people)
                .and_then(|mut s| {
                    s.query_row(params![key.0, key.1, key.2, key.3], |r| r.get(0))
                        .optional()
                })
                .map_err(sql_err)?;
            if let Some(b) = old {
                row.users |= read_bits(&b);
            }
            &table.with_people
        };
        put(conn, sql, key, &row.d, &row.users)?;
    }
    Ok(())
}

fn write_all(conn: &Connection, table: &Table, rows: &HashMap<RowKey, DayRow>) -> Result<()> {
    for (key, row) in rows {
        put(conn, &table.insert, *key, &row.d, &row.users)?;
    }
    Ok(())
}

/// Add the day cells of a transaction's deltas (called with the cube upserts).
pub fn add_day_cells(conn: &Connection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    let mut rows: HashMap<RowKey, DayRow> = HashMap::new();
    for (k, d) in cells.iter().filter(|(k, _)| k.grain == GRAIN_DAY) {
        fold(&mut rows, k.org, k.bucket, &k.groups, d);
    }
    let in_blocks = to_blocks(&rows);
    merge(conn, &DAYS, rows)?;
    merge(conn, &BLOCKS, in_blocks)
}

/// Recompute the rows of days from `from` on (one organisation or all, one
/// organisation at a time to bound memory) from the cube's day cells, and
/// the blocks they fall in (from the block holding `from`): at open when the
/// table is new, after rebuild and erasure.
pub fn recompute(conn: &Connection, org: Option<i64>, from: i64) -> Result<()> {
    let from = blocks::start(from);
    let orgs = super::org_days::orgs_to_recompute(conn, org)?;
    for org in orgs {
        for table in [&DAYS, &BLOCKS] {
            conn.execute(
                &format!("DELETE FROM {} WHERE org = ?1 AND day >= ?2", table.name),
                params![org, from],
            )
            .map_err(sql_err)?;
        }
        let mut rows: HashMap<RowKey, DayRow> = HashMap::new();
        {
            let mut s = conn
                .prepare_cached(&format!(
                    "SELECT bucket, user, team, dept, key, model, provider, {SUMS}
                     FROM cube WHERE org = ?1 AND grain = 1 AND bucket >= ?2"
                ))
                .map_err(sql_err)?;
            let mut cur = s.query(params![org, from]).map_err(sql_err)?;
            while let Some(r) = cur.next().map_err(sql_err)? {
                let g = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
                let groups = Groups {
                    user: g(1)?,
                    team: g(2)?,
                    dept: g(3)?,
                    key: g(4)?,
                    model: g(5)?,
                    provider: g(6)?,
                };
                let d = CellDelta::from_values(sums_from(r, 7).map_err(sql_err)?);
                fold(&mut rows, org, g(0)?, &groups, &d);
            }
        }
        write_all(conn, &DAYS, &rows)?;
        write_all(conn, &BLOCKS, &to_blocks(&rows))?;
    }
    Ok(())
}

/// Fill the tables when they are new: the days from the cube, the blocks
/// from the days (a store from before the blocks), one organisation at a time.
pub fn fill_if_new(conn: &Connection) -> Result<()> {
    let (no_days, no_blocks): (bool, bool) = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM cube WHERE grain = 1) AND NOT EXISTS (SELECT 1 FROM dim_days),
                    EXISTS (SELECT 1 FROM dim_days WHERE dim > 0) AND NOT EXISTS (SELECT 1 FROM dim_blocks)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql_err)?;
    if no_days {
        tracing::info!("filling the per-dimension day totals from the cube");
        return recompute(conn, None, i64::MIN);
    }
    if !no_blocks {
        return Ok(());
    }
    tracing::info!("filling the per-dimension eight-day totals from the day totals");
    for org in super::org_days::orgs_to_recompute(conn, None)? {
        let mut rows: HashMap<RowKey, DayRow> = HashMap::new();
        let mut s = conn
            .prepare_cached(&format!(
                "SELECT dim, day, value, {SUMS}, users FROM dim_days WHERE org = ?1 AND dim > 0"
            ))
            .map_err(sql_err)?;
        let mut cur = s.query([org]).map_err(sql_err)?;
        while let Some(r) = cur.next().map_err(sql_err)? {
            let g = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
            let row = rows.entry((org, g(0)?, g(1)?, g(2)?)).or_default();
            row.d = CellDelta::from_values(sums_from(r, 3).map_err(sql_err)?);
            row.users = people_at(r, 12).map_err(sql_err)?;
        }
        write_all(conn, &BLOCKS, &to_blocks(&rows))?;
    }
    Ok(())
}

/// A group's key as ids (see `key_part`) and its figures.
pub use crate::packs::KeyedFigures;

/// Figures of a question about one dimension only — grouped by it, filtered
/// to one of its values, or both, and optionally by day, week or month — or
/// `None` when the question needs the cube. `filters` are the question's
/// filters as (dimension, internal id). Rows come ordered by their keys.
pub fn figures(
    conn: &Connection,
    org: i64,
    q: &FigureQuery,
    filters: &[(Dim, i64)],
) -> Result<Option<Vec<KeyedFigures>>> {
    let Some(number) = q.day_table_dim(filters) else {
        return Ok(None);
    };
    let (from, to) = (i64::from(q.period.from.0), i64::from(q.period.to.0));
    let mut groups: HashMap<Vec<i64>, (Figures, PeopleUnion)> = HashMap::new();
    let mut take = |day: i64, value: i64, r: &rusqlite::Row| -> Result<()> {
        let g = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
        let key: Vec<i64> = q.group_by.iter().map(|d| d.key_of(day, value)).collect();
        let (f, users) = groups.entry(key).or_default();
        f.add_disjoint(&Figures::from_sums(sums_from(r, 0).map_err(sql_err)?));
        if number == PERSON {
            // Every group holds one person: active when anything happened.
            if g(2)? != 0 || g(8)? != 0 {
                users.insert(value as u32);
            }
        } else {
            users.add_stored(people_bytes(r, 9).map_err(sql_err)?);
        }
        Ok(())
    };
    // Whole blocks where no day, week or month is asked (a person's rows
    // have none): the range's ends from the day rows, the rest from blocks.
    let parts: Vec<(&Table, (i64, i64), i64)> =
        if number == PERSON || q.group_by.iter().any(|d| d.is_time()) {
            vec![(&DAYS, (from, to), 1)]
        } else {
            let split = blocks::split(from, to);
            vec![
                (&DAYS, split.days[0], 1),
                (&BLOCKS, split.blocks, blocks::SPAN),
                (&DAYS, split.days[1], 1),
            ]
        };
    for (table, (lo, hi), step) in parts {
        if let Some((_, id)) = filters.first() {
            // One value: a point lookup per day (or block) of the period.
            let mut s = conn
                .prepare_cached(&format!(
                    "SELECT {SUMS}, users FROM {} WHERE org = ?1 AND dim = ?2 AND day = ?3 AND value = ?4",
                    table.name
                ))
                .map_err(sql_err)?;
            for day in (lo..hi).step_by(step as usize) {
                let mut rows = s.query(params![org, number, day, id]).map_err(sql_err)?;
                if let Some(r) = rows.next().map_err(sql_err)? {
                    take(day, *id, r)?;
                }
            }
        } else if lo < hi {
            let mut s = conn
                .prepare_cached(&format!(
                    "SELECT {SUMS}, users, day, value FROM {} WHERE org = ?1 AND dim = ?2 AND day >= ?3 AND day < ?4",
                    table.name
                ))
                .map_err(sql_err)?;
            let mut rows = s.query(params![org, number, lo, hi]).map_err(sql_err)?;
            while let Some(r) = rows.next().map_err(sql_err)? {
                let (day, value) = (
                    r.get::<_, i64>(10).map_err(sql_err)?,
                    r.get::<_, i64>(11).map_err(sql_err)?,
                );
                take(day, value, r)?;
            }
        }
    }
    let mut out: Vec<KeyedFigures> = groups
        .into_iter()
        .map(|(k, (mut f, users))| {
            f.active_users = users.len();
            (k, f)
        })
        .filter(|(k, f)| !k.is_empty() || f.messages > 0)
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}
