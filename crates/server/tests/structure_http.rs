//! Renaming and removing teams and provider keys: names change, figures do not.

mod common;

use common::{event, start, ADMIN};
use serde_json::json;

const RANGE: &str = "from=2026-11-01&to=2026-12-01";

#[tokio::test]
async fn teams_and_keys_are_renamed_and_removed_without_changing_figures() {
    let s = start().await;
    s.org("acme", "UTC", "1").await; // team core, alice in core, key key-prod
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    assert_eq!(
        s.events(&ingest, &[event("e1", json!({"conversation_id": "c1"}))])
            .await
            .body["accepted"],
        1
    );

    let a = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme/teams/core"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": "Core Platform", "department": "R&D"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"team_id": "core", "name": "Core Platform", "department": "R&D"})
    );
    let teams = s.get(ADMIN, &format!("/v1/orgs/acme/teams?{RANGE}")).await;
    assert_eq!(teams.body["data"][0]["name"], "Core Platform");
    let bad = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme/teams/core"))
                .bearer_auth(ADMIN)
                .json(&json!({"colour": "red"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let missing = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme/teams/nope"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(missing.status, 404);

    // Removing the team: alice's later events have no team; her earlier one keeps it.
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/teams/core").await.status,
        204
    );
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/teams/core").await.status,
        404
    );
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/members/alice").await.body["team_id"],
        json!(null)
    );
    assert_eq!(
        s.events(&ingest, &[event("e2", json!({"conversation_id": "c2"}))])
            .await
            .body["accepted"],
        1
    );
    let stored = s.store.events("acme").await.unwrap();
    let team_of = |id: &str| {
        stored
            .iter()
            .find(|e| e.event_id == id)
            .unwrap()
            .team_id
            .clone()
    };
    assert_eq!((team_of("e1"), team_of("e2")), (Some("core".into()), None));
    let by_team = s
        .get(
            ADMIN,
            &format!("/v1/orgs/acme/breakdown?group_by=team&{RANGE}"),
        )
        .await;
    assert_eq!(
        by_team.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        by_team.body
    );

    // Keys: renamed, then removed from administration; their events still count.
    let k = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme/api-keys/key-prod"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": "OpenAI Production"})),
        )
        .await;
    assert_eq!(
        (k.status, k.body["name"].as_str()),
        (200, Some("OpenAI Production")),
        "{}",
        k.body
    );
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/api-keys/key-prod")
            .await
            .status,
        204
    );
    assert!(s
        .store
        .list_api_keys("acme")
        .await
        .unwrap()
        .iter()
        .all(|k| k.api_key_id != "key-prod"));
    let keys = s
        .get(ADMIN, &format!("/v1/orgs/acme/api-keys?{RANGE}"))
        .await;
    assert_eq!(keys.body["data"][0]["api_key_id"], "key-prod");
    assert_eq!(keys.body["data"][0]["messages"], 2);

    // Only administrators; every change is in the audit log.
    s.put(
        ADMIN,
        "/v1/orgs/acme/members/bob",
        &json!({"role": "member"}),
    )
    .await;
    let bob = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    assert_eq!(
        s.send(
            s.http
                .patch(s.url("/v1/orgs/acme/api-keys/key-prod"))
                .bearer_auth(&bob)
                .json(&json!({"name": "x"}))
        )
        .await
        .status,
        403
    );
    let audit = s.get(ADMIN, "/v1/orgs/acme/audit").await.body.to_string();
    for action in [
        "team.update",
        "team.delete",
        "api_key.update",
        "api_key.delete",
    ] {
        assert!(audit.contains(action), "{action} in {audit}");
    }
}
