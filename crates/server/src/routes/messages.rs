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
use spendlens_domain::money::{format_usd, push_usd};
use spendlens_store::model::StoredEvent;
use spendlens_store::query::EventQuery;
use std::collections::HashMap;
use std::fmt::Write as _;

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

/// One event as a CSV record: the cells `export::encode_row` makes of
/// `row(e)` (a test keeps them equal), written straight from the event, since
/// a 2,000,000-row download spent most of its time building and dropping
/// those JSON objects. `scratch` is reused for the cells that are formatted.
fn csv_record(
    e: &StoredEvent,
    w: &mut csv::Writer<Vec<u8>>,
    scratch: &mut String,
) -> csv::Result<()> {
    fn opt(v: &Option<String>) -> std::borrow::Cow<'_, str> {
        v.as_deref().map(export::neutralise).unwrap_or_default()
    }
    w.write_field(export::neutralise(&e.event_id).as_bytes())?;
    scratch.clear();
    // Writing to a String cannot fail.
    let _ = write!(scratch, "{}", e.occurred_at);
    w.write_field(scratch.as_bytes())?;
    for text in [
        export::neutralise(&e.user_id),
        opt(&e.team_id),
        opt(&e.department),
        opt(&e.api_key_id),
        opt(&e.provider),
        export::neutralise(&e.model),
        export::neutralise(&e.conversation_id),
    ] {
        w.write_field(text.as_bytes())?;
    }
    let mut number = itoa::Buffer::new();
    for n in [
        e.tokens_in,
        e.tokens_out,
        e.cached_tokens_in,
        e.cache_write_tokens_in,
    ] {
        w.write_field(number.format(n))?;
    }
    // An amount is digits with at most a leading minus: a number, which
    // `neutralise` leaves as it is.
    for money in [e.total_cost, e.actual_api_cost] {
        scratch.clear();
        push_usd(scratch, money.into());
        w.write_field(scratch.as_bytes())?;
    }
    w.write_field(if e.unpriced { "true" } else { "false" })?;
    w.write_record(None::<&[u8]>)
}

/// A batch of events as bytes of `format`.
fn encode_batch(format: Format, batch: &[StoredEvent], first: &mut bool) -> Vec<u8> {
    let out = Vec::with_capacity(batch.len() * 200);
    if format == Format::Csv {
        let mut w = csv::WriterBuilder::new().from_writer(out);
        let mut scratch = String::with_capacity(40);
        for e in batch {
            // Writing to memory cannot fail.
            let _ = csv_record(e, &mut w, &mut scratch);
        }
        *first = false;
        return w.into_inner().unwrap_or_default();
    }
    let mut out = out;
    for e in batch {
        export::encode_row(format, COLUMNS, &row(e), *first, &mut out);
        *first = false;
    }
    out
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
                    let out = encode_batch(format, &batch, &mut first);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(over: impl FnOnce(&mut StoredEvent)) -> StoredEvent {
        let mut e = StoredEvent {
            organization_id: "acme".into(),
            event_id: "ev-1".into(),
            occurred_at: "2026-11-04T12:00:00.123456Z".parse().unwrap(),
            day: 20_761,
            user_id: "alice".into(),
            team_id: Some("t-1".into()),
            department: Some("R&D, \"labs\"".into()),
            api_key_id: None,
            provider: Some("openai".into()),
            model: "gpt-4o".into(),
            conversation_id: "c-1".into(),
            tokens_in: 1_000,
            tokens_out: 0,
            cached_tokens_in: 7,
            cache_write_tokens_in: u64::MAX,
            total_cost: 1,
            actual_api_cost: -2_500_000_000,
            unpriced: false,
        };
        over(&mut e);
        e
    }

    #[test]
    fn csv_cells_are_those_of_the_json_row() {
        let events = [
            event(|_| {}),
            event(|e| {
                e.event_id = "=HYPERLINK(\"x\")".into();
                e.user_id = "+1 555".into();
                e.team_id = None;
                e.department = Some("@sum".into());
                e.api_key_id = Some("-12".into());
                e.model = "\tmodel".into();
                e.conversation_id = "line\nbreak".into();
                e.unpriced = true;
                e.total_cost = i64::MAX;
            }),
        ];
        let mut first = true;
        let fast = encode_batch(Format::Csv, &events, &mut first);
        let mut slow = Vec::new();
        for e in &events {
            export::encode_row(Format::Csv, COLUMNS, &row(e), true, &mut slow);
        }
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(slow).unwrap()
        );
        assert!(!first);
        let text = String::from_utf8(encode_batch(Format::Csv, &events[1..], &mut true)).unwrap();
        assert!(text.starts_with("\"'=HYPERLINK"), "{text}");
        assert!(
            text.contains(",-12,"),
            "a negative number stays a number: {text}"
        );
        assert!(text.contains(",true\n"), "{text}");
    }
}
