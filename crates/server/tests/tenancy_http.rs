//! A cross-tenant matrix: every read endpoint × every role × another
//! organisation's, team's and person's ids → 403 or 404, never a byte of it.

mod common;

use common::{event, start, TestServer, ADMIN};
use serde_json::json;

/// Two organisations with recognisable data: globex's figures and names must never leak.
async fn world(s: &TestServer) -> Vec<(&'static str, String)> {
    s.org("acme", "UTC", "1").await;
    s.org("globex", "UTC", "1").await;
    s.post(
        ADMIN,
        "/v1/orgs/acme/teams",
        &json!({"id": "web", "name": "Web"}),
    )
    .await;
    s.post(
        ADMIN,
        "/v1/orgs/globex/teams",
        &json!({"id": "secret-team", "name": "Secret Team"}),
    )
    .await;
    for (org, user, role, team) in [
        ("acme", "alice", "org_admin", "core"),
        ("acme", "lena", "team_lead", "web"),
        ("acme", "bob", "member", "web"),
        ("globex", "gina", "member", "secret-team"),
    ] {
        let a = s
            .put(
                ADMIN,
                &format!("/v1/orgs/{org}/members/{user}"),
                &json!({"role": role, "team_id": team}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let g = s
        .token(
            ADMIN,
            json!({"role": "ingest", "organization_id": "globex"}),
        )
        .await;
    let e = event(
        "g1",
        json!({"user_id": "gina", "conversation_id": "globex-conv", "team_id": "secret-team", "actual_api_cost": "777.777777777", "conversation_title": "GLOBEX-SECRET"}),
    );
    assert_eq!(s.events(&g, &[e]).await.body["accepted"], 1);
    let a = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let e = event(
        "a1",
        json!({"user_id": "bob", "conversation_id": "bob-conv", "team_id": "web"}),
    );
    assert_eq!(s.events(&a, &[e]).await.body["accepted"], 1);
    vec![
        (
            "org_admin",
            s.token(
                ADMIN,
                json!({"role": "org_admin", "organization_id": "acme", "user_id": "alice"}),
            )
            .await,
        ),
        (
            "team_lead",
            s.token(
                ADMIN,
                json!({"role": "team_lead", "organization_id": "acme", "user_id": "lena"}),
            )
            .await,
        ),
        (
            "member",
            s.token(
                ADMIN,
                json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
            )
            .await,
        ),
        ("ingest", a),
    ]
}

const FOREIGN: &[&str] = &[
    "/v1/orgs/globex",
    "/v1/orgs/globex/summary",
    "/v1/orgs/globex/timeseries",
    "/v1/orgs/globex/users",
    "/v1/orgs/globex/users/gina",
    "/v1/orgs/globex/users/gina/conversations",
    "/v1/orgs/globex/conversations/globex-conv",
    "/v1/orgs/globex/api-keys",
    "/v1/orgs/globex/api-keys/key-prod",
    "/v1/orgs/globex/models",
    "/v1/orgs/globex/teams",
    "/v1/orgs/globex/teams/secret-team",
    "/v1/orgs/globex/departments",
    "/v1/orgs/globex/departments/Engineering",
    "/v1/orgs/globex/breakdown?group_by=user",
    "/v1/orgs/globex/messages",
    "/v1/orgs/globex/messages?format=csv",
    "/v1/orgs/globex/members",
    "/v1/orgs/globex/members/gina",
    "/v1/orgs/globex/audit",
    "/v1/platform/summary",
    "/v1/platform/organizations",
    "/v1/quarantine",
    "/v1/audit",
    "/v1/tokens?organization_id=globex",
    "/v1/me?org=globex",
    // Inside acme, ids that belong to globex.
    "/v1/orgs/acme/users/gina",
    "/v1/orgs/acme/users/gina/conversations",
    "/v1/orgs/acme/conversations/globex-conv",
    "/v1/orgs/acme/teams/secret-team",
];

#[tokio::test]
async fn no_role_reaches_another_organisation() {
    let s = start().await;
    let tokens = world(&s).await;
    for (role, token) in &tokens {
        for path in FOREIGN {
            let a = s.get(token, path).await;
            assert!(
                matches!(a.status, 403 | 404),
                "{role} GET {path} → {} {}",
                a.status,
                a.body
            );
            let body = a.body.to_string();
            for secret in [
                "777.77",
                "GLOBEX-SECRET",
                "gina",
                "Secret Team",
                "Org globex",
            ] {
                // The path's own ids may be echoed in a 404 message; figures and names may not.
                if path.contains(secret) {
                    continue;
                }
                assert!(
                    !body.contains(secret),
                    "{role} GET {path} leaked {secret}: {body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn inside_the_organisation_scope_is_enforced() {
    let s = start().await;
    let tokens = world(&s).await;
    let t = |role: &str| tokens.iter().find(|(r, _)| *r == role).unwrap().1.clone();
    // Team lead: own team and its people; not the org-wide lists, not other teams.
    let lead = t("team_lead");
    assert_eq!(s.get(&lead, "/v1/orgs/acme/teams/web").await.status, 200);
    assert_eq!(s.get(&lead, "/v1/orgs/acme/users/bob").await.status, 200);
    assert_eq!(s.get(&lead, "/v1/orgs/acme/teams/core").await.status, 403);
    assert_eq!(s.get(&lead, "/v1/orgs/acme/users/alice").await.status, 403);
    assert_eq!(s.get(&lead, "/v1/orgs/acme/summary").await.status, 403);
    // Member: only themselves.
    let bob = t("member");
    assert_eq!(s.get(&bob, "/v1/me").await.status, 200);
    assert_eq!(
        s.get(&bob, "/v1/orgs/acme/conversations/bob-conv")
            .await
            .status,
        200
    );
    assert_eq!(s.get(&bob, "/v1/orgs/acme/teams/web").await.status, 403);
    assert_eq!(s.get(&bob, "/v1/orgs/acme/users/lena").await.status, 403);
    assert_eq!(s.get(&bob, "/v1/orgs/acme/messages").await.status, 403);
    // Ingest: nothing to read.
    let ingest = t("ingest");
    for path in [
        "/v1/orgs/acme/summary",
        "/v1/orgs/acme/users/bob",
        "/v1/orgs/acme/teams/web",
        "/v1/me",
        "/v1/orgs/acme/messages",
    ] {
        assert_eq!(s.get(&ingest, path).await.status, 403, "{path}");
    }
    // A revoked token is refused everywhere.
    let id = s.get(ADMIN, "/v1/tokens?organization_id=acme").await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user_id"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.delete(ADMIN, &format!("/v1/tokens/{id}")).await.status,
        204
    );
    assert_eq!(
        s.get(&t("org_admin"), "/v1/orgs/acme/summary").await.status,
        401
    );
}
