//! Several servers, one PostgreSQL database (issue 4): two real `spendlens
//! serve` processes ingest at once — overlapping organisations, people, days
//! and conversations, late events that move conversation starts — while
//! every client sends each batch to both servers at the same moment and
//! retries until acknowledged. The totals must equal a direct computation
//! over the distinct events: nothing lost, nothing counted twice, distinct
//! people and first-event conversations exact, no deadlock surfacing as an
//! error; `verify` finds no difference. And budget alerts: both servers'
//! watchers race to record each crossing, which is recorded once.

mod common;

use common::{serve, serve_with, spendlens, text};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

const CLIENTS: usize = 4;
const BATCHES: usize = 12;
const PER_BATCH: usize = 120;

/// One event: (org, event_id, user, conversation, day of November, cost nanos).
type Sent = (String, String, String, String, u32, u64);

/// Batch `b` of client `c`. Conversation k always belongs to person k % 30
/// of its organisation, whichever client writes to it; days run forward in
/// the first batches and backwards in later ones, so late events keep moving
/// conversation starts.
fn batch(c: usize, b: usize) -> Vec<Sent> {
    (0..PER_BATCH)
        .map(|i| {
            let n = (c * BATCHES + b) * PER_BATCH + i;
            let org = if n.is_multiple_of(3) {
                "globex"
            } else {
                "acme"
            };
            let conv = (n * 7 + c) % 90;
            // The first half moves forward three days a batch, so new
            // days keep starting after earlier ones have sums; the second
            // half goes back over the whole range.
            let day = if b < BATCHES / 2 {
                (9 + 3 * b + i % 3) as u32
            } else {
                28 - ((b + i) % 20) as u32
            };
            (
                org.to_string(),
                format!("c{c}-b{b}-{i}"),
                format!("u{}", conv % 30),
                format!("conv{conv}"),
                day,
                1_000 + (n % 977) as u64,
            )
        })
        .collect()
}

fn ndjson(events: &[Sent]) -> String {
    events
        .iter()
        .map(|(org, id, user, conv, day, nanos)| {
            format!(
                "{}\n",
                json!({"event_id": id, "occurred_at": format!("2026-11-{day:02}T{:02}:17:00Z", nanos % 24),
                       "organization_id": org, "user_id": user, "conversation_id": conv,
                       "model_name": "gpt-4o", "tokens_in": 10, "tokens_out": 5,
                       "actual_api_cost": format!("0.{nanos:09}"), "total_cost": format!("0.{nanos:09}")})
            )
        })
        .collect()
}

/// A row's cost in nano-dollars and its messages.
fn cost_and_messages(row: &Value) -> (u64, u64) {
    let cost = row["total_cost"].as_str().unwrap().replace('.', "");
    (cost.parse().unwrap(), row["messages"].as_u64().unwrap())
}

/// Send until acknowledged; returns the number of tries.
async fn deliver(http: &reqwest::Client, base: &str, admin: &str, body: &str) -> u64 {
    let mut tries = 0;
    loop {
        tries += 1;
        let answer = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(admin)
            .header("content-type", "application/x-ndjson")
            .body(body.to_owned())
            .send()
            .await;
        if let Ok(r) = answer {
            let status = r.status();
            if status == 200 {
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["rejected"], 0, "{}", v["errors"][0]);
                return tries;
            }
            assert!(
                status == 503 || status == 429,
                "unexpected status {status}: {}",
                r.text().await.unwrap_or_default()
            );
        }
        assert!(tries < 200, "never acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_one_database_count_every_event_once() {
    let Some(db) = spendlens_store::postgres::testing::create().await else {
        return;
    };
    let admin = "multinode-admin";
    // Both servers pack November's days and month while they and the
    // other write to them (postgres/packs.rs).
    let env = [("SPENDLENS_LOG", "warn"), ("SPENDLENS_PACK_SCAN_MS", "20")];
    let a = serve_with(&db.url, admin, &env, Stdio::inherit()).await;
    let b = serve_with(&db.url, admin, &env, Stdio::inherit()).await;
    for (server, org) in [(&a, "acme"), (&b, "globex")] {
        let (status, body) = server
            .post(
                admin,
                "/v1/orgs",
                &json!({"id": org, "name": org, "timezone": "UTC"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let bases = [a.base(), b.base()];
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let bases = bases.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut sent = Vec::new();
                let mut tries = 0;
                for b in 0..BATCHES {
                    let events = batch(c, b);
                    let body = ndjson(&events);
                    // The same batch to both servers at once: a retry that
                    // overtakes the original.
                    let (x, y) = tokio::join!(
                        deliver(&http, &bases[b % 2], admin, &body),
                        deliver(&http, &bases[(b + 1) % 2], admin, &body)
                    );
                    tries += x + y;
                    sent.extend(events);
                    // Time for the packers between batches, so that later
                    // batches land in packed days and months.
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
                (sent, tries)
            })
        })
        .collect();
    let mut sent: Vec<Sent> = Vec::new();
    for c in clients {
        let (s, _) = c.await.unwrap();
        sent.extend(s);
    }

    // The direct computation over the distinct events.
    let distinct: BTreeMap<String, Sent> = sent.into_iter().map(|e| (e.1.clone(), e)).collect();
    for org in ["acme", "globex"] {
        let mine: Vec<&Sent> = distinct.values().filter(|e| e.0 == org).collect();
        let cost: u64 = mine.iter().map(|e| e.5).sum();
        let users: BTreeSet<&str> = mine.iter().map(|e| e.2.as_str()).collect();
        let convs: BTreeSet<&str> = mine.iter().map(|e| e.3.as_str()).collect();
        for server in [&a, &b] {
            let s = server
                .get(
                    admin,
                    &format!("/v1/orgs/{org}/summary?from=2026-11-01&to=2026-12-01"),
                )
                .await;
            assert_eq!(s["messages"], mine.len() as u64, "{org}: {s}");
            assert_eq!(
                s["total_cost"],
                format!("{}.{:09}", cost / 1_000_000_000, cost % 1_000_000_000),
                "{org}: {s}"
            );
            assert_eq!(s["active_users"], users.len() as u64, "{org}: {s}");
            assert_eq!(s["conversations"], convs.len() as u64, "{org}: {s}");
        }
        // Each person's cost and messages, over the month and over a range
        // that starts and ends inside it: the running totals' slices were
        // made by both servers at once, mostly for days before the last.
        for (from, to, end) in [(1, 31, "2026-12-01"), (10, 20, "2026-11-20")] {
            let mut people: BTreeMap<String, (u64, u64)> = BTreeMap::new();
            for e in mine.iter().filter(|e| (from..to).contains(&e.4)) {
                let p = people.entry(e.2.clone()).or_default();
                *p = (p.0 + e.5, p.1 + 1);
            }
            let url = format!("/v1/orgs/{org}/users?from=2026-11-{from:02}&to={end}&limit=100");
            for server in [&a, &b] {
                let list = server.get(admin, &url).await;
                let got: BTreeMap<String, (u64, u64)> = list["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["user_id"].as_str().unwrap().to_owned(),
                            cost_and_messages(p),
                        )
                    })
                    .collect();
                assert_eq!(got, people, "{org}: people over November {from} to {end}");
            }
        }
        // Each person's cost and messages by model and day and by model and
        // month (two dimensions and time: the cube's buckets, read from packs
        // where the servers had packed a bucket and nothing changed it
        // since, else from its cells).
        for group in ["day", "month"] {
            let mut cells: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
            for e in &mine {
                let date = match group {
                    "day" => format!("2026-11-{:02}", e.4),
                    _ => "2026-11-01".to_owned(),
                };
                let c = cells.entry((e.2.clone(), date)).or_default();
                *c = (c.0 + e.5, c.1 + 1);
            }
            let url = format!(
                "/v1/orgs/{org}/breakdown?group_by=user,model,{group}&from=2026-11-01&to=2026-12-01&format=json"
            );
            for server in [&a, &b] {
                let rows = server.get(admin, &url).await;
                let got: BTreeMap<(String, String), (u64, u64)> = rows
                    .as_array()
                    .unwrap_or_else(|| panic!("{org}: {rows}"))
                    .iter()
                    .map(|r| {
                        assert_eq!(r["model"], "gpt-4o", "{r}");
                        let key = (
                            r["user_id"].as_str().unwrap().to_owned(),
                            r[group].as_str().unwrap().to_owned(),
                        );
                        (key, cost_and_messages(r))
                    })
                    .collect();
                assert_eq!(got, cells, "{org}: people by {group}");
            }
        }
        // Conversations start on their earliest event, whichever server saw it.
        let daily = a
            .get(
                admin,
                &format!("/v1/orgs/{org}/timeseries?bucket=day&from=2026-11-01&to=2026-12-01"),
            )
            .await;
        let mut first: BTreeMap<&str, (u32, u64, &str)> = BTreeMap::new();
        for e in &mine {
            let at = (e.4, e.5 % 24, e.1.as_str());
            let slot = first.entry(e.3.as_str()).or_insert(at);
            if at < *slot {
                *slot = at;
            }
        }
        let mut starts: BTreeMap<String, u64> = BTreeMap::new();
        for (day, _, _) in first.values() {
            *starts.entry(format!("2026-11-{day:02}")).or_default() += 1;
        }
        let got: BTreeMap<String, u64> = daily["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["conversations"].as_u64().unwrap_or(0) > 0)
            .map(|p| {
                (
                    p["date"].as_str().unwrap().to_owned(),
                    p["conversations"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, starts, "{org}: conversation starts by day");
    }
    // The servers did pack while writing (the answers above were read
    // from packs as well as cells).
    let packs: i64 = {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM cube_packs")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert!(packs > 0, "no bucket was packed");
    drop((a, b));
    for org in ["acme", "globex"] {
        let out = spendlens(&["verify", "--db", &db.url, "--org", org]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// Issue 6 on several servers: every process watches budgets and races the
/// others to record a crossing; the database's unique key makes each
/// threshold of each period recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_record_each_budget_threshold_once() {
    let Some(db) = spendlens_store::postgres::testing::create().await else {
        return;
    };
    let admin = "multinode-admin";
    let servers = [serve(&db.url, admin).await, serve(&db.url, admin).await];
    let (status, body) = servers[0]
        .post(
            admin,
            "/v1/orgs",
            &json!({"id": "acme", "name": "Acme", "timezone": "UTC"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = servers[1]
        .post(
            admin,
            "/v1/orgs/acme/budgets",
            &json!({"id": "org-day", "scope": "org", "period": "daily", "amount": "1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let now = jiff::Timestamp::now().to_string();
    // Twenty requests at once over both servers, each enough alone to cross
    // every threshold.
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let base = servers[i % 2].base();
            let body = json!([{"event_id": format!("e{i}"), "occurred_at": now, "organization_id": "acme",
                "user_id": format!("u{}", i % 3), "conversation_id": format!("c{i}"), "model_name": "gpt-4o",
                "tokens_in": 10, "tokens_out": 5, "actual_api_cost": "2"}]);
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(admin)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for s in sends {
        assert_eq!(s.await.unwrap(), 200);
    }
    let mut alerts = Value::Null;
    for _ in 0..200 {
        alerts = servers[0].get(admin, "/v1/orgs/acme/alerts").await;
        if alerts["data"].as_array().map_or(0, Vec::len) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both watchers have seen every commit by now; give them time to race.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for server in &servers {
        let alerts = server.get(admin, "/v1/orgs/acme/alerts").await;
        let mut thresholds: Vec<f64> = alerts["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["threshold"].as_f64().unwrap())
            .collect();
        thresholds.sort_by(f64::total_cmp);
        assert_eq!(thresholds, [0.5, 0.8, 1.0], "{alerts}");
    }
    assert!(alerts["data"].as_array().is_some());
}
