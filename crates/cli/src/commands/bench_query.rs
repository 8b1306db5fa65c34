//! `spendlens bench query`: load a dataset into a server process over HTTP,
//! then time every analytics endpoint for the largest organisation over the
//! BENCH.md ranges (30 and 180 days ending on the anchor, this month), and the
//! platform endpoints, and the dashboard's organisation and person pages.
//! Prints p50/p95/p99 per endpoint and range.

use super::bench::{create_orgs, load, peak_rss_kb, prepare, rss_now, start_server, Args};
use super::gen::{spec, today_utc};
use spendlens_datagen::setup;
use std::sync::Arc;
use std::time::Instant;

/// Lines enough to feed the budget check's timed ingestion (a few seconds).
const REPLAY_LINES: u64 = 300_000;

pub(super) fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Wait until the server reports no background upkeep left
/// (`spendlens_store_upkeep_backlog` 0), so reads are timed on the store as
/// it stays, not while it is still being packed. Returns the seconds waited.
async fn settle(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    loop {
        let text = client
            .get(format!("{base}/metrics"))
            .bearer_auth(token)
            .send()
            .await?
            .text()
            .await?;
        let backlog = text
            .lines()
            .find_map(|l| l.strip_prefix("spendlens_store_upkeep_backlog "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("/metrics has no spendlens_store_upkeep_backlog"))?;
        if backlog == 0.0 {
            return Ok(t.elapsed().as_secs_f64());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let anchor = today_utc();
    let spec = spec(&args.dataset, anchor)?;
    let org = setup(&spec)
        .orgs
        .into_iter()
        .next()
        .map(|o| o.id)
        .unwrap_or_default();
    // A kept store that a previous run loaded: only what the timed
    // ingestion below replays is prepared.
    let kept = args
        .store
        .as_ref()
        .map(|d| d.join(format!("bench-{}.json", args.dataset)));
    let before: Option<(u64, f64)> = kept
        .as_ref()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let limit = match before {
        Some(_) => Some(args.limit.unwrap_or(u64::MAX).min(REPLAY_LINES)),
        None => args.limit,
    };
    eprintln!("preparing `{}`…", args.dataset);
    let bodies = Arc::new(prepare(&spec, args.batch, limit));
    let replay = bodies.clone();
    let server = start_server(args).await?;
    let (events, secs) = match before {
        Some(loaded) => {
            eprintln!("reusing the store a previous run loaded (--store)");
            loaded
        }
        None => {
            eprintln!("loading `{}` over HTTP…", args.dataset);
            create_orgs(&server, &spec).await?;
            let run = load(&server, bodies, args.clients).await?;
            if let Some(f) = &kept {
                std::fs::write(f, serde_json::to_vec(&(run.events, run.secs))?)?;
            }
            (run.events, run.secs)
        }
    };
    println!(
        "loaded {events} lines in {secs:.1} s ({:.0} events/s){}; server {}",
        events as f64 / secs,
        if before.is_some() {
            " by an earlier run"
        } else {
            ""
        },
        rss_now(server.child.id())
    );
    let client = reqwest::Client::new();
    let waited = settle(&client, &server.base, &server.token).await?;
    println!(
        "the store's background upkeep (packing the cube's sealed buckets) finished {waited:.1} s after loading; server {}",
        rss_now(server.child.id())
    );
    let get = |path: String| {
        let (client, base, token) = (client.clone(), server.base.clone(), server.token.clone());
        async move {
            let t = Instant::now();
            let resp = client
                .get(format!("{base}{path}"))
                .bearer_auth(&token)
                .send()
                .await?;
            let status = resp.status();
            let _ = resp.bytes().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            Ok::<f64, anyhow::Error>(t.elapsed().as_secs_f64() * 1e3)
        }
    };
    // The busiest person, for the person page.
    let top: serde_json::Value = client
        .get(format!(
            "{}/v1/orgs/{org}/users?period=last_30d&limit=1",
            server.base
        ))
        .bearer_auth(&server.token)
        .send()
        .await?
        .json()
        .await?;
    let user = top["data"][0]["user_id"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let d = |days: i64| {
        anchor
            .checked_sub(jiff::ToSpan::days(days - 1))
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    let to = anchor.tomorrow().map(|d| d.to_string()).unwrap_or_default();
    let ranges = [
        ("30 d", format!("from={}&to={to}", d(30))),
        ("180 d", format!("from={}&to={to}", d(180))),
        ("this month", "period=this_month".to_owned()),
    ];
    let endpoints = [
        "summary",
        "timeseries?bucket=day",
        "users",
        "api-keys",
        "models",
        "teams",
        "departments",
        "breakdown?group_by=user,model",
        "breakdown?group_by=team,api_key,day",
    ];
    let reps = args.runs.max(20);
    println!("\n| endpoint ({org}, {} dataset, {}) | range | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|", args.dataset, super::bench::backend(args));
    let mut rows = Vec::new();
    let mut summaries: Vec<(&str, f64)> = Vec::new();
    for (range, q) in &ranges {
        let mut paths: Vec<(String, String)> = endpoints
            .iter()
            .map(|e| {
                let sep = if e.contains('?') { '&' } else { '?' };
                (e.to_string(), format!("/v1/orgs/{org}/{e}{sep}{q}"))
            })
            .collect();
        paths.push((
            "users/{top user}".to_string(),
            format!("/v1/orgs/{org}/users/{user}?{q}"),
        ));
        paths.push((
            "users/{top user}/conversations".to_string(),
            format!("/v1/orgs/{org}/users/{user}/conversations?{q}"),
        ));
        // The dashboard's pages (HTML), which call the handlers above.
        paths.push((
            "page /orgs/{org} (HTML)".to_string(),
            format!("/orgs/{org}?{q}"),
        ));
        paths.push((
            "page /orgs/{org}/users/{top user} (HTML)".to_string(),
            format!("/orgs/{org}/users/{user}?{q}"),
        ));
        paths.push((
            "platform/summary".into(),
            format!("/v1/platform/summary?{q}"),
        ));
        paths.push((
            "platform/organizations".into(),
            format!("/v1/platform/organizations?{q}"),
        ));
        for (name, path) in paths {
            for _ in 0..3 {
                get(path.clone()).await?;
            }
            let mut ms = Vec::with_capacity(reps);
            for _ in 0..reps {
                ms.push(get(path.clone()).await?);
            }
            ms.sort_by(f64::total_cmp);
            let line = format!(
                "| {name} | {range} | {:.1} | {:.1} | {:.1} |",
                pct(&ms, 0.5),
                pct(&ms, 0.95),
                pct(&ms, 0.99)
            );
            println!("{line}");
            rows.push(line);
            if name == "summary" {
                summaries.push((range, pct(&ms, 0.5)));
            }
        }
    }
    // The budget check an IDE asks before each call: hard limits on the
    // organisation and on the person, answered from the store.
    for body in [
        serde_json::json!({"id": "bench-org", "scope": "org", "period": "monthly", "amount": "1000000", "hard_limit": true}),
        serde_json::json!({"id": "bench-user", "scope": "user", "scope_id": user, "period": "daily", "amount": "1000", "hard_limit": true}),
    ] {
        let resp = client
            .post(format!("{}/v1/orgs/{org}/budgets", server.base))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await?;
        // A kept store (--store) has them from the run before.
        if resp.status() != reqwest::StatusCode::CONFLICT {
            resp.error_for_status()?;
        }
    }
    let check = format!("/v1/budget-check?organization_id={org}&user_id={user}&api_key_id=none");
    for _ in 0..3 {
        get(check.clone()).await?;
    }
    let mut ms: Vec<f64> = Vec::with_capacity(reps * 5);
    for _ in 0..reps * 5 {
        ms.push(get(check.clone()).await?);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "| budget-check (2 hard limits) | now | {:.1} | {:.1} | {:.1} |",
        pct(&ms, 0.5),
        pct(&ms, 0.95),
        pct(&ms, 0.99)
    );
    // The same check while ingestion runs at about half the measured top rate
    // (BENCH.md): the dataset again under new event ids, paced by a timer.
    let per_second = (events as f64 / secs / 2.0).max(1.0);
    // Fresh ids per run, so a kept store takes these as new events too.
    let again = format!("\"event_id\":\"again-{}-", std::process::id());
    let feeding = {
        let (client, base, token) = (client.clone(), server.base.clone(), server.token.clone());
        tokio::spawn(async move {
            let mut sent = 0u64;
            let started = Instant::now();
            for (n, body) in replay.iter() {
                let fresh = String::from_utf8_lossy(body).replace("\"event_id\":\"", &again);
                let _ = client
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&token)
                    .header("content-type", "application/x-ndjson")
                    .body(fresh)
                    .send()
                    .await;
                sent += *n as u64;
                let due = std::time::Duration::from_secs_f64(sent as f64 / per_second);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            sent as f64 / started.elapsed().as_secs_f64()
        })
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut ms: Vec<f64> = Vec::with_capacity(reps * 5);
    for _ in 0..reps * 5 {
        ms.push(get(check.clone()).await?);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    feeding.abort();
    ms.sort_by(f64::total_cmp);
    println!(
        "| budget-check while ingesting at ~{per_second:.0} events/s | now | {:.1} | {:.1} | {:.1} |",
        pct(&ms, 0.5),
        pct(&ms, 0.95),
        pct(&ms, 0.99)
    );
    // The export of the largest organisation's messages.
    let t = Instant::now();
    let rss_before = peak_rss_kb(server.child.id());
    let resp = client
        .get(format!(
            "{}/v1/orgs/{org}/messages?{}&format=csv",
            server.base, ranges[1].1
        ))
        .bearer_auth(&server.token)
        .send()
        .await?;
    // Counted chunk by chunk: holding the whole download (400 MB for
    // `large`) would time this client's copying rather than the server.
    let mut resp = resp.error_for_status()?;
    let mut newlines = 0usize;
    while let Some(chunk) = resp.chunk().await? {
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let lines = newlines.saturating_sub(1);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "\nexport: {lines} messages as CSV in {secs:.2} s = {:.0} rows/s; server peak RSS {} MB before, {} MB after",
        lines as f64 / secs,
        rss_before / 1024,
        peak_rss_kb(server.child.id()) / 1024
    );
    println!(
        "server memory after the run: {}",
        rss_now(server.child.id())
    );
    if args.postgres.is_some() {
        super::bench_plain::compare(&server.db, &org, anchor, reps, &summaries).await?;
    }
    if args.hold {
        eprintln!(
            "holding the server at {} (token {}, pid {}) until Ctrl-C…",
            server.base,
            server.token,
            server.child.id()
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
