//! A user's conversations and one conversation's messages, from the event
//! detail (sqlite/conversations.rs). Text is ordered `COLLATE "C"`, byte by
//! byte as SQLite does, whatever the database's collation.
use super::read::{event_row, EVENT_SELECT};
use super::scope::enter_org;
use super::{db_err, ts};
use crate::contract::{Result, StoreError};
use crate::model::*;
use spendlens_domain::time::Period;
use sqlx::{PgConnection, Row};

/// The user's conversations with an event in the period, newest last event first.
pub async fn of_user(
    c: &mut PgConnection,
    org: &str,
    user: &str,
    period: Period,
) -> Result<Vec<ConversationSummary>> {
    page_of_user(c, org, user, period, None, i64::MAX as usize).await
}

/// One page of `of_user`: the conversations after `after` (last event in
/// µs, id), at most `limit`. The person's conversations are read newest
/// first down the `conversations_by_user_recent` index in chunks (its order
/// is the page's, so no chunk sorts anything), and each chunk's
/// conversations are summed from their own events over the period, until
/// the page is full. One statement doing both let PostgreSQL, which
/// estimated one conversation for a person with 18,831, sum and sort every
/// one of them (560 ms on `large` over 180 days).
pub async fn page_of_user(
    c: &mut PgConnection,
    org: &str,
    user: &str,
    period: Period,
    after: Option<(i64, String)>,
    limit: usize,
) -> Result<Vec<ConversationSummary>> {
    let org_id = enter_org(c, org).await?;
    let user_id: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE ext_id = $1")
        .bind(user)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?;
    let Some(user_id) = user_id else {
        return Ok(Vec::new());
    };
    // A conversation whose last event is more than a day before the period's
    // first local day, or whose first is more than a day after its last,
    // cannot have an event in it (no UTC offset exceeds 14 h).
    let earliest_us = (i64::from(period.from.0) - 1) * 86_400_000_000;
    let latest_us = (i64::from(period.to.0) + 1) * 86_400_000_000;
    let mut cursor = after.unwrap_or((i64::MAX, String::new()));
    let mut out = Vec::new();
    // A page's own conversations and a few more, then growing: over a long
    // period nearly every conversation read is in the page.
    let mut chunk = limit.saturating_add(limit / 4).clamp(8, 1_000);
    while out.len() < limit {
        let heads: Vec<(i64, String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT id, ext_id, title, first_at, last_at FROM conversations
             WHERE org = $1 AND usr = $2 AND last_at >= $3
               AND (last_at < $4 OR (last_at = $4 AND ext_id > $5)) AND first_at < $6
             ORDER BY last_at DESC, ext_id LIMIT $7",
        )
        .bind(org_id)
        .bind(user_id)
        .bind(earliest_us)
        .bind(cursor.0)
        .bind(&cursor.1)
        .bind(latest_us)
        .bind(i64::try_from(chunk).unwrap_or(i64::MAX))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        let Some(last) = heads.last() else { break };
        cursor = (last.4, last.1.clone());
        let ids: Vec<i64> = heads.iter().map(|h| h.0).collect();
        let sums = sqlx::query(
            "SELECT e.conv, count(*), SUM(e.tokens_in + e.tokens_out)::bigint,
                    SUM(e.total_cost)::bigint, SUM(e.actual_cost)::bigint,
                    array_agg(DISTINCT m.name)
             FROM events e JOIN models m ON m.id = e.model
             WHERE e.org = $1 AND e.conv IN (SELECT UNNEST($2::bigint[]))
               AND e.day >= $3 AND e.day < $4
             GROUP BY e.conv",
        )
        .bind(org_id)
        .bind(&ids)
        .bind(i64::from(period.from.0))
        .bind(i64::from(period.to.0))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        let mut by_conv = std::collections::HashMap::with_capacity(sums.len());
        for r in &sums {
            let mut models: Vec<String> = r.try_get(5).map_err(db_err)?;
            models.sort();
            let figures = (
                r.try_get::<i64, _>(1).map_err(db_err)? as u64,
                r.try_get::<i64, _>(2).map_err(db_err)? as u64,
                i128::from(r.try_get::<i64, _>(3).map_err(db_err)?),
                i128::from(r.try_get::<i64, _>(4).map_err(db_err)?),
                models,
            );
            by_conv.insert(r.try_get::<i64, _>(0).map_err(db_err)?, figures);
        }
        let full = heads.len() == chunk;
        for (id, ext_id, title, first_at, last_at) in heads {
            let Some((messages, tokens, total_cost, actual_api_cost, models)) = by_conv.remove(&id)
            else {
                continue;
            };
            out.push(ConversationSummary {
                conversation_id: ext_id,
                user_id: user.to_owned(),
                title,
                started_at: ts(first_at),
                last_event_at: ts(last_at),
                messages,
                tokens,
                total_cost,
                actual_api_cost,
                models,
            });
            if out.len() == limit {
                break;
            }
        }
        if !full {
            break;
        }
        chunk = chunk.saturating_mul(2).min(1_000);
    }
    Ok(out)
}

pub async fn detail(c: &mut PgConnection, org: &str, conv: &str) -> Result<ConversationDetail> {
    let org_id = enter_org(c, org).await?;
    let head: Option<(i64, String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT cv.id, u.ext_id, cv.title, cv.first_at, cv.last_at
         FROM conversations cv JOIN users u ON u.id = cv.usr
         WHERE cv.org = $1 AND cv.ext_id = $2",
    )
    .bind(org_id)
    .bind(conv)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?;
    let (conv_id, user_id, title, first_at, last_at) =
        head.ok_or_else(|| StoreError::NotFound(format!("conversation {conv}")))?;
    let rows = sqlx::query(&format!(
        "{EVENT_SELECT} WHERE e.org = $1 AND e.conv = $2 ORDER BY e.occurred_at, e.event_id COLLATE \"C\""
    ))
    .bind(org_id)
    .bind(conv_id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    let messages = rows
        .iter()
        .map(|r| event_row(r, org))
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
        .map_err(db_err)?;
    Ok(ConversationDetail {
        conversation_id: conv.to_owned(),
        user_id,
        title,
        started_at: ts(first_at),
        last_event_at: ts(last_at),
        messages,
    })
}
