//! Crash loop (issue 8): the server is killed with SIGKILL again and again
//! while clients ingest and retry every batch until it is acknowledged.
//! Afterwards every event is stored exactly once and `verify` finds no
//! difference between the aggregates and the detail. CI runs it small;
//! `SPENDLENS_CRASH_LIVES` makes it longer.

mod common;

use common::{db_url, serve, spendlens, text};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Batch `b` of client `c`: 250 events over 40 people and 60 conversations
/// (each conversation always with the same person).
fn batch(c: usize, b: usize) -> String {
    (0..250)
        .map(|i| {
            let n = b * 250 + i;
            format!(
                "{}\n",
                json!({"event_id": format!("c{c}-{n}"), "occurred_at": "2026-11-20T10:00:00Z",
                       "organization_id": "acme", "user_id": format!("u{}", (c * 7 + n % 60) % 40),
                       "conversation_id": format!("c{c}-conv{}", n % 60), "model_name": "gpt-4o",
                       "tokens_in": 10 + n % 7, "tokens_out": 5, "actual_api_cost": "0.000001003"})
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_is_stored_once_across_repeated_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    crash_loop(&db_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_is_stored_once_across_repeated_kill_9_on_postgres() {
    if let Some(db) = spendlens_store::postgres::testing::create().await {
        crash_loop(&db.url).await;
    }
}

async fn crash_loop(db: &str) {
    let (lives, clients) = (setting("SPENDLENS_CRASH_LIVES", 4), 3);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let db = db.to_owned();
    let admin = "crash-admin";
    let base = Arc::new(Mutex::new(String::new()));
    let mut server = serve(&db, admin).await;
    *base.lock().unwrap() = server.base();
    let (status, _) = server
        .post(admin, "/v1/orgs", &json!({"id": "acme", "name": "Acme"}))
        .await;
    assert_eq!(status, 201);

    let senders: Vec<_> = (0..clients)
        .map(|c| {
            let (base, stop) = (base.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut retries = 0u64;
                let mut b = 0;
                // New batches until told to stop; each one until acknowledged.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = batch(c, b);
                    // Retry the same batch until it is acknowledged.
                    loop {
                        let url = format!("{}/v1/events", base.lock().unwrap());
                        let answer = http
                            .post(url)
                            .bearer_auth(admin)
                            .header("content-type", "application/x-ndjson")
                            .body(body.clone())
                            .send()
                            .await;
                        if let Ok(r) = answer {
                            if r.status() == 200 {
                                if let Ok(v) = r.json::<Value>().await {
                                    assert_eq!(v["rejected"], 0, "{}", v["errors"][0]);
                                    break;
                                }
                            }
                        }
                        retries += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    b += 1;
                }
                (b, retries)
            })
        })
        .collect();
    for life in 0..lives {
        tokio::time::sleep(Duration::from_millis(300 + 150 * life as u64)).await;
        let killed = Command::new("kill")
            .args(["-9", &server.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        drop(server);
        server = serve(&db, admin).await;
        *base.lock().unwrap() = server.base();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut batches, mut retries) = (0, 0);
    for s in senders {
        let (b, r) = s.await.unwrap();
        batches += b;
        retries += r;
    }
    eprintln!("{lives} kills: {batches} batches of 250 acknowledged after {retries} retries");
    assert!(
        retries >= lives as u64,
        "every kill interrupted requests: {retries} retries"
    );

    // Exactly once: every id, no more, and the figures say the same.
    let expected = (batches * 250) as u64;
    let summary = server
        .get(admin, "/v1/orgs/acme/summary?from=2026-11-01&to=2026-12-01")
        .await;
    assert_eq!(summary["messages"], expected, "{summary}");
    assert_eq!(summary["active_users"], 40);
    assert_eq!(
        summary["conversations"],
        (clients * 60.min(batches * 250)) as u64
    );
    drop(server);
    let store = spendlens_store::open(&db, spendlens_store::Durability::Process)
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .events("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, expected);
    drop(store);
    let verify = spendlens(&["verify", "--db", &db]);
    assert!(verify.status.success(), "{}", text(&verify));
}
