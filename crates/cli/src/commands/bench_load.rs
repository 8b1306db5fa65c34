//! `spendlens bench load`: after loading most of a dataset, `--connections`
//! concurrent clients mix ingestion (the rest of the dataset, then replays),
//! dashboard queries and CSV exports for `--seconds`. Prints requests, p50,
//! p95, p99 and failures per kind; fails when any request got a 5xx or an
//! unexpected answer (429 on ingestion is backpressure and is retried).

use super::bench::{create_orgs, load, peak_rss_kb, prepare, start_server, Args};
use super::gen::{spec, today_utc};
use spendlens_datagen::setup;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Kind {
    latencies_ms: Vec<f64>,
    server_errors: u64,
    other_errors: u64,
    busy: u64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

const QUERIES: [&str; 8] = [
    "summary?period=last_30d",
    "users?period=last_30d&limit=25",
    "api-keys?period=last_30d",
    "models?period=this_month",
    "timeseries?period=last_30d&bucket=day",
    "teams?period=last_30d",
    "breakdown?period=last_30d&group_by=team,model",
    "departments?period=last_90d",
];

pub async fn run(args: &Args) -> anyhow::Result<()> {
    let spec = spec(&args.dataset, today_utc())?;
    let orgs: Vec<String> = setup(&spec).orgs.into_iter().map(|o| o.id).collect();
    let bodies = prepare(&spec, args.batch, args.limit);
    // Most of the dataset first; the rest arrives during the mix.
    let split = bodies.len() * 3 / 4;
    let (first, rest) = bodies.split_at(split);
    let (first, rest) = (Arc::new(first.to_vec()), Arc::new(rest.to_vec()));
    let server = start_server(args).await?;
    create_orgs(&server, &spec).await?;
    let loaded = load(&server, first, args.clients).await?;
    eprintln!(
        "loaded {} lines; {} connections mixing ingestion, queries and exports for {} s…",
        loaded.events, args.connections, args.seconds
    );
    let kinds: Arc<[Mutex<Kind>; 3]> = Arc::new(Default::default());
    let next_batch = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        // One in five connections ingests, one in ten exports, the rest read.
        let kind = match c % 10 {
            0 | 5 => 0,
            9 => 2,
            _ => 1,
        };
        let (kinds, next_batch, stop, rest, orgs) = (
            kinds.clone(),
            next_batch.clone(),
            stop.clone(),
            rest.clone(),
            orgs.clone(),
        );
        let (base, token) = (server.base.clone(), server.token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let org = &orgs[i % orgs.len().min(5)];
                let request = match kind {
                    0 => {
                        let (_, body) =
                            &rest[next_batch.fetch_add(1, Ordering::Relaxed) % rest.len().max(1)];
                        http.post(format!("{base}/v1/events"))
                            .header("content-type", "application/x-ndjson")
                            .body(body.clone())
                    }
                    1 => http.get(format!(
                        "{base}/v1/orgs/{org}/{}",
                        QUERIES[i % QUERIES.len()]
                    )),
                    _ => http.get(format!(
                        "{base}/v1/orgs/{org}/users?period=last_90d&format=csv"
                    )),
                };
                let t = Instant::now();
                let answer = request.bearer_auth(&token).send().await;
                let outcome = match answer {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let whole = r.bytes().await.is_ok();
                        Ok((status, whole))
                    }
                    Err(e) => Err(e),
                };
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let mut k = kinds[kind].lock().unwrap();
                match outcome {
                    Ok((429, _)) if kind == 0 => k.busy += 1,
                    Ok((s, true)) if (200..300).contains(&s) => k.latencies_ms.push(ms),
                    Ok((s, _)) if s >= 500 => k.server_errors += 1,
                    _ => k.other_errors += 1,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut failed = 0;
    for (name, k) in ["ingest", "query", "export"].iter().zip(kinds.iter()) {
        let mut k = k.lock().unwrap();
        k.latencies_ms.sort_by(f64::total_cmp);
        let l = &k.latencies_ms;
        println!(
            "load {name}: {} ok ({:.0}/s), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; {} server errors, {} other errors, {} answered 429",
            l.len(),
            l.len() as f64 / secs,
            pct(l, 0.5),
            pct(l, 0.95),
            pct(l, 0.99),
            k.server_errors,
            k.other_errors,
            k.busy
        );
        failed += k.server_errors + k.other_errors;
    }
    println!(
        "load {} ({} connections, {:.0} s): {failed} failed requests; server peak RSS {} MB",
        args.dataset,
        args.connections,
        secs,
        peak_rss_kb(server.child.id()) / 1024
    );
    anyhow::ensure!(failed == 0, "{failed} requests failed");
    Ok(())
}
