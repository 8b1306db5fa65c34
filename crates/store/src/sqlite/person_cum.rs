//! Each person's running totals per organisation (migration 0007): the fast
//! path for the people list and one person's totals. A slice is the set of
//! rows of one day; it exists for every day the organisation had activity and
//! holds, for everyone active on or before that day, the sums of all their
//! days up to it. The figures of a range [from, to) are the slice before `to`
//! minus the slice before `from`, so a ranking of 5,000 people reads 10,000
//! rows whether the range is a week or half a year.
//!
//! Exactness: a slice is created by copying the previous one before any delta
//! of the transaction is applied, and a delta of day d is then added to every
//! slice from d on, so each row stays the sum of its person's days up to its
//! slice; days without a slice had no activity, so the last slice before a
//! day also holds every sum before it.

use super::org_days::{sums_from, ADD_SUMS, SUMS};
use super::sql_err;
use crate::aggregate::{CellDelta, CellKey, GRAIN_DAY};
use crate::contract::Result;
use crate::query::Figures;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap};

/// The day of the organisation's last slice before `day`, if any.
fn slice_before(conn: &Connection, org: i64, day: i64) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT max(day) FROM person_cum WHERE org = ?1 AND day < ?2")
        .and_then(|mut s| s.query_row(params![org, day], |r| r.get(0)))
        .map_err(sql_err)
}

/// The day of the organisation's first slice after `day`, if any.
fn slice_after(conn: &Connection, org: i64, day: i64) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT min(day) FROM person_cum WHERE org = ?1 AND day > ?2")
        .and_then(|mut s| s.query_row(params![org, day], |r| r.get(0)))
        .map_err(sql_err)
}

/// A new slice for `day`: a copy of the slice `source` before it (nothing
/// happened in between).
fn copy_slice(conn: &Connection, org: i64, source: i64, day: i64) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO person_cum (org, day, person, {SUMS})
         SELECT org, ?3, person, {SUMS} FROM person_cum WHERE org = ?1 AND day = ?2"
    ))
    .and_then(|mut s| s.execute(params![org, source, day]))
    .map(|_| ())
    .map_err(sql_err)
}

fn add_to(conn: &Connection, org: i64, day: i64, person: i64, d: &CellDelta) -> Result<()> {
    let key = [org, day, person].map(rusqlite::types::Value::Integer);
    let sums = d.values().map(rusqlite::types::Value::Integer);
    conn.prepare_cached(&format!(
        "INSERT INTO person_cum (org, day, person, {SUMS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (org, day, person) DO UPDATE SET {ADD_SUMS}"
    ))
    .and_then(|mut s| s.execute(rusqlite::params_from_iter(key.into_iter().chain(sums))))
    .map(|_| ())
    .map_err(sql_err)
}

/// Fold a transaction's day cells into the running totals (called with the cube upserts).
pub fn add_day_cells(conn: &Connection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    // Per organisation, per day, per person: the transaction's sums.
    let mut per_org: HashMap<i64, BTreeMap<i64, HashMap<i64, CellDelta>>> = HashMap::new();
    for (k, d) in cells.iter().filter(|(k, _)| k.grain == GRAIN_DAY) {
        let row = per_org
            .entry(k.org)
            .or_default()
            .entry(k.bucket)
            .or_default()
            .entry(k.groups.user)
            .or_default();
        row.add(d);
    }
    for (org, days) in per_org {
        let Some(first) = days.keys().next().copied() else {
            continue;
        };
        // The slices from the transaction's first day on, as they stand
        // (usually none or the last one: events arrive in order).
        let mut existing = Vec::new();
        let mut at = first - 1;
        while let Some(next) = slice_after(conn, org, at)? {
            existing.push(next);
            at = next;
        }
        // New slices start as copies of the last slice before them, all
        // taken before any delta lands (an empty new slice has no rows to find).
        let mut copies = Vec::new();
        for day in days.keys().filter(|d| existing.binary_search(d).is_err()) {
            copies.push((*day, slice_before(conn, org, *day)?));
        }
        for (day, source) in copies {
            if let Some(source) = source {
                copy_slice(conn, org, source, day)?;
            }
        }
        let mut slices: Vec<i64> = existing.into_iter().chain(days.keys().copied()).collect();
        slices.sort_unstable();
        slices.dedup();
        // A day's sums belong to its own slice and every later one.
        for (day, people) in &days {
            let from = slices.partition_point(|s| s < day);
            for slice in &slices[from..] {
                for (person, d) in people {
                    add_to(conn, org, *slice, *person, d)?;
                }
            }
        }
    }
    Ok(())
}

/// Recompute the organisation's slices from `from` on (one organisation or
/// all) from the per-person day rows of dim_days, which must be current: at
/// open when the table is new, after rebuild and erasure.
pub fn recompute(conn: &Connection, org: Option<i64>, from: i64) -> Result<()> {
    let orgs = super::org_days::orgs_to_recompute(conn, org)?;
    for org in orgs {
        conn.execute(
            "DELETE FROM person_cum WHERE org = ?1 AND day >= ?2",
            params![org, from],
        )
        .map_err(sql_err)?;
        let mut running: BTreeMap<i64, [i64; 9]> = match slice_before(conn, org, from)? {
            Some(day) => read_slice(conn, org, day)?.into_iter().collect(),
            None => BTreeMap::new(),
        };
        let mut s = conn
            .prepare_cached(&format!(
                "SELECT day, value, {SUMS} FROM dim_days WHERE org = ?1 AND dim = 0 AND day >= ?2 ORDER BY day"
            ))
            .map_err(sql_err)?;
        let mut rows = s.query(params![org, from]).map_err(sql_err)?;
        let mut current: Option<i64> = None;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let day: i64 = r.get(0).map_err(sql_err)?;
            // A day's slice is complete once the next day's rows begin.
            if let Some(done) = current.filter(|c| *c != day) {
                write_slice(conn, org, done, &running)?;
            }
            current = Some(day);
            let total = running.entry(r.get(1).map_err(sql_err)?).or_default();
            let sums = sums_from(r, 2).map_err(sql_err)?;
            *total = std::array::from_fn(|i| total[i] + sums[i]);
        }
        if let Some(day) = current {
            write_slice(conn, org, day, &running)?;
        }
    }
    Ok(())
}

fn write_slice(
    conn: &Connection,
    org: i64,
    day: i64,
    people: &BTreeMap<i64, [i64; 9]>,
) -> Result<()> {
    for (person, sums) in people {
        add_to(conn, org, day, *person, &CellDelta::from_values(*sums))?;
    }
    Ok(())
}

/// Fill the table from dim_days when it is new and dim_days is not.
pub fn fill_if_new(conn: &Connection) -> Result<()> {
    let needed: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM dim_days WHERE dim = 0) AND NOT EXISTS (SELECT 1 FROM person_cum)",
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if needed {
        tracing::info!("filling the people's running totals from the per-person day totals");
        recompute(conn, None, i64::MIN)?;
    }
    Ok(())
}

/// The running totals of one slice, by person, ordered by person (kept in
/// memory between reads of the same commits: read_cache.rs).
fn slice(conn: &Connection, org: i64, day: i64) -> Result<super::read_cache::Slice> {
    super::read_cache::slice(org, day, || read_slice(conn, org, day))
}

fn read_slice(conn: &Connection, org: i64, day: i64) -> Result<Vec<(i64, [i64; 9])>> {
    let mut s = conn
        .prepare_cached(&format!(
            "SELECT person, {SUMS} FROM person_cum WHERE org = ?1 AND day = ?2 ORDER BY person"
        ))
        .map_err(sql_err)?;
    let rows = s
        .query_map(params![org, day], |r| Ok((r.get(0)?, sums_from(r, 1)?)))
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

/// One person's running totals in the slice before `day` (zero when none).
fn person_before(conn: &Connection, org: i64, person: i64, day: i64) -> Result<[i64; 9]> {
    let Some(at) = slice_before(conn, org, day)? else {
        return Ok([0; 9]);
    };
    conn.prepare_cached(&format!(
        "SELECT {SUMS} FROM person_cum WHERE org = ?1 AND day = ?2 AND person = ?3"
    ))
    .and_then(|mut s| {
        s.query_row(params![org, at, person], |r| sums_from(r, 0))
            .optional()
    })
    .map(|r| r.unwrap_or([0; 9]))
    .map_err(sql_err)
}

fn figures_of(sums: [i64; 9]) -> Figures {
    let mut f = Figures::from_sums(sums);
    // One person: active when anything happened in the range.
    f.active_users = u64::from(f.messages != 0 || f.conversations != 0);
    f
}

fn minus(a: [i64; 9], b: &[i64; 9]) -> [i64; 9] {
    std::array::from_fn(|i| a[i] - b[i])
}

/// Every person's figures over [from, to), ordered by person id; people
/// without a message in the range are left out.
pub fn people(conn: &Connection, org: i64, from: i64, to: i64) -> Result<Vec<(i64, Figures)>> {
    let Some(end) = slice_before(conn, org, to)? else {
        return Ok(Vec::new());
    };
    let start = match slice_before(conn, org, from)? {
        Some(day) => slice(conn, org, day)?,
        None => Default::default(),
    };
    // Both slices come ordered by person (their key): a merge, no hashing.
    let mut before = start.iter().peekable();
    let end = slice(conn, org, end)?;
    let mut out = Vec::with_capacity(end.len());
    for &(person, sums) in end.iter() {
        while before.next_if(|(p, _)| *p < person).is_some() {}
        let prior = match before.peek() {
            Some((p, s)) if *p == person => {
                before.next();
                *s
            }
            _ => [0; 9],
        };
        let f = figures_of(minus(sums, &prior));
        if f.messages > 0 {
            out.push((person, f));
        }
    }
    Ok(out)
}

/// One person's figures over [from, to).
pub fn person(conn: &Connection, org: i64, person: i64, from: i64, to: i64) -> Result<Figures> {
    let end = person_before(conn, org, person, to)?;
    let start = person_before(conn, org, person, from)?;
    Ok(figures_of(minus(end, &start)))
}
