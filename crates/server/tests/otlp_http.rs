//! OTLP/HTTP traces in: protobuf and JSON exports become events by the
//! mapping of API.md §2, with the same rules as `POST /v1/events`.

mod common;

use common::ADMIN;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::json;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}
fn s(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}
fn i(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn span(trace: u8, id: u8, end_nanos: u64, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: "chat".into(),
        end_time_unix_nano: end_nanos,
        attributes,
        ..Default::default()
    }
}

/// 2026-11-20T15:00:00Z in nanoseconds.
const AT: u64 = 1_795_186_800_000_000_000;

fn export() -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("user.id", "alice"), s("service.name", "ide")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    // The IDE's developer comes from the resource; the trace is the conversation.
                    span(
                        1,
                        1,
                        AT,
                        vec![
                            s("gen_ai.request.model", "gpt-4o"),
                            s("gen_ai.response.model", "gpt-4o-2024-08-06"),
                            s("gen_ai.provider.name", "openai"),
                            i("gen_ai.usage.input_tokens", 1200),
                            i("gen_ai.usage.output_tokens", 300),
                            s("spendlens.api_key_id", "key-prod"),
                        ],
                    ),
                    // Not an LLM call: ignored.
                    span(1, 2, AT, vec![s("http.method", "GET")]),
                    // The span names its own user and conversation; older gen_ai.system.
                    span(
                        2,
                        3,
                        AT + 1_000_000_000,
                        vec![
                            s("user.id", "bob"),
                            s("gen_ai.conversation.id", "conv-9"),
                            s("gen_ai.request.model", "claude-sonnet-4"),
                            s("gen_ai.system", "anthropic"),
                            i("gen_ai.usage.input_tokens", 50),
                            i("gen_ai.usage.output_tokens", 7),
                        ],
                    ),
                    // Invalid: a negative token count is rejected, naming the field.
                    span(
                        3,
                        4,
                        AT,
                        vec![
                            s("gen_ai.request.model", "gpt-4o"),
                            i("gen_ai.usage.input_tokens", -5),
                            i("gen_ai.usage.output_tokens", 1),
                        ],
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test]
async fn protobuf_spans_become_events_once() {
    let srv = common::start().await;
    srv.org("acme", "UTC", "0").await;
    let ingest = srv
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let send = || async {
        let r = srv
            .http
            .post(srv.url("/v1/otlp/v1/traces"))
            .bearer_auth(&ingest)
            .header("content-type", "application/x-protobuf")
            .body(export().encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/x-protobuf"
        );
        ExportTraceServiceResponse::decode(r.bytes().await.unwrap()).unwrap()
    };
    let answer = send().await;
    let partial = answer.partial_success.expect("one span was rejected");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("invalid_field"),
        "{}",
        partial.error_message
    );

    let mut events = srv.store.events("acme").await.unwrap();
    events.sort_by_key(|e| e.occurred_at);
    assert_eq!(events.len(), 2);
    let (a, b) = (&events[0], &events[1]);
    assert_eq!(
        a.event_id,
        format!("{}-{}", "01".repeat(16), "01".repeat(8))
    );
    assert_eq!(a.user_id, "alice");
    assert_eq!(a.conversation_id, "01".repeat(16));
    assert_eq!(a.model, "gpt-4o-2024-08-06");
    assert_eq!((a.tokens_in, a.tokens_out), (1200, 300));
    assert_eq!(a.api_key_id.as_deref(), Some("key-prod"));
    assert_eq!(a.occurred_at.to_string(), "2026-11-20T15:00:00Z");
    assert_eq!(b.user_id, "bob");
    assert_eq!(b.conversation_id, "conv-9");
    assert_eq!(b.provider.as_deref(), Some("anthropic"));

    // The exporter retries the same export: nothing is counted twice.
    let again = send().await;
    assert_eq!(again.partial_success.map(|p| p.rejected_spans), Some(1));
    assert_eq!(srv.store.events("acme").await.unwrap().len(), 2);
    let summary = srv
        .get(ADMIN, "/v1/orgs/acme/summary?from=2026-11-01&to=2026-12-01")
        .await;
    assert_eq!(summary.body["messages"], 2, "{}", summary.body);
    assert_eq!(summary.body["tokens_in"], 1250);
}

#[tokio::test]
async fn json_exports_and_bad_bodies() {
    let srv = common::start().await;
    srv.org("acme", "UTC", "0").await;
    let ingest = srv
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    // OTLP/JSON: hex ids, 64-bit integers as strings, camelCase.
    let body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "user.id", "value": {"stringValue": "carol"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": "eee19b7ec3c1b174",
            "name": "chat gpt-4o",
            "kind": 3,
            "startTimeUnixNano": "1795186790000000000",
            "endTimeUnixNano": "1795186800000000000",
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 30}}
            ]
        }]}]
    }]});
    let r = srv.post(&ingest, "/v1/otlp/v1/traces", &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.get("partialSuccess").is_none_or(|p| p.is_null()),
        "{}",
        r.body
    );
    let events = srv.store.events("acme").await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event_id,
        "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"
    );
    assert_eq!((events[0].tokens_in, events[0].tokens_out), (120, 30));
    assert_eq!(events[0].user_id, "carol");

    // Not OTLP at all: a 400 saying so; a member token may not send.
    let bad = srv
        .send(
            srv.http
                .post(srv.url("/v1/otlp/v1/traces"))
                .bearer_auth(&ingest)
                .header("content-type", "application/x-protobuf")
                .body(vec![0xff, 0xff, 0xff]),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["code"], "invalid_body");
    let member = srv
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    assert_eq!(
        srv.post(&member, "/v1/otlp/v1/traces", &body).await.status,
        403
    );
    assert_eq!(srv.store.events("acme").await.unwrap().len(), 1);
}
