//! Operations endpoints: `/metrics`, `/healthz`, `/readyz`.

mod common;

use common::{event, ADMIN};
use serde_json::json;

/// The value of one sample line (`name{labels} value`) in the exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_outcomes_by_code_and_time_routes_by_pattern() {
    let s = common::start().await;
    s.org("acme", "UTC", "0").await;
    let batch = vec![
        event("m1", json!({"organization_id": "acme"})),
        event("m2", json!({"organization_id": "acme"})),
        event("m1", json!({"organization_id": "acme"})),
        event("bad", json!({"organization_id": "acme", "user_id": null})),
        event("neg", json!({"organization_id": "acme", "tokens_in": -1})),
    ];
    let a = s.events(ADMIN, &batch).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let summary = s.get(ADMIN, "/v1/orgs/acme/summary?period=last_30d").await;
    assert_eq!(summary.status, 200);
    assert_eq!(s.get(ADMIN, "/v1/orgs/nope/summary").await.status, 404);

    let m = s.send(s.http.get(s.url("/metrics"))).await;
    assert_eq!(m.status, 200);
    let text = m.body.as_str().unwrap();
    assert_eq!(sample(text, "spendlens_events_accepted_total"), Some(2.0));
    assert_eq!(sample(text, "spendlens_events_duplicate_total"), Some(1.0));
    assert_eq!(
        sample(
            text,
            r#"spendlens_events_rejected_total{code="missing_field"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            text,
            r#"spendlens_events_rejected_total{code="invalid_field"}"#
        ),
        Some(1.0)
    );
    assert_eq!(sample(text, "spendlens_ingest_requests_total"), Some(1.0));
    assert_eq!(sample(text, "spendlens_ingest_queue_events"), Some(0.0));
    // A lone client's commit adds its aggregates at once: nothing queued.
    assert_eq!(sample(text, "spendlens_store_queued_cells"), Some(0.0));
    assert_eq!(
        sample(text, "spendlens_store_commit_duration_seconds_count"),
        Some(1.0)
    );
    assert_eq!(sample(text, "spendlens_store_commit_events_sum"), Some(3.0));
    // Routes are labelled by their pattern, so ids never become label values.
    let summary_series = r#"spendlens_http_request_duration_seconds_count{route="/v1/orgs/{org}/summary",method="GET",status="#;
    assert_eq!(
        sample(text, &format!("{summary_series}\"200\"}}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(text, &format!("{summary_series}\"404\"}}")),
        Some(1.0)
    );
    assert!(!text.contains("nope") && !text.contains("acme"), "{text}");
    assert_eq!(
        sample(
            text,
            r#"spendlens_http_request_duration_seconds_count{route="/v1/events",method="POST",status="200"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let s = common::start().await;
    let h = s.send(s.http.get(s.url("/healthz"))).await;
    assert_eq!((h.status, h.body["status"].as_str()), (200, Some("ok")));
    let r = s.send(s.http.get(s.url("/readyz"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["store"], "sqlite");
}

/// `serve`'s background retention deletes old detail; figures stay.
#[tokio::test]
async fn background_retention_deletes_old_detail_and_keeps_figures() {
    let s = common::start_with(
        |s| s,
        spendlens_server::Config {
            admin_token: Some(ADMIN.into()),
            retention_interval: Some(std::time::Duration::from_millis(100)),
            ..spendlens_server::Config::default()
        },
    )
    .await;
    s.org("acme", "UTC", "1").await;
    let patched = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme"))
                .bearer_auth(ADMIN)
                .json(&json!({"retention_days": 30})),
        )
        .await;
    assert_eq!(patched.status, 200);
    let ago = |days: i64| {
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string()
    };
    let events = [
        event(
            "old",
            json!({"organization_id": "acme", "occurred_at": ago(40), "actual_api_cost": "3"}),
        ),
        event(
            "new",
            json!({"organization_id": "acme", "occurred_at": ago(1), "actual_api_cost": "4"}),
        ),
    ];
    assert_eq!(s.events(ADMIN, &events).await.body["accepted"], 2);
    let before = s
        .get(ADMIN, "/v1/orgs/acme/summary?period=last_90d")
        .await
        .body;
    assert_eq!(before["total_cost"], "7.000000000");
    for _ in 0..100 {
        if s.store.events("acme").await.unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let kept = s.store.events("acme").await.unwrap();
    assert_eq!(
        kept.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        ["new"]
    );
    let after = s
        .get(ADMIN, "/v1/orgs/acme/summary?period=last_90d")
        .await
        .body;
    assert_eq!(after["total_cost"], before["total_cost"]);
    assert_eq!(after["messages"], 2);
}
