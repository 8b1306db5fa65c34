//! Reading conversations and their messages from the event detail.

use super::read::{event_row, EVENT_SELECT};
use super::{sql_err, ts};
use crate::contract::{Result, StoreError};
use crate::model::{ConversationDetail, ConversationSummary};
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
    page_of_user(c, org, user, period, None, usize::MAX)
}

/// A page of `of_user`: candidates come from the conversations table in
/// page order (its (org, user, last_at) index), and only they are summed
/// from their events, until `limit` have an event in the period.
pub fn page_of_user(
    c: &Connection,
    org: &str,
    user: &str,
    period: Period,
    after: Option<(i64, String)>,
    limit: usize,
) -> Result<Vec<ConversationSummary>> {
    let (org_id, Some(user_id)) = ids(c, org, Some(user))? else {
        return Ok(Vec::new());
    };
    let earliest_us = (i64::from(period.from.0) - 1) * 86_400_000_000;
    let (after_at, after_id) = after.unwrap_or((i64::MAX, String::new()));
    let mut candidates = c
        .prepare_cached(
            "SELECT id, ext_id, title, first_at, last_at FROM conversations
             WHERE org = ?1 AND user = ?2 AND last_at >= ?3
               AND (last_at < ?4 OR (last_at = ?4 AND ext_id > ?5))
             ORDER BY last_at DESC, ext_id",
        )
        .map_err(sql_err)?;
    let mut sums = c
        .prepare_cached(
            "SELECT count(*), sum(e.tokens_in + e.tokens_out), sum(e.total_cost), sum(e.actual_cost),
                    json_group_array(DISTINCT m.name)
             FROM events e JOIN models m ON m.id = e.model
             WHERE e.conv = ?1 AND e.day >= ?2 AND e.day < ?3",
        )
        .map_err(sql_err)?;
    let mut rows = candidates
        .query(params![org_id, user_id, earliest_us, after_at, after_id])
        .map_err(sql_err)?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(r) = rows.next().map_err(sql_err)? else {
            break;
        };
        let conv: i64 = r.get(0).map_err(sql_err)?;
        let (n, tokens, total, actual, models): (
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            String,
        ) = sums
            .query_row(params![conv, period.from.0, period.to.0], |s| {
                Ok((s.get(0)?, s.get(1)?, s.get(2)?, s.get(3)?, s.get(4)?))
            })
            .map_err(sql_err)?;
        if n == 0 {
            continue;
        }
        let mut models: Vec<String> = serde_json::from_str::<Vec<Option<String>>>(&models)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("model names of a conversation: {e}")))?
            .into_iter()
            .flatten()
            .collect();
        models.sort();
        out.push(ConversationSummary {
            conversation_id: r.get(1).map_err(sql_err)?,
            user_id: user.to_owned(),
            title: r.get(2).map_err(sql_err)?,
            started_at: ts(r.get(3).map_err(sql_err)?),
            last_event_at: ts(r.get(4).map_err(sql_err)?),
            messages: n as u64,
            tokens: tokens.unwrap_or(0) as u64,
            total_cost: i128::from(total.unwrap_or(0)),
            actual_api_cost: i128::from(actual.unwrap_or(0)),
            models,
        });
    }
    Ok(out)
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
        .prepare_cached(&format!(
            "{EVENT_SELECT} WHERE e.conv = ?1 ORDER BY e.occurred_at, e.event_id"
        ))
        .map_err(sql_err)?;
    let messages = s
        .query_map([conv_id], |r| event_row(r, org))
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
