//! Budgets (API.md §5): validation, status against the raw events, alerts
//! recorded once under concurrency, signed webhooks retried after failures,
//! and the hard-limit check.

mod common;

use common::{event, ADMIN};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Now, so every event falls in the current day, week and month.
fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn spend(id: &str, user: &str, cost: &str) -> Value {
    event(
        id,
        json!({"organization_id": "acme", "occurred_at": now(), "user_id": user,
               "actual_api_cost": cost}),
    )
}

async fn wait_for(mut ready: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if ready().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("condition not reached in 5 s");
}

#[tokio::test]
async fn bad_budgets_are_refused_naming_the_field() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    let cases = [
        (
            json!({"scope": "galaxy", "period": "monthly", "amount": "1"}),
            "scope",
        ),
        (json!({"period": "monthly", "amount": "1"}), "scope"),
        (
            json!({"scope": "team", "period": "monthly", "amount": "1"}),
            "scope_id",
        ),
        (
            json!({"scope": "team", "scope_id": "nope", "period": "monthly", "amount": "1"}),
            "scope_id",
        ),
        (
            json!({"scope": "org", "scope_id": "x", "period": "monthly", "amount": "1"}),
            "scope_id",
        ),
        (
            json!({"scope": "org", "period": "yearly", "amount": "1"}),
            "period",
        ),
        (json!({"scope": "org", "period": "monthly"}), "amount"),
        (
            json!({"scope": "org", "period": "monthly", "amount": "-5"}),
            "amount",
        ),
        (
            json!({"scope": "org", "period": "monthly", "amount": "0"}),
            "amount",
        ),
        (
            json!({"scope": "org", "period": "monthly", "amount": "1.0000000001"}),
            "amount",
        ),
        (
            json!({"scope": "org", "period": "monthly", "amount": "1", "alert_thresholds": [0]}),
            "alert_thresholds",
        ),
        (
            json!({"scope": "org", "period": "monthly", "amount": "1", "alert_thresholds": ["x"]}),
            "alert_thresholds",
        ),
    ];
    for (body, field) in cases {
        let a = s.post(ADMIN, "/v1/orgs/acme/budgets", &body).await;
        assert_eq!(a.status, 400, "{body} → {}", a.body);
        let message = a.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let unknown = s
        .post(
            ADMIN,
            "/v1/orgs/acme/budgets",
            &json!({"scope": "org", "period": "monthly", "amount": "1", "colour": "red"}),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(s.get(ADMIN, "/v1/orgs/acme/budgets").await.body["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn status_follows_the_raw_events_and_access_is_for_admins() {
    let s = common::start().await;
    s.org("acme", "UTC", "2").await;
    let created = s
        .post(
            ADMIN,
            "/v1/orgs/acme/budgets",
            &json!({"id": "alice-month", "scope": "user", "scope_id": "alice", "period": "monthly", "amount": "10"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["state"], "ok");
    assert_eq!(created.body["spent"], "0.000000000");
    assert_eq!(created.body["alert_thresholds"], json!([0.5, 0.8, 1.0]));

    // 1.5 + 1.25 provider cost, charged ×2 = 5.5; bob's spend is not alice's.
    let events = [
        spend("e1", "alice", "1.5"),
        spend("e2", "alice", "1.25"),
        spend("e3", "bob", "100"),
    ];
    assert_eq!(s.events(ADMIN, &events).await.body["accepted"], 3);
    let b = s.get(ADMIN, "/v1/orgs/acme/budgets/alice-month").await.body;
    assert_eq!(b["spent"], "5.500000000", "{b}");
    assert_eq!(b["remaining"], "4.500000000");
    assert_eq!(b["fraction"], 0.55);
    assert_eq!(b["state"], "warning");
    let projected: f64 = b["projected"].as_str().unwrap().parse().unwrap();
    assert!(projected >= 5.5, "{b}");

    // PUT replaces; the list shows it; DELETE removes it.
    let put = s
        .put(ADMIN, "/v1/orgs/acme/budgets/alice-month", &json!({"scope": "user", "scope_id": "alice", "period": "daily", "amount": "5", "hard_limit": true}))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(
        (put.body["state"].as_str(), put.body["hard_limit"].as_bool()),
        (Some("exceeded"), Some(true))
    );
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/budgets").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.post(
            ADMIN,
            "/v1/orgs/acme/budgets",
            &json!({"id": "alice-month", "scope": "org", "period": "daily", "amount": "5"})
        )
        .await
        .status,
        409
    );

    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    assert_eq!(s.get(&member, "/v1/orgs/acme/budgets").await.status, 403);
    assert_eq!(s.get(&member, "/v1/orgs/acme/alerts").await.status, 403);
    assert_eq!(s.get(ADMIN, "/v1/orgs/other/budgets").await.status, 404);
    assert_eq!(
        s.delete(ADMIN, "/v1/orgs/acme/budgets/alice-month")
            .await
            .status,
        204
    );
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/budgets/alice-month")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn each_threshold_is_recorded_once_however_many_cross_it_together() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    let a = s
        .post(
            ADMIN,
            "/v1/orgs/acme/budgets",
            &json!({"id": "org-day", "scope": "org", "period": "daily", "amount": "1"}),
        )
        .await;
    assert_eq!(a.status, 201);
    // Twenty requests at once, each enough to cross every threshold alone.
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let (http, url) = (s.http.clone(), s.url("/v1/events"));
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(ADMIN)
                    .json(&json!([spend(&format!("c{i}"), "alice", "2")]))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for t in sends {
        assert_eq!(t.await.unwrap(), 200);
    }
    // And many evaluations racing each other (as several processes would).
    let evaluations: Vec<_> = (0..10)
        .map(|_| {
            let (store, hooks) = (s.store.clone(), s.webhooks.clone());
            tokio::spawn(async move {
                spendlens_server::budgets::watch::evaluate(store.as_ref(), &hooks, "acme").await
            })
        })
        .collect();
    for e in evaluations {
        e.await.unwrap().unwrap();
    }
    wait_for(async || {
        s.get(ADMIN, "/v1/orgs/acme/alerts").await.body["data"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await; // two more sweeps
    let alerts = s.get(ADMIN, "/v1/orgs/acme/alerts").await.body;
    let thresholds: Vec<f64> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["threshold"].as_f64().unwrap())
        .collect();
    assert_eq!(thresholds.len(), 3, "{alerts}");
    let mut sorted = thresholds.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, [0.5, 0.8, 1.0]);

    // A budget made when the spend is already above its thresholds alerts at once.
    let late = s
        .post(ADMIN, "/v1/orgs/acme/budgets", &json!({"id": "late", "scope": "user", "scope_id": "alice", "period": "weekly", "amount": "20", "alert_thresholds": [0.25, 0.9]}))
        .await;
    assert_eq!(late.status, 201);
    let alerts = s.get(ADMIN, "/v1/orgs/acme/alerts").await.body;
    let late_alerts: Vec<&Value> = alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["budget_id"] == "late")
        .collect();
    assert_eq!(late_alerts.len(), 2, "40 of 20 USD crosses both: {alerts}");
}

struct Receiver {
    url: String,
    calls: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<(String, String, String)>>>,
}

/// A webhook receiver on 127.0.0.1 that fails its first `failures` calls.
async fn receiver(failures: usize) -> Receiver {
    let calls = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (c, b) = (calls.clone(), bodies.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let h = |k: &str| {
                    headers
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                b.lock().unwrap().push((
                    h("x-spendlens-timestamp"),
                    h("x-spendlens-signature"),
                    body,
                ));
                if n < failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, calls, bodies }
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_logged() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    let hook = receiver(2).await;
    let set = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme"))
                .bearer_auth(ADMIN)
                .json(&json!({"webhook_url": hook.url})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let secret = set.body["webhook_secret"]
        .as_str()
        .expect("the secret, shown once")
        .to_owned();
    assert!(s
        .get(ADMIN, "/v1/orgs/acme")
        .await
        .body
        .get("webhook_secret")
        .is_none());
    let audit = s.get(ADMIN, "/v1/orgs/acme/audit").await.body.to_string();
    assert!(!audit.contains(&secret), "the secret is not audited");

    s.post(ADMIN, "/v1/orgs/acme/budgets", &json!({"id": "cap", "scope": "org", "period": "monthly", "amount": "1", "alert_thresholds": [1]}))
        .await;
    assert_eq!(
        s.events(ADMIN, &[spend("big", "alice", "3")]).await.status,
        200
    );
    wait_for(async || hook.calls.load(Ordering::SeqCst) >= 3).await;
    wait_for(async || {
        s.get(ADMIN, "/v1/orgs/acme/webhook/deliveries").await.body["data"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    })
    .await;

    let (timestamp, signature, body) = hook.bodies.lock().unwrap()[2].clone();
    // Verified as a receiver would, with its own HMAC.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    assert_eq!(
        signature,
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    );
    let payload: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(payload["alert"]["budget_id"], "cap");
    assert_eq!(payload["alert"]["spent"], "3.000000000");
    let text = payload["text"].as_str().unwrap();
    assert!(
        text.contains("100%") && text.contains("$3.000000000") && text.contains("$1.000000000"),
        "{text}"
    );

    let log = s.get(ADMIN, "/v1/orgs/acme/webhook/deliveries").await.body;
    let attempts: Vec<(u64, Option<u64>, bool)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|d| {
            (
                d["attempt"].as_u64().unwrap(),
                d["status"].as_u64(),
                d["delivered"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, Some(500), false),
            (2, Some(500), false),
            (3, Some(200), true)
        ]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hook.calls.load(Ordering::SeqCst),
        3,
        "delivered once, not again"
    );
}

#[tokio::test]
async fn private_receivers_are_refused_unless_allowed() {
    let s = common::start_with(
        |s| s,
        spendlens_server::Config {
            admin_token: Some(ADMIN.into()),
            ..spendlens_server::Config::default()
        },
    )
    .await;
    s.org("acme", "UTC", "1").await;
    let hook = receiver(0).await;
    s.send(
        s.http
            .patch(s.url("/v1/orgs/acme"))
            .bearer_auth(ADMIN)
            .json(&json!({"webhook_url": hook.url})),
    )
    .await;
    s.post(
        ADMIN,
        "/v1/orgs/acme/budgets",
        &json!({"scope": "org", "period": "monthly", "amount": "1", "alert_thresholds": [0.5]}),
    )
    .await;
    s.events(ADMIN, &[spend("x", "alice", "1")]).await;
    wait_for(async || {
        !s.get(ADMIN, "/v1/orgs/acme/webhook/deliveries").await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let log = s.get(ADMIN, "/v1/orgs/acme/webhook/deliveries").await.body;
    let first = &log["data"][0];
    assert_eq!(first["delivered"], false);
    assert!(
        first["error"].as_str().unwrap().contains("private address"),
        "{log}"
    );
    assert_eq!(hook.calls.load(Ordering::SeqCst), 0);
    let bad = s
        .send(
            s.http
                .patch(s.url("/v1/orgs/acme"))
                .bearer_auth(ADMIN)
                .json(&json!({"webhook_url": "ftp://x"})),
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn budget_check_blocks_on_every_covering_hard_limit() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    // bob is in team core too; carol in no team.
    for (user, team) in [("bob", Some("core")), ("carol", None)] {
        let a = s
            .put(
                ADMIN,
                &format!("/v1/orgs/acme/members/{user}"),
                &json!({"role": "member", "team_id": team}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let budgets = [
        json!({"id": "alice-cap", "scope": "user", "scope_id": "alice", "period": "daily", "amount": "1", "hard_limit": true}),
        json!({"id": "core-cap", "scope": "team", "scope_id": "core", "period": "monthly", "amount": "3", "hard_limit": true}),
        json!({"id": "key-soft", "scope": "api_key", "scope_id": "key-prod", "period": "monthly", "amount": "0.5"}),
    ];
    for b in &budgets {
        assert_eq!(s.post(ADMIN, "/v1/orgs/acme/budgets", b).await.status, 201);
    }
    let ingest = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "acme"}))
        .await;
    let s = &s;
    let check = |user: &str| {
        let path = format!("/v1/budget-check?user_id={user}&api_key_id=key-prod");
        let ingest = ingest.clone();
        async move { s.get(&ingest, &path).await.body }
    };
    assert_eq!(
        check("alice").await,
        json!({"allowed": true, "blocking": []})
    );

    // alice spends 1 exactly: her own hard limit is reached (crossed at ≥).
    s.events(ADMIN, &[spend("a1", "alice", "1")]).await;
    let a = check("alice").await;
    assert_eq!(a["allowed"], false, "{a}");
    let ids: Vec<&str> = a["blocking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice-cap"]);
    assert_eq!(
        check("bob").await["allowed"],
        true,
        "the soft key budget never blocks"
    );

    // The team reaches 3: everyone in core is blocked, carol is not.
    s.events(ADMIN, &[spend("b1", "bob", "2")]).await;
    let b = check("bob").await;
    assert_eq!(b["blocking"][0]["id"], "core-cap", "{b}");
    assert_eq!(check("carol").await["allowed"], true);

    // A member asks only for themselves; another org's token sees nothing.
    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "carol"}),
        )
        .await;
    assert_eq!(
        s.get(&member, "/v1/budget-check?user_id=carol")
            .await
            .status,
        200
    );
    assert_eq!(
        s.get(&member, "/v1/budget-check?user_id=alice")
            .await
            .status,
        403
    );
    s.org("other", "UTC", "1").await;
    let foreign = s
        .token(ADMIN, json!({"role": "ingest", "organization_id": "other"}))
        .await;
    assert_eq!(
        s.get(
            &foreign,
            "/v1/budget-check?organization_id=acme&user_id=alice"
        )
        .await
        .status,
        404
    );
    assert_eq!(
        s.get(ADMIN, "/v1/budget-check?user_id=alice").await.status,
        400
    );
}

/// While another client streams events, every acknowledged event is already
/// in the check's answer: blocked exactly from the call that reaches the limit.
#[tokio::test]
async fn the_check_sees_every_acknowledged_event_while_others_stream() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    let limit = json!({"id": "bob-day", "scope": "user", "scope_id": "bob", "period": "daily", "amount": "10", "hard_limit": true});
    assert_eq!(
        s.post(ADMIN, "/v1/orgs/acme/budgets", &limit).await.status,
        201
    );
    let noise = {
        let (http, url) = (s.http.clone(), s.url("/v1/events"));
        tokio::spawn(async move {
            for i in 0..40 {
                let batch: Vec<Value> = (0..50)
                    .map(|j| spend(&format!("n{i}-{j}"), "carol", "0.5"))
                    .collect();
                http.post(&url)
                    .bearer_auth(ADMIN)
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    for k in 1..=14 {
        let a = s
            .events(ADMIN, &[spend(&format!("bob{k}"), "bob", "1")])
            .await;
        assert_eq!(a.body["accepted"], 1);
        let check = s
            .get(ADMIN, "/v1/budget-check?organization_id=acme&user_id=bob")
            .await
            .body;
        assert_eq!(check["allowed"], k < 10, "after ${k}: {check}");
    }
    noise.await.unwrap();
}
