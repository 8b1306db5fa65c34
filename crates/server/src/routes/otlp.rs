//! `POST /v1/otlp/v1/traces` (API.md §2, OpenTelemetry spans): OTLP/HTTP trace
//! exports, protobuf or JSON. Each span carrying `gen_ai.usage.*` becomes one
//! event, built as a client would have sent it and then ingested by the same
//! code as `POST /v1/events`, so every rule (validation, idempotency,
//! quarantine, pricing) is the same. Other spans are ignored.

use super::events::{ingest_items, read_body, Items, MAX_EVENTS};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use serde_json::{json, Map, Value};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/otlp/v1/traces", post(traces))
}

const PROTOBUF: &str = "application/x-protobuf";

async fn traces(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let scope = who.ingest_scope()?;
    let bytes = read_body(&headers, body).await?;
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(PROTOBUF));
    let request = if protobuf {
        ExportTraceServiceRequest::decode(&bytes[..]).map_err(|e| {
            ApiError::bad(
                "invalid_body",
                format!("not an OTLP ExportTraceServiceRequest: {e}"),
            )
        })?
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad(
                "invalid_json",
                format!("not an OTLP/JSON ExportTraceServiceRequest: {e}"),
            )
        })?
    };
    let items: Items = events_of(&request, who.user.as_deref())
        .into_iter()
        .map(Ok)
        .collect();
    if items.len() > MAX_EVENTS {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} LLM spans in one export; at most {MAX_EVENTS}",
            items.len()
        )));
    }
    let outcome = if items.is_empty() {
        Default::default()
    } else {
        ingest_items(&state, scope, items).await?
    };
    // Rejected spans, as OTLP counts them: those that will not be counted
    // (a duplicate was counted before, a quarantined one will be later).
    let rejected = outcome.rejected as i64;
    let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: rejected,
        error_message: outcome
            .errors
            .iter()
            .filter(|e| {
                !matches!(
                    e.code.as_str(),
                    "duplicate_conflict" | "unknown_organization" | "ambiguous_organization"
                )
            })
            .take(5)
            .map(|e| {
                format!(
                    "{}: {} {}",
                    e.event_id.as_deref().unwrap_or("?"),
                    e.code.as_str(),
                    e.message
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    });
    let response = ExportTraceServiceResponse { partial_success };
    Ok(if protobuf {
        ([(header::CONTENT_TYPE, PROTOBUF)], response.encode_to_vec()).into_response()
    } else {
        axum::Json(response).into_response()
    })
}

/// The events of every LLM span, in the order of the export.
pub fn events_of(request: &ExportTraceServiceRequest, token_user: Option<&str>) -> Vec<Value> {
    let mut events = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource: &[KeyValue] = resource_spans
            .resource
            .as_ref()
            .map(|r| &r.attributes[..])
            .unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                let attrs = Attrs {
                    span: &span.attributes,
                    resource,
                };
                if !span
                    .attributes
                    .iter()
                    .any(|kv| kv.key.starts_with("gen_ai.usage."))
                {
                    continue;
                }
                let trace = hex::encode(&span.trace_id);
                let mut e = Map::new();
                e.insert(
                    "event_id".into(),
                    json!(format!("{trace}-{}", hex::encode(&span.span_id))),
                );
                e.insert("occurred_at".into(), occurred_at(span.end_time_unix_nano));
                let mut put = |field: &str, value: Option<Value>| {
                    if let Some(v) = value {
                        e.insert(field.into(), v);
                    }
                };
                put(
                    "user_id",
                    attrs
                        .both("user.id")
                        .or_else(|| token_user.map(|u| json!(u))),
                );
                put("user_email", attrs.both("user.email"));
                put("organization_id", attrs.both("spendlens.organization_id"));
                put(
                    "conversation_id",
                    attrs
                        .span("gen_ai.conversation.id")
                        .or_else(|| (!trace.is_empty()).then(|| json!(trace))),
                );
                put(
                    "model_name",
                    attrs
                        .span("gen_ai.response.model")
                        .or_else(|| attrs.span("gen_ai.request.model")),
                );
                put("tokens_in", attrs.span("gen_ai.usage.input_tokens"));
                put("tokens_out", attrs.span("gen_ai.usage.output_tokens"));
                put(
                    "cached_tokens_in",
                    attrs.span("gen_ai.usage.cache_read.input_tokens"),
                );
                put(
                    "cache_write_tokens_in",
                    attrs.span("gen_ai.usage.cache_creation.input_tokens"),
                );
                put(
                    "api_key_provider",
                    attrs
                        .both("gen_ai.provider.name")
                        .or_else(|| attrs.both("gen_ai.system")),
                );
                put("api_key_id", attrs.both("spendlens.api_key_id"));
                put("team_id", attrs.both("spendlens.team_id"));
                put("department", attrs.both("spendlens.department"));
                events.push(Value::Object(e));
            }
        }
    }
    events
}

struct Attrs<'a> {
    span: &'a [KeyValue],
    resource: &'a [KeyValue],
}

impl Attrs<'_> {
    fn span(&self, key: &str) -> Option<Value> {
        find(self.span, key)
    }

    /// On the span, else on the resource (an IDE's resource names its developer).
    fn both(&self, key: &str) -> Option<Value> {
        find(self.span, key).or_else(|| find(self.resource, key))
    }
}

/// An attribute as the JSON a client would have sent: strings and integers as
/// they are, so the event parser applies its own checks (a float token count
/// or a negative one is rejected there, naming the field).
fn find(attrs: &[KeyValue], key: &str) -> Option<Value> {
    let value = attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(json!(s)),
        any_value::Value::IntValue(i) => Some(json!(i)),
        any_value::Value::DoubleValue(d) => serde_json::Number::from_f64(*d).map(Value::Number),
        any_value::Value::BoolValue(b) => Some(json!(b)),
        _ => None,
    }
}

/// The span's end as RFC 3339 (nanoseconds kept); a zero or absurd time is
/// left for the parser to reject as out of range.
fn occurred_at(unix_nanos: u64) -> Value {
    let ts = i128::from(unix_nanos);
    match jiff::Timestamp::from_nanosecond(ts) {
        Ok(t) => json!(t.to_string()),
        Err(_) => json!("1970-01-01T00:00:00Z"),
    }
}
