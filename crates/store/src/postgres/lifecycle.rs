//! Retention, verify and rebuild on PostgreSQL (the rules of
//! sqlite/lifecycle.rs).
//!
//! Retention deletes detail in short chunks (each its own transaction, so
//! ingestion interleaves) and never touches the cube, the idempotency keys
//! or the conversation starts. Verify recomputes the day cells of retained
//! days from the detail (messages) and the conversation starts; rebuild adds
//! the difference (truth − cube) to the hour, day and month cells, so months
//! that began before the window keep their older days.
//!
//! SQLite's single writer made each of these see detail and cube at one
//! moment. Here other servers write meanwhile, so: verify reads one snapshot
//! (REPEATABLE READ), and the repairs (rebuild, reprice, erasure) first lock
//! the organisation's row (`lock_org`). Every ingestion transaction that adds
//! to an organisation updates that row (`last_event_at`) before it commits,
//! so while the lock is held no detail or cube change of the organisation
//! commits, and each statement of the repair sees the same data.

use super::admin::audit;
use super::cells::add_cells;
use super::ctx::Ctx;
use super::{db_err, resolve};
use crate::aggregate::{
    CellDelta, CellKey, CubeDeltas, Groups, GRAIN_DAY, GRAIN_HOUR, GRAIN_MONTH,
};
use crate::contract::{Result, StoreError};
use crate::model::{CellDiff, RetentionStep};
use futures_util::TryStreamExt;
use roaring::RoaringBitmap;
use spendlens_domain::time::{local_hour_start, Day};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::{HashMap, HashSet};

/// Lock organisation `org`'s row for the rest of the transaction and return
/// its internal id (NotFound when there is none). `FOR UPDATE` waits for the
/// ingestion transactions that already updated the row to commit and keeps
/// new ones from committing, and conflicts with retention's `FOR KEY SHARE`.
///
/// Then it folds the queued deltas (fold.rs): every transaction that locks
/// an organisation rewrites or reads its aggregates, and the events already
/// committed must be in them first. An ingestion transaction queues its
/// deltas before it updates the row, so none can be queued for this
/// organisation until this transaction ends.
pub(super) async fn lock_org(c: &mut PgConnection, org: &str) -> Result<i64> {
    let id = sqlx::query_scalar("SELECT id FROM orgs WHERE ext_id = $1 FOR UPDATE")
        .bind(org)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    super::fold::fold_all(c).await?;
    Ok(id)
}

pub async fn retention_step(
    c: &mut Ctx,
    org: &str,
    before: i64,
    chunk: usize,
) -> Result<RetentionStep> {
    // KEY SHARE does not hold up ingestion (its update of the row takes a
    // weaker lock) but keeps a chunk out of a repair's view while it runs.
    let id: i64 = sqlx::query_scalar("SELECT id FROM orgs WHERE ext_id = $1 FOR KEY SHARE")
        .bind(org)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let limit = i64::try_from(chunk).unwrap_or(i64::MAX);
    let events = sqlx::query(
        "DELETE FROM events WHERE org = $1 AND id IN
         (SELECT id FROM events WHERE org = $1 AND occurred_at < $2 LIMIT $3)",
    )
    .bind(id)
    .bind(before)
    .bind(limit)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    let titles = sqlx::query(
        "UPDATE conversations SET title = NULL, title_at = NULL WHERE org = $1 AND id IN
         (SELECT id FROM conversations WHERE org = $1 AND last_at < $2 AND title IS NOT NULL LIMIT $3)",
    )
    .bind(id)
    .bind(before)
    .bind(limit)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    Ok(RetentionStep {
        events_deleted: events,
        titles_cleared: titles,
    })
}

type Cells = HashMap<(i64, Groups), CellDelta>;

fn groups(r: &PgRow, from: usize) -> sqlx::Result<Groups> {
    Ok(Groups {
        user: r.try_get(from)?,
        team: r.try_get(from + 1)?,
        dept: r.try_get(from + 2)?,
        key: r.try_get(from + 3)?,
        model: r.try_get(from + 4)?,
        provider: r.try_get(from + 5)?,
    })
}

/// (bucket, groups) and the nine figures of a cell, in the column order of
/// both the cube and the detail queries below.
fn cell_row(r: &PgRow) -> sqlx::Result<((i64, Groups), CellDelta)> {
    Ok((
        (r.try_get(0)?, groups(r, 1)?),
        CellDelta {
            total_cost: r.try_get(7)?,
            actual_cost: r.try_get(8)?,
            messages: r.try_get(9)?,
            tokens_in: r.try_get(10)?,
            tokens_out: r.try_get(11)?,
            cached_in: r.try_get(12)?,
            cache_write_in: r.try_get(13)?,
            unpriced: r.try_get(14)?,
            convs: r.try_get(15)?,
        },
    ))
}

/// Day cells recomputed from the retained detail and the conversation starts.
async fn detail_days(c: &mut PgConnection, org: i64, from: Day) -> Result<Cells> {
    let mut cells = Cells::new();
    let rows = sqlx::query(
        "SELECT day, usr, team, dept, key, model, provider, SUM(total_cost)::bigint,
                SUM(actual_cost)::bigint, COUNT(*), SUM(tokens_in)::bigint, SUM(tokens_out)::bigint,
                SUM(cached_in)::bigint, SUM(cache_write_in)::bigint,
                COUNT(*) FILTER (WHERE (cost_flags & 4) <> 0), 0::bigint
         FROM events WHERE org = $1 AND day >= $2 GROUP BY day, usr, team, dept, key, model, provider",
    )
    .bind(org)
    .bind(i64::from(from.0))
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let (k, d) = cell_row(r).map_err(db_err)?;
        cells.insert(k, d);
    }
    let rows = sqlx::query(
        "SELECT first_day, usr, first_team, first_dept, first_key, first_model, first_provider, COUNT(*)
         FROM conversations WHERE org = $1 AND first_day >= $2
         GROUP BY first_day, usr, first_team, first_dept, first_key, first_model, first_provider",
    )
    .bind(org)
    .bind(i64::from(from.0))
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    for r in &rows {
        let day: i64 = r.try_get(0).map_err(db_err)?;
        let n: i64 = r.try_get(7).map_err(db_err)?;
        let g = groups(r, 1).map_err(db_err)?;
        cells.entry((day, g)).or_default().convs += n;
    }
    Ok(cells)
}

async fn cube_cells(c: &mut PgConnection, org: i64, grain: u8, from_bucket: i64) -> Result<Cells> {
    let rows = sqlx::query(
        "SELECT bucket, usr, team, dept, key, model, provider, total_cost, actual_cost, messages, tokens_in,
                tokens_out, cached_in, cache_write_in, unpriced, convs
         FROM cube WHERE org = $1 AND grain = $2 AND bucket >= $3",
    )
    .bind(org)
    .bind(i16::from(grain))
    .bind(from_bucket)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(cell_row)
        .collect::<sqlx::Result<Cells>>()
        .map_err(db_err)
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

/// Remembered in `seen`: the diffs of a damaged range name the same user,
/// team and model over and over. The null group 0 has no name.
async fn name(
    c: &mut PgConnection,
    seen: &mut HashMap<(&'static str, i64), String>,
    sql: &'static str,
    id: i64,
) -> Result<Option<String>> {
    if id == 0 {
        return Ok(None);
    }
    if let Some(n) = seen.get(&(sql, id)) {
        return Ok(Some(n.clone()));
    }
    let n: String = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
    seen.insert((sql, id), n.clone());
    Ok(Some(n))
}

pub async fn verify(c: &mut PgConnection, org: &str, from: Day) -> Result<Vec<CellDiff>> {
    // Detail and cube from one snapshot: a commit between the two reads
    // would show as a difference. Allowed here since no query ran yet.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    let id = super::scope::enter_org(c, org).await?;
    let truth = detail_days(c, id, from).await?;
    let cube = cube_cells(c, id, GRAIN_DAY, i64::from(from.0)).await?;
    let zero = CellDelta::default();
    let mut out = Vec::new();
    let mut seen = HashMap::new();
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
            let s = &mut seen;
            out.push(CellDiff {
                day: Day(day as i32).to_string(),
                user_id: name(c, s, "SELECT ext_id FROM users WHERE id = $1", g.user)
                    .await?
                    .unwrap_or_default(),
                team_id: name(c, s, "SELECT ext_id FROM teams WHERE id = $1", g.team).await?,
                department: name(c, s, "SELECT name FROM departments WHERE id = $1", g.dept)
                    .await?,
                api_key_id: name(c, s, "SELECT ext_id FROM api_keys WHERE id = $1", g.key).await?,
                model: name(c, s, "SELECT name FROM models WHERE id = $1", g.model)
                    .await?
                    .unwrap_or_default(),
                provider: name(c, s, "SELECT name FROM providers WHERE id = $1", g.provider)
                    .await?,
                field,
                aggregate,
                detail,
            });
        }
    }
    Ok(out)
}

pub async fn rebuild(c: &mut Ctx, org: &str, from: Day, actor: &str) -> Result<u64> {
    lock_org(&mut c.tx, org).await?;
    let info = resolve::org(c, org)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
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
    let truth = detail_days(&mut c.tx, id, from).await?;
    let cube = cube_cells(&mut c.tx, id, GRAIN_DAY, i64::from(from.0)).await?;
    let days = differences(&truth, &cube);
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
        let mut rows = sqlx::query(
            "SELECT occurred_at, usr, team, dept, key, model, provider, total_cost, actual_cost, tokens_in,
                    tokens_out, cached_in, cache_write_in, (cost_flags & 4) <> 0
             FROM events WHERE org = $1 AND day >= $2",
        )
        .bind(id)
        .bind(i64::from(from.0))
        .fetch(&mut *c.tx);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let event = |r: &PgRow| -> sqlx::Result<(i64, Groups, CellDelta)> {
                Ok((
                    r.try_get(0)?,
                    groups(r, 1)?,
                    CellDelta {
                        total_cost: r.try_get(7)?,
                        actual_cost: r.try_get(8)?,
                        messages: 1,
                        tokens_in: r.try_get(9)?,
                        tokens_out: r.try_get(10)?,
                        cached_in: r.try_get(11)?,
                        cache_write_in: r.try_get(12)?,
                        unpriced: i64::from(r.try_get::<bool, _>(13)?),
                        convs: 0,
                    },
                ))
            };
            let (at, g, d) = event(&r).map_err(db_err)?;
            let hour = local_hour_start(super::ts(at), info.zone_at(at));
            if hour >= first_hour {
                let cell = hours.entry((hour, g)).or_default();
                *cell = plus(cell, &d);
            }
        }
    }
    let cube_hours = cube_cells(&mut c.tx, id, GRAIN_HOUR, first_hour).await?;
    for ((hour, g), d) in differences(&hours, &cube_hours) {
        put(GRAIN_HOUR, hour, g, &d);
    }
    let changed = days.len() as u64;
    add_cells(&mut c.tx, &deltas.cells).await?;
    recompute_org_days(&mut c.tx, id, i64::from(from.0)).await?;
    super::dim_days::recompute(&mut c.tx, id, i64::from(from.0)).await?;
    super::person_cum::recompute(&mut c.tx, id, i64::from(from.0)).await?;
    // The budget-scope day totals follow the repaired day cells (recomputed,
    // not adjusted: they may have been wrong in their own way).
    sqlx::query("DELETE FROM spend_days WHERE org = $1 AND day >= $2")
        .bind(id)
        .bind(i64::from(from.0))
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    // The organisation's own row groups by the constant org column.
    for (kind, column) in [(0, "org"), (1, "usr"), (2, "team"), (3, "dept"), (4, "key")] {
        sqlx::query(&format!(
            "INSERT INTO spend_days (org, kind, id, day, total_cost)
             SELECT org, {kind}::smallint, {id}, bucket, SUM(total_cost)::bigint FROM cube
             WHERE org = $1 AND grain = 1 AND bucket >= $2 GROUP BY org, {column}, bucket",
            id = if kind == 0 { "0::bigint" } else { column }
        ))
        .bind(id)
        .bind(i64::from(from.0))
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    audit(
        c,
        actor,
        Some(id),
        "rebuild",
        org,
        serde_json::json!({"from": from.to_string(), "day_cells_corrected": changed}),
    )
    .await?;
    Ok(changed)
}

/// Recompute organisation `org`'s org_days rows of days from `from` on from
/// the cube's day cells, as sqlite/org_days.rs `recompute` does: after a
/// rebuild or an erasure. The caller holds the organisation's row lock, so
/// no ingestion adds to these rows meanwhile.
pub(super) async fn recompute_org_days(c: &mut PgConnection, org: i64, from: i64) -> Result<()> {
    sqlx::query("DELETE FROM org_days WHERE org = $1 AND day >= $2")
        .bind(org)
        .bind(from)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    #[derive(Default)]
    struct DayRow {
        d: CellDelta,
        users: RoaringBitmap,
    }
    let mut days: std::collections::BTreeMap<i64, DayRow> = Default::default();
    {
        let mut rows = sqlx::query(
            "SELECT bucket, usr, SUM(total_cost)::bigint, SUM(actual_cost)::bigint, SUM(messages)::bigint,
                    SUM(tokens_in)::bigint, SUM(tokens_out)::bigint, SUM(cached_in)::bigint,
                    SUM(cache_write_in)::bigint, SUM(unpriced)::bigint, SUM(convs)::bigint
             FROM cube WHERE org = $1 AND grain = 1 AND bucket >= $2 GROUP BY bucket, usr",
        )
        .bind(org)
        .bind(from)
        .fetch(&mut *c);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let g = |i: usize| r.try_get::<i64, _>(i).map_err(db_err);
            let row = days.entry(g(0)?).or_default();
            row.users.insert(g(1)? as u32);
            let d = &mut row.d;
            d.total_cost += g(2)?;
            d.actual_cost += g(3)?;
            d.messages += g(4)?;
            d.tokens_in += g(5)?;
            d.tokens_out += g(6)?;
            d.cached_in += g(7)?;
            d.cache_write_in += g(8)?;
            d.unpriced += g(9)?;
            d.convs += g(10)?;
        }
    }
    if days.is_empty() {
        return super::org_days::recompute_blocks(c, org, from).await;
    }
    let mut cols: [Vec<i64>; 10] = Default::default();
    let mut users: Vec<Vec<u8>> = Vec::with_capacity(days.len());
    for (day, row) in days {
        let d = row.d;
        for (col, v) in cols.iter_mut().zip(std::iter::once(day).chain(d.values())) {
            col.push(v);
        }
        let mut bits = Vec::with_capacity(row.users.serialized_size());
        row.users
            .serialize_into(&mut bits)
            .expect("writing to a Vec cannot fail");
        users.push(bits);
    }
    let mut q = sqlx::query(
        "INSERT INTO org_days (org, day, total_cost, actual_cost, messages, tokens_in, tokens_out,
         cached_in, cache_write_in, unpriced, convs, users)
         SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
         $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bytea[])",
    )
    .bind(org);
    for col in cols {
        q = q.bind(col);
    }
    q.bind(users).execute(&mut *c).await.map_err(db_err)?;
    super::org_days::recompute_blocks(c, org, from).await
}
