//! `POST /v1/events` (API.md §2): JSON array, `{"events": [...]}` or NDJSON,
//! optionally gzip-compressed.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ingest_queue::Refused;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::post;
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::Value;
use spendlens_domain::{ErrorCode, Event};
use spendlens_store::model::{BatchOutcome, IngestBatch, ItemError};
use std::io::Read;

pub const MAX_EVENTS: usize = 10_000;
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", post(ingest))
}

/// The request body, decompressed, refusing more than MAX_BYTES either way
/// (a JSON 413). Shared by every ingestion route.
pub async fn read_body(headers: &HeaderMap, body: axum::body::Body) -> ApiResult<Vec<u8>> {
    body_bytes(headers, collect(body).await?)
}

/// The body as sent (still compressed), refusing more than MAX_BYTES (413).
async fn collect(body: axum::body::Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_BYTES + 1)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!("the body is larger than {MAX_BYTES} bytes"))
        })
}

/// The decompressed body, refusing more than MAX_BYTES (413).
fn body_bytes(headers: &HeaderMap, body: Bytes) -> ApiResult<Vec<u8>> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("the body is larger than {MAX_BYTES} bytes"));
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => {
            if body.len() > MAX_BYTES {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&body[..])
                .take(MAX_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::bad(
                        "invalid_body",
                        format!("the gzip body cannot be decompressed: {e}"),
                    )
                })?;
            if out.len() > MAX_BYTES {
                return Err(too_large());
            }
            Ok(out)
        }
        other => Err(ApiError::bad(
            "invalid_body",
            format!("unsupported Content-Encoding {other:?} (use gzip or none)"),
        )),
    }
}

/// One entry per event of the body: its JSON, or why its NDJSON line was unreadable.
pub type Items = Vec<Result<Value, ItemError>>;

/// serde_json's message without its own " at line L column C" suffix (the
/// position is given once, in the API's words).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((msg, _)) => msg.to_owned(),
        None => text,
    }
}

fn too_many() -> ApiError {
    ApiError::PayloadTooLarge(format!("more than {MAX_EVENTS} events in one request"))
}

fn parse_ndjson(bytes: &[u8]) -> ApiResult<Items> {
    let mut items = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if items.len() == MAX_EVENTS {
            return Err(too_many());
        }
        let index = items.len();
        items.push(
            serde_json::from_slice::<Value>(line).map_err(|e| ItemError {
                index,
                event_id: None,
                code: ErrorCode::InvalidJson,
                field: None,
                message: format!(
                    "line {}, column {}: {}",
                    i + 1,
                    e.column(),
                    serde_message(&e)
                ),
                line: Some(i + 1),
            }),
        );
    }
    Ok(items)
}

fn parse_json(bytes: &[u8]) -> ApiResult<Items> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad(
            "invalid_json",
            format!(
                "the body is not valid JSON at line {}, column {}: {}",
                e.line(),
                e.column(),
                serde_message(&e)
            ),
        )
    })?;
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut obj) => match obj.remove("events") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(ApiError::bad(
                    "invalid_body",
                    "expected a JSON array of events or {\"events\": [...]}",
                ))
            }
        },
        _ => {
            return Err(ApiError::bad(
                "invalid_body",
                "expected a JSON array of events or {\"events\": [...]}",
            ))
        }
    };
    if list.len() > MAX_EVENTS {
        return Err(too_many());
    }
    Ok(list.into_iter().map(Ok).collect())
}

pub fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/x-ndjson")
                || ct.starts_with("application/ndjson")
                || ct.starts_with("application/jsonl")
        })
        .unwrap_or(false)
}

async fn ingest(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Json<BatchOutcome>> {
    let scope = who.ingest_scope()?;
    let body = collect(body).await?;
    // Decompressing, parsing and validating a batch is milliseconds of CPU:
    // done on the blocking pool so that the runtime's few workers stay free
    // to answer reads (the budget check above all) while batches stream in.
    let now = Timestamp::now();
    let (events, rejected) = tokio::task::spawn_blocking(move || {
        let bytes = body_bytes(&headers, body)?;
        let items = if is_ndjson(&headers) {
            parse_ndjson(&bytes)?
        } else {
            parse_json(&bytes)?
        };
        Ok::<_, ApiError>(validate(items, now))
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("parsing task failed: {e}")))??;
    let outcome = submit(&state, scope, now, events, rejected)
        .await
        .inspect_err(|e| {
            if matches!(e, ApiError::Busy(_)) {
                state.metrics.busy();
            }
        })?;
    Ok(Json(outcome))
}

/// Validate items and send the valid ones through the queue; merge the
/// parse rejections into the store's answer. Shared with `spendlens ingest`.
pub async fn ingest_items(
    state: &AppState,
    scope: spendlens_store::model::IngestScope,
    items: Items,
) -> ApiResult<BatchOutcome> {
    let now = Timestamp::now();
    let (events, rejected) = validate(items, now);
    submit(state, scope, now, events, rejected).await
}

/// The items that are events (with their index) and why the others are not.
fn validate(items: Items, now: Timestamp) -> (Vec<(usize, Event)>, Vec<ItemError>) {
    let mut rejected = Vec::new();
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let value = match item {
            Ok(v) => v,
            Err(mut e) => {
                e.index = index;
                rejected.push(e);
                continue;
            }
        };
        match Event::parse(&value, now) {
            Ok(event) => events.push((index, event)),
            Err(e) => rejected.push(ItemError {
                index,
                event_id: value
                    .get("event_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                code: e.code,
                field: e.field,
                message: e.message,
                line: None,
            }),
        }
    }
    (events, rejected)
}

async fn submit(
    state: &AppState,
    scope: spendlens_store::model::IngestScope,
    now: Timestamp,
    events: Vec<(usize, Event)>,
    rejected: Vec<ItemError>,
) -> ApiResult<BatchOutcome> {
    let mut outcome = if events.is_empty() {
        BatchOutcome::default()
    } else {
        let batch = IngestBatch {
            scope,
            events,
            received_at: now,
        };
        match state.ingest.submit(batch).await {
            Ok(o) => o,
            Err(Refused::Busy) => return Err(ApiError::Busy(1)),
            Err(Refused::Failed(msg)) => {
                return Err(ApiError::Internal(anyhow::anyhow!("ingest failed: {msg}")))
            }
        }
    };
    outcome.rejected += rejected.len() as u64;
    outcome.errors.extend(rejected);
    outcome.errors.sort_by_key(|e| e.index);
    state.metrics.record(&outcome);
    Ok(outcome)
}
