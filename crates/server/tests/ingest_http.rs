//! POST /v1/events end to end on a real socket: formats, limits, answers,
//! idempotency and every per-event error code of API.md §2.

mod common;

use common::{event, start, ADMIN};
use serde_json::{json, Value};
use std::io::Write;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

async fn org_with_ingest_token(s: &common::TestServer, org: &str) -> String {
    s.org(org, "UTC", "1.25").await;
    s.token(ADMIN, json!({"role": "ingest", "organization_id": org}))
        .await
}

#[tokio::test]
async fn accepts_array_object_ndjson_and_gzip() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    let a = s
        .events(&t, &[event("a1", json!({})), event("a2", json!({}))])
        .await;
    assert_eq!(
        (a.status, a.body["accepted"].as_u64()),
        (200, Some(2)),
        "{}",
        a.body
    );
    assert_eq!(a.body["errors"], json!([]));

    let a = s
        .post(
            &t,
            "/v1/events",
            &json!({"events": [event("b1", json!({}))]}),
        )
        .await;
    assert_eq!(a.body["accepted"], 1, "{}", a.body);

    let body = ndjson(&[event("c1", json!({})), event("c2", json!({}))]);
    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&t)
                .header("content-type", "application/x-ndjson")
                .body(body.clone()),
        )
        .await;
    assert_eq!(a.body["accepted"], 2, "{}", a.body);

    let body = ndjson(&[
        event("d1", json!({})),
        event("d2", json!({})),
        event("d3", json!({})),
    ]);
    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&t)
                .header("content-type", "application/x-ndjson")
                .header("content-encoding", "gzip")
                .body(gzip(body.as_bytes())),
        )
        .await;
    assert_eq!(a.body["accepted"], 3, "{}", a.body);
    assert_eq!(s.store.events("acme").await.unwrap().len(), 8);
}

#[tokio::test]
async fn replaying_a_batch_three_times_changes_nothing() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    let batch: Vec<Value> = (0..50)
        .map(|i| event(&format!("e{i}"), json!({"conversation_id": format!("c{}", i % 7), "user_id": if i % 7 < 4 { "alice" } else { "bob" }})))
        .collect();
    let first = s.events(&t, &batch).await;
    assert_eq!(first.body["accepted"], 50, "{}", first.body);
    let before = s.store.events("acme").await.unwrap();
    let summary_before = s
        .get(ADMIN, "/v1/orgs/acme/summary?from=2026-11-01&to=2026-12-01")
        .await;
    assert_eq!(summary_before.status, 200, "{}", summary_before.body);
    for _ in 0..3 {
        let again = s.events(&t, &batch).await;
        assert_eq!(
            again.body,
            json!({"accepted": 0, "duplicates": 50, "quarantined": 0, "rejected": 0, "errors": []})
        );
    }
    assert_eq!(s.store.events("acme").await.unwrap(), before);
    let summary_after = s
        .get(ADMIN, "/v1/orgs/acme/summary?from=2026-11-01&to=2026-12-01")
        .await;
    assert_eq!(summary_after.body, summary_before.body);
    // 50 events of 0.01 at markup 1.25, 7 conversations, 2 users.
    assert_eq!(summary_after.body["actual_api_cost"], "0.500000000");
    assert_eq!(summary_after.body["total_cost"], "0.625000000");
    assert_eq!(summary_after.body["messages"], 50);
    assert_eq!(summary_after.body["conversations"], 7);
    // The previous period is the same number of days just before, and says so.
    assert_eq!(
        (
            summary_after.body["previous"]["from"].as_str(),
            summary_after.body["previous"]["to"].as_str()
        ),
        (Some("2026-10-02"), Some("2026-11-01"))
    );
    assert_eq!(summary_after.body["active_users"], 2);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_line_and_column() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&t)
                .header("content-type", "application/json")
                .body("[{\"event_id\": \"x\"},\n  {oops}]"),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"]["code"], "invalid_json");
    let msg = a.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("line 2, column 4"), "{msg}");

    let a = s.post(&t, "/v1/events", &json!({"data": []})).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );

    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&t)
                .header("content-encoding", "gzip")
                .body("not gzip at all"),
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (400, Some("invalid_body"))
    );
    assert!(s.store.events("acme").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_ndjson_line_is_rejected_alone_with_its_line_number() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    let body = format!(
        "{}\n\n{{not json\n{}\n",
        event("n1", json!({})),
        event("n2", json!({}))
    );
    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&t)
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{}",
        a.body
    );
    let err = &a.body["errors"][0];
    assert_eq!(
        (
            err["index"].as_u64(),
            err["code"].as_str(),
            err["line"].as_u64()
        ),
        (Some(1), Some("invalid_json"), Some(3)),
        "{err}"
    );
}

#[tokio::test]
async fn over_the_limits_is_413_and_stores_nothing() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    let many: Vec<Value> = (0..10_001)
        .map(|i| event(&format!("m{i}"), json!({})))
        .collect();
    let a = s.events(&t, &many).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let exactly: Vec<Value> = many[..10_000].to_vec();
    let a = s.events(&t, &exactly).await;
    assert_eq!(
        (a.status, a.body["accepted"].as_u64()),
        (200, Some(10_000)),
        "{}",
        a.body
    );

    // 10 MiB + 1 byte decompressed, sent as a small gzip body.
    let mut big = b"[".to_vec();
    big.resize(10 * 1024 * 1024 + 1, b' ');
    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&t)
                .header("content-encoding", "gzip")
                .body(gzip(&big)),
        )
        .await;
    assert_eq!(a.status, 413, "{}", a.body);
    let a = s
        .send(s.http.post(s.url("/v1/events")).bearer_auth(&t).body(big))
        .await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(
        a.body["error"]["code"], "payload_too_large",
        "a JSON error, not text"
    );
    assert_eq!(s.store.events("acme").await.unwrap().len(), 10_000);
}

#[tokio::test]
async fn every_error_code_names_the_event_and_field() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    s.org("globex", "UTC", "1").await;
    let a = s
        .events(&t, &[event("first", json!({"conversation_id": "shared"}))])
        .await;
    assert_eq!(a.body["accepted"], 1);
    let batch = vec![
        event("ok", json!({})),
        event("no-user", json!({"user_id": null})),
        event("bad-tokens", json!({"tokens_in": -1})),
        event("future", json!({"occurred_at": "2099-01-01T00:00:00Z"})),
        event("other-org", json!({"organization_id": "globex"})),
        event(
            "bob-steals",
            json!({"user_id": "bob", "conversation_id": "shared"}),
        ),
        event(
            "first",
            json!({"conversation_id": "shared", "tokens_out": 999}),
        ),
        event("too-precise", json!({"actual_api_cost": "0.0000000001"})),
    ];
    let a = s.events(&t, &batch).await;
    assert_eq!(a.status, 200);
    let b = &a.body;
    assert_eq!(
        (
            b["accepted"].as_u64(),
            b["duplicates"].as_u64(),
            b["rejected"].as_u64()
        ),
        (Some(1), Some(1), Some(6)),
        "{b}"
    );
    let errors: Vec<(u64, &str, &str, Value)> = b["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                e["event_id"].as_str().unwrap_or(""),
                e["code"].as_str().unwrap(),
                e["field"].clone(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            (1, "no-user", "missing_field", json!("user_id")),
            (2, "bad-tokens", "invalid_field", json!("tokens_in")),
            (3, "future", "timestamp_out_of_range", json!("occurred_at")),
            (
                4,
                "other-org",
                "organization_mismatch",
                json!("organization_id")
            ),
            (
                5,
                "bob-steals",
                "conversation_owner_mismatch",
                json!("conversation_id")
            ),
            (6, "first", "duplicate_conflict", json!("event_id")),
            (7, "too-precise", "invalid_field", json!("actual_api_cost")),
        ]
    );
    for e in b["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    // The first version of "first" stays; nothing leaked into globex.
    let stored = s.store.events("acme").await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored
            .iter()
            .find(|e| e.event_id == "first")
            .unwrap()
            .tokens_out,
        500
    );
    assert!(s.store.events("globex").await.unwrap().is_empty());
}

#[tokio::test]
async fn events_that_cannot_be_placed_are_quarantined_not_lost() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    s.org("globex", "UTC", "1").await;
    let platform = s.token(ADMIN, json!({"role": "ingest"})).await;
    // alice is a member of both: ambiguous without organization_id.
    let a = s
        .events(
            &platform,
            &[
                event("q1", json!({})),
                event("q2", json!({"organization_id": "nowhere"})),
                event("q3", json!({"organization_id": "acme"})),
                event("q4", json!({"user_id": "stranger"})),
            ],
        )
        .await;
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["quarantined"].as_u64()),
        (Some(1), Some(3)),
        "{}",
        a.body
    );
    let codes: Vec<&str> = a.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![
            "ambiguous_organization",
            "unknown_organization",
            "unknown_organization"
        ]
    );
    // Sent again: deduplicated in quarantine too.
    let again = s
        .events(
            &platform,
            &[event("q2", json!({"organization_id": "nowhere"}))],
        )
        .await;
    assert_eq!(again.body["duplicates"], 1, "{}", again.body);
    let q = s.get(ADMIN, "/v1/quarantine").await;
    assert_eq!(q.status, 200, "{}", q.body);
    let mut ids: Vec<&str> = q.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["q1", "q2", "q4"]);
    assert_eq!(s.store.quarantined().await.unwrap().len(), 3);
}

#[tokio::test]
async fn unknown_and_unregistered_keys_and_unpriced_models_are_kept() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await;
    let a = s
        .events(
            &t,
            &[
                event("k1", json!({"api_key_id": null})),
                event(
                    "k2",
                    json!({"api_key_id": "key-never-registered", "api_key_provider": "anthropic"}),
                ),
                event(
                    "k3",
                    json!({"model_name": "mystery-model-x", "actual_api_cost": null}),
                ),
            ],
        )
        .await;
    assert_eq!(a.body["accepted"], 3, "{}", a.body);
    let keys = s.store.list_api_keys("acme").await.unwrap();
    let new = keys
        .iter()
        .find(|k| k.api_key_id == "key-never-registered")
        .expect("created on first sight");
    assert!(!new.registered);
    assert_eq!(new.name, "key-never-registered");
    assert!(
        keys.iter()
            .find(|k| k.api_key_id == "key-prod")
            .unwrap()
            .registered
    );
    let stored = s.store.events("acme").await.unwrap();
    assert_eq!(
        stored
            .iter()
            .find(|e| e.event_id == "k1")
            .unwrap()
            .api_key_id,
        None
    );
    let k3 = stored.iter().find(|e| e.event_id == "k3").unwrap();
    assert!(k3.unpriced);
    assert_eq!((k3.actual_api_cost, k3.total_cost), (0, 0));
    let sum = s
        .get(ADMIN, "/v1/orgs/acme/summary?from=2026-11-01&to=2026-12-01")
        .await;
    assert_eq!(
        (
            sum.body["messages"].as_u64(),
            sum.body["unpriced_events"].as_u64()
        ),
        (Some(3), Some(1)),
        "{}",
        sum.body
    );
}

#[tokio::test]
async fn costs_left_out_are_computed_from_the_catalog_and_marked_up() {
    let s = start().await;
    let t = org_with_ingest_token(&s, "acme").await; // markup 1.25
    let e = event(
        "priced",
        json!({"model_name": "claude-sonnet-4-5", "tokens_in": 10_000, "cached_tokens_in": 2_000, "cache_write_tokens_in": 1_000,
               "tokens_out": 3_333, "actual_api_cost": null}),
    );
    let sent = event(
        "client-cost",
        json!({"actual_api_cost": 0.123456789, "total_cost": "1"}),
    );
    let a = s.events(&t, &[e, sent]).await;
    assert_eq!(a.body["accepted"], 2, "{}", a.body);
    let stored = s.store.events("acme").await.unwrap();
    let p = stored.iter().find(|e| e.event_id == "priced").unwrap();
    // (7,000 × $3 + 2,000 × $0.30 + 1,000 × $3.75 + 3,333 × $15) / 10⁶ = $0.075345
    assert_eq!(p.actual_api_cost, 75_345_000);
    assert_eq!(p.total_cost, 94_181_250);
    assert_eq!(
        p.provider.as_deref(),
        Some("openai"),
        "the key's provider wins over the model's"
    );
    let c = stored.iter().find(|e| e.event_id == "client-cost").unwrap();
    assert_eq!(
        (c.actual_api_cost, c.total_cost),
        (123_456_789, 1_000_000_000)
    );
}
