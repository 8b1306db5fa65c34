//! `spendlens bench query`: load a dataset into a server process over HTTP,
//! then time every analytics endpoint for the largest organisation over the
//! BENCH.md ranges (30 and 180 days ending on the anchor, this month), and the
//! platform endpoints, and the dashboard's organisation and person pages.
//! Prints p50/p95/p99 per endpoint and range.

use super::bench::{
    create_orgs, kept_marker, load, peak_rss_kb, prepare, rss_now, start_server, Args,
};
use super::gen::{spec, today_utc};
use spendlens_datagen::setup;
use std::sync::Arc;
use std::time::Instant;

/// Lines enough to feed the budget check's timed ingestion: the 3 s probe,
/// then ~25 s at half the top rate (~110,000 lines on `medium`, fewer on `large`).
const REPLAY_LINES: u64 = 300_000;

/// Budget checks timed while the replay runs (20 ms apart), enough for a p99.
const CHECKS_WHILE_INGESTING: usize = 1_000;

pub(super) fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Wait until the server reports no background upkeep left
/// (`spendlens_store_upkeep_backlog` 0), so reads are timed on the store as
/// it stays, not while it is still being packed. Returns the seconds waited.
async fn settle(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    loop {
        if gauge(client, base, token, "spendlens_store_upkeep_backlog").await? == 0.0 {
            return Ok(t.elapsed().as_secs_f64());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// One gauge of the server's `/metrics`.
async fn gauge(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> anyhow::Result<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("/metrics has no {name}"))
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
    if let Some(d) = &args.store {
        std::fs::create_dir_all(d)?;
    }
    let kept = kept_marker(args);
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
    let get_as = |token: String, path: String| {
        let (client, base) = (client.clone(), server.base.clone());
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
    let get = |path: String| get_as(server.token.clone(), path);
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
    // "first" is the first asking of a question: before it, the packs'
    // groups kept for that shape are only those earlier questions left
    // (packs/projections.rs); p50–p99 are of the askings after three.
    println!("\n| endpoint ({org}, {} dataset, {}) | range | first ms | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|", args.dataset, super::bench::backend(args));
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
            let first = get(path.clone()).await?;
            for _ in 0..2 {
                get(path.clone()).await?;
            }
            let mut ms = Vec::with_capacity(reps);
            for _ in 0..reps {
                ms.push(get(path.clone()).await?);
            }
            ms.sort_by(f64::total_cmp);
            let line = format!(
                "| {name} | {range} | {first:.1} | {:.1} | {:.1} | {:.1} |",
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
    // Asked as the IDE's back end asks it: with an ingest token of the
    // organisation, which the server looks up on every request (the
    // bootstrap token is compared in memory and would hide that lookup).
    let made: serde_json::Value = client
        .post(format!("{}/v1/tokens", server.base))
        .bearer_auth(&server.token)
        .json(&serde_json::json!({"role": "ingest", "organization_id": org, "name": "bench budget check"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ingest = made["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("POST /v1/tokens gave no token"))?
        .to_owned();
    let check = format!("/v1/budget-check?organization_id={org}&user_id={user}&api_key_id=none");
    let ask = || get_as(ingest.clone(), check.clone());
    // Enough to reach every connection of a server's pool (16 by default)
    // at least twice: on PostgreSQL a connection's first check plans the
    // check's function (7 ms on `large`), which a server pays once per
    // connection, not per check.
    for _ in 0..50 {
        ask().await?;
    }
    let mut ms: Vec<f64> = Vec::with_capacity(reps * 5);
    for _ in 0..reps * 5 {
        ms.push(ask().await?);
    }
    println!(
        "{}",
        now_row("budget-check (2 hard limits, ingest token)", ms)
    );
    // Memory before the feeder ingests: which of reads and ingestion sets the peak.
    let after_questions = rss_now(server.child.id());
    // The same check while ingestion runs at half its top rate (BENCH.md):
    // the dataset again under new event ids. The feeder first sends as fast
    // as four batches in flight allow, which measures the top rate on this
    // store as it now is, then paces itself at half of it while the check is
    // timed. Fresh ids per run, so a kept store takes these as new events
    // too; the bodies are rewritten before the clock starts and sent from a
    // thread and runtime of their own, as an IDE asking the check is another
    // process and the feeder's work must not delay the timed client.
    //
    // The replayed events happen now, one millisecond apart up to this
    // moment: an IDE reports calls as they are made, so the check is timed
    // while today's figures, which it reads, are being written. Replayed at
    // their own dates, the events went into history a store had already
    // packed, which took them at a tenth of the rate and left the check an
    // idle store; all at one instant, they made one tie of ~100,000
    // messages that the export after had to sort in memory.
    let again = format!("\"event_id\":\"again-{}-", std::process::id());
    let lines: usize = replay.iter().map(|(n, _)| n).sum();
    let mut at = jiff::Timestamp::now() - jiff::SignedDuration::from_millis(lines as i64);
    let mut next = || {
        at += jiff::SignedDuration::from_millis(1);
        format!(
            "\"occurred_at\":\"{}",
            at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        )
    };
    let width = "\"occurred_at\":\"".len() + "2026-01-01T00:00:00.000Z".len();
    let fresh: Vec<(usize, Vec<u8>)> = replay
        .iter()
        .map(|(n, body)| (*n, retimed(body, &again, &mut next, width)))
        .collect();
    drop(replay);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (paced_tx, paced_rx) = std::sync::mpsc::channel();
    let feeding = {
        let (base, token, stop) = (server.base.clone(), server.token.clone(), stop.clone());
        std::thread::spawn(move || feed(&base, &token, fresh, &stop, paced_tx))
    };
    let half = tokio::task::spawn_blocking(move || paced_rx.recv()).await?;
    anyhow::ensure!(half.is_ok(), "the feeder stopped before pacing");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // Beside each check, the floors it stands on in the same moment: a
    // request that reads nothing (`/healthz`) and one that asks the store
    // one trivial question (`/readyz`).
    let mut ms: Vec<f64> = Vec::with_capacity(CHECKS_WHILE_INGESTING);
    let (mut health, mut ready) = (ms.clone(), ms.clone());
    for _ in 0..CHECKS_WHILE_INGESTING {
        ms.push(ask().await?);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        health.push(get("/healthz".into()).await?);
        ready.push(get("/readyz".into()).await?);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let fed = match tokio::task::spawn_blocking(move || feeding.join()).await? {
        Ok(fed) => fed?,
        Err(_) => anyhow::bail!("the feeder panicked"),
    };
    if !fed.stopped {
        eprintln!("warning: the replay ran out before the timed checks ended");
    }
    let what = format!(
        "budget-check while ingesting at ~{:.0} events/s (top {:.0} on this store)",
        fed.paced, fed.top
    );
    println!("{}", now_row(&what, ms));
    println!("{}", now_row("/healthz (no store), same moments", health));
    println!(
        "{}",
        now_row("/readyz (one store round trip), same moments", ready)
    );
    let kept = gauge(
        &client,
        &server.base,
        &server.token,
        "spendlens_store_kept_projection_bytes",
    )
    .await?;
    println!(
        "\nserver memory after the timed questions, before the feeder: {after_questions}; packs' groups kept: {:.1} MB",
        kept / 1048576.0
    );
    // The export of the largest organisation's messages, once the feeder's
    // events are folded and packed: its memory is then its own.
    let waited = settle(&client, &server.base, &server.token).await?;
    eprintln!("upkeep after the feeder finished in {waited:.1} s");
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

/// A row of the table for a question asked now: p50, p95 and p99 of `ms`.
fn now_row(what: &str, mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "| {what} | now | | {:.1} | {:.1} | {:.1} |",
        pct(&ms, 0.5),
        pct(&ms, 0.95),
        pct(&ms, 0.99)
    )
}

/// `body`'s events under new ids (`again` in place of each id's opening)
/// and at the instants `at` gives, one per event, each replacing
/// `"occurred_at":"…` of the dataset's fixed `width`.
fn retimed(body: &[u8], again: &str, at: &mut impl FnMut() -> String, width: usize) -> Vec<u8> {
    const AT: &str = "\"occurred_at\":\"";
    let text = String::from_utf8_lossy(body).replace("\"event_id\":\"", again);
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find(AT) {
        out.push_str(&rest[..i]);
        let now = at();
        assert_eq!(
            now.len(),
            width,
            "the feeder's timestamp {now} is not of the dataset's width"
        );
        out.push_str(&now);
        rest = &rest[i + width..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// What the feeder reached: events/s acknowledged unpaced (the top rate)
/// and while paced at half of it; whether it was stopped (not out of bodies).
struct Fed {
    top: f64,
    paced: f64,
    stopped: bool,
}

/// How long the feeder sends unpaced to measure the top rate.
const PROBE: std::time::Duration = std::time::Duration::from_secs(3);

/// Sends `bodies` with up to four batches in flight (as the load's four
/// clients): unpaced for `PROBE`, then at half the rate acknowledged so far,
/// announced on `paced`, until `stop` or the end. Runs a runtime of its own
/// on the calling thread.
fn feed(
    base: &str,
    token: &str,
    bodies: Vec<(usize, Vec<u8>)>,
    stop: &std::sync::atomic::AtomicBool,
    paced: std::sync::mpsc::Sender<f64>,
) -> anyhow::Result<Fed> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let slots = Arc::new(tokio::sync::Semaphore::new(4));
        let acked = Arc::new(AtomicU64::new(0));
        let mut sending = tokio::task::JoinSet::new();
        let mut send = |n: usize, body: Vec<u8>, slot: tokio::sync::OwnedSemaphorePermit| {
            let request = client
                .post(format!("{base}/v1/events"))
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .body(body);
            let acked = acked.clone();
            sending.spawn(async move {
                if request.send().await.is_ok_and(|r| r.status().is_success()) {
                    acked.fetch_add(n as u64, Ordering::Relaxed);
                }
                drop(slot);
            });
        };
        let mut bodies = bodies.into_iter();
        let started = Instant::now();
        while started.elapsed() < PROBE {
            let Some((n, body)) = bodies.next() else {
                break;
            };
            send(n, body, slots.clone().acquire_owned().await?);
        }
        let top = acked.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
        let rate = (top / 2.0).max(1.0);
        let _ = paced.send(rate);
        let (before, since) = (acked.load(Ordering::Relaxed), Instant::now());
        let (mut due, mut stopped) = (0u64, false);
        for (n, body) in bodies {
            if let Some(wait) =
                std::time::Duration::from_secs_f64(due as f64 / rate).checked_sub(since.elapsed())
            {
                tokio::time::sleep(wait).await;
            }
            if stop.load(Ordering::Relaxed) {
                stopped = true;
                break;
            }
            due += n as u64;
            send(n, body, slots.clone().acquire_owned().await?);
        }
        let secs = since.elapsed().as_secs_f64();
        while sending.join_next().await.is_some() {}
        let paced = (acked.load(Ordering::Relaxed) - before) as f64 / secs;
        Ok(Fed {
            top,
            paced,
            stopped,
        })
    })
}
