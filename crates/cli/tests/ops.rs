//! Running spendlens as an operator does: settings from a file, the
//! environment and flags; a graceful stop; logs that never hold a secret.

mod common;

use common::{batch, db_url, serve_with, spendlens, text};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn settings_layer_file_then_environment_then_flags_and_hide_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("spendlens.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7001\"\nadmin_token = \"file-secret-7781\"\nqueue_capacity = 5000\n\
         durability = \"full\"\ndb = \"postgres://spend:pw-4411@db.internal/spendlens\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spendlens"))
        .args(["config", "--config", file.to_str().unwrap()])
        .args(["--durability", "process"])
        .env("SPENDLENS_QUEUE_CAPACITY", "7")
        .env_remove("SPENDLENS_ADMIN_TOKEN")
        .env_remove("SPENDLENS_LISTEN")
        .env_remove("SPENDLENS_DB")
        .env_remove("SPENDLENS_DURABILITY")
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let row = |key: &str| -> Vec<String> {
        t.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no row {key} in {t}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("listen")[1..3], ["127.0.0.1:7001", "file"]);
    assert_eq!(row("queue_capacity")[1..3], ["7", "env"]);
    assert_eq!(row("durability")[1..3], ["process", "flag"]);
    assert_eq!(
        row("db")[1..3],
        ["postgres://spend:***@db.internal/spendlens", "file"]
    );
    assert_eq!(row("admin_token")[1..4], ["(set,", "hidden)", "file"]);
    assert!(
        !t.contains("file-secret-7781") && !t.contains("pw-4411"),
        "{t}"
    );

    // A setting the file gets wrong is named.
    std::fs::write(&file, "listen = \"x\"\nqueue_capacty = 5\n").unwrap();
    let bad = spendlens(&["config", "--config", file.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("unknown setting `queue_capacty`"),
        "{}",
        text(&bad)
    );
    std::fs::write(&file, "listen = [1, 2]\n").unwrap();
    let bad = spendlens(&["config", "--config", file.to_str().unwrap()]);
    assert!(
        text(&bad).contains("`listen` must be a string"),
        "{}",
        text(&bad)
    );
}

#[tokio::test]
async fn serve_takes_its_settings_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let file = dir.path().join("spendlens.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{port}\"\nadmin_token = \"from-the-file\"\ndb = \"{}\"\n",
            db_url(&dir)
        ),
    )
    .unwrap();
    let _server = common::Server(
        Command::new(env!("CARGO_BIN_EXE_spendlens"))
            .args(["serve", "--config", file.to_str().unwrap()])
            .env_remove("SPENDLENS_ADMIN_TOKEN")
            .env_remove("SPENDLENS_LISTEN")
            .env_remove("SPENDLENS_DB")
            .env("SPENDLENS_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    );
    let client = reqwest::Client::new();
    let mut answer = None;
    for _ in 0..400 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/v1/orgs"))
            .bearer_auth("from-the-file")
            .send()
            .await
        {
            answer = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(answer, Some(200), "the admin token from the file is taken");
    assert!(
        dir.path().join("s.db").exists(),
        "the db from the file is used"
    );
}

/// SIGTERM while clients ingest: the server stops taking connections, answers
/// what it has read, and exits 0; exactly the acknowledged events are stored.
#[tokio::test]
async fn sigterm_finishes_in_flight_ingestion() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let admin = "term-admin";
    let mut server = serve_with(&db, admin, &[("SPENDLENS_LOG", "warn")], Stdio::inherit()).await;
    let base = format!("http://127.0.0.1:{}", server.1);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(admin)
        .json(&json!({"id": "acme", "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let senders: Vec<_> = (0..4)
        .map(|c| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut acked = 0u64;
                for round in 0.. {
                    let r = client
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(admin)
                        .header("content-type", "application/x-ndjson")
                        .body(batch(c * 100_000 + round, 2000))
                        .send()
                        .await;
                    let Ok(r) = r else { break };
                    assert_eq!(r.status(), 200, "a graceful stop answers what it took");
                    let v: Value = r.json().await.expect("answered in full");
                    acked += v["accepted"].as_u64().unwrap();
                }
                acked
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let term = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut acknowledged = 0;
    for s in senders {
        acknowledged += s.await.unwrap();
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.0.wait().unwrap();
        drop(server);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(acknowledged > 0);
    let store = spendlens_store::open(&db, spendlens_store::Durability::Process)
        .await
        .unwrap();
    let stored = store.events("acme").await.unwrap().len() as u64;
    assert_eq!(stored, acknowledged);
}

/// Debug logs of every layer, as JSON, hold no token secret.
#[tokio::test]
async fn logs_never_hold_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let admin = "admin-secret-logcheck-1234";
    let server = serve_with(
        &db_url(&dir),
        admin,
        &[
            ("SPENDLENS_LOG", "trace,hyper=debug"),
            ("SPENDLENS_LOG_JSON", "true"),
        ],
        Stdio::from(log),
    )
    .await;
    let secret = server.acme_with_ingest_token(admin).await;
    let events = json!([{"event_id": "e1", "occurred_at": "2026-11-20T10:00:00Z",
        "user_id": "u1", "conversation_id": "c1", "model_name": "gpt-4o",
        "tokens_in": 1, "tokens_out": 1}]);
    assert_eq!(server.post(&secret, "/v1/events", &events).await.0, 200);
    // Refused tokens are not logged either.
    let wrong = "sl_wrong-secret-never-logged";
    assert_eq!(server.post(wrong, "/v1/events", &json!([])).await.0, 401);
    drop(server);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.lines().count() > 5, "debug logging is on: {logged}");
    assert!(logged.lines().all(|l| l.starts_with('{')), "JSON lines");
    let secret_tail = &secret[secret.len() - 16..];
    for needle in [admin, secret.as_str(), secret_tail, wrong] {
        assert!(!logged.contains(needle), "{needle} in the log");
    }
}

/// `retention` deletes old detail only; `verify` then agrees; `rebuild` says
/// it corrected nothing on a healthy store.
#[test]
fn retention_verify_and_rebuild_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--db", &db]);
        let o = spendlens(&all);
        (o.status.success(), text(&o))
    };
    let (ok, out) = run(&[
        "org",
        "create",
        "--id",
        "acme",
        "--name",
        "Acme",
        "--retention-days",
        "30",
    ]);
    assert!(ok, "{out}");
    let ago = |days: i64| {
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * days)).to_string()
    };
    let file = dir.path().join("e.ndjson");
    let line = |id: &str, at: String| {
        format!(
            r#"{{"event_id":"{id}","occurred_at":"{at}","organization_id":"acme","user_id":"u1","conversation_id":"c-{id}","model_name":"gpt-4o","tokens_in":1,"tokens_out":1,"actual_api_cost":"2"}}"#
        )
    };
    std::fs::write(
        &file,
        [line("old", ago(45)), line("new", ago(2))].join("\n"),
    )
    .unwrap();
    let (ok, out) = run(&["ingest", file.to_str().unwrap()]);
    assert!(ok && out.contains("2 accepted"), "{out}");

    let (ok, out) = run(&["retention"]);
    assert!(ok && out.contains("retention: 1 events"), "{out}");
    let (ok, out) = run(&["verify", "--org", "acme"]);
    assert!(ok && out.contains("agree with the detail"), "{out}");
    let (ok, out) = run(&["rebuild"]);
    assert!(
        ok && out.contains("rebuild: 0 day cells corrected"),
        "{out}"
    );
    // A second retention finds nothing more.
    let (_, out) = run(&["retention"]);
    assert!(out.contains("retention: 0 events"), "{out}");
    // Reprice: the client sent its costs, so nothing changes; bad days are named.
    let (ok, out) = run(&["reprice", "--from", "2020-01-01", "--to", "2099-01-01"]);
    assert!(ok && out.contains("0 events changed"), "{out}");
    let (ok, out) = run(&["reprice", "--from", "2026-13-01", "--to", "2027-01-01"]);
    assert!(!ok && out.contains("--from 2026-13-01"), "{out}");
}

/// The load benchmark at CI size: ingestion, queries and exports at once,
/// no failed request (the full run is `spendlens bench load`, docs/benchmarks.md).
#[test]
fn a_small_mixed_load_has_no_failed_request() {
    let out = spendlens(&[
        "bench",
        "load",
        "--dataset",
        "demo",
        "--limit",
        "12000",
        "--connections",
        "40",
        "--seconds",
        "3",
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for kind in ["ingest", "query", "export"] {
        let line = t
            .lines()
            .find(|l| l.starts_with(&format!("load {kind}:")))
            .unwrap_or_else(|| panic!("{t}"));
        assert!(line.contains("0 server errors, 0 other errors"), "{line}");
        assert!(!line.contains(": 0 ok"), "{kind} made requests: {line}");
    }
}
