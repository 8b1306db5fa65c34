//! A real server on a real socket over a temporary SQLite file.

#![allow(dead_code)] // each test binary uses part of the harness

use serde_json::{json, Value};
use spendlens_server::{AppState, Config};
use spendlens_store::Store;
use std::sync::Arc;

pub const ADMIN: &str = "test-admin-secret";

pub struct TestServer {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub webhooks: spendlens_server::budgets::webhook::Webhooks,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub async fn start() -> TestServer {
    start_with(
        |s| s,
        Config {
            admin_token: Some(ADMIN.into()),
            queue_capacity: 200_000,
            // Tests run their webhook receivers on 127.0.0.1 and retry fast.
            allow_private_webhooks: true,
            webhook_backoff: std::time::Duration::from_millis(50),
            budget_sweep: std::time::Duration::from_millis(200),
            // Fixed-date test events must not age out while the suite runs.
            retention_interval: None,
        },
    )
    .await
}

/// Start with the store wrapped (to slow it down, say) and a given config.
pub async fn start_with(
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    config: Config,
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = wrap(
        spendlens_store::open(&url, spendlens_store::Durability::Process)
            .await
            .unwrap(),
    );
    let state = AppState::new(store.clone(), &config);
    let state_webhooks = state.webhooks.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(spendlens_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    TestServer {
        base,
        webhooks: state_webhooks,
        store,
        http: reqwest::Client::new(),
        _dir: dir,
        _shutdown: tx,
    }
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl TestServer {
    pub fn db_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        self.send(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(token).json(body))
            .await
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.send(self.http.put(self.url(path)).bearer_auth(token).json(body))
            .await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Answer {
        self.send(self.http.delete(self.url(path)).bearer_auth(token))
            .await
    }

    /// POST /v1/events with a JSON array.
    pub async fn events(&self, token: &str, events: &[Value]) -> Answer {
        self.post(token, "/v1/events", &Value::Array(events.to_vec()))
            .await
    }

    /// An organisation `id` in `tz` with a markup, a team, a member and a key.
    pub async fn org(&self, id: &str, tz: &str, markup: &str) {
        let a = self
            .post(
                ADMIN,
                "/v1/orgs",
                &json!({"id": id, "name": format!("Org {id}"), "timezone": tz, "markup": markup}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let a = self
            .post(
                ADMIN,
                &format!("/v1/orgs/{id}/teams"),
                &json!({"id": "core", "name": "Core", "department": "Engineering"}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let a = self
            .put(
                ADMIN,
                &format!("/v1/orgs/{id}/members/alice"),
                &json!({"role": "org_admin", "team_id": "core", "email": "alice@example.com"}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let a = self
            .post(
                ADMIN,
                &format!("/v1/orgs/{id}/api-keys"),
                &json!({"id": "key-prod", "name": "OpenAI Prod", "provider": "openai"}),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
    }

    /// A new token's secret.
    pub async fn token(&self, as_token: &str, body: Value) -> String {
        let a = self.post(as_token, "/v1/tokens", &body).await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body["token"].as_str().unwrap().to_owned()
    }
}

/// A valid event; `over` replaces or adds fields.
pub fn event(id: &str, over: Value) -> Value {
    let mut e = json!({
        "event_id": id,
        "occurred_at": "2026-11-20T15:00:00Z",
        "user_id": "alice",
        "conversation_id": format!("conv-{id}"),
        "model_name": "gpt-4o",
        "tokens_in": 1000,
        "tokens_out": 500,
        "api_key_id": "key-prod",
        "actual_api_cost": "0.010000000",
    });
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            e.as_object_mut().unwrap().remove(k);
        } else {
            e[k] = v.clone();
        }
    }
    e
}
