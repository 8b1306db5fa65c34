//! Erasure: the person is gone from every answer, every figure stays.

mod common;

use common::{event, ADMIN};
use serde_json::json;

#[tokio::test]
async fn an_erased_person_leaves_their_amounts_and_nothing_else() {
    let s = common::start().await;
    s.org("acme", "UTC", "1.2").await;
    let events = [
        event(
            "a1",
            json!({"organization_id": "acme", "conversation_id": "ca", "conversation_title": "Alice's secret plan", "user_email": "alice@example.com"}),
        ),
        event(
            "a2",
            json!({"organization_id": "acme", "conversation_id": "ca", "actual_api_cost": "0.3"}),
        ),
        event(
            "a3",
            json!({"organization_id": "acme", "conversation_id": "cb", "actual_api_cost": "0.07"}),
        ),
        event(
            "b1",
            json!({"organization_id": "acme", "user_id": "bob", "conversation_id": "cc", "actual_api_cost": "1"}),
        ),
    ];
    assert_eq!(s.events(ADMIN, &events).await.body["accepted"], 4);
    let range = "from=2026-11-01&to=2026-12-01";
    let summary_path = format!("/v1/orgs/acme/summary?{range}");
    let before = s.get(ADMIN, &summary_path).await.body;
    let users_before = s
        .get(ADMIN, &format!("/v1/orgs/acme/users?{range}"))
        .await
        .body;

    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    assert_eq!(
        s.delete(&member, "/v1/orgs/acme/users/alice/data")
            .await
            .status,
        403
    );
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/users/nobody/data")
            .await
            .status,
        404
    );
    let erased = s.delete(ADMIN, "/v1/orgs/acme/users/alice/data").await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(
        (
            erased.body["events"].as_u64(),
            erased.body["conversations"].as_u64()
        ),
        (Some(3), Some(2))
    );
    let pseudonym = erased.body["pseudonym"].as_str().unwrap().to_owned();
    assert!(pseudonym.starts_with("erased-"));

    // Every figure is the same, distinct users and conversations included.
    let after = s.get(ADMIN, &summary_path).await.body;
    for f in [
        "total_cost",
        "actual_api_cost",
        "messages",
        "active_users",
        "conversations",
        "tokens_in",
    ] {
        assert_eq!(after[f], before[f], "{f}");
    }
    let users_after = s
        .get(ADMIN, &format!("/v1/orgs/acme/users?{range}"))
        .await
        .body;
    let cost_of = |list: &serde_json::Value, id: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user_id"] == id)
            .map(|u| u["total_cost"].clone())
    };
    assert_eq!(
        cost_of(&users_after, &pseudonym),
        cost_of(&users_before, "alice")
    );
    assert_eq!(cost_of(&users_after, "alice"), None);

    // Nothing names her any more: pages, members, messages, conversations, audit.
    assert_eq!(s.get(ADMIN, "/v1/orgs/acme/users/alice").await.status, 404);
    let everything = [
        s.get(ADMIN, &format!("/v1/orgs/acme/users?{range}"))
            .await
            .body,
        s.get(ADMIN, "/v1/orgs/acme/members").await.body,
        s.get(
            ADMIN,
            &format!("/v1/orgs/acme/messages?{range}&format=json"),
        )
        .await
        .body,
        s.get(
            ADMIN,
            &format!("/v1/orgs/acme/users/{pseudonym}/conversations?{range}"),
        )
        .await
        .body,
        s.get(ADMIN, "/v1/orgs/acme/audit").await.body,
    ]
    .map(|b| b.to_string());
    for (i, text) in everything.iter().enumerate() {
        for needle in ["\"alice\"", "alice@example.com", "secret plan"] {
            assert!(
                !text.contains(needle),
                "answer {i} still holds {needle}: {text}"
            );
        }
    }
    assert!(everything[2].contains(&pseudonym));
    // The aggregates still agree with the detail.
    let from = spendlens_domain::time::Day::parse("2026-11-01").unwrap();
    assert_eq!(s.store.verify("acme", from).await.unwrap(), vec![]);
}
