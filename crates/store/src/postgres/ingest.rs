//! One ingestion transaction: place every event, deduplicate it, store its
//! detail, and fold it into the cube, conversations and last-seen times —
//! the SQLite backend's rules (sqlite/ingest.rs), made safe for several
//! transactions from several servers at once:
//!
//! - an event counts once because its key goes into `event_keys` (primary
//!   key) in the same transaction as everything it adds;
//! - a conversation's row is locked (`FOR UPDATE`) while its start moves;
//! - aggregates are added, never overwritten, in key order, in one statement
//!   per table (`UNNEST` of arrays), so concurrent transactions lock cells in
//!   the same order;
//! - what still deadlocks is rolled back whole and run again by `write`.

use super::ctx::{Ctx, OrgInfo};
use super::{db_err, resolve};
use crate::aggregate::{costs, Buckets, CellDelta, CellKey, CubeDeltas, Groups, GRAIN_DAY};
use crate::contract::{Result, StoreError};
use crate::model::{BatchOutcome, IngestBatch, IngestScope, ItemError};
use crate::sqlite::ingest::price_at;
use spendlens_domain::time::{local_day, local_hour_start, Day};
use spendlens_domain::{Catalog, ErrorCode, Event};
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap};

/// A transaction found that another one created the same conversation after
/// it looked: nothing to do but run again (see `retryable` in mod.rs).
#[derive(Debug, thiserror::Error)]
#[error("a concurrent transaction created the same row; retrying")]
pub struct RaceLost;

struct Conv {
    id: i64,
    user: i64,
    first_at: i64,
    first_event_id: String,
    first_day: i64,
    first_groups: Groups,
    last_at: i64,
    title: Option<String>,
    title_at: Option<i64>,
    dirty: bool,
}

enum Place {
    Org(OrgInfo),
    Quarantine(ErrorCode, Option<String>, String),
    Reject(ErrorCode, Option<&'static str>, String),
}

/// The detail rows of the transaction, written in one statement at the end.
#[derive(Default)]
struct Rows {
    org: Vec<i64>,
    event_id: Vec<String>,
    at: Vec<i64>,
    day: Vec<i64>,
    usr: Vec<i64>,
    team: Vec<i64>,
    dept: Vec<i64>,
    key: Vec<i64>,
    model: Vec<i64>,
    provider: Vec<i64>,
    conv: Vec<i64>,
    tokens: [Vec<i64>; 4],
    total: Vec<i64>,
    actual: Vec<i64>,
    flags: Vec<i64>,
}

#[derive(Default)]
struct Tx {
    deltas: CubeDeltas,
    convs: HashMap<(i64, String), Conv>,
    org_last: BTreeMap<i64, i64>,
    key_last: BTreeMap<i64, i64>,
    rows: Rows,
}

pub async fn ingest(c: &mut Ctx, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>> {
    let mut tx = Tx::default();
    let mut outcomes = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut out = BatchOutcome::default();
        for (index, event) in &batch.events {
            let err = |code, field, message| ItemError {
                index: *index,
                event_id: Some(event.event_id.clone()),
                code,
                field,
                message,
                line: None,
            };
            match place(c, &batch.scope, event).await? {
                Place::Reject(code, field, msg) => {
                    out.rejected += 1;
                    out.errors.push(err(code, field, msg));
                }
                Place::Quarantine(code, hint, msg) => {
                    let received = batch.received_at.as_microsecond();
                    match quarantine(c, event, hint.as_deref(), code, received).await? {
                        Kept::New => {
                            out.quarantined += 1;
                            out.errors.push(err(code, Some("organization_id"), msg));
                        }
                        Kept::Repeat => out.duplicates += 1,
                        Kept::Conflict => {
                            out.duplicates += 1;
                            out.errors.push(err(
                                ErrorCode::DuplicateConflict,
                                Some("event_id"),
                                conflict_message(event),
                            ));
                        }
                    }
                }
                Place::Org(org) => match accept(c, &mut tx, &org, event).await? {
                    Stored::New => out.accepted += 1,
                    Stored::Repeat => out.duplicates += 1,
                    Stored::Conflict => {
                        out.duplicates += 1;
                        out.errors.push(err(
                            ErrorCode::DuplicateConflict,
                            Some("event_id"),
                            conflict_message(event),
                        ));
                    }
                    Stored::OwnerMismatch => {
                        out.rejected += 1;
                        out.errors.push(err(
                            ErrorCode::ConversationOwnerMismatch,
                            Some("conversation_id"),
                            format!(
                                "conversation {} belongs to another user",
                                event.conversation_id
                            ),
                        ));
                    }
                },
            }
        }
        outcomes.push(out);
    }
    flush(c, tx).await?;
    Ok(outcomes)
}

fn conflict_message(e: &Event) -> String {
    format!(
        "event_id {} was already received with a different payload; the first one stays",
        e.event_id
    )
}

async fn place(c: &mut Ctx, scope: &IngestScope, e: &Event) -> Result<Place> {
    match scope {
        IngestScope::Org(org) => {
            if let Some(given) = &e.organization_id {
                if given != org {
                    return Ok(Place::Reject(
                        ErrorCode::OrganizationMismatch,
                        Some("organization_id"),
                        format!("organization_id {given} does not match the token's organisation"),
                    ));
                }
            }
            match resolve::org(c, org).await? {
                Some(info) => Ok(Place::Org(info)),
                None => Ok(Place::Quarantine(
                    ErrorCode::UnknownOrganization,
                    Some(org.clone()),
                    format!("organisation {org} does not exist"),
                )),
            }
        }
        IngestScope::Platform => match &e.organization_id {
            Some(given) => match resolve::org(c, given).await? {
                Some(info) => Ok(Place::Org(info)),
                None => Ok(Place::Quarantine(
                    ErrorCode::UnknownOrganization,
                    Some(given.clone()),
                    format!("organisation {given} does not exist; the event is kept in quarantine"),
                )),
            },
            None => {
                let orgs = resolve::admin_orgs_of(c, &e.user_id).await?;
                match orgs.as_slice() {
                    [one] => match resolve::org(c, one).await? {
                        Some(info) => Ok(Place::Org(info)),
                        None => Ok(Place::Quarantine(
                            ErrorCode::UnknownOrganization,
                            None,
                            "organisation vanished".into(),
                        )),
                    },
                    [] => Ok(Place::Quarantine(
                        ErrorCode::UnknownOrganization,
                        None,
                        format!(
                            "no organization_id and user {} is a member of no organisation; kept in quarantine",
                            e.user_id
                        ),
                    )),
                    _ => Ok(Place::Quarantine(
                        ErrorCode::AmbiguousOrganization,
                        None,
                        format!(
                            "no organization_id and user {} is a member of several organisations; kept in quarantine",
                            e.user_id
                        ),
                    )),
                }
            }
        },
    }
}

enum Kept {
    New,
    Repeat,
    Conflict,
}

enum Stored {
    New,
    Repeat,
    Conflict,
    OwnerMismatch,
}

async fn quarantine(
    c: &mut Ctx,
    e: &Event,
    hint: Option<&str>,
    code: ErrorCode,
    received_us: i64,
) -> Result<Kept> {
    let hint = hint.unwrap_or_default();
    let hash = e.canonical_hash();
    let n = sqlx::query(
        "INSERT INTO quarantine (org_hint, event_id, user_ext, reason, hash, payload, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_hint, event_id) DO NOTHING",
    )
    .bind(hint)
    .bind(&e.event_id)
    .bind(&e.user_id)
    .bind(code.as_str())
    .bind(hash)
    .bind(e.to_json().to_string())
    .bind(received_us)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if n == 1 {
        return Ok(Kept::New);
    }
    let old: i64 =
        sqlx::query_scalar("SELECT hash FROM quarantine WHERE org_hint = $1 AND event_id = $2")
            .bind(hint)
            .bind(&e.event_id)
            .fetch_one(&mut *c.tx)
            .await
            .map_err(db_err)?;
    Ok(if old == hash {
        Kept::Repeat
    } else {
        Kept::Conflict
    })
}

/// Claim the event's key; if another transaction holds it uncommitted, this
/// waits for it, then sees it (duplicate) or not (it rolled back).
async fn claim_key(c: &mut Ctx, org: i64, e: &Event, hash: i64) -> Result<Option<i64>> {
    let n = sqlx::query(
        "INSERT INTO event_keys (org, event_id, hash) VALUES ($1, $2, $3)
         ON CONFLICT (org, event_id) DO NOTHING",
    )
    .bind(org)
    .bind(&e.event_id)
    .bind(hash)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if n == 1 {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT hash FROM event_keys WHERE org = $1 AND event_id = $2")
        .bind(org)
        .bind(&e.event_id)
        .fetch_one(&mut *c.tx)
        .await
        .map(Some)
        .map_err(db_err)
}

async fn accept(c: &mut Ctx, tx: &mut Tx, org: &OrgInfo, e: &Event) -> Result<Stored> {
    let hash = e.canonical_hash();
    if let Some(old) = claim_key(c, org.id, e, hash).await? {
        return Ok(if old == hash {
            Stored::Repeat
        } else {
            Stored::Conflict
        });
    }
    // The email waits until the event is known to be accepted: a rejected
    // event changes nothing (API.md §2, stored whole or not at all).
    let user = resolve::user(c, &e.user_id, None).await?;
    let at = e.occurred_at.as_microsecond();
    if let Some(conv) = load_conv(c, tx, org.id, &e.conversation_id).await? {
        if conv.user != user {
            sqlx::query("DELETE FROM event_keys WHERE org = $1 AND event_id = $2")
                .bind(org.id)
                .bind(&e.event_id)
                .execute(&mut *c.tx)
                .await
                .map_err(db_err)?;
            return Ok(Stored::OwnerMismatch);
        }
    }
    if e.user_email.is_some() {
        resolve::user(c, &e.user_id, e.user_email.as_deref()).await?;
    }

    let catalog = Catalog::builtin();
    let event_team = match &e.team_id {
        Some(t) => Some(resolve::team(c, org.id, t).await?),
        None => None,
    };
    let membership = resolve::member(c, org.id, user, event_team.as_ref().map(|t| t.id)).await?;
    let team = match (event_team, membership.team) {
        (Some(t), _) => Some(t),
        (None, Some(id)) => Some(resolve::team_by_id(c, id).await?),
        (None, None) => None,
    };
    let dept_name = e
        .department
        .clone()
        .or(membership.department.clone())
        .or(team.as_ref().and_then(|t| t.department.clone()));
    let dept = match dept_name {
        Some(d) => resolve::department(c, org.id, &d).await?,
        None => 0,
    };
    let catalog_provider = catalog.provider_of(&e.model_name);
    let key = match &e.api_key_id {
        Some(k) => Some(
            resolve::api_key(
                c,
                org.id,
                k,
                e.api_key_provider.as_deref().or(catalog_provider),
            )
            .await?,
        ),
        None => None,
    };
    let provider_name = e
        .api_key_provider
        .clone()
        .or(key.as_ref().and_then(|k| k.provider.clone()))
        .or(catalog_provider.map(str::to_owned));
    let provider = match provider_name {
        Some(p) => resolve::provider(c, &p).await?,
        None => 0,
    };
    let model = resolve::model(c, &e.model_name).await?;
    let groups = Groups {
        user,
        team: team.map_or(0, |t| t.id),
        dept,
        key: key.as_ref().map_or(0, |k| k.id),
        model,
        provider,
    };

    let price = price_at(org, catalog, &e.model_name, at, e.occurred_at);
    let (total, actual, flags) = costs(e, price, org.markup);

    let zone = org.zone_at(at);
    let day: Day = local_day(e.occurred_at, zone);
    let buckets = Buckets {
        hour: local_hour_start(e.occurred_at, zone),
        day: i64::from(day.0),
        month: i64::from(day.month().0),
    };

    let conv_id = touch_conv(c, tx, org.id, e, user, at, buckets, groups).await?;
    let r = &mut tx.rows;
    r.org.push(org.id);
    r.event_id.push(e.event_id.clone());
    r.at.push(at);
    r.day.push(buckets.day);
    r.usr.push(groups.user);
    r.team.push(groups.team);
    r.dept.push(groups.dept);
    r.key.push(groups.key);
    r.model.push(groups.model);
    r.provider.push(groups.provider);
    r.conv.push(conv_id);
    for (col, v) in r.tokens.iter_mut().zip([
        e.tokens_in,
        e.tokens_out,
        e.cached_tokens_in,
        e.cache_write_tokens_in,
    ]) {
        col.push(v as i64);
    }
    r.total.push(total.0);
    r.actual.push(actual.0);
    r.flags.push(flags);
    tx.deltas
        .add_message(org.id, buckets, groups, e, total, actual, flags);
    let last = tx.org_last.entry(org.id).or_insert(at);
    *last = (*last).max(at);
    if groups.key != 0 {
        let last = tx.key_last.entry(groups.key).or_insert(at);
        *last = (*last).max(at);
    }
    Ok(Stored::New)
}

async fn load_conv<'a>(
    c: &mut Ctx,
    tx: &'a mut Tx,
    org: i64,
    ext: &str,
) -> Result<Option<&'a mut Conv>> {
    let k = (org, ext.to_owned());
    if !tx.convs.contains_key(&k) {
        let found = sqlx::query(
            "SELECT id, usr, first_at, first_event_id, first_day, first_team, first_dept, first_key,
             first_model, first_provider, last_at, title, title_at
             FROM conversations WHERE org = $1 AND ext_id = $2 FOR UPDATE",
        )
        .bind(org)
        .bind(ext)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
        let Some(r) = found else {
            return Ok(None);
        };
        let user: i64 = r.get(1);
        tx.convs.insert(
            k.clone(),
            Conv {
                id: r.get(0),
                user,
                first_at: r.get(2),
                first_event_id: r.get(3),
                first_day: r.get(4),
                first_groups: Groups {
                    user,
                    team: r.get(5),
                    dept: r.get(6),
                    key: r.get(7),
                    model: r.get(8),
                    provider: r.get(9),
                },
                last_at: r.get(10),
                title: r.get(11),
                title_at: r.get(12),
                dirty: false,
            },
        );
    }
    Ok(tx.convs.get_mut(&k))
}

/// Record the event in its conversation: create it, or move its start when
/// this event is earlier (by occurred_at, then event_id), and keep the
/// latest title. Returns the conversation's internal id.
#[allow(clippy::too_many_arguments)]
async fn touch_conv(
    c: &mut Ctx,
    tx: &mut Tx,
    org: i64,
    e: &Event,
    user: i64,
    at: i64,
    b: Buckets,
    g: Groups,
) -> Result<i64> {
    let month_of = |day: i64| i64::from(Day(day as i32).month().0);
    let title = e.conversation_title.clone();
    if load_conv(c, tx, org, &e.conversation_id).await?.is_none() {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO conversations (org, ext_id, usr, first_at, first_event_id, first_day, first_team,
             first_dept, first_key, first_model, first_provider, last_at, title, title_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $4, $12, $13)
             ON CONFLICT (org, ext_id) DO NOTHING RETURNING id",
        )
        .bind(org)
        .bind(&e.conversation_id)
        .bind(user)
        .bind(at)
        .bind(&e.event_id)
        .bind(b.day)
        .bind(g.team)
        .bind(g.dept)
        .bind(g.key)
        .bind(g.model)
        .bind(g.provider)
        .bind(&title)
        .bind(title.as_ref().map(|_| at))
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
        // Another server created it since we looked: its owner check and
        // start comparison must see that row, so run the transaction again.
        let id = id.ok_or_else(|| StoreError::Other(anyhow::Error::new(RaceLost)))?;
        tx.convs.insert(
            (org, e.conversation_id.clone()),
            Conv {
                id,
                user,
                first_at: at,
                first_event_id: e.event_id.clone(),
                first_day: b.day,
                first_groups: g,
                last_at: at,
                title,
                title_at: e.conversation_title.as_ref().map(|_| at),
                dirty: false,
            },
        );
        tx.deltas.add_conversation(org, b.day, b.month, g, 1);
        return Ok(id);
    }
    let Some(conv) = tx.convs.get_mut(&(org, e.conversation_id.clone())) else {
        return Err(anyhow::anyhow!("conversation vanished from the transaction").into());
    };
    if (at, e.event_id.as_str()) < (conv.first_at, conv.first_event_id.as_str()) {
        tx.deltas.add_conversation(
            org,
            conv.first_day,
            month_of(conv.first_day),
            conv.first_groups,
            -1,
        );
        tx.deltas.add_conversation(org, b.day, b.month, g, 1);
        conv.first_at = at;
        conv.first_event_id = e.event_id.clone();
        conv.first_day = b.day;
        conv.first_groups = g;
        conv.dirty = true;
    }
    if at > conv.last_at {
        conv.last_at = at;
        conv.dirty = true;
    }
    if let Some(t) = title {
        if conv.title_at.is_none_or(|old| at >= old) {
            conv.title = Some(t);
            conv.title_at = Some(at);
            conv.dirty = true;
        }
    }
    Ok(conv.id)
}

async fn flush(c: &mut Ctx, tx: Tx) -> Result<()> {
    let mut convs: Vec<&Conv> = tx.convs.values().filter(|c| c.dirty).collect();
    convs.sort_by_key(|c| c.id);
    for cv in convs {
        let g = cv.first_groups;
        sqlx::query(
            "UPDATE conversations SET first_at = $2, first_event_id = $3, first_day = $4, first_team = $5,
             first_dept = $6, first_key = $7, first_model = $8, first_provider = $9, last_at = $10,
             title = $11, title_at = $12 WHERE id = $1",
        )
        .bind(cv.id)
        .bind(cv.first_at)
        .bind(&cv.first_event_id)
        .bind(cv.first_day)
        .bind(g.team)
        .bind(g.dept)
        .bind(g.key)
        .bind(g.model)
        .bind(g.provider)
        .bind(cv.last_at)
        .bind(&cv.title)
        .bind(cv.title_at)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    let r = &tx.rows;
    if !r.org.is_empty() {
        sqlx::query(
            "INSERT INTO events (org, event_id, occurred_at, day, usr, team, dept, key, model, provider,
             conv, tokens_in, tokens_out, cached_in, cache_write_in, total_cost, actual_cost, cost_flags)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],
             $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
             $18::bigint[])",
        )
        .bind(&r.org)
        .bind(&r.event_id)
        .bind(&r.at)
        .bind(&r.day)
        .bind(&r.usr)
        .bind(&r.team)
        .bind(&r.dept)
        .bind(&r.key)
        .bind(&r.model)
        .bind(&r.provider)
        .bind(&r.conv)
        .bind(&r.tokens[0])
        .bind(&r.tokens[1])
        .bind(&r.tokens[2])
        .bind(&r.tokens[3])
        .bind(&r.total)
        .bind(&r.actual)
        .bind(&r.flags)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    add_cells(&mut c.tx, &tx.deltas.cells).await?;
    for (org, at) in tx.org_last {
        sqlx::query(
            "UPDATE orgs SET last_event_at = GREATEST(coalesce(last_event_at, $2), $2) WHERE id = $1",
        )
        .bind(org)
        .bind(at)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    for (key, at) in tx.key_last {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = GREATEST(coalesce(last_used_at, $2), $2) WHERE id = $1",
        )
        .bind(key)
        .bind(at)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

fn cell_order(k: &CellKey) -> [i64; 9] {
    let g = k.groups;
    [
        k.org,
        i64::from(k.grain),
        k.bucket,
        g.user,
        g.team,
        g.dept,
        g.key,
        g.model,
        g.provider,
    ]
}

/// Add cell deltas to the cube, org_days and spend_days, each in key order
/// (one statement for the cube and one for spend_days). Shared by
/// ingestion, reprice, rebuild and erasure.
pub async fn add_cells(c: &mut PgConnection, cells: &HashMap<CellKey, CellDelta>) -> Result<()> {
    if cells.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<(&CellKey, &CellDelta)> = cells.iter().collect();
    sorted.sort_by_key(|(k, _)| cell_order(k));
    let mut keys: [Vec<i64>; 9] = Default::default();
    let mut vals: [Vec<i64>; 9] = Default::default();
    for (k, d) in &sorted {
        for (col, v) in keys.iter_mut().zip(cell_order(k)) {
            col.push(v);
        }
        for (col, v) in vals.iter_mut().zip([
            d.total_cost,
            d.actual_cost,
            d.messages,
            d.tokens_in,
            d.tokens_out,
            d.cached_in,
            d.cache_write_in,
            d.unpriced,
            d.convs,
        ]) {
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

    // The day cells' cost, per budget scope (see the spend_days table).
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
