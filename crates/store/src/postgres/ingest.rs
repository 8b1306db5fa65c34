//! One ingestion transaction: place every event, deduplicate it, store its
//! detail and conversations, and queue its aggregate deltas — the SQLite
//! backend's rules (sqlite/ingest.rs), made safe for several transactions
//! from several servers at once:
//!
//! - what the transaction's events already have in the database (their
//!   idempotency keys, conversations, people, memberships) is read up front in
//!   one query each, conversations locked (`FOR UPDATE`, in id order); the
//!   rules then run in memory, event by event, in order;
//! - an event counts once because its key goes into `event_keys` (primary
//!   key) in the same transaction as everything it adds; the keys are
//!   claimed before the rules run (`claim_keys`), so one another server
//!   holds is waited for and read as a duplicate; a membership or a new
//!   conversation another server committed since the prefetch makes the
//!   transaction run again (`RaceLost`), and the prefetch then sees it;
//! - the aggregate deltas are queued as one row and added after the commit
//!   (fold.rs), so the transaction holds no aggregate row's lock;
//! - what still deadlocks is rolled back whole and run again by `write`.

use super::ctx::{Ctx, OrgInfo};
use super::{db_err, prefetch, resolve};
use crate::aggregate::{costs, Buckets, CubeDeltas, Groups};
use crate::contract::{Result, StoreError};
use crate::model::{BatchOutcome, IngestBatch, IngestScope, ItemError};
use crate::rules::{conflict_message, price_at, Conv};
use spendlens_domain::time::{local_day, local_hour_start, Day};
use spendlens_domain::{Catalog, ErrorCode, Event};
use std::collections::{BTreeMap, HashMap};

/// A transaction found that another one created the same conversation after
/// it looked: nothing to do but run again (see `retryable` in mod.rs).
#[derive(Debug, thiserror::Error)]
#[error("a concurrent transaction created the same row; retrying")]
pub struct RaceLost;

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
    /// The conversation's external id (its internal id is known at the flush).
    conv: Vec<String>,
    tokens: [Vec<i64>; 4],
    total: Vec<i64>,
    actual: Vec<i64>,
    flags: Vec<i64>,
}

#[derive(Default)]
struct Tx {
    deltas: CubeDeltas,
    /// (org, event_id) → hash of every key known: stored before, or new here.
    keys: HashMap<(i64, String), i64>,
    /// Keys this transaction inserted (`claim_keys`) and no event has used
    /// yet, with the hash inserted: deleted at the flush if still unused.
    claimed: HashMap<(i64, String), i64>,
    /// Claimed keys an accepted event used with another hash than the one
    /// inserted (the first event with the key was refused).
    rehash: Vec<(i64, String, i64)>,
    convs: HashMap<(i64, String), Conv>,
    org_last: BTreeMap<i64, i64>,
    key_last: BTreeMap<i64, i64>,
    rows: Rows,
}

/// The outcome of each batch, and the `pending_cells` row of the
/// transaction's aggregate deltas (fold.rs), if any.
pub async fn ingest(
    c: &mut Ctx,
    batches: Vec<IngestBatch>,
) -> Result<(Vec<BatchOutcome>, Option<i64>)> {
    let mut tx = Tx::default();
    let mut outcomes: Vec<BatchOutcome> = Vec::with_capacity(batches.len());
    // Placement first (it reads only organisations and admin memberships,
    // which events do not change); the events an organisation takes wait.
    prefetch::batch_orgs(c, &batches).await?;
    let mut placed: Vec<(usize, usize, &Event, OrgInfo)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let mut out = BatchOutcome::default();
        for (index, event) in &batch.events {
            let err = |code, field, message| item_error(*index, event, code, field, message);
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
                Place::Org(org) => placed.push((b, *index, event, org)),
            }
        }
        outcomes.push(out);
    }
    prefetch::placed(c, &mut tx.keys, &mut tx.convs, &placed).await?;
    // Each event's hash once: the claim inserts it, `accept` compares with it.
    let hashes: Vec<i64> = placed.iter().map(|p| p.2.canonical_hash()).collect();
    claim_keys(c, &mut tx, &placed, &hashes).await?;
    for ((b, index, event, org), hash) in placed.iter().zip(hashes) {
        let out = &mut outcomes[*b];
        let err = |code, field, message| item_error(*index, event, code, field, message);
        match accept(c, &mut tx, org, event, hash).await? {
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
        }
    }
    // Errors in the order of the events, as if each were handled in turn.
    for out in &mut outcomes {
        out.errors.sort_by_key(|e| e.index);
    }
    let queued = flush(c, tx).await?;
    Ok((outcomes, queued))
}

fn item_error(
    index: usize,
    e: &Event,
    code: ErrorCode,
    field: Option<&'static str>,
    message: String,
) -> ItemError {
    ItemError {
        index,
        event_id: Some(e.event_id.clone()),
        code,
        field,
        message,
        line: None,
    }
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

async fn accept(c: &mut Ctx, tx: &mut Tx, org: &OrgInfo, e: &Event, hash: i64) -> Result<Stored> {
    let key = (org.id, e.event_id.clone());
    if let Some(old) = tx.keys.get(&key) {
        return Ok(if *old == hash {
            Stored::Repeat
        } else {
            Stored::Conflict
        });
    }
    // The email waits until the event is known to be accepted: a rejected
    // event changes nothing (API.md §2, stored whole or not at all).
    let user = resolve::user(c, &e.user_id, None).await?;
    let at = e.occurred_at.as_microsecond();
    if let Some(conv) = tx.convs.get(&(org.id, e.conversation_id.clone())) {
        if conv.user != user {
            return Ok(Stored::OwnerMismatch);
        }
    }
    if let Some(claimed) = tx.claimed.remove(&key) {
        if claimed != hash {
            tx.rehash.push((org.id, e.event_id.clone(), hash));
        }
    }
    tx.keys.insert(key, hash);
    if e.user_email.is_some() {
        resolve::user(c, &e.user_id, e.user_email.as_deref()).await?;
    }

    let catalog = Catalog::builtin();
    let event_team = match &e.team_id {
        Some(t) => Some(resolve::team(c, org.id, t).await?),
        None => None,
    };
    let membership = resolve::member(c, org.id, user, event_team.as_ref().map(|t| t.id));
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

    touch_conv(tx, org.id, e, user, at, buckets, groups);
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
    r.conv.push(e.conversation_id.clone());
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

/// Record the event in its conversation: create it (inserted at the
/// flush), or let it move the start and title (`Conv::touch`).
fn touch_conv(tx: &mut Tx, org: i64, e: &Event, user: i64, at: i64, b: Buckets, g: Groups) {
    match tx.convs.get_mut(&(org, e.conversation_id.clone())) {
        Some(conv) => conv.touch(&mut tx.deltas, org, e, at, b, g),
        None => {
            tx.convs.insert(
                (org, e.conversation_id.clone()),
                Conv::started_by(e, user, at, b, g),
            );
            tx.deltas.add_conversation(org, b.day, b.month, g, 1);
        }
    }
}

/// Insert, before any event is looked at, the keys of the placed events not
/// stored yet, each with its first event's hash. A key another server
/// inserted first is waited for (its transaction commits or rolls back) and
/// then read like one stored before: the event is a duplicate, and nothing
/// is run again. (Inserting at the flush instead made the later of two
/// transactions that shared a retried event run again whole: 217 reruns for
/// 300 batches on `medium` with two servers.) Sorted, so that transactions
/// claiming the same keys queue instead of deadlocking.
async fn claim_keys(
    c: &mut Ctx,
    tx: &mut Tx,
    placed: &[(usize, usize, &Event, OrgInfo)],
    hashes: &[i64],
) -> Result<()> {
    let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for ((_, _, e, org), hash) in placed.iter().zip(hashes) {
        let key = (org.id, e.event_id.clone());
        if !tx.keys.contains_key(&key) {
            want.entry(key).or_insert(*hash);
        }
    }
    if want.is_empty() {
        return Ok(());
    }
    let (mut org, mut id, mut hash) = (vec![], vec![], vec![]);
    for ((o, i), h) in &want {
        org.push(*o);
        id.push(i.as_str());
        hash.push(*h);
    }
    let inserted: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO event_keys (org, event_id, hash)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[])
         ON CONFLICT (org, event_id) DO NOTHING RETURNING org, event_id",
    )
    .bind(&org)
    .bind(&id)
    .bind(&hash)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    for key in inserted {
        let h = want.remove(&key).unwrap_or_default();
        tx.claimed.insert(key, h);
    }
    if want.is_empty() {
        return Ok(());
    }
    let (org, id): (Vec<i64>, Vec<String>) = want.into_keys().unzip();
    let theirs: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT k.org, k.event_id, k.hash FROM UNNEST($1::bigint[], $2::text[]) AS u(o, i)
         JOIN event_keys k ON k.org = u.o AND k.event_id = u.i",
    )
    .bind(&org)
    .bind(&id)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    if theirs.len() != org.len() {
        // The other transaction rolled back after all: claim them again.
        return Err(race_lost());
    }
    for (o, i, h) in theirs {
        tx.keys.insert((o, i), h);
    }
    Ok(())
}

/// Give back the claimed keys no event used (their events were refused), and
/// store the hash of the events that used one claimed for a refused event.
async fn release_unused_keys(c: &mut Ctx, tx: &mut Tx) -> Result<()> {
    if !tx.claimed.is_empty() {
        let (org, id): (Vec<i64>, Vec<String>) =
            std::mem::take(&mut tx.claimed).into_keys().unzip();
        sqlx::query(
            "DELETE FROM event_keys k USING UNNEST($1::bigint[], $2::text[]) AS u(o, i)
             WHERE k.org = u.o AND k.event_id = u.i",
        )
        .bind(&org)
        .bind(&id)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    for (org, id, hash) in std::mem::take(&mut tx.rehash) {
        sqlx::query("UPDATE event_keys SET hash = $3 WHERE org = $1 AND event_id = $2")
            .bind(org)
            .bind(&id)
            .bind(hash)
            .execute(&mut *c.tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// The memberships this transaction made, in one sorted insert. One another
/// server made since the prefetch is not inserted: then this transaction
/// runs again and reads it (its first team may differ from ours).
async fn insert_members(c: &mut Ctx) -> Result<()> {
    if c.new_members.is_empty() {
        return Ok(());
    }
    let mut new = std::mem::take(&mut c.new_members);
    new.sort_unstable();
    let (mut org, mut usr, mut team) = (vec![], vec![], vec![]);
    for (o, u, t) in new {
        org.push(o);
        usr.push(u);
        team.push(t);
    }
    let n = sqlx::query(
        "INSERT INTO members (org, usr, role, team, department, added_by_admin, created_at)
         SELECT o, u, 'member', t, NULL, FALSE, $4
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS n(o, u, t)
         ON CONFLICT (org, usr) DO NOTHING",
    )
    .bind(&org)
    .bind(&usr)
    .bind(&team)
    .bind(super::now_us())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if n != org.len() as u64 {
        return Err(race_lost());
    }
    Ok(())
}

fn race_lost() -> StoreError {
    StoreError::Other(anyhow::Error::new(RaceLost))
}

/// Write the conversations of the transaction: new ones in one insert (their
/// ids back), changed ones in one update; the ids by (org, external id).
async fn write_convs(c: &mut Ctx, convs: &mut HashMap<(i64, String), Conv>) -> Result<()> {
    let mut new: Vec<(&(i64, String), &Conv)> = convs.iter().filter(|(_, c)| c.new).collect();
    new.sort_by(|a, b| a.0.cmp(b.0));
    let mut changed: Vec<&Conv> = convs.values().filter(|c| !c.new && c.dirty).collect();
    changed.sort_by_key(|c| c.id);
    let mut ids: Vec<((i64, String), i64)> = Vec::new();
    for (rows, is_new) in [
        (
            new.iter().map(|(k, c)| (Some(*k), *c)).collect::<Vec<_>>(),
            true,
        ),
        (changed.iter().map(|c| (None, *c)).collect(), false),
    ] {
        if rows.is_empty() {
            continue;
        }
        let mut cols: [Vec<i64>; 11] = Default::default();
        let (mut ext, mut first_event, mut title, mut title_at) = (vec![], vec![], vec![], vec![]);
        for (k, cv) in &rows {
            let g = cv.first_groups;
            let org = k.map_or(0, |k| k.0);
            for (col, v) in cols.iter_mut().zip([
                org,
                cv.id,
                cv.user,
                cv.first_at,
                cv.first_day,
                g.team,
                g.dept,
                g.key,
                g.model,
                g.provider,
                cv.last_at,
            ]) {
                col.push(v);
            }
            ext.push(k.map(|k| k.1.clone()).unwrap_or_default());
            first_event.push(cv.first_event_id.clone());
            title.push(cv.title.clone());
            title_at.push(cv.title_at);
        }
        let sql = if is_new {
            // Another server may have created one since the prefetch: then
            // fewer rows come back and the transaction runs again.
            "INSERT INTO conversations (org, ext_id, usr, first_at, first_event_id, first_day, first_team,
             first_dept, first_key, first_model, first_provider, last_at, title, title_at)
             SELECT u.org, u.ext, u.usr, u.first_at, u.first_event, u.first_day, u.team, u.dept, u.key,
             u.model, u.provider, u.last_at, u.title, u.title_at
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::text[],
             $14::text[], $15::bigint[]) AS u(org, id, usr, first_at, first_day, team, dept, key, model,
             provider, last_at, ext, first_event, title, title_at)
             ON CONFLICT (org, ext_id) DO NOTHING RETURNING org, ext_id, id"
        } else {
            "UPDATE conversations cv SET first_at = u.first_at, first_event_id = u.first_event,
             first_day = u.first_day, first_team = u.team, first_dept = u.dept, first_key = u.key,
             first_model = u.model, first_provider = u.provider, last_at = u.last_at, title = u.title,
             title_at = u.title_at
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], $13::text[],
             $14::text[], $15::bigint[]) AS u(org, id, usr, first_at, first_day, team, dept, key, model,
             provider, last_at, ext, first_event, title, title_at)
             WHERE cv.id = u.id RETURNING cv.org, cv.ext_id, cv.id"
        };
        let mut q = sqlx::query_as::<_, (i64, String, i64)>(sql);
        for col in cols {
            q = q.bind(col);
        }
        let back = q
            .bind(ext)
            .bind(first_event)
            .bind(title)
            .bind(title_at)
            .fetch_all(&mut *c.tx)
            .await
            .map_err(db_err)?;
        if back.len() != rows.len() {
            return Err(race_lost());
        }
        ids.extend(back.into_iter().map(|(org, ext, id)| ((org, ext), id)));
    }
    for (k, id) in ids {
        if let Some(cv) = convs.get_mut(&k) {
            cv.id = id;
        }
    }
    Ok(())
}

async fn flush(c: &mut Ctx, mut tx: Tx) -> Result<Option<i64>> {
    release_unused_keys(c, &mut tx).await?;
    insert_members(c).await?;
    write_convs(c, &mut tx.convs).await?;
    let conv_ids: Vec<i64> = tx
        .rows
        .org
        .iter()
        .zip(&tx.rows.conv)
        .map(|(o, ext)| tx.convs.get(&(*o, ext.clone())).map_or(0, |cv| cv.id))
        .collect();
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
        .bind(&conv_ids)
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
    // Added to the aggregates after the commit (fold.rs).
    let queued = super::fold::queue(&mut c.tx, &tx.deltas.cells).await?;
    for (table, column, last) in [
        ("orgs", "last_event_at", tx.org_last),
        ("api_keys", "last_used_at", tx.key_last),
    ] {
        if last.is_empty() {
            continue;
        }
        let (ids, at): (Vec<i64>, Vec<i64>) = last.into_iter().unzip();
        // Locked in id order first: an UPDATE joined to the arrays would lock
        // in whatever order its plan reads the table, and two servers could
        // deadlock on the same rows.
        sqlx::query(&format!(
            "SELECT 1 FROM {table} WHERE id IN (SELECT UNNEST($1::bigint[])) ORDER BY id FOR UPDATE"
        ))
        .bind(&ids)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
        sqlx::query(&format!(
            "UPDATE {table} t SET {column} = GREATEST(coalesce(t.{column}, u.at), u.at)
             FROM UNNEST($1::bigint[], $2::bigint[]) AS u(id, at) WHERE t.id = u.id"
        ))
        .bind(&ids)
        .bind(&at)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    Ok(queued)
}
