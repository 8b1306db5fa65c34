//! The `spendlens` binary as a user runs it: files in, tokens, migrate,
//! demo then serve, and accepted events surviving `kill -9`.

mod common;

use common::{batch, db_url, serve, spendlens, text};
use serde_json::Value;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

#[test]
fn ingest_reads_csv_and_ndjson_and_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let csv = dir.path().join("events.csv");
    std::fs::write(
        &csv,
        "event_id,occurred_at,organization_id,user_id,conversation_id,model_name,tokens_in,tokens_out,actual_api_cost,api_key_id\n\
         e1,2026-11-20T10:00:00Z,acme,alice,c1,gpt-4o,100,50,0.000000001,\n\
         e2,2026-11-20T11:00:00Z,acme,alice,c1,gpt-4o,100,50,0.25,key-a\n\
         e3,2026-11-20T12:00:00Z,acme,alice,c1,gpt-4o,lots,50,0.25,key-a\n\
         e4,2026-11-20T12:00:00Z,nowhere,alice,c9,gpt-4o,1,1,0.25,key-a\n",
    )
    .unwrap();
    let nd = dir.path().join("more.ndjson");
    let mut f = std::fs::File::create(&nd).unwrap();
    writeln!(f, r#"{{"event_id":"e2","occurred_at":"2026-11-20T11:00:00Z","organization_id":"acme","user_id":"alice","conversation_id":"c1","model_name":"gpt-4o","tokens_in":100,"tokens_out":50,"actual_api_cost":"0.25","api_key_id":"key-a"}}"#).unwrap();
    writeln!(f, "{{broken").unwrap();
    writeln!(f, r#"{{"event_id":"e5","occurred_at":"2026-11-21T11:00:00Z","organization_id":"acme","user_id":"bob","conversation_id":"c2","model_name":"gpt-4o","tokens_in":1,"tokens_out":1,"actual_api_cost":0.5}}"#).unwrap();
    drop(f);

    // The organisation must exist first: created through the API's rules by a token-holding admin.
    let o = spendlens(&["migrate", "--db", &db]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0001_init"), "{}", text(&o));

    let o = spendlens(&[
        "ingest",
        "--db",
        &db,
        csv.to_str().unwrap(),
        nd.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "rejections give exit status 2: {out}"
    );
    // acme does not exist yet: everything placeable is quarantined, not lost,
    // and e2, sent in both files, is kept once.
    assert!(
        out.contains("7 events read: 0 accepted, 1 duplicates, 4 quarantined, 2 rejected"),
        "{out}"
    );
    assert!(
        out.contains("4  unknown_organization (organization_id)"),
        "{out}"
    );
    assert!(out.contains("invalid_field (tokens_in)"), "{out}");
    assert!(out.contains("invalid_json"), "{out}");
    assert!(
        out.contains("more.ndjson:2"),
        "names the file and line: {out}"
    );
    assert!(
        out.contains("events.csv:4"),
        "names the file and line: {out}"
    );

    // Once acme exists, backfill counts its quarantined events; "nowhere" stays.
    let o = spendlens(&[
        "org", "create", "--db", &db, "--id", "acme", "--name", "Acme",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = spendlens(&["backfill", "--db", &db]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("3 placed and counted, 0 already counted, 0 refused by the ingestion rules, 1 still without an organisation"), "{out}");
    let again = text(&spendlens(&["backfill", "--db", &db]));
    assert!(
        again.contains("0 placed and counted") && again.contains("1 still without"),
        "{again}"
    );
}

#[test]
fn token_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let o = spendlens(&[
        "token",
        "create",
        "--db",
        &db,
        "--role",
        "platform_admin",
        "--name",
        "ops",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let secret = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert!(secret.starts_with("sl_"), "{secret}");
    let o = spendlens(&[
        "token", "create", "--db", &db, "--role", "member", "--org", "acme", "--user", "bob",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("organisation acme"), "{}", text(&o));
    let o = spendlens(&["token", "list", "--db", &db]);
    let list = text(&o);
    assert!(
        list.contains("platform_admin") && list.contains("ops") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&secret));
    let id = list.split_whitespace().next().unwrap().to_owned();
    assert!(spendlens(&["token", "revoke", "--db", &db, &id])
        .status
        .success());
    assert!(text(&spendlens(&["token", "list", "--db", &db])).contains("revoked"));
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let admin = "crash-admin";
    let client = reqwest::Client::new();
    let mut acknowledged: u64 = 0;
    for life in 0..3 {
        let server = serve(&db, admin).await;
        let base = format!("http://127.0.0.1:{}", server.1);
        if life == 0 {
            let r = client
                .post(format!("{base}/v1/orgs"))
                .bearer_auth(admin)
                .json(&serde_json::json!({"id": "acme", "name": "Acme"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        // Requests keep going while the process is killed mid-flight.
        let sender = {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut acked = 0u64;
                for round in 0.. {
                    let body = batch(life * 1000 + round, 500);
                    let r = client
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(admin)
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let v: Value = match r.json().await {
                                Ok(v) => v,
                                Err(_) => break, // killed while answering: not acknowledged
                            };
                            acked += v["accepted"].as_u64().unwrap();
                        }
                        _ => break,
                    }
                }
                acked
            })
        };
        tokio::time::sleep(Duration::from_millis(700 + 300 * life as u64)).await;
        // SIGKILL: no chance to flush anything.
        let pid = server.0.id() as i32;
        assert_eq!(unsafe_free_kill(pid), 0);
        acknowledged += sender.await.unwrap();
        drop(server);
    }
    assert!(acknowledged > 0);
    let store = spendlens_store::open(&db, spendlens_store::Durability::Process)
        .await
        .unwrap();
    let stored = store.events("acme").await.unwrap().len() as u64;
    // Everything acknowledged is there; a request killed before its answer is all or nothing.
    assert!(
        stored >= acknowledged,
        "stored {stored} < acknowledged {acknowledged}"
    );
    assert_eq!(stored % 500, 0, "a transaction was torn: {stored}");
}

/// `kill -9` through the kill command (the crate forbids unsafe code).
fn unsafe_free_kill(pid: i32) -> i32 {
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .code()
        .unwrap_or(-1)
}

#[tokio::test]
async fn demo_then_serve_answers_with_the_printed_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let o = spendlens(&["demo", "--no-serve", "--db", &db]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("accepted") && out.contains("0 rejected"),
        "{out}"
    );
    let token_of = |role: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(role))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no {role} token in {out}"))
            .to_owned()
    };
    for role in [
        "platform_admin",
        "org_admin",
        "team_lead",
        "member",
        "ingest",
    ] {
        assert!(token_of(role).starts_with("sl_"));
    }
    let org_admin = token_of("org_admin");
    let server = serve(&db, "unused-admin").await;
    let r = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/v1/orgs/acme/summary?period=last_30d",
            server.1
        ))
        .bearer_auth(&org_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["messages"].as_u64().unwrap() > 1000, "{v}");
    assert!(v["active_users"].as_u64().unwrap() >= 20, "{v}");
    assert_eq!(v["organization_id"], "acme");
}

#[test]
fn an_organisation_is_set_up_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_url(&dir);
    let ok = |args: &[&str]| {
        let o = spendlens(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        text(&o)
    };
    ok(&[
        "org",
        "create",
        "--db",
        &db,
        "--id",
        "acme",
        "--name",
        "Acme Corp",
        "--timezone",
        "America/New_York",
        "--markup",
        "1.25",
    ]);
    let bad = spendlens(&[
        "org",
        "create",
        "--db",
        &db,
        "--id",
        "x",
        "--name",
        "X",
        "--timezone",
        "Mars/Olympus",
    ]);
    assert!(
        !bad.status.success() && text(&bad).contains("--timezone"),
        "{}",
        text(&bad)
    );
    ok(&[
        "team",
        "create",
        "--db",
        &db,
        "--org",
        "acme",
        "--id",
        "core",
        "--name",
        "Core",
        "--department",
        "Engineering",
    ]);
    ok(&[
        "member",
        "put",
        "--db",
        &db,
        "--org",
        "acme",
        "--user",
        "alice",
        "--role",
        "org_admin",
        "--team",
        "core",
        "--email",
        "alice@acme.test",
    ]);
    ok(&[
        "key",
        "create",
        "--db",
        &db,
        "--org",
        "acme",
        "--id",
        "key-prod",
        "--name",
        "OpenAI Prod",
        "--provider",
        "openai",
    ]);
    let lists = [
        ok(&["org", "list", "--db", &db]),
        ok(&["team", "list", "--db", &db, "--org", "acme"]),
        ok(&["member", "list", "--db", &db, "--org", "acme"]),
        ok(&["key", "list", "--db", &db, "--org", "acme"]),
    ];
    assert!(
        lists[0].contains("Acme Corp")
            && lists[0].contains("America/New_York")
            && lists[0].contains("markup 1.25"),
        "{}",
        lists[0]
    );
    assert!(lists[1].contains("core\tCore\tEngineering"), "{}", lists[1]);
    assert!(lists[2].contains("alice\torg_admin\tcore"), "{}", lists[2]);
    assert!(
        lists[3].contains("key-prod\tOpenAI Prod\topenai\tregistered"),
        "{}",
        lists[3]
    );

    // Budgets: the API's checks apply; the list shows the status.
    let set = ok(&[
        "budget",
        "set",
        "--db",
        &db,
        "--org",
        "acme",
        "--id",
        "core-month",
        "--scope",
        "team",
        "--scope-id",
        "core",
        "--amount",
        "250",
        "--thresholds",
        "0.5,0.9",
        "--hard-limit",
    ]);
    assert!(
        set.contains("\"state\": \"ok\"") && set.contains("250.000000000"),
        "{set}"
    );
    let bad = spendlens(&[
        "budget",
        "set",
        "--db",
        &db,
        "--org",
        "acme",
        "--scope",
        "team",
        "--scope-id",
        "ghosts",
        "--amount",
        "10",
    ]);
    assert!(
        !bad.status.success() && text(&bad).contains("scope_id: no team ghosts"),
        "{}",
        text(&bad)
    );
    let listed = ok(&["budget", "list", "--db", &db, "--org", "acme"]);
    assert!(
        listed.contains("core-month\tteam:core\tmonthly\t250.000000000\t0.000000000"),
        "{listed}"
    );
    ok(&[
        "budget",
        "delete",
        "--db",
        &db,
        "--org",
        "acme",
        "--id",
        "core-month",
    ]);
    assert!(!ok(&["budget", "list", "--db", &db, "--org", "acme"]).contains("core-month"));

    // Events for acme are now accepted, placed by alice's membership.
    let nd = dir.path().join("e.ndjson");
    std::fs::write(&nd, r#"{"event_id":"x1","occurred_at":"2026-11-20T10:00:00Z","user_id":"alice","conversation_id":"c1","model_name":"gpt-4o","tokens_in":1,"tokens_out":1,"actual_api_cost":"0.5"}
"#)
    .unwrap();
    let out = ok(&["ingest", "--db", &db, nd.to_str().unwrap()]);
    assert!(out.contains("1 events read: 1 accepted"), "{out}");
    let token = ok(&[
        "token",
        "create",
        "--db",
        &db,
        "--role",
        "org_admin",
        "--org",
        "acme",
        "--user",
        "alice",
    ]);
    assert!(token.contains("sl_"));
    ok(&[
        "member", "remove", "--db", &db, "--org", "acme", "--user", "alice",
    ]);
    assert!(ok(&["token", "list", "--db", &db]).contains("revoked"));
}
