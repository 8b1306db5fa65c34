//! One group-commit transaction: place every event, deduplicate it, store its
//! detail, and fold it into the cube, conversations and last-seen times.

use super::resolve;
use super::sql_err;
use super::writer::WriterState;
use crate::aggregate::{costs, Buckets, CubeDeltas, Groups};
use crate::contract::Result;
use crate::model::{BatchOutcome, IngestBatch, IngestScope, ItemError};
use crate::rules::{conflict_message, price_at, Conv, OrgInfo};
use rusqlite::{params, OptionalExtension};
use spendlens_domain::time::{local_day, local_hour_start, Day};
use spendlens_domain::{Catalog, ErrorCode, Event};
use std::collections::HashMap;

enum Place {
    Org(OrgInfo),
    /// With the organisation the sender named, if any (the token's for an
    /// org-scoped token, else the event's `organization_id`): it places the
    /// event once that organisation exists, and deduplicates it.
    Quarantine(ErrorCode, Option<String>, String),
    Reject(ErrorCode, Option<&'static str>, String),
}

struct Tx {
    deltas: CubeDeltas,
    convs: HashMap<(i64, String), Conv>,
    org_last: HashMap<i64, i64>,
    key_last: HashMap<i64, i64>,
}

pub fn ingest(w: &mut WriterState, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>> {
    let mut tx = Tx {
        deltas: CubeDeltas::default(),
        convs: HashMap::new(),
        org_last: HashMap::new(),
        key_last: HashMap::new(),
    };
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
            match place(w, &batch.scope, event)? {
                Place::Reject(code, field, msg) => {
                    out.rejected += 1;
                    out.errors.push(err(code, field, msg));
                }
                Place::Quarantine(code, hint, msg) => {
                    match quarantine(
                        w,
                        event,
                        hint.as_deref(),
                        code,
                        batch.received_at.as_microsecond(),
                    )? {
                        Stored::New => {
                            out.quarantined += 1;
                            out.errors.push(err(code, Some("organization_id"), msg));
                        }
                        Stored::Repeat => out.duplicates += 1,
                        Stored::Conflict => {
                            out.duplicates += 1;
                            out.errors.push(err(
                                ErrorCode::DuplicateConflict,
                                Some("event_id"),
                                conflict_message(event),
                            ));
                        }
                    }
                }
                Place::Org(org) => match accept(w, &mut tx, &org, event)? {
                    Accepted::New => out.accepted += 1,
                    Accepted::Repeat => out.duplicates += 1,
                    Accepted::Conflict => {
                        out.duplicates += 1;
                        out.errors.push(err(
                            ErrorCode::DuplicateConflict,
                            Some("event_id"),
                            conflict_message(event),
                        ));
                    }
                    Accepted::OwnerMismatch => {
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
    flush(w, tx)?;
    Ok(outcomes)
}

fn place(w: &mut WriterState, scope: &IngestScope, e: &Event) -> Result<Place> {
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
            match resolve::org(w, org)? {
                Some(info) => Ok(Place::Org(info)),
                None => Ok(Place::Quarantine(
                    ErrorCode::UnknownOrganization,
                    Some(org.clone()),
                    format!("organisation {org} does not exist"),
                )),
            }
        }
        IngestScope::Platform => match &e.organization_id {
            Some(given) => match resolve::org(w, given)? {
                Some(info) => Ok(Place::Org(info)),
                None => Ok(Place::Quarantine(
                    ErrorCode::UnknownOrganization,
                    Some(given.clone()),
                    format!("organisation {given} does not exist; the event is kept in quarantine"),
                )),
            },
            None => {
                let orgs = resolve::admin_orgs_of(w, &e.user_id)?;
                match orgs.as_slice() {
                    [one] => match resolve::org(w, one)? {
                        Some(info) => Ok(Place::Org(info)),
                        None => Ok(Place::Quarantine(ErrorCode::UnknownOrganization, None, "organisation vanished".into())),
                    },
                    [] => Ok(Place::Quarantine(
                        ErrorCode::UnknownOrganization,
                        None,
                        format!("no organization_id and user {} is a member of no organisation; kept in quarantine", e.user_id),
                    )),
                    _ => Ok(Place::Quarantine(
                        ErrorCode::AmbiguousOrganization,
                        None,
                        format!("no organization_id and user {} is a member of several organisations; kept in quarantine", e.user_id),
                    )),
                }
            }
        },
    }
}

enum Stored {
    New,
    Repeat,
    Conflict,
}

fn quarantine(
    w: &mut WriterState,
    e: &Event,
    hint: Option<&str>,
    code: ErrorCode,
    received_us: i64,
) -> Result<Stored> {
    let hint = hint.unwrap_or_default();
    let hash = e.canonical_hash();
    let n = w
        .conn
        .prepare_cached(
            "INSERT INTO quarantine (org_hint, event_id, user_ext, reason, hash, payload, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (org_hint, event_id) DO NOTHING",
        )
        .and_then(|mut s| {
            s.execute(params![hint, e.event_id, e.user_id, code.as_str(), hash, e.to_json().to_string(), received_us])
        })
        .map_err(sql_err)?;
    if n == 1 {
        return Ok(Stored::New);
    }
    let old: i64 = w
        .conn
        .prepare_cached("SELECT hash FROM quarantine WHERE org_hint = ?1 AND event_id = ?2")
        .and_then(|mut s| s.query_row(params![hint, e.event_id], |r| r.get(0)))
        .map_err(sql_err)?;
    Ok(if old == hash {
        Stored::Repeat
    } else {
        Stored::Conflict
    })
}

enum Accepted {
    New,
    Repeat,
    Conflict,
    OwnerMismatch,
}

fn accept(w: &mut WriterState, tx: &mut Tx, org: &OrgInfo, e: &Event) -> Result<Accepted> {
    let hash = e.canonical_hash();
    if let Some(old) = w.recent_keys.find(&w.conn, org.id, &e.event_id)? {
        return Ok(if old == hash {
            Accepted::Repeat
        } else {
            Accepted::Conflict
        });
    }
    w.recent_keys.insert(&w.conn, org.id, &e.event_id, hash)?;

    // The email waits until the event is known to be accepted: a rejected
    // event changes nothing (API.md §2, stored whole or not at all).
    let user = resolve::user(w, &e.user_id, None)?;
    let at = e.occurred_at.as_microsecond();
    if let Some(conv) = load_conv(w, tx, org.id, &e.conversation_id)? {
        if conv.user != user {
            w.recent_keys.remove(&w.conn, org.id, &e.event_id)?;
            return Ok(Accepted::OwnerMismatch);
        }
    }
    if e.user_email.is_some() {
        resolve::user(w, &e.user_id, e.user_email.as_deref())?;
    }

    let catalog = Catalog::builtin();
    let event_team = match &e.team_id {
        Some(t) => Some(resolve::team(w, org.id, t)?),
        None => None,
    };
    let membership = resolve::member(w, org.id, user, event_team.as_ref().map(|t| t.id))?;
    let team = match (event_team, membership.team) {
        (Some(t), _) => Some(t),
        (None, Some(id)) => Some(resolve::team_by_id(w, id)?),
        (None, None) => None,
    };
    let dept_name = e
        .department
        .clone()
        .or(membership.department.clone())
        .or(team.as_ref().and_then(|t| t.department.clone()));
    let dept = match dept_name {
        Some(d) => resolve::department(w, org.id, &d)?,
        None => 0,
    };
    let catalog_provider = catalog.provider_of(&e.model_name);
    let key = match &e.api_key_id {
        Some(k) => Some(resolve::api_key(
            w,
            org.id,
            k,
            e.api_key_provider.as_deref().or(catalog_provider),
        )?),
        None => None,
    };
    let provider_name = e
        .api_key_provider
        .clone()
        .or(key.as_ref().and_then(|k| k.provider.clone()))
        .or(catalog_provider.map(str::to_owned));
    let provider = match provider_name {
        Some(p) => resolve::provider(w, &p)?,
        None => 0,
    };
    let model = resolve::model(w, &e.model_name)?;
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

    let conv_id = touch_conv(w, tx, org.id, e, user, at, buckets, groups)?;
    w.conn
        .prepare_cached(
            "INSERT INTO events (org, event_id, occurred_at, day, user, team, dept, key, model, provider, conv,
             tokens_in, tokens_out, cached_in, cache_write_in, total_cost, actual_cost, cost_flags)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )
        .and_then(|mut s| {
            s.execute(params![
                org.id,
                e.event_id,
                at,
                buckets.day,
                groups.user,
                groups.team,
                groups.dept,
                groups.key,
                groups.model,
                groups.provider,
                conv_id,
                e.tokens_in as i64,
                e.tokens_out as i64,
                e.cached_tokens_in as i64,
                e.cache_write_tokens_in as i64,
                total.0,
                actual.0,
                flags
            ])
        })
        .map_err(sql_err)?;
    tx.deltas
        .add_message(org.id, buckets, groups, e, total, actual, flags);
    let last = tx.org_last.entry(org.id).or_insert(at);
    *last = (*last).max(at);
    if groups.key != 0 {
        let last = tx.key_last.entry(groups.key).or_insert(at);
        *last = (*last).max(at);
    }
    Ok(Accepted::New)
}

fn load_conv<'a>(
    w: &mut WriterState,
    tx: &'a mut Tx,
    org: i64,
    ext: &str,
) -> Result<Option<&'a mut Conv>> {
    let k = (org, ext.to_owned());
    if !tx.convs.contains_key(&k) {
        let found = w
            .conn
            .prepare_cached(
                "SELECT id, user, first_at, first_event_id, first_day, first_team, first_dept, first_key, first_model,
                 first_provider, last_at, title, title_at FROM conversations WHERE org = ?1 AND ext_id = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![org, ext], |r| {
                    let user: i64 = r.get(1)?;
                    Ok(Conv {
                        id: r.get(0)?,
                        new: false,
                        user,
                        first_at: r.get(2)?,
                        first_event_id: r.get(3)?,
                        first_day: r.get(4)?,
                        first_groups: Groups {
                            user,
                            team: r.get(5)?,
                            dept: r.get(6)?,
                            key: r.get(7)?,
                            model: r.get(8)?,
                            provider: r.get(9)?,
                        },
                        last_at: r.get(10)?,
                        title: r.get(11)?,
                        title_at: r.get(12)?,
                        dirty: false,
                    })
                })
                .optional()
            })
            .map_err(sql_err)?;
        match found {
            Some(c) => {
                tx.convs.insert(k.clone(), c);
            }
            None => return Ok(None),
        }
    }
    Ok(tx.convs.get_mut(&k))
}

/// Record the event in its conversation: create it, or let it move the
/// start and title (`Conv::touch`). Returns the conversation's internal id.
#[allow(clippy::too_many_arguments)]
fn touch_conv(
    w: &mut WriterState,
    tx: &mut Tx,
    org: i64,
    e: &Event,
    user: i64,
    at: i64,
    b: Buckets,
    g: Groups,
) -> Result<i64> {
    if load_conv(w, tx, org, &e.conversation_id)?.is_some() {
        if let Some(conv) = tx.convs.get_mut(&(org, e.conversation_id.clone())) {
            conv.touch(&mut tx.deltas, org, e, at, b, g);
            return Ok(conv.id);
        }
    }
    let mut conv = Conv::started_by(e, user, at, b, g);
    w.conn
        .prepare_cached(
            "INSERT INTO conversations (org, ext_id, user, first_at, first_event_id, first_day, first_team, first_dept,
             first_key, first_model, first_provider, last_at, title, title_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?4, ?12, ?13)",
        )
        .and_then(|mut s| {
            s.execute(params![
                org,
                e.conversation_id,
                user,
                at,
                e.event_id,
                b.day,
                g.team,
                g.dept,
                g.key,
                g.model,
                g.provider,
                conv.title,
                conv.title_at
            ])
        })
        .map_err(sql_err)?;
    conv.id = w.conn.last_insert_rowid();
    conv.new = false;
    let id = conv.id;
    tx.convs.insert((org, e.conversation_id.clone()), conv);
    tx.deltas.add_conversation(org, b.day, b.month, g, 1);
    Ok(id)
}

fn flush(w: &mut WriterState, tx: Tx) -> Result<()> {
    {
        let mut s = w
            .conn
            .prepare_cached(
                "UPDATE conversations SET first_at = ?2, first_event_id = ?3, first_day = ?4, first_team = ?5,
                 first_dept = ?6, first_key = ?7, first_model = ?8, first_provider = ?9, last_at = ?10, title = ?11,
                 title_at = ?12 WHERE id = ?1",
            )
            .map_err(sql_err)?;
        for c in tx.convs.values().filter(|c| c.dirty) {
            let g = c.first_groups;
            s.execute(params![
                c.id,
                c.first_at,
                c.first_event_id,
                c.first_day,
                g.team,
                g.dept,
                g.key,
                g.model,
                g.provider,
                c.last_at,
                c.title,
                c.title_at
            ])
            .map_err(sql_err)?;
        }
    }
    // The budget check reads every acknowledged event's spend: never queued.
    add_spend(&w.conn, &tx.deltas.cells)?;
    if w.deferred.may_queue() {
        w.deferred.queue(&w.conn, tx.deltas.cells)?;
    } else {
        w.deferred.fold(&w.conn, &tx.deltas.cells)?;
    }
    for (org, at) in tx.org_last {
        w.conn
            .prepare_cached("UPDATE orgs SET last_event_at = max(coalesce(last_event_at, ?2), ?2) WHERE id = ?1")
            .and_then(|mut s| s.execute(params![org, at]))
            .map_err(sql_err)?;
    }
    for (key, at) in tx.key_last {
        w.conn
            .prepare_cached("UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?2), ?2) WHERE id = ?1")
            .and_then(|mut s| s.execute(params![key, at]))
            .map_err(sql_err)?;
    }
    Ok(())
}

/// The cube's upsert: a cell's sums added to what it holds.
static CUBE_UPSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use super::org_days::{ADD_SUMS, SUMS};
    format!(
        "INSERT INTO cube (org, grain, bucket, user, team, dept, key, model, provider, {SUMS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT (org, grain, bucket, user, team, dept, key, model, provider) DO UPDATE SET {ADD_SUMS}"
    )
});

type Cells = HashMap<crate::aggregate::CellKey, crate::aggregate::CellDelta>;

/// Add cell deltas to the aggregates and to the spend per budget scope.
/// Shared by reprice, rebuild and erasure; ingestion adds the spend at once
/// and the rest through `deferred.rs`.
pub(super) fn add_cells(conn: &rusqlite::Connection, cells: &Cells) -> Result<()> {
    add_aggregates(conn, cells)?;
    add_spend(conn, cells)
}

/// Add cell deltas to the cube (one upsert per touched cell), the day
/// tables, people's running totals and the blocks.
pub(super) fn add_aggregates(conn: &rusqlite::Connection, cells: &Cells) -> Result<()> {
    {
        // In key order, so each page of the cube is visited once.
        let mut sorted: Vec<_> = cells.iter().map(|(k, d)| (k.numbers(), d)).collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        let mut s = conn.prepare_cached(&CUBE_UPSERT).map_err(sql_err)?;
        for (k, d) in sorted {
            s.execute(rusqlite::params_from_iter(k.into_iter().chain(d.values())))
                .map_err(sql_err)?;
        }
    }
    super::org_days::add_day_cells(conn, cells)?;
    super::dim_days::add_day_cells(conn, cells)?;
    super::person_cum::add_day_cells(conn, cells)
}

/// The day cells' cost, per budget scope (see migration 0004).
fn add_spend(conn: &rusqlite::Connection, cells: &Cells) -> Result<()> {
    let mut spend: std::collections::HashMap<(i64, i64, i64, i64), i64> =
        std::collections::HashMap::new();
    for (k, d) in cells {
        if k.grain != crate::aggregate::GRAIN_DAY || d.total_cost == 0 {
            continue;
        }
        let g = k.groups;
        for (kind, id) in [(0, 0), (1, g.user), (2, g.team), (3, g.dept), (4, g.key)] {
            *spend.entry((k.org, kind, id, k.bucket)).or_default() += d.total_cost;
        }
    }
    let mut s = conn
        .prepare_cached(
            "INSERT INTO spend_days (org, kind, id, day, total_cost) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (org, kind, id, day) DO UPDATE SET total_cost = total_cost + excluded.total_cost",
        )
        .map_err(sql_err)?;
    for ((org, kind, id, day), cost) in spend {
        s.execute(params![org, kind, id, day, cost])
            .map_err(sql_err)?;
    }
    Ok(())
}
