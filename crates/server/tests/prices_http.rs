//! Negotiated prices: set by the platform admin, in force from their date,
//! audited; the catalog and the unpriced models seen are listed.

mod common;

use common::{event, start, ADMIN};
use serde_json::json;
use spendlens_domain::Catalog;

#[tokio::test]
async fn a_negotiated_price_prices_events_from_its_date_on() {
    let s = start().await;
    s.org("acme", "UTC", "1.5").await;
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let admin = s
        .token(
            ADMIN,
            json!({"role": "org_admin", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    let body =
        json!({"input_per_mtok": "1.00", "output_per_mtok": 2, "effective_from": "2026-11-10"});
    assert_eq!(
        s.put(&admin, "/v1/orgs/acme/prices/gpt-4o", &body)
            .await
            .status,
        403,
        "org admins do not set prices"
    );
    let a = s.put(ADMIN, "/v1/orgs/acme/prices/gpt-4o", &body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["input_per_mtok"], "1.000000000");
    assert_eq!(a.body["effective_from"], "2026-11-10T00:00:00Z");
    let bad = s.put(ADMIN, "/v1/orgs/acme/prices/gpt-4o", &json!({"input_per_mtok": "1.0000000001", "output_per_mtok": 2, "effective_from": "2026-11-10"})).await;
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("invalid_field")),
        "{}",
        bad.body
    );

    let evs = vec![
        event(
            "before",
            json!({"occurred_at": "2026-11-05T12:00:00Z", "actual_api_cost": null, "conversation_id": "c1"}),
        ),
        event(
            "after",
            json!({"occurred_at": "2026-11-20T12:00:00Z", "actual_api_cost": null, "conversation_id": "c2"}),
        ),
        event(
            "mystery",
            json!({"model_name": "in-house-7b", "actual_api_cost": null, "conversation_id": "c3"}),
        ),
    ];
    assert_eq!(s.events(&ingest, &evs).await.body["accepted"], 3);
    let stored = s.store.events("acme").await.unwrap();
    let get = |id: &str| stored.iter().find(|e| e.event_id == id).unwrap().clone();
    // (1,000 × $1 + 500 × $2) / 10⁶ = $0.002, × 1.5
    assert_eq!(
        (get("after").actual_api_cost, get("after").total_cost),
        (2_000_000, 3_000_000)
    );
    let at = "2026-11-05T12:00:00Z".parse().unwrap();
    let catalog = Catalog::builtin()
        .lookup("gpt-4o", at)
        .unwrap()
        .price
        .cost(1000, 0, 0, 500)
        .0;
    assert_eq!(get("before").actual_api_cost, catalog);
    assert_ne!(catalog, 2_000_000);

    let list = s.get(ADMIN, "/v1/prices").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["model"] == "claude-sonnet-4-5"));
    assert_eq!(list.body["negotiated"][0]["model"], "gpt-4o");
    assert_eq!(
        list.body["unpriced_models"],
        json!([{"organization_id": "acme", "model": "in-house-7b", "unpriced_events": 1}])
    );
    assert_eq!(s.get(&admin, "/v1/prices").await.status, 200);
    let member = s
        .put(
            ADMIN,
            "/v1/orgs/acme/members/bob",
            &json!({"role": "member"}),
        )
        .await;
    assert_eq!(member.status, 200);
    let bob = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    assert_eq!(s.get(&bob, "/v1/prices").await.status, 403);

    // Removed: the catalog prices new events again; the change is audited.
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/prices/gpt-4o").await.status,
        204
    );
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/prices/gpt-4o").await.status,
        404
    );
    let later = event(
        "later",
        json!({"occurred_at": "2026-11-21T12:00:00Z", "actual_api_cost": null, "conversation_id": "c4"}),
    );
    assert_eq!(s.events(&ingest, &[later]).await.body["accepted"], 1);
    let stored = s.store.events("acme").await.unwrap();
    let later = stored.iter().find(|e| e.event_id == "later").unwrap();
    let at = "2026-11-21T12:00:00Z".parse().unwrap();
    assert_eq!(
        later.actual_api_cost,
        Catalog::builtin()
            .lookup("gpt-4o", at)
            .unwrap()
            .price
            .cost(1000, 0, 0, 500)
            .0
    );
    let audit = s.get(ADMIN, "/v1/orgs/acme/audit").await.body.to_string();
    assert!(
        audit.contains("price.put") && audit.contains("price.delete"),
        "{audit}"
    );
}
