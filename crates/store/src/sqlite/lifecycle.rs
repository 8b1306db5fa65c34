//! Retention, verify and rebuild on SQLite.
//!
//! Retention deletes detail in short chunks (each its own writer transaction,
//! so ingestion interleaves) and never touches the cube, the idempotency keys
//! or the conversation starts. Verify recomputes the day cells of retained
//! days from the detail (messages) and the conversation starts; rebuild adds
//! the difference (truth − cube) to the hour, day and month cells, so months
//! that began before the window keep their older days.

use super::admin::audit;
use super::ingest::add_cells;
use super::read::org_id;
use super::writer::WriterState;
use super::{resolve, sql_err};
use crate::aggregate::{
    CellDelta, CellKey, CubeDeltas, Groups, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH,
};
use crate::contract::{Result, StoreError};
use crate::model::{CellDiff, RetentionStep};
use rusqlite::{params, Connection};
use spendlens_domain::time::{local_hour_start, Day};
use std::collections::{HashMap, HashSet};

pub fn retention_step(
    w: &mut WriterState,
    org: &str,
    before_us: i64,
    chunk: usize,
) -> Result<RetentionStep> {
    let id = org_id(&w.conn, org)?;
    let events = w
        .conn
        .execute(
            "DELETE FROM events WHERE id IN
             (SELECT id FROM events WHERE org = ?1 AND occurred_at < ?2 LIMIT ?3)",
            params![id, before_us, chunk as i64],
        )
        .map_err(sql_err)?;
    let titles = w
        .conn
        .execute(
            "UPDATE conversations SET title = NULL, title_at = NULL WHERE id IN
             (SELECT id FROM conversations WHERE org = ?1 AND last_at < ?2 AND title IS NOT NULL LIMIT ?3)",
            params![id, before_us, chunk as i64],
        )
        .map_err(sql_err)?;
    Ok(RetentionStep {
        events_deleted: events as u64,
        titles_cleared: titles as u64,
    })
}

type Cells = HashMap<(i64, Groups), CellDelta>;

fn groups(r: &rusqlite::Row, from: usize) -> rusqlite::Result<Groups> {
    Ok(Groups {
        user: r.get(from)?,
        team: r.get(from + 1)?,
        dept: r.get(from + 2)?,
        key: r.get(from + 3)?,
        model: r.get(from + 4)?,
        provider: r.get(from + 5)?,
    })
}

/// (bucket, groups) and the nine figures of a cell, in the column order of
/// both the cube and the detail queries below.
fn cell_row(r: &rusqlite::Row) -> rusqlite::Result<((i64, Groups), CellDelta)> {
    Ok((
        (r.get(0)?, groups(r, 1)?),
        CellDelta {
            total_cost: r.get(7)?,
            actual_cost: r.get(8)?,
            messages: r.get(9)?,
            tokens_in: r.get(10)?,
            tokens_out: r.get(11)?,
            cached_in: r.get(12)?,
            cache_write_in: r.get(13)?,
            unpriced: r.get(14)?,
            convs: r.get(15)?,
        },
    ))
}

/// Day cells recomputed from the retained detail and the conversation starts.
fn detail_days(c: &Connection, org: i64, from: Day) -> Result<Cells> {
    let mut cells = Cells::new();
    let mut s = c
        .prepare(
            "SELECT day, user, team, dept, key, model, provider, SUM(total_cost), SUM(actual_cost), COUNT(*),
                    SUM(tokens_in), SUM(tokens_out), SUM(cached_in), SUM(cache_write_in),
                    SUM((cost_flags & 4) != 0), 0
             FROM events WHERE org = ?1 AND day >= ?2 GROUP BY day, user, team, dept, key, model, provider",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map(params![org, from.0], cell_row)
        .map_err(sql_err)?;
    for row in rows {
        let (k, d) = row.map_err(sql_err)?;
        cells.insert(k, d);
    }
    let mut s = c
        .prepare(
            "SELECT first_day, user, first_team, first_dept, first_key, first_model, first_provider, COUNT(*)
             FROM conversations WHERE org = ?1 AND first_day >= ?2
             GROUP BY first_day, user, first_team, first_dept, first_key, first_model, first_provider",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map(params![org, from.0], |r| {
            Ok(((r.get::<_, i64>(0)?, groups(r, 1)?), r.get::<_, i64>(7)?))
        })
        .map_err(sql_err)?;
    for row in rows {
        let (k, n) = row.map_err(sql_err)?;
        cells.entry(k).or_default().convs += n;
    }
    Ok(cells)
}

fn cube_cells(c: &Connection, org: i64, grain: u8, from_bucket: i64) -> Result<Cells> {
    let mut s = c
        .prepare(
            "SELECT bucket, user, team, dept, key, model, provider, total_cost, actual_cost, messages, tokens_in,
                    tokens_out, cached_in, cache_write_in, unpriced, convs
             FROM cube WHERE org = ?1 AND grain = ?2 AND bucket >= ?3",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map(params![org, grain, from_bucket], cell_row)
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<Cells>>().map_err(sql_err)
}

fn fields(d: &CellDelta) -> [(&'static str, i64); 9] {
    [
        ("total_cost", d.total_cost),
        ("actual_api_cost", d.actual_cost),
        ("messages", d.messages),
        ("tokens_in", d.tokens_in),
        ("tokens_out", d.tokens_out),
        ("cached_tokens_in", d.cached_in),
        ("cache_write_tokens_in", d.cache_write_in),
        ("unpriced_events", d.unpriced),
        ("conversations", d.convs),
    ]
}

fn plus(a: &CellDelta, b: &CellDelta) -> CellDelta {
    minus(a, &minus(&CellDelta::default(), b))
}

fn minus(a: &CellDelta, b: &CellDelta) -> CellDelta {
    CellDelta {
        total_cost: a.total_cost - b.total_cost,
        actual_cost: a.actual_cost - b.actual_cost,
        messages: a.messages - b.messages,
        tokens_in: a.tokens_in - b.tokens_in,
        tokens_out: a.tokens_out - b.tokens_out,
        cached_in: a.cached_in - b.cached_in,
        cache_write_in: a.cache_write_in - b.cache_write_in,
        unpriced: a.unpriced - b.unpriced,
        convs: a.convs - b.convs,
    }
}

/// truth − cube for every key of either, the non-zero ones.
fn differences(truth: &Cells, cube: &Cells) -> Vec<((i64, Groups), CellDelta)> {
    let keys: HashSet<&(i64, Groups)> = truth.keys().chain(cube.keys()).collect();
    let zero = CellDelta::default();
    keys.into_iter()
        .map(|k| {
            (
                *k,
                minus(truth.get(k).unwrap_or(&zero), cube.get(k).unwrap_or(&zero)),
            )
        })
        .filter(|(_, d)| *d != zero)
        .collect()
}

fn name(c: &Connection, sql: &str, id: i64) -> Result<Option<String>> {
    if id == 0 {
        return Ok(None);
    }
    c.prepare_cached(sql)
        .and_then(|mut s| s.query_row([id], |r| r.get(0)))
        .map(Some)
        .map_err(sql_err)
}

pub fn verify(c: &Connection, org: &str, from: Day) -> Result<Vec<CellDiff>> {
    let id = org_id(c, org)?;
    let truth = detail_days(c, id, from)?;
    let cube = cube_cells(c, id, GRAIN_DAY, i64::from(from.0))?;
    let zero = CellDelta::default();
    let mut out = Vec::new();
    let mut diffs = differences(&truth, &cube);
    diffs.sort_by_key(|((day, g), _)| (*day, g.user, g.model, g.key, g.team, g.dept, g.provider));
    for ((day, g), _) in diffs {
        let (t, k) = (
            truth.get(&(day, g)).unwrap_or(&zero),
            cube.get(&(day, g)).unwrap_or(&zero),
        );
        for ((field, detail), (_, aggregate)) in fields(t).into_iter().zip(fields(k)) {
            if detail == aggregate {
                continue;
            }
            out.push(CellDiff {
                day: Day(day as i32).to_string(),
                user_id: name(c, "SELECT ext_id FROM users WHERE id = ?1", g.user)?
                    .unwrap_or_default(),
                team_id: name(c, "SELECT ext_id FROM teams WHERE id = ?1", g.team)?,
                department: name(c, "SELECT name FROM departments WHERE id = ?1", g.dept)?,
                api_key_id: name(c, "SELECT ext_id FROM api_keys WHERE id = ?1", g.key)?,
                model: name(c, "SELECT name FROM models WHERE id = ?1", g.model)?
                    .unwrap_or_default(),
                provider: name(c, "SELECT name FROM providers WHERE id = ?1", g.provider)?,
                field,
                aggregate,
                detail,
            });
        }
    }
    Ok(out)
}

pub fn rebuild(w: &mut WriterState, org: &str, from: Day, actor: &str) -> Result<u64> {
    let info =
        resolve::org(w, org)?.ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let id = info.id;
    let mut deltas = CubeDeltas::default();
    let mut put = |grain: u8, bucket: i64, g: Groups, d: &CellDelta| {
        let cell = deltas
            .cells
            .entry(CellKey {
                org: id,
                grain,
                bucket,
                groups: g,
            })
            .or_default();
        *cell = plus(cell, d);
    };
    let days = differences(
        &detail_days(&w.conn, id, from)?,
        &cube_cells(&w.conn, id, GRAIN_DAY, i64::from(from.0))?,
    );
    for ((day, g), d) in &days {
        put(GRAIN_DAY, *day, *g, d);
        put(GRAIN_MONTH, i64::from(Day(*day as i32).month().0), *g, d);
    }
    // Hours: recomputed event by event in the zone in force at each.
    let first_hour = local_hour_start(
        from.start_in(info.zone_at(i64::MAX)),
        info.zone_at(i64::MAX),
    );
    let mut hours = Cells::new();
    {
        let mut s = w
            .conn
            .prepare(
                "SELECT occurred_at, user, team, dept, key, model, provider, total_cost, actual_cost, tokens_in,
                        tokens_out, cached_in, cache_write_in, (cost_flags & 4) != 0
                 FROM events WHERE org = ?1 AND day >= ?2",
            )
            .map_err(sql_err)?;
        let rows = s
            .query_map(params![id, from.0], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    groups(r, 1)?,
                    CellDelta {
                        total_cost: r.get(7)?,
                        actual_cost: r.get(8)?,
                        messages: 1,
                        tokens_in: r.get(9)?,
                        tokens_out: r.get(10)?,
                        cached_in: r.get(11)?,
                        cache_write_in: r.get(12)?,
                        unpriced: r.get(13)?,
                        convs: 0,
                    },
                ))
            })
            .map_err(sql_err)?;
        for row in rows {
            let (at, g, d) = row.map_err(sql_err)?;
            let hour = local_hour_start(super::ts(at), info.zone_at(at));
            if hour >= first_hour {
                let cell = hours.entry((hour, g)).or_default();
                *cell = plus(cell, &d);
            }
        }
    }
    for ((hour, g), d) in differences(&hours, &cube_cells(&w.conn, id, GRAIN_HOUR, first_hour)?) {
        put(GRAIN_HOUR, hour, g, &d);
    }
    let changed = days.len() as u64;
    add_cells(&w.conn, &deltas.cells)?;
    super::org_days::recompute(&w.conn, Some(id), i64::from(from.0))?;
    super::dim_days::recompute(&w.conn, Some(id), i64::from(from.0))?;
    super::person_cum::recompute(&w.conn, Some(id), i64::from(from.0))?;
    // The budget-scope day totals follow the repaired day cells (recomputed,
    // not adjusted: they may have been wrong in their own way).
    w.conn
        .execute(
            "DELETE FROM spend_days WHERE org = ?1 AND day >= ?2",
            params![id, from.0],
        )
        .map_err(sql_err)?;
    // The organisation's own row groups by the constant org column.
    for (kind, column) in [
        (0, "org"),
        (1, "user"),
        (2, "team"),
        (3, "dept"),
        (4, "key"),
    ] {
        w.conn
            .execute(
                &format!(
                    "INSERT INTO spend_days (org, kind, id, day, total_cost)
                     SELECT org, {kind}, {id}, bucket, SUM(total_cost) FROM cube
                     WHERE org = ?1 AND grain = 1 AND bucket >= ?2 GROUP BY {column}, bucket",
                    id = if kind == 0 { "0" } else { column }
                ),
                params![id, from.0],
            )
            .map_err(sql_err)?;
    }
    audit(
        w,
        actor,
        Some(id),
        "rebuild",
        org,
        serde_json::json!({"from": from.to_string(), "day_cells_corrected": changed}),
    )?;
    Ok(changed)
}
