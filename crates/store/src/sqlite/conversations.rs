//! Reading conversations and their messages from the event detail.

use super::{sql_err, ts};
use crate::contract::{Result, StoreError};
use crate::model::{ConversationDetail, ConversationSummary, StoredEvent};
use rusqlite::{params, Connection, OptionalExtension};
use spendlens_domain::time::Period;

fn ids(c: &Connection, org: &str, user: Option<&str>) -> Result<(i64, Option<i64>)> {
    let org_id: i64 = c
        .prepare_cached("SELECT id FROM orgs WHERE ext_id = ?1")
        .and_then(|mut s| s.query_row([org], |r| r.get(0)).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let user_id = match user {
        None => None,
        Some(u) => c
            .prepare_cached("SELECT id FROM users WHERE ext_id = ?1")
            .and_then(|mut s| s.query_row([u], |r| r.get(0)).optional())
            .map_err(sql_err)?,
    };
    Ok((org_id, user_id))
}

/// The user's conversations with an event in the period, newest last event first.
pub fn of_user(
    c: &Connection,
    org: &str,
    user: &str,
    period: Period,
) -> Result<Vec<ConversationSummary>> {
    let (org_id, Some(user_id)) = ids(c, org, Some(user))? else {
        return Ok(Vec::new());
    };
    // A conversation whose last event is more than a day before the period's
    // first local day cannot have an event in it (no UTC offset exceeds 14 h).
    let earliest_us = (i64::from(period.from.0) - 1) * 86_400_000_000;
    let mut s = c
        .prepare_cached(
            "SELECT cv.ext_id, cv.title, cv.first_at, cv.last_at, count(*), sum(e.tokens_in + e.tokens_out),
                    sum(e.total_cost), sum(e.actual_cost), json_group_array(DISTINCT m.name)
             FROM conversations cv JOIN events e ON e.conv = cv.id JOIN models m ON m.id = e.model
             WHERE cv.org = ?1 AND cv.user = ?2 AND cv.last_at >= ?3 AND e.day >= ?4 AND e.day < ?5
             GROUP BY cv.id ORDER BY cv.last_at DESC, cv.ext_id",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map(
            params![org_id, user_id, earliest_us, period.from.0, period.to.0],
            |r| {
                // A JSON array: model names may hold any printable character, commas included.
                let models: String = r.get(8)?;
                let mut models: Vec<String> = serde_json::from_str(&models).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        8,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?;
                models.sort();
                Ok(ConversationSummary {
                    conversation_id: r.get(0)?,
                    user_id: user.to_owned(),
                    title: r.get(1)?,
                    started_at: ts(r.get(2)?),
                    last_event_at: ts(r.get(3)?),
                    messages: r.get::<_, i64>(4)? as u64,
                    tokens: r.get::<_, i64>(5)? as u64,
                    total_cost: i128::from(r.get::<_, i64>(6)?),
                    actual_api_cost: i128::from(r.get::<_, i64>(7)?),
                    models,
                })
            },
        )
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

pub fn detail(c: &Connection, org: &str, conv: &str) -> Result<ConversationDetail> {
    let (org_id, _) = ids(c, org, None)?;
    let head = c
        .prepare_cached(
            "SELECT cv.id, u.ext_id, cv.title, cv.first_at, cv.last_at FROM conversations cv JOIN users u ON u.id = cv.user
             WHERE cv.org = ?1 AND cv.ext_id = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![org_id, conv], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?))
            })
            .optional()
        })
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("conversation {conv}")))?;
    let (conv_id, user_id, title, first_at, last_at) = head;
    let mut s = c
        .prepare_cached(
            "SELECT e.event_id, e.occurred_at, e.day, t.ext_id, d.name, k.ext_id, p.name, m.name,
             e.tokens_in, e.tokens_out, e.cached_in, e.cache_write_in, e.total_cost, e.actual_cost, e.cost_flags
             FROM events e LEFT JOIN teams t ON t.id = e.team
             LEFT JOIN departments d ON d.id = e.dept LEFT JOIN api_keys k ON k.id = e.key
             LEFT JOIN providers p ON p.id = e.provider JOIN models m ON m.id = e.model
             WHERE e.conv = ?1 ORDER BY e.occurred_at, e.event_id",
        )
        .map_err(sql_err)?;
    let messages = s
        .query_map([conv_id], |r| {
            let flags: i64 = r.get(14)?;
            Ok(StoredEvent {
                organization_id: org.to_owned(),
                event_id: r.get(0)?,
                occurred_at: ts(r.get(1)?),
                day: r.get(2)?,
                user_id: user_id.clone(),
                team_id: r.get(3)?,
                department: r.get(4)?,
                api_key_id: r.get(5)?,
                provider: r.get(6)?,
                model: r.get(7)?,
                conversation_id: conv.to_owned(),
                tokens_in: r.get::<_, i64>(8)? as u64,
                tokens_out: r.get::<_, i64>(9)? as u64,
                cached_tokens_in: r.get::<_, i64>(10)? as u64,
                cache_write_tokens_in: r.get::<_, i64>(11)? as u64,
                total_cost: r.get(12)?,
                actual_api_cost: r.get(13)?,
                unpriced: flags & crate::aggregate::UNPRICED != 0,
            })
        })
        .map_err(sql_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_err)?;
    Ok(ConversationDetail {
        conversation_id: conv.to_owned(),
        user_id,
        title,
        started_at: ts(first_at),
        last_event_at: ts(last_at),
        messages,
    })
}
