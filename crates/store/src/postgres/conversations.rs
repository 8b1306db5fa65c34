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
/// µs, id), at most `limit`. The conversations are walked newest first down
/// the `conversations_by_user` index, each summed from its own events over
/// the period, until the page is full: a page reads its own conversations,
/// not every one of the period (45 ms for `medium`'s busiest person over
/// 180 days when the whole list was summed and then cut).
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
    // first local day cannot have an event in it (no UTC offset exceeds 14 h).
    let earliest_us = (i64::from(period.from.0) - 1) * 86_400_000_000;
    let (before_at, after_id) = after.unwrap_or((i64::MAX, String::new()));
    let rows = sqlx::query(
        "SELECT cv.ext_id, cv.title, cv.first_at, cv.last_at, a.n, a.tokens, a.total, a.actual,
                a.models
         FROM conversations cv CROSS JOIN LATERAL (
             SELECT count(*) AS n, SUM(e.tokens_in + e.tokens_out)::bigint AS tokens,
                    SUM(e.total_cost)::bigint AS total, SUM(e.actual_cost)::bigint AS actual,
                    array_agg(DISTINCT m.name) AS models
             FROM events e JOIN models m ON m.id = e.model
             WHERE e.org = cv.org AND e.conv = cv.id AND e.day >= $4 AND e.day < $5) a
         WHERE cv.org = $1 AND cv.usr = $2 AND cv.last_at >= $3 AND a.n > 0
           AND (cv.last_at < $6 OR (cv.last_at = $6 AND cv.ext_id COLLATE \"C\" > $7))
         ORDER BY cv.last_at DESC, cv.ext_id COLLATE \"C\" LIMIT $8",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(earliest_us)
    .bind(i64::from(period.from.0))
    .bind(i64::from(period.to.0))
    .bind(before_at)
    .bind(after_id)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let mut models: Vec<String> = r.try_get(8)?;
            models.sort();
            Ok(ConversationSummary {
                conversation_id: r.try_get(0)?,
                user_id: user.to_owned(),
                title: r.try_get(1)?,
                started_at: ts(r.try_get(2)?),
                last_event_at: ts(r.try_get(3)?),
                messages: r.try_get::<i64, _>(4)? as u64,
                tokens: r.try_get::<i64, _>(5)? as u64,
                total_cost: i128::from(r.try_get::<i64, _>(6)?),
                actual_api_cost: i128::from(r.try_get::<i64, _>(7)?),
                models,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(db_err)
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
