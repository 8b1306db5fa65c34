//! One person's page, /me, conversations and messages, and who may see them.

mod common;

use common::{event, start, TestServer, ADMIN};
use serde_json::json;

const RANGE: &str = "from=2026-11-01&to=2026-12-01";

/// acme (markup 1.25): alice (team core) and bob (team web) and four others;
/// alice has one conversation of three messages on two models.
async fn world(s: &TestServer, others: usize) -> (String, String, String) {
    s.org("acme", "UTC", "1.25").await;
    s.org("globex", "UTC", "1").await;
    s.post(
        ADMIN,
        "/v1/orgs/acme/teams",
        &json!({"id": "web", "name": "Web"}),
    )
    .await;
    s.put(
        ADMIN,
        "/v1/orgs/acme/members/alice",
        &json!({"role": "member", "team_id": "core", "email": "alice@acme.test"}),
    )
    .await;
    s.put(
        ADMIN,
        "/v1/orgs/acme/members/bob",
        &json!({"role": "member", "team_id": "web"}),
    )
    .await;
    s.put(
        ADMIN,
        "/v1/orgs/acme/members/lena",
        &json!({"role": "team_lead", "team_id": "web"}),
    )
    .await;
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let mut evs = vec![
        event(
            "a1",
            json!({"conversation_id": "conv-a", "occurred_at": "2026-11-03T10:00:00Z", "conversation_title": "Fix the build"}),
        ),
        event(
            "a2",
            json!({"conversation_id": "conv-a", "occurred_at": "2026-11-03T10:05:00Z", "model_name": "gpt-4o-mini"}),
        ),
        event(
            "a3",
            json!({"conversation_id": "conv-a", "occurred_at": "2026-11-04T09:00:00Z"}),
        ),
        event(
            "b1",
            json!({"user_id": "bob", "conversation_id": "conv-b", "actual_api_cost": "0.050000000"}),
        ),
    ];
    for i in 0..others {
        evs.push(event(
            &format!("o{i}"),
            json!({"user_id": format!("other{i}"), "conversation_id": format!("conv-o{i}")}),
        ));
    }
    assert_eq!(s.events(&ingest, &evs).await.body["rejected"], 0);
    let alice = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    let bob = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    let lena = s
        .token(
            ADMIN,
            json!({"role": "team_lead", "organization_id": "acme", "user_id": "lena"}),
        )
        .await;
    (alice, bob, lena)
}

#[tokio::test]
async fn a_member_sees_their_figures_and_the_org_average_but_no_provider_cost() {
    let s = start().await;
    let (alice, _, _) = world(&s, 4).await;
    let me = s.get(&alice, &format!("/v1/me?{RANGE}")).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let b = &me.body;
    // 3 × $0.01 × 1.25
    assert_eq!(b["total_cost"], "0.037500000");
    assert!(
        b["actual_api_cost"].is_null() && b["profit"].is_null() && b["margin"].is_null(),
        "{b}"
    );
    assert_eq!(
        (b["messages"].as_u64(), b["conversations"].as_u64()),
        (Some(3), Some(1))
    );
    // Org: alice 0.0375 + bob 0.0625 + 4 × 0.0125 = 0.15 over 6 active users = 0.025.
    let c = &b["comparison"];
    assert_eq!(c["my_cost"], "0.037500000");
    assert_eq!(c["org_avg_cost_per_active_user"], "0.025000000");
    assert_eq!(c["ratio_to_avg"], 1.5);
    assert_eq!(c["percent_vs_avg"], 50.0);
    let models: Vec<(&str, f64)> = b["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["model"].as_str().unwrap(), m["share"].as_f64().unwrap()))
        .collect();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].0, "gpt-4o");
    assert!((models[0].1 - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(b["trend"].as_array().unwrap().len(), 30);
    assert_eq!(
        b["trend"][2],
        json!({"date": "2026-11-03", "total_cost": "0.025000000", "messages": 2})
    );
    // The same page by its path.
    let page = s
        .get(&alice, &format!("/v1/orgs/acme/users/alice?{RANGE}"))
        .await;
    assert_eq!(page.body, me.body);
}

#[tokio::test]
async fn the_average_is_withheld_from_members_below_five_active_users() {
    let s = start().await;
    let (alice, _, _) = world(&s, 1).await;
    let me = s.get(&alice, &format!("/v1/me?{RANGE}")).await;
    assert!(
        me.body["comparison"]["org_avg_cost_per_active_user"].is_null(),
        "{}",
        me.body
    );
    assert!(me.body["comparison"]["ratio_to_avg"].is_null());
    // An org admin still sees it.
    let admin = s
        .get(ADMIN, &format!("/v1/orgs/acme/users/alice?{RANGE}"))
        .await;
    assert_eq!(
        admin.body["comparison"]["org_avg_cost_per_active_user"],
        "0.037500000"
    );
    assert_eq!(admin.body["actual_api_cost"], "0.030000000");
}

#[tokio::test]
async fn people_see_only_whom_their_role_allows() {
    let s = start().await;
    let (alice, bob, lena) = world(&s, 4).await;
    assert_eq!(s.get(&alice, "/v1/orgs/acme/users/bob").await.status, 403);
    assert_eq!(
        s.get(&alice, "/v1/orgs/acme/users/bob/conversations")
            .await
            .status,
        403
    );
    assert_eq!(
        s.get(&bob, "/v1/orgs/acme/conversations/conv-a")
            .await
            .status,
        403
    );
    assert_eq!(
        s.get(&alice, "/v1/orgs/globex/users/alice").await.status,
        404
    );
    // A member cannot tell an unknown id from a colleague's.
    assert_eq!(
        s.get(&alice, "/v1/orgs/acme/users/nobody-at-all")
            .await
            .status,
        403
    );
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/users/nobody-at-all")
            .await
            .status,
        404
    );
    let unknown = s.get(ADMIN, "/v1/no/such/route").await;
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    // The lead of team web sees bob (web), not alice (core).
    assert_eq!(s.get(&lena, "/v1/orgs/acme/users/bob").await.status, 200);
    assert_eq!(
        s.get(&lena, "/v1/orgs/acme/conversations/conv-b")
            .await
            .status,
        200
    );
    assert_eq!(s.get(&lena, "/v1/orgs/acme/users/alice").await.status, 403);
    assert_eq!(
        s.get(&lena, "/v1/orgs/acme/conversations/conv-a")
            .await
            .status,
        403
    );
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    assert_eq!(
        s.get(&ingest, "/v1/orgs/acme/users/alice").await.status,
        403
    );
    assert_eq!(s.get(&ingest, "/v1/me").await.status, 403);
    let forbidden = s.get(&bob, "/v1/orgs/acme/users/alice").await;
    assert!(
        !forbidden.body.to_string().contains("0.0375"),
        "no figure leaks: {}",
        forbidden.body
    );
}

#[tokio::test]
async fn conversations_and_their_messages() {
    let s = start().await;
    let (alice, _, _) = world(&s, 4).await;
    let list = s
        .get(
            &alice,
            &format!("/v1/orgs/acme/users/alice/conversations?{RANGE}"),
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let c = &list.body["data"][0];
    assert_eq!(c["conversation_id"], "conv-a");
    assert_eq!(c["title"], "Fix the build");
    assert_eq!(
        (c["messages"].as_u64(), c["total_cost"].as_str()),
        (Some(3), Some("0.037500000"))
    );
    assert_eq!(c["models"], json!(["gpt-4o", "gpt-4o-mini"]));
    assert_eq!(c["started_at"], "2026-11-03T10:00:00Z");
    // Only the part inside the period counts.
    let one_day = s
        .get(
            &alice,
            "/v1/orgs/acme/users/alice/conversations?from=2026-11-04&to=2026-11-05",
        )
        .await;
    assert_eq!(one_day.body["data"][0]["messages"], 1);
    let none = s
        .get(
            &alice,
            "/v1/orgs/acme/users/alice/conversations?from=2026-10-01&to=2026-10-05",
        )
        .await;
    assert_eq!(none.body["data"], json!([]));

    let conv = s.get(&alice, "/v1/orgs/acme/conversations/conv-a").await;
    assert_eq!(conv.status, 200, "{}", conv.body);
    let ids: Vec<&str> = conv.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["a1", "a2", "a3"]);
    assert_eq!(conv.body["total_cost"], "0.037500000");
    assert!(
        conv.body["actual_api_cost"].is_null()
            && conv.body["messages"][0]["actual_api_cost"].is_null()
    );
    let admin = s.get(ADMIN, "/v1/orgs/acme/conversations/conv-a").await;
    assert_eq!(admin.body["actual_api_cost"], "0.030000000");
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/conversations/nope")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_users_list_shows_the_department_events_get() {
    let s = start().await;
    world(&s, 0).await;
    // core's department is Engineering (common::org); alice has none of her own.
    let a = s.get(ADMIN, &format!("/v1/orgs/acme/users?{RANGE}")).await;
    let alice = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["department"], "Engineering", "{alice}");
    let stored = s.store.events("acme").await.unwrap();
    assert!(stored
        .iter()
        .filter(|e| e.user_id == "alice")
        .all(|e| e.department.as_deref() == Some("Engineering")));
}
