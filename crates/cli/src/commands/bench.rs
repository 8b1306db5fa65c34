//! `spendlens bench ingest`: a server process on a fresh SQLite file, loaded
//! over HTTP by concurrent clients sending pre-serialised NDJSON batches
//! (BENCH.md). Prints events/s, request latencies and the server's peak RSS.

use super::gen::{spec, today_utc};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use spendlens_datagen::{lines, setup, Spec};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to measure: `ingest`, `query` (the analytics endpoints after
    /// loading the dataset) or `load` (a mix of both and exports under many connections).
    #[arg(default_value = "ingest")]
    pub what: String,
    /// small, medium, large or demo
    #[arg(long, default_value = "medium")]
    pub dataset: String,
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Repeat the whole run, each on a fresh database; the median is reported
    /// (for `query`: timed requests per endpoint and range).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Only the first N lines of the dataset (for a quick check).
    #[arg(long)]
    pub limit: Option<u64>,
    /// `load`: concurrent connections mixing ingestion, queries and exports.
    #[arg(long, default_value_t = 200)]
    pub connections: usize,
    /// `load`: how long the mix runs.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Run on PostgreSQL instead of an embedded store: a fresh database per
    /// run on the server this URL names (its role may create databases).
    #[arg(long, env = "SPENDLENS_BENCH_PG")]
    pub postgres: Option<String>,
    /// Server processes sharing the one database (PostgreSQL only); clients
    /// are spread over them.
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
    /// `query`: after the run, keep the loaded server up (its address and
    /// token printed) until Ctrl-C, to look at the dataset in the dashboard.
    #[arg(long)]
    pub hold: bool,
    /// `query`: keep the loaded store (on the embedded store the SQLite file
    /// `bench-<dataset>.db` in this folder; on PostgreSQL the database
    /// `spendlens_bench_<dataset>`, with its marker file in this folder) and,
    /// when a previous run loaded it completely, time the endpoints on it
    /// without loading again (the server applies any new migration at
    /// start). The load's figures printed are then those of the run that
    /// loaded it.
    #[arg(long)]
    pub store: Option<std::path::PathBuf>,
}

pub(super) struct Run {
    pub events: u64,
    pub secs: f64,
    latencies_ms: Vec<f64>,
    peak_rss_kb: u64,
    accepted: u64,
    duplicates: u64,
    retried_429: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.what.as_str() {
        "ingest" => {}
        "query" => return super::bench_query::run(&args).await,
        "load" => return super::bench_load::run(&args).await,
        other => bail!("unknown benchmark {other:?}: ingest, query or load"),
    }
    let spec = spec(&args.dataset, today_utc())?;
    eprintln!(
        "preparing {} batches of {} lines from `{}`…",
        args.dataset, args.batch, args.dataset
    );
    let bodies = Arc::new(prepare(&spec, args.batch, args.limit));
    let total_lines: u64 = bodies.iter().map(|(n, _)| *n as u64).sum();
    let mut runs = Vec::new();
    for i in 0..args.runs {
        eprintln!(
            "run {}/{}: {total_lines} lines, {} clients",
            i + 1,
            args.runs,
            args.clients
        );
        let r = one_run(&spec, bodies.clone(), &args).await?;
        report(&r, &args);
        runs.push(r);
    }
    if runs.len() > 1 {
        let mut rates: Vec<f64> = runs.iter().map(|r| r.events as f64 / r.secs).collect();
        rates.sort_by(f64::total_cmp);
        println!(
            "median over {} runs: {:.0} events/s (min {:.0}, max {:.0})",
            runs.len(),
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        );
    }
    Ok(())
}

pub(super) fn prepare(spec: &Spec, batch: usize, limit: Option<u64>) -> Vec<(usize, Vec<u8>)> {
    let mut gen = lines(spec);
    let mut out = Vec::new();
    let mut body = Vec::new();
    let (mut n, mut all) = (0usize, 0u64);
    while limit.is_none_or(|l| all < l) && gen.write_next(&mut body) {
        n += 1;
        all += 1;
        if n == batch {
            out.push((n, std::mem::take(&mut body)));
            n = 0;
        }
    }
    if n > 0 {
        out.push((n, body));
    }
    out
}

/// The server processes of one run (the first answers queries), and where
/// their data lives.
pub(super) struct Server {
    pub child: Child,
    pub base: String,
    /// Every server's base URL, the first's included.
    pub bases: Vec<String>,
    others: Vec<Child>,
    pub token: String,
    /// The store's URL (a fresh SQLite file or PostgreSQL database).
    pub db: String,
    _dir: tempfile::TempDir,
    _pg: Option<spendlens_store::postgres::testing::TestDb>,
}

impl Drop for Server {
    fn drop(&mut self) {
        for c in std::iter::once(&mut self.child).chain(self.others.iter_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The backend a run measures, for the printed tables.
pub(super) fn backend(args: &Args) -> String {
    match &args.postgres {
        Some(_) => format!("PostgreSQL, {} server process(es)", args.servers.max(1)),
        None => "embedded SQLite".into(),
    }
}

async fn spawn(db: &str, token: &str) -> anyhow::Result<(Child, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(std::env::current_exe()?)
        .args(["serve", "--db", db])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SPENDLENS_ADMIN_TOKEN", token)
        // The server's own log level (`SPENDLENS_BENCH_SERVER_LOG`, default
        // warn): at debug it logs every commit's size and time.
        .env(
            "SPENDLENS_LOG",
            std::env::var("SPENDLENS_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .spawn()
        .context("starting the server")?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return Ok((child, base));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not start")
}

/// Where `--store` records that a run loaded the kept store completely (its
/// lines and seconds), one file per dataset and backend.
pub(super) fn kept_marker(args: &Args) -> Option<std::path::PathBuf> {
    let backend = if args.postgres.is_some() { "-pg" } else { "" };
    args.store
        .as_ref()
        .map(|d| d.join(format!("bench-{}{backend}.json", args.dataset)))
}

pub(super) async fn start_server(args: &Args) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let token = format!("bench-{}", std::process::id());
    let (db, pg) = match &args.postgres {
        Some(admin) => match &args.store {
            Some(_) => {
                let name = format!("spendlens_bench_{}", args.dataset);
                let fresh = !kept_marker(args).is_some_and(|m| m.exists());
                let url = spendlens_store::postgres::testing::kept_on(admin, &name, fresh)
                    .await
                    .with_context(|| format!("preparing the kept database {name} on {admin}"))?;
                (url, None)
            }
            None => {
                let pg = spendlens_store::postgres::testing::create_on(admin)
                    .await
                    .with_context(|| format!("creating a benchmark database on {admin}"))?;
                (pg.url.clone(), Some(pg))
            }
        },
        None => {
            let file = match &args.store {
                Some(kept) => {
                    std::fs::create_dir_all(kept)?;
                    kept.join(format!("bench-{}.db", args.dataset))
                }
                None => dir.path().join("bench.db"),
            };
            (format!("sqlite://{}", file.display()), None)
        }
    };
    let (child, base) = spawn(&db, &token).await?;
    let mut bases = vec![base.clone()];
    let mut others = Vec::new();
    // A kept PostgreSQL store has no `TestDb` to drop but still gets every
    // server asked for.
    if args.postgres.is_some() {
        for _ in 1..args.servers.max(1) {
            let (c, b) = spawn(&db, &token).await?;
            others.push(c);
            bases.push(b);
        }
    }
    Ok(Server {
        child,
        base,
        bases,
        others,
        token,
        db,
        _dir: dir,
        _pg: pg,
    })
}

pub(super) async fn create_orgs(server: &Server, spec: &Spec) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for org in setup(spec).orgs {
        let url = format!("{}/v1/orgs", server.base);
        let body =
            json!({"id": org.id, "name": org.name, "timezone": org.timezone, "markup": org.markup});
        let resp = client
            .post(&url)
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("creating {}: {}", org.id, resp.text().await?);
        }
        for k in org.keys {
            let url = format!("{}/v1/orgs/{}/api-keys", server.base, org.id);
            let body = json!({"id": k.id, "name": k.name, "provider": k.provider});
            client
                .post(&url)
                .bearer_auth(&server.token)
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
        }
    }
    Ok(())
}

/// A field of /proc/PID/status in kB (0 when unreadable).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub(super) fn peak_rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmHWM:")
}

/// The resident memory now, split into the process's own (heap, caches) and
/// mapped files (the database pages SQLite reads through mmap, which the
/// kernel may drop at will but which count in RSS), for the report.
pub(super) fn rss_now(pid: u32) -> String {
    format!(
        "RSS now {} MB ({} MB private, {} MB mapped files), peak {} MB",
        status_kb(pid, "VmRSS:") / 1024,
        status_kb(pid, "RssAnon:") / 1024,
        status_kb(pid, "RssFile:") / 1024,
        peak_rss_kb(pid) / 1024
    )
}

async fn one_run(
    spec: &Spec,
    bodies: Arc<Vec<(usize, Vec<u8>)>>,
    args: &Args,
) -> anyhow::Result<Run> {
    let server = start_server(args).await?;
    create_orgs(&server, spec).await?;
    load(&server, bodies, args.clients).await
}

/// Post every body with `clients` concurrent senders; the figures of the run.
pub(super) async fn load(
    server: &Server,
    bodies: Arc<Vec<(usize, Vec<u8>)>>,
    clients: usize,
) -> anyhow::Result<Run> {
    let events: u64 = bodies.iter().map(|(n, _)| *n as u64).sum();
    let next = Arc::new(AtomicUsize::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let bar = ProgressBar::new(events).with_style(
        ProgressStyle::with_template("ingest [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (bodies, next, retried, bar) =
            (bodies.clone(), next.clone(), retried.clone(), bar.clone());
        let url = format!("{}/v1/events", server.bases[c % server.bases.len()]);
        let token = server.token.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::new();
            let (mut accepted, mut duplicates) = (0u64, 0u64);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((n, body)) = bodies.get(i) else {
                    break;
                };
                loop {
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/x-ndjson")
                        .body(body.clone())
                        .send()
                        .await?;
                    if resp.status().as_u16() == 429 {
                        retried.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let status = resp.status();
                    let answer: Value = resp.json().await?;
                    if !status.is_success() {
                        anyhow::bail!("{status}: {answer}");
                    }
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    accepted += answer["accepted"].as_u64().unwrap_or(0);
                    duplicates += answer["duplicates"].as_u64().unwrap_or(0);
                    bar.inc(*n as u64);
                    break;
                }
            }
            Ok::<_, anyhow::Error>((latencies, accepted, duplicates))
        }));
    }
    let mut run = Run {
        events,
        secs: 0.0,
        latencies_ms: vec![],
        peak_rss_kb: 0,
        accepted: 0,
        duplicates: 0,
        retried_429: 0,
    };
    for t in tasks {
        let (lat, acc, dup) = t.await??;
        run.latencies_ms.extend(lat);
        run.accepted += acc;
        run.duplicates += dup;
    }
    run.secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    run.peak_rss_kb = peak_rss_kb(server.child.id());
    run.retried_429 = retried.load(Ordering::Relaxed);
    Ok(run)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(r: &Run, args: &Args) {
    let mut lat = r.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    println!(
        "ingest {} on {} ({} lines, batches of {}, {} clients): {:.0} events/s in {:.1} s; request p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; \
         server peak RSS {} MB; accepted {}, duplicates {}, 429 retries {}",
        args.dataset,
        backend(args),
        r.events,
        args.batch,
        args.clients,
        r.events as f64 / r.secs,
        r.secs,
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        r.peak_rss_kb / 1024,
        r.accepted,
        r.duplicates,
        r.retried_429
    );
}
