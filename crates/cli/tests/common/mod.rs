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
