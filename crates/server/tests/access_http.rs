//! Tokens and who may do what (API.md §1, §5), tried from the outside.

mod common;

use common::{event, start, ADMIN};
use serde_json::json;
use spendlens_server::auth::hash_secret;
use spendlens_store::model::{NewToken, Role};

#[tokio::test]
async fn no_bad_revoked_or_expired_token_is_401() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    let a = s.send(s.http.get(s.url("/v1/orgs/acme"))).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.headers.get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(s.get("sl_not-a-token", "/v1/orgs/acme").await.status, 401);
    assert_eq!(
        s.send(
            s.http
                .get(s.url("/v1/orgs/acme"))
                .header("authorization", format!("Basic {ADMIN}"))
        )
        .await
        .status,
        401
    );

    let secret = s
        .token(
            ADMIN,
            json!({"role": "org_admin", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    assert_eq!(s.get(&secret, "/v1/orgs/acme").await.status, 200);
    let id = s.get(ADMIN, "/v1/tokens").await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.delete(ADMIN, &format!("/v1/tokens/{id}")).await.status,
        204
    );
    assert_eq!(s.get(&secret, "/v1/orgs/acme").await.status, 401);

    let expired = "sl_expired-secret";
    s.store
        .create_token(
            NewToken {
                id: "tok_expired".into(),
                secret_hash: hash_secret(expired),
                role: Role::PlatformAdmin,
                organization_id: None,
                team_id: None,
                user_id: None,
                name: None,
                expires_at: Some(jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1)),
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(s.get(expired, "/v1/orgs").await.status, 401);
}

#[tokio::test]
async fn secrets_are_shown_once_and_stored_only_as_hashes() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    let secret = s
        .token(
            ADMIN,
            json!({"role": "ingest", "organization_id": "acme", "name": "ide"}),
        )
        .await;
    assert!(secret.starts_with("sl_") && secret.len() > 60, "{secret}");
    let list = s.get(ADMIN, "/v1/tokens").await;
    assert!(!list.body.to_string().contains(&secret));
    assert_eq!(list.body["data"][0]["name"], "ide");
    assert!(s
        .store
        .find_token(&hash_secret(&secret))
        .await
        .unwrap()
        .is_some());
    // Nothing on disk holds the secret itself.
    let a = s.events(&secret, &[event("e1", json!({}))]).await;
    assert_eq!(a.body["accepted"], 1);
    for entry in std::fs::read_dir(s.db_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

#[tokio::test]
async fn roles_see_only_their_own() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    s.org("globex", "UTC", "1").await;
    let put = s
        .put(
            ADMIN,
            "/v1/orgs/acme/members/bob",
            &json!({"role": "member", "team_id": "core"}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let admin = s
        .token(
            ADMIN,
            json!({"role": "org_admin", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;

    // Another organisation: 404, whoever asks short of the platform admin.
    assert_eq!(s.get(&admin, "/v1/orgs/globex").await.status, 404);
    assert_eq!(s.get(&admin, "/v1/orgs/globex/summary").await.status, 404);
    assert_eq!(s.get(&member, "/v1/orgs/globex").await.status, 404);
    // Own organisation outside one's role: 403.
    assert_eq!(s.get(&admin, "/v1/orgs/acme").await.status, 200);
    assert_eq!(s.get(&member, "/v1/orgs/acme/summary").await.status, 403);
    assert_eq!(s.get(&ingest, "/v1/orgs/acme/summary").await.status, 403);
    assert_eq!(
        s.post(&admin, "/v1/orgs", &json!({"name": "Mine"}))
            .await
            .status,
        403
    );
    // Only ingest tokens and platform admins send events.
    assert_eq!(
        s.events(&member, &[event("x", json!({}))]).await.status,
        403
    );
    assert_eq!(s.events(&admin, &[event("x", json!({}))]).await.status, 403);
    assert_eq!(
        s.events(&ingest, &[event("x", json!({}))]).await.status,
        200
    );
    // Markup is the platform admin's.
    let patch = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme"))
                .bearer_auth(&admin)
                .json(&json!({"markup": "3"})),
        )
        .await;
    assert_eq!(patch.status, 403, "{}", patch.body);
}

#[tokio::test]
async fn tokens_may_not_exceed_the_membership_or_leave_the_org() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    s.org("globex", "UTC", "1").await;
    s.put(
        ADMIN,
        "/v1/orgs/acme/members/bob",
        &json!({"role": "member"}),
    )
    .await;
    let a = s
        .post(
            ADMIN,
            "/v1/tokens",
            &json!({"role": "org_admin", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"]["parameter"].as_str()),
        (400, Some("role")),
        "{}",
        a.body
    );
    let a = s
        .post(
            ADMIN,
            "/v1/tokens",
            &json!({"role": "member", "organization_id": "acme", "user_id": "nobody"}),
        )
        .await;
    assert_eq!(
        (a.status, a.body["error"]["parameter"].as_str()),
        (400, Some("user_id")),
        "{}",
        a.body
    );
    let a = s
        .post(ADMIN, "/v1/tokens", &json!({"role": "wizard"}))
        .await;
    assert_eq!(
        (a.status, a.body["error"]["parameter"].as_str()),
        (400, Some("role")),
        "{}",
        a.body
    );
    let a = s.post(ADMIN, "/v1/tokens", &json!({"role": "member", "organization_id": "acme", "user_id": "bob", "expires_at": "yesterday"})).await;
    assert_eq!(
        (a.status, a.body["error"]["parameter"].as_str()),
        (400, Some("expires_at")),
        "{}",
        a.body
    );

    let admin = s
        .token(
            ADMIN,
            json!({"role": "org_admin", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    assert_eq!(
        s.post(&admin, "/v1/tokens", &json!({"role": "platform_admin"}))
            .await
            .status,
        403
    );
    assert_eq!(
        s.post(
            &admin,
            "/v1/tokens",
            &json!({"role": "ingest", "organization_id": "globex"})
        )
        .await
        .status,
        404
    );
    let mine = s
        .post(
            &admin,
            "/v1/tokens",
            &json!({"role": "member", "organization_id": "acme", "user_id": "bob"}),
        )
        .await;
    assert_eq!(mine.status, 201, "{}", mine.body);
    let bob = mine.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.get(&bob, "/v1/orgs/globex").await.status, 404);

    // Removing a member revokes their tokens.
    assert_eq!(
        s.delete(&admin, "/v1/orgs/acme/members/bob").await.status,
        204
    );
    assert_eq!(s.get(&bob, "/v1/orgs/acme").await.status, 401);
    // The audit log recorded who did it.
    let audit = s.get(&admin, "/v1/orgs/acme/audit").await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.to_string().contains("bob"), "{}", audit.body);
}

#[tokio::test]
async fn json_bodies_are_read_whatever_the_content_type_says() {
    let s = start().await;
    // As `curl -d` sends them: application/x-www-form-urlencoded.
    let form = |path: &str, body: &str| {
        s.http
            .post(s.url(path))
            .bearer_auth(ADMIN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
    };
    let a = s
        .send(form("/v1/orgs", r#"{"id":"acme","name":"Acme Corp"}"#))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = s
        .send(form(
            "/v1/tokens",
            r#"{"role":"ingest","organization_id":"acme"}"#,
        ))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = s.send(form("/v1/tokens", "role=ingest")).await;
    assert_eq!(
        (a.status, a.body["error"]["code"].as_str()),
        (400, Some("invalid_body")),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn administration_lists_refuse_parameters_they_do_not_take() {
    let s = start().await;
    s.org("acme", "UTC", "1").await;
    for path in [
        "/v1/orgs?limit=1",
        "/v1/orgs/acme/members?limit=1",
        "/v1/audit?bogus=1",
        "/v1/orgs/acme/audit?limit=2",
        "/v1/quarantine?limit=1",
        "/v1/tokens?limit=1",
    ] {
        let a = s.get(ADMIN, path).await;
        assert_eq!(
            (a.status, a.body["error"]["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{path}: {}",
            a.body
        );
    }
    assert_eq!(
        s.get(ADMIN, "/v1/tokens?organization_id=acme").await.status,
        200
    );
}
