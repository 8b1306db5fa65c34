//! Hostile input over a real socket: nothing makes the server answer 5xx,
//! every refusal is a documented error, and nothing already stored changes.

mod common;

use common::{event, ADMIN};
use proptest::prelude::*;
use serde_json::{json, Value};

async fn summary(s: &common::TestServer) -> Value {
    s.get(ADMIN, "/v1/orgs/acme/summary?from=2026-11-01&to=2026-12-01")
        .await
        .body
}

async fn raw(s: &common::TestServer, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    let a = s
        .send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(ADMIN)
                .header("content-type", content_type)
                .body(body),
        )
        .await;
    (a.status, a.body)
}

#[tokio::test]
async fn hostile_bodies_get_documented_errors_and_change_nothing() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    assert_eq!(
        s.events(ADMIN, &[event("keep", json!({"organization_id": "acme"}))])
            .await
            .status,
        200
    );
    let before = summary(&s).await;

    // Deeply nested JSON, invalid UTF-8, a body over the limit: refused whole.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let (status, body) = raw(&s, deep, "application/json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
    let (status, body) = raw(&s, vec![b'[', 0xff, 0xfe, b']'], "application/json").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
    let (status, body) = raw(&s, vec![b' '; 11 * 1024 * 1024], "application/json").await;
    assert_eq!(status, 413, "{body}");
    let (status, _) = raw(&s, b"\xff\xfe\n{}\n".to_vec(), "application/x-ndjson").await;
    assert!(status == 200 || status == 400, "{status}");

    // Each bad event is refused with its code and field; the good one in the same request is kept.
    let bad = [
        ("tokens_in", json!(1e30), "invalid_field"),
        ("tokens_in", json!(-5), "invalid_field"),
        ("tokens_out", json!("12"), "invalid_field"),
        ("actual_api_cost", json!("NaN"), "invalid_field"),
        ("actual_api_cost", json!("Infinity"), "invalid_field"),
        ("actual_api_cost", json!("1e400"), "invalid_field"),
        ("actual_api_cost", json!(0.0000000001), "invalid_field"),
        (
            "occurred_at",
            json!("2999-01-01T00:00:00Z"),
            "timestamp_out_of_range",
        ),
        (
            "occurred_at",
            json!("1999-12-31T23:59:59Z"),
            "timestamp_out_of_range",
        ),
        ("user_id", json!("x".repeat(129)), "invalid_field"),
        ("event_id", json!(""), "invalid_field"),
        ("model_name", json!({"name": "gpt-4o"}), "invalid_field"),
    ];
    let mut events: Vec<Value> = bad
        .iter()
        .enumerate()
        .map(|(i, (field, value, _))| {
            event(
                &format!("bad{i}"),
                json!({"organization_id": "acme", *field: value}),
            )
        })
        .collect();
    events.push(event(
        "fine",
        json!({"organization_id": "acme", "occurred_at": "2026-11-21T00:00:00Z"}),
    ));
    let a = s.events(ADMIN, &events).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["rejected"].as_u64()),
        (Some(1), Some(bad.len() as u64)),
        "{}",
        a.body
    );
    for (i, (field, _, code)) in bad.iter().enumerate() {
        let e = &a.body["errors"][i];
        assert_eq!(
            (e["index"].as_u64(), e["code"].as_str()),
            (Some(i as u64), Some(*code)),
            "{e}"
        );
        if *code == "invalid_field" {
            assert_eq!(e["field"], *field, "{e}");
        }
    }
    let after = summary(&s).await;
    assert_eq!(after["messages"], before["messages"].as_u64().unwrap() + 1);
    assert_eq!(s.store.events("acme").await.unwrap().len(), 2);

    // Ids with control characters are refused (schemathesis found one taken).
    let odd = s
        .post(ADMIN, "/v1/orgs", &json!({"id": "\u{15}x", "name": "Odd"}))
        .await;
    assert_eq!(
        (odd.status, odd.body["error"]["code"].as_str()),
        (400, Some("invalid_field")),
        "{}",
        odd.body
    );

    // 10,000 distinct models in one request: all taken, all listed.
    let many: Vec<Value> = (0..10_000)
        .map(|i| event(&format!("m{i}"), json!({"organization_id": "acme", "model_name": format!("model-{i}"), "actual_api_cost": null})))
        .collect();
    let a = s.events(ADMIN, &many).await;
    assert_eq!(a.body["accepted"], 10_000, "{}", a.body["errors"][0]);
    let models = s
        .get(
            ADMIN,
            "/v1/orgs/acme/models?from=2026-11-01&to=2026-12-01&format=json",
        )
        .await
        .body;
    assert_eq!(
        models.as_array().map(Vec::len),
        Some(10_001),
        "the catalog model and 10,000 new ones"
    );
    let sum = summary(&s).await;
    assert_eq!(sum["unpriced_events"], 10_000);
}

const ROUTES: [&str; 8] = [
    "/v1/orgs/acme/summary",
    "/v1/orgs/acme/users",
    "/v1/orgs/acme/timeseries",
    "/v1/orgs/acme/breakdown",
    "/v1/orgs/acme/api-keys",
    "/v1/orgs/acme/messages",
    "/v1/orgs/acme/users/alice",
    "/v1/platform/organizations",
];

const PARAMS: [&str; 14] = [
    "from",
    "to",
    "period",
    "sort",
    "order",
    "limit",
    "cursor",
    "format",
    "bucket",
    "group_by",
    "user_id",
    "model",
    "q",
    "api_key_id",
];

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(PARAMS.to_vec()),
            prop_oneof![
                "[0-9]{4}-[0-9]{2}-[0-9]{2}",
                "-?[0-9]{1,25}",
                "[a-z_,]{0,20}",
                ".{0,30}",
                Just("_none".to_owned()),
                Just("last_30d".to_owned()),
            ],
        ),
        0..5,
    )
    .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap())
}

#[test]
fn no_query_string_makes_an_analytics_route_fail() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s = runtime.block_on(async {
        let s = common::start().await;
        s.org("acme", "Asia/Kolkata", "1").await;
        s.events(ADMIN, &[event("q1", json!({"organization_id": "acme"}))])
            .await;
        s
    });
    proptest!(ProptestConfig { cases: 300, ..ProptestConfig::default() }, |(route in prop::sample::select(ROUTES.to_vec()), q in query())| {
        let a = runtime.block_on(s.get(ADMIN, &format!("{route}?{q}")));
        prop_assert!(a.status < 500, "{route}?{q} → {} {}", a.status, a.body);
        if a.status >= 400 {
            prop_assert!(a.body["error"]["code"].is_string() && a.body["error"]["message"].is_string(), "{route}?{q} → {}", a.body);
        }
    });
}
