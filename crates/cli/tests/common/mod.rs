//! Running the real `spendlens` binary: one-shot commands and servers.

#![allow(dead_code)] // each test binary uses part of the harness

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn spendlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(args)
        .env("SPENDLENS_LOG", "warn")
        .output()
        .expect("run spendlens")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn db_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("s.db").display())
}

pub struct Server(pub Child, pub u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn serve(db: &str, admin: &str) -> Server {
    serve_with(db, admin, &[("SPENDLENS_LOG", "warn")], Stdio::inherit()).await
}

/// A server with more environment, its stderr (the log) sent where asked.
pub async fn serve_with(db: &str, admin: &str, env: &[(&str, &str)], stderr: Stdio) -> Server {
    let port = free_port();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_spendlens"))
            .args([
                "serve",
                "--db",
                db,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("SPENDLENS_ADMIN_TOKEN", admin)
            // Fixed-date test events must not age out while a test runs.
            .env("SPENDLENS_RETENTION_EVERY_MINS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
        port,
    );
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not start");
}

/// `n` NDJSON events of round `round` for organisation acme (ids unique per round).
pub fn batch(round: usize, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"event_id":"r{round}-{i}","occurred_at":"2026-11-20T10:00:00Z","organization_id":"acme","user_id":"u{}","conversation_id":"c{round}-{}","model_name":"gpt-4o","tokens_in":10,"tokens_out":5,"actual_api_cost":"0.000000007"}}
"#,
                (i % 50) % 13,
                i % 50
            )
        })
        .collect()
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.1)
    }

    /// POST JSON with a bearer token: (status, JSON answer or Null).
    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// GET with a bearer token; the answer must be 200 JSON.
    pub async fn get(&self, token: &str, path: &str) -> serde_json::Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// Organisation `acme` and an ingest token for it (its secret).
    pub async fn acme_with_ingest_token(&self, admin: &str) -> String {
        let (status, _) = self
            .post(
                admin,
                "/v1/orgs",
                &serde_json::json!({"id": "acme", "name": "Acme"}),
            )
            .await;
        assert_eq!(status, 201);
        let (status, created) = self
            .post(
                admin,
                "/v1/tokens",
                &serde_json::json!({"role": "ingest", "organization_id": "acme"}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        created["token"].as_str().unwrap().to_owned()
    }
}
