//! `GET /v1/orgs/{org}/messages`: every retained event in time order with the
//! filters — a page at a time, or the whole of it streamed as a download in
//! constant memory (the audit trail and the large export).

use super::export::{self, Format};
use super::params::Query;
use super::params::{Cursor, Params};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use spendlens_domain::money::format_usd;
use spendlens_store::model::StoredEvent;
use spendlens_store::query::EventQuery;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/orgs/{org}/messages", get(messages))
}

const COLUMNS: &[&str] = &[
    "event_id",
    "occurred_at",
    "user_id",
    "team_id",
    "department",
    "api_key_id",
    "provider",
    "model",
    "conversation_id",
    "tokens_in",
    "tokens_out",
    "cached_tokens_in",
    "cache_write_tokens_in",
    "total_cost",
    "actual_api_cost",
    "unpriced",
];

fn row(e: &StoredEvent) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("event_id".into(), e.event_id.clone().into());
    m.insert("occurred_at".into(), e.occurred_at.to_string().into());
    m.insert("user_id".into(), e.user_id.clone().into());
    m.insert("team_id".into(), e.team_id.clone().into());
    m.insert("department".into(), e.department.clone().into());
    m.insert("api_key_id".into(), e.api_key_id.clone().into());
    m.insert("provider".into(), e.provider.clone().into());
    m.insert("model".into(), e.model.clone().into());
    m.insert("conversation_id".into(), e.conversation_id.clone().into());
    m.insert("tokens_in".into(), e.tokens_in.into());
    m.insert("tokens_out".into(), e.tokens_out.into());
    m.insert("cached_tokens_in".into(), e.cached_tokens_in.into());
    m.insert(
        "cache_write_tokens_in".into(),
        e.cache_write_tokens_in.into(),
    );
    m.insert("total_cost".into(), format_usd(e.total_cost.into()).into());
    m.insert(
        "actual_api_cost".into(),
        format_usd(e.actual_api_cost.into()).into(),
    );
    m.insert("unpriced".into(), e.unpriced.into());
    m
}

async fn messages(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    let filter = p.filter()?;
    let format = p.take("format").map(|f| Format::parse(&f)).transpose()?;
    let limit = p.limit()?;
    let cursor = p.take("cursor").map(|c| Cursor::decode(&c)).transpose()?;
    p.finish()?;
    let pinned = format!("messages|{org}|{}|{}|{filter:?}", period.from, period.to);
    let after = match cursor {
        None => None,
        Some(c) => {
            c.belongs_to(&pinned)?;
            Some((c.micros()?, c.id))
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<StoredEvent>>(4);
    let query = EventQuery {
        org: org.clone(),
        period,
        filter,
        after,
        limit: if format.is_some() {
            None
        } else {
            Some(limit + 1)
        },
    };
    let store = s.store.clone();
    let reader = tokio::spawn(async move { store.stream_events(query, tx).await });

    let Some(format) = format else {
        let mut rows = Vec::new();
        while let Some(batch) = rx.recv().await {
            rows.extend(batch);
        }
        reader.await.map_err(|e| ApiError::Internal(e.into()))??;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = more.then(|| {
            let last = &rows[rows.len() - 1];
            Cursor {
                value: json!(last.occurred_at.as_microsecond().to_string()),
                id: last.event_id.clone(),
                pinned,
            }
            .encode()
        });
        let data: Vec<Value> = rows.iter().map(|e| Value::Object(row(e))).collect();
        return Ok(Json(json!({"data": data, "next_cursor": next})).into_response());
    };
    // The download: the header first, then each batch as it is read.
    let name = export::file_name(
        &org,
        "messages",
        &period.from.to_string(),
        &period.to.to_string(),
        format,
    );
    let head = export::head(format, COLUMNS);
    let stream = futures_util::stream::unfold(
        (Some(head), rx, true, Some(reader)),
        move |(head, mut rx, mut first, reader)| async move {
            if let Some(h) = head {
                return Some((Ok(Bytes::from(h)), (None, rx, first, reader)));
            }
            match rx.recv().await {
                Some(batch) => {
                    let mut out = Vec::with_capacity(batch.len() * 200);
                    for e in &batch {
                        export::encode_row(format, COLUMNS, &row(e), first, &mut out);
                        first = false;
                    }
                    Some((Ok(Bytes::from(out)), (None, rx, first, reader)))
                }
                None => {
                    let reader = reader?;
                    match reader.await {
                        Ok(Ok(())) => Some((
                            Ok(Bytes::from_static(export::tail(format))),
                            (None, rx, first, None),
                        )),
                        // A failed read ends the body with an error: the client sees a broken download, never a short one that looks whole.
                        Ok(Err(e)) => Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, rx, first, None),
                        )),
                        Err(e) => Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, rx, first, None),
                        )),
                    }
                }
            }
        },
    );
    Ok(export::stream(format, &name, stream))
}
