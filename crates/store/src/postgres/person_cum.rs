//! Each person's running totals per organisation (migration 0007), as
//! sqlite/person_cum.rs keeps them: the fast path for the people list and
//! one person's totals. A slice is the set of rows of one day; it exists for
//! every day the organisation had activity and holds, for everyone active on
//! or before that day, the sums of all their days up to it. The figures of a
//! range [from, to) are the slice before `to` minus the slice before `from`:
//! a ranking of 5,000 people reads 10,000 rows whether the range is a week
//! or half a year (on `large` over 180 days, dim_blocks' day and block rows
//! were 185,000).
//!
//! Exactness with several servers: a new slice starts as a copy of the one
//! before it, and a delta of day d is added to every slice from d on. Both
//! happen in the folds (fold.rs), which run side by side, so a fold takes
//! an advisory lock per organisation: shared to add to existing slices,
//! exclusive to create one. A copy therefore never misses a delta committed
//! or in flight, and a delta never misses a slice created before it.
//! Organisations are locked in id order, so folds wait but never deadlock.

use super::db_err;
use super::dim_days::{each_sum, sums_at, SUMS};
use super::locks;
use crate::aggregate::{CellDelta, CellKey, GRAIN_DAY};
use crate::contract::Result;
use crate::query::Figures;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Hold organisation `org`'s slice lock until the transaction ends.
async fn lock(c: &mut PgConnection, org: i64, exclusive: bool) -> Result<()> {
    lock_all(c, &[(org, exclusive)]).await
}

/// Take the slice locks of `orgs`, each exclusive or shared, in key order.
async fn lock_all(c: &mut PgConnection, orgs: &[(i64, bool)]) -> Result<()> {
    let mut keys: BTreeMap<i32, bool> = BTreeMap::new();
    for (org, exclusive) in orgs {
        *keys.entry(locks::key_of(*org)).or_default() |= exclusive;
    }
    locks::take(c, locks::SLICES, &keys).await
}

/// Each organisation's slice days from its first day on, with the last
/// slice before it: one query for every organisation of a fold.
async fn slices_of(
    c: &mut PgConnection,
    firsts: &[(i64, i64)],
) -> Result<HashMap<i64, (Option<i64>, Vec<i64>)>> {
    let (orgs, days): (Vec<i64>, Vec<i64>) = firsts.iter().copied().unzip();
    let rows: Vec<(i64, Option<i64>, Vec<i64>)> = sqlx::query_as(
        "SELECT o.org,
                (SELECT max(d.day) FROM person_cum_days d WHERE d.org = o.org AND d.day < o.first),
                ARRAY(SELECT d.day FROM person_cum_days d
                      WHERE d.org = o.org AND d.day >= o.first ORDER BY d.day)
         FROM UNNEST($1::bigint[], $2::bigint[]) AS o(org, first)",
    )
    .bind(orgs)
    .bind(days)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(rows.into_iter().map(|(o, b, a)| (o, (b, a))).collect())
}

/// The organisation's slices from `from` on, and the last one before it.
async fn slices_from(c: &mut PgConnection, org: i64, from: i64) -> Result<(Option<i64>, Vec<i64>)> {
    Ok(slices_of(c, &[(org, from)])
        .await?
        .remove(&org)
        .unwrap_or_default())
}

/// Rows a fold adds to without asking whether summing the slices again
/// would write fewer.
const CHECK_ABOVE: usize = 10_000;

/// About how many rows summing the slices from `first` on again writes:
/// those slices times the people of the last one.
async fn rewrite_size(c: &mut PgConnection, org: i64, slices: &[i64], first: i64) -> Result<usize> {
    let Some(last) = slices.last() else {
        return Ok(0);
    };
    let people: i64 =
        sqlx::query_scalar("SELECT count(*) FROM person_cum WHERE org = $1 AND day = $2")
            .bind(org)
            .bind(last)
            .fetch_one(&mut *c)
            .await
            .map_err(db_err)?;
    let from_first = slices.len() - slices.partition_point(|s| *s < first);
    Ok(from_first * usize::try_from(people).unwrap_or(0))
}

/// Fold a transaction's day cells into the running totals (called with the
/// other aggregates' upserts, cells.rs).
pub async fn add_day_cells(
    c: &mut PgConnection,
    cells: &HashMap<CellKey, CellDelta>,
) -> Result<Touched> {
    // Per organisation, per day, per person: the cells' sums.
    let mut per_org: BTreeMap<i64, BTreeMap<i64, BTreeMap<i64, CellDelta>>> = BTreeMap::new();
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
    let firsts: Vec<(i64, i64)> = per_org
        .iter()
        .filter_map(|(org, days)| Some((*org, *days.keys().next()?)))
        .collect();
    // Usually every day has its slice already (events arrive in order, and
    // a day's first fold made it): then a shared lock will do.
    let missing =
        |org: i64, have: &[i64]| per_org[&org].keys().any(|d| have.binary_search(d).is_err());
    let seen = slices_of(c, &firsts).await?;
    let modes: Vec<(i64, bool)> = firsts
        .iter()
        .map(|(org, _)| (*org, seen.get(org).is_none_or(|(_, a)| missing(*org, a))))
        .collect();
    lock_all(c, &modes).await?;
    let mut slices_now = slices_of(c, &firsts).await?;
    // (slice, person) → sums to add, for every organisation at once, in key
    // order, so that concurrent folds lock rows in the same order.
    let mut rows: BTreeMap<(i64, i64, i64), CellDelta> = BTreeMap::new();
    let mut made: Vec<(i64, i64)> = Vec::new();
    for ((org, first), (_, mut exclusive)) in firsts.iter().copied().zip(modes) {
        let days = &per_org[&org];
        let (mut before, mut existing) = slices_now.remove(&org).unwrap_or_default();
        if !exclusive && missing(org, &existing) {
            // Taken away meanwhile by a recompute: rare, and the lock is
            // ours to raise.
            exclusive = true;
            lock(c, org, true).await?;
            (before, existing) = slices_from(c, org, first).await?;
        }
        let new: Vec<i64> = days
            .keys()
            .copied()
            .filter(|d| existing.binary_search(d).is_err())
            .collect();
        let mut slices: Vec<i64> = existing.iter().chain(&new).copied().collect();
        slices.sort_unstable();
        // A reprice of months touches every later slice of every person:
        // then the slices are summed again from the day rows, which the
        // same transaction has just brought up to date (cells.rs).
        let touched: usize = days
            .iter()
            .map(|(day, people)| {
                people.len() * (slices.len() - slices.partition_point(|s| s < day))
            })
            .sum();
        if touched > CHECK_ABOVE && touched > rewrite_size(c, org, &slices, first).await? {
            recompute(c, org, first).await?;
            continue;
        }
        // New slices start as copies of the last slice before them, all
        // made before any delta lands.
        for day in &new {
            debug_assert!(exclusive);
            let source = existing
                .iter()
                .copied()
                .take_while(|s| s < day)
                .last()
                .or(before);
            if let Some(source) = source {
                sqlx::query(&format!(
                    "INSERT INTO person_cum (org, day, person, {SUMS})
                     SELECT org, $3, person, {SUMS} FROM person_cum WHERE org = $1 AND day = $2"
                ))
                .bind(org)
                .bind(source)
                .bind(day)
                .execute(&mut *c)
                .await
                .map_err(db_err)?;
            }
            made.push((org, *day));
        }
        // A day's sums belong to its own slice and every later one.
        for (day, people) in days {
            let from = slices.partition_point(|s| s < day);
            for slice in &slices[from..] {
                for (person, d) in people {
                    rows.entry((org, *slice, *person)).or_default().add(d);
                }
            }
        }
    }
    if !made.is_empty() {
        let (orgs, days): (Vec<i64>, Vec<i64>) = made.into_iter().unzip();
        sqlx::query("INSERT INTO person_cum_days (org, day) SELECT * FROM UNNEST($1::bigint[], $2::bigint[])")
            .bind(orgs)
            .bind(days)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
    }
    upsert(c, &rows).await?;
    let mut touched: Touched = rows.keys().map(|(org, day, _)| (*org, *day)).collect();
    touched.dedup();
    Ok(touched)
}

/// The slices (org, day) a fold added to, in key order: `renumber` gives
/// them new numbers as the transaction's last statement.
pub type Touched = Vec<(i64, i64)>;

/// Give `slices` new numbers (migration 0011), locking their day rows in
/// key order. Called last in the transaction that changed them (cells.rs),
/// so two folds that both hold some wait only for each other's commit.
pub async fn renumber(c: &mut PgConnection, slices: &Touched) -> Result<()> {
    if slices.is_empty() {
        return Ok(());
    }
    let (orgs, days): (Vec<i64>, Vec<i64>) = slices.iter().copied().unzip();
    sqlx::query(
        "WITH l AS (SELECT org, day FROM person_cum_days
                    WHERE (org, day) IN (SELECT * FROM UNNEST($1::bigint[], $2::bigint[]))
                    ORDER BY org, day FOR UPDATE)
         UPDATE person_cum_days d SET rev = nextval('person_cum_rev')
         FROM l WHERE d.org = l.org AND d.day = l.day",
    )
    .bind(orgs)
    .bind(days)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// New numbers for every slice of organisation `org` (erasure renames a
/// person in all of them).
pub async fn renumber_org(c: &mut PgConnection, org: i64) -> Result<()> {
    sqlx::query("UPDATE person_cum_days SET rev = nextval('person_cum_rev') WHERE org = $1")
        .bind(org)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Add `rows` ((org, slice, person) → sums) to the running totals.
async fn upsert(c: &mut PgConnection, rows: &BTreeMap<(i64, i64, i64), CellDelta>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut cols: [Vec<i64>; 12] = Default::default();
    for ((org, day, person), d) in rows {
        let vals = [*org, *day, *person].into_iter().chain(d.values());
        for (col, v) in cols.iter_mut().zip(vals) {
            col.push(v);
        }
    }
    let add_sums = each_sum(|s| format!("{s} = person_cum.{s} + excluded.{s}"));
    let sql = format!(
        "INSERT INTO person_cum (org, day, person, {SUMS})
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
             $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
             $11::bigint[], $12::bigint[])
         ON CONFLICT (org, day, person) DO UPDATE SET {add_sums}"
    );
    let mut q = sqlx::query(&sql);
    for col in cols {
        q = q.bind(col);
    }
    q.execute(&mut *c).await.map_err(db_err)?;
    Ok(())
}

/// Rows per INSERT when writing whole slices.
const CHUNK: usize = 10_000;

/// Recompute organisation `org`'s slices from `from` on from the per-person
/// day rows of dim_days, which must be current: after a rebuild or an
/// erasure, and when the table is new.
pub async fn recompute(c: &mut PgConnection, org: i64, from: i64) -> Result<()> {
    lock(c, org, true).await?;
    for table in ["person_cum", "person_cum_days"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE org = $1 AND day >= $2"))
            .bind(org)
            .bind(from)
            .execute(&mut *c)
            .await
            .map_err(db_err)?;
    }
    let mut running: BTreeMap<i64, CellDelta> = BTreeMap::new();
    if let (Some(day), _) = slices_from(c, org, from).await? {
        let rows = sqlx::query(&format!(
            "SELECT person, {SUMS} FROM person_cum WHERE org = $1 AND day = $2"
        ))
        .bind(org)
        .bind(day)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        for r in &rows {
            running.insert(r.try_get(0).map_err(db_err)?, delta_at(r, 1)?);
        }
    }
    // The person rows (a few hundred thousand for `large`'s biggest
    // organisation), then each day's slice as its rows end.
    let rows = sqlx::query(&format!(
        "SELECT day, value, {SUMS} FROM dim_days WHERE org = $1 AND dim = 0 AND day >= $2 ORDER BY day"
    ))
    .bind(org)
    .bind(from)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    let mut days: Vec<i64> = Vec::new();
    let mut batch: BTreeMap<(i64, i64, i64), CellDelta> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let day: i64 = r.try_get(0).map_err(db_err)?;
        running
            .entry(r.try_get(1).map_err(db_err)?)
            .or_default()
            .add(&delta_at(r, 2)?);
        let next: Option<i64> = match rows.get(i + 1) {
            Some(n) => Some(n.try_get(0).map_err(db_err)?),
            None => None,
        };
        if next == Some(day) {
            continue;
        }
        // The day's rows are all in: its slice is complete.
        days.push(day);
        batch.extend(running.iter().map(|(p, d)| ((org, day, *p), *d)));
        if batch.len() >= CHUNK {
            upsert(c, &std::mem::take(&mut batch)).await?;
        }
    }
    upsert(c, &batch).await?;
    sqlx::query("INSERT INTO person_cum_days (org, day) SELECT $1, UNNEST($2::bigint[])")
        .bind(org)
        .bind(&days)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Whether a store from before the table has per-person day rows but no
/// slices yet (migrate.rs then fills them).
pub async fn needs_fill(pool: &sqlx::PgPool) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM dim_days WHERE dim = 0) AND NOT EXISTS (SELECT 1 FROM person_cum_days)",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)
}

/// Every organisation's slices, from dim_days (after `spendlens copy`).
pub async fn all_orgs(c: &mut PgConnection) -> Result<()> {
    let orgs: Vec<i64> = sqlx::query_scalar("SELECT id FROM orgs ORDER BY id")
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    for org in orgs {
        recompute(c, org, i64::MIN).await?;
    }
    Ok(())
}

fn delta_at(r: &sqlx::postgres::PgRow, at: usize) -> Result<CellDelta> {
    Ok(CellDelta::from_values(sums_at(r, at)?))
}

fn figures_of(d: CellDelta) -> Figures {
    let mut f = Figures::from_sums(d.values());
    // One person: active when anything happened in the range.
    f.active_users = u64::from(f.messages != 0 || f.conversations != 0);
    f
}

/// One slice's rows: people in id order, each with their nine sums.
pub struct Slice {
    people: Vec<i64>,
    sums: Vec<[i64; 9]>,
}

/// Slices kept between reads under (org, day), with the number they had
/// (migration 0011): a read whose snapshot shows the same number would read
/// the same rows, so it takes them from here. The people list of `large`'s
/// largest organisation read two slices of 5,000 rows (~8 ms in PostgreSQL)
/// on every request; now it reads two numbers, and a slice only after it
/// changed (today's, while ingestion runs).
pub struct Slices(quick_cache::sync::Cache<(i64, i64), (i64, Arc<Slice>)>);

/// Slices kept (about 400 KB each for 5,000 people).
const SLICES_KEPT: usize = 64;

impl Default for Slices {
    fn default() -> Self {
        Slices(quick_cache::sync::Cache::new(SLICES_KEPT))
    }
}

/// Everyone's figures over [from, to), ordered by person id; people
/// without a message in the range are left out.
pub async fn people(
    c: &mut PgConnection,
    kept: &Slices,
    org: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Figures)>> {
    let (s0, s1): (Option<Vec<i64>>, Option<Vec<i64>>) = sqlx::query_as(
        "SELECT (SELECT ARRAY[day, rev] FROM person_cum_days
                 WHERE org = $1 AND day < $2 ORDER BY day DESC LIMIT 1),
                (SELECT ARRAY[day, rev] FROM person_cum_days
                 WHERE org = $1 AND day < $3 ORDER BY day DESC LIMIT 1)",
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    let Some(s1) = s1 else {
        return Ok(Vec::new());
    };
    let end = slice(c, kept, org, &s1).await?;
    let start = match s0 {
        Some(s0) => Some(slice(c, kept, org, &s0).await?),
        None => None,
    };
    const MESSAGES: usize = 2;
    let mut out = Vec::new();
    let mut j = 0;
    for (person, e) in end.people.iter().zip(&end.sums) {
        let mut s = [0i64; 9];
        if let Some(start) = &start {
            while j < start.people.len() && start.people[j] < *person {
                j += 1;
            }
            if start.people.get(j) == Some(person) {
                s = start.sums[j];
            }
        }
        if e[MESSAGES] > s[MESSAGES] {
            let values: [i64; 9] = std::array::from_fn(|k| e[k] - s[k]);
            out.push((*person, figures_of(CellDelta::from_values(values))));
        }
    }
    Ok(out)
}

/// Slice `at` ([day, rev]) of organisation `org`: kept, or read and kept.
async fn slice(c: &mut PgConnection, kept: &Slices, org: i64, at: &[i64]) -> Result<Arc<Slice>> {
    let (day, rev) = match at {
        [day, rev] => (*day, *rev),
        _ => {
            return Err(crate::contract::StoreError::Other(anyhow::anyhow!(
                "person_cum_days: a slice's day and number expected"
            )))
        }
    };
    if let Some((n, s)) = kept.0.get(&(org, day)) {
        if n == rev {
            return Ok(s);
        }
    }
    let sums = each_sum(|s| format!("array_agg({s})"));
    let row = sqlx::query(&format!(
        "SELECT array_agg(person), {sums} FROM person_cum WHERE org = $1 AND day = $2"
    ))
    .bind(org)
    .bind(day)
    .fetch_one(&mut *c)
    .await
    .map_err(db_err)?;
    let (people, columns) = arrays(&row)?;
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_unstable_by_key(|i| people[*i]);
    let s = Arc::new(Slice {
        people: order.iter().map(|i| people[*i]).collect(),
        sums: order
            .iter()
            .map(|i| std::array::from_fn(|k| columns[k][*i]))
            .collect(),
    });
    kept.0.insert((org, day), (rev, s.clone()));
    Ok(s)
}

/// A row of ten arrays (people, then the nine sums), all the same length;
/// NULLs (no rows at all) read as empty.
fn arrays(row: &sqlx::postgres::PgRow) -> Result<(Vec<i64>, Vec<Vec<i64>>)> {
    let column = |i: usize| -> Result<Vec<i64>> {
        Ok(row
            .try_get::<Option<Vec<i64>>, _>(i)
            .map_err(db_err)?
            .unwrap_or_default())
    };
    let people = column(0)?;
    let sums: Vec<Vec<i64>> = (1..=9).map(column).collect::<Result<_>>()?;
    if sums.iter().any(|v| v.len() != people.len()) {
        return Err(crate::contract::StoreError::Other(anyhow::anyhow!(
            "person_cum: the figures' arrays differ in length from the people's"
        )));
    }
    Ok((people, sums))
}

/// `people` of one person (none when they sent no message in the range):
/// their two rows of the slices, joined in the database.
pub async fn one_person(
    c: &mut PgConnection,
    org: i64,
    person: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Figures)>> {
    let diff = each_sum(|s| format!("e.{s} - COALESCE(s.{s}, 0)"));
    let row = sqlx::query(&format!(
        "WITH at AS (
             SELECT (SELECT max(day) FROM person_cum_days WHERE org = $1 AND day < $2) AS s0,
                    (SELECT max(day) FROM person_cum_days WHERE org = $1 AND day < $3) AS s1)
         SELECT e.person, {diff}
         FROM at JOIN person_cum e ON e.org = $1 AND e.day = at.s1 AND e.person = $4
         LEFT JOIN person_cum s ON s.org = $1 AND s.day = at.s0 AND s.person = e.person
         WHERE e.messages > COALESCE(s.messages, 0)"
    ))
    .bind(org)
    .bind(from)
    .bind(to)
    .bind(person)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?;
    row.iter()
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, figures_of(delta_at(r, 1)?))))
        .collect()
}
