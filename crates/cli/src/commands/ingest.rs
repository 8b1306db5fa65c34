//! `spendlens ingest FILE…`: into the local store (through the same queue and
//! validation as the API) or, with `--server`, to a running server.

use super::{state, DbArgs};
use crate::input::{self, Format, Record};
use crate::summary::{Chunk, Problem, Totals};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use spendlens_server::routes::events::{ingest_items, Items};
use spendlens_server::AppState;
use spendlens_store::model::IngestScope;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files of events: .json, .ndjson/.jsonl or .csv, optionally .gz.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The format of every file, instead of guessing from the names.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Send to a running server instead of opening the store.
    #[arg(long)]
    pub server: Option<String>,
    /// Token for --server (an ingest or platform_admin token).
    #[arg(long, env = "SPENDLENS_TOKEN")]
    pub token: Option<String>,
    /// Count events for this organisation (as an org-scoped ingest token would).
    #[arg(long)]
    pub org: Option<String>,
    /// Events per request or transaction (at most 10,000).
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
}

enum Sink {
    Local(AppState, IngestScope),
    Remote {
        client: reqwest::Client,
        url: String,
        token: String,
    },
}

impl Sink {
    async fn send(&self, items: Items) -> anyhow::Result<Chunk> {
        match self {
            Sink::Local(state, scope) => Ok(ingest_items(state, scope.clone(), items)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .into()),
            Sink::Remote { client, url, token } => {
                // Lines that were not JSON are answered here, the rest by the server.
                let (mut bad, mut good, mut map) = (Vec::new(), Vec::new(), Vec::new());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Ok(v) => {
                            map.push(i);
                            good.push(v);
                        }
                        Err(e) => bad.push(Problem {
                            index: i,
                            event_id: None,
                            code: e.code.as_str().to_owned(),
                            field: None,
                            message: e.message,
                        }),
                    }
                }
                let mut outcome = post(client, url, token, &good).await?;
                for e in &mut outcome.errors {
                    e.index = map[e.index];
                }
                outcome.rejected += bad.len() as u64;
                outcome.errors.extend(bad);
                Ok(outcome)
            }
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    events: &[Value],
) -> anyhow::Result<Chunk> {
    if events.is_empty() {
        return Ok(Chunk::default());
    }
    let body = serde_json::to_vec(events)?;
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        let resp = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        if status.as_u16() == 429 {
            // Nothing of the request was stored: send it again after a pause.
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(5));
            continue;
        }
        let text = resp.text().await?;
        if !status.is_success() {
            anyhow::bail!("{url} answered {status}: {text}");
        }
        return serde_json::from_str(&text)
            .with_context(|| format!("unexpected answer from {url}: {text}"));
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let batch = args
        .batch
        .clamp(1, spendlens_server::routes::events::MAX_EVENTS);
    let sink = match &args.server {
        Some(server) => {
            let token = args
                .token
                .clone()
                .context("--server needs a token: --token or SPENDLENS_TOKEN")?;
            let url = format!("{}/v1/events", server.trim_end_matches('/'));
            Sink::Remote {
                client: reqwest::Client::new(),
                url,
                token,
            }
        }
        None => {
            let store = args.db.open().await?;
            let scope = match &args.org {
                Some(org) => {
                    store
                        .get_org(org)
                        .await
                        .map_err(|e| anyhow::anyhow!("--org {org}: {e}"))?;
                    IngestScope::Org(org.clone())
                }
                None => IngestScope::Platform,
            };
            Sink::Local(state(store, None), scope)
        }
    };
    let mut totals = Totals::default();
    for path in &args.files {
        let format = match args.format {
            Some(f) => f,
            None => input::detect(path)?,
        };
        let (reader, size) = input::open(path)?;
        let name = path.display().to_string();
        let bar = ProgressBar::new(size).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {percent}% {per_sec} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(name.clone());
        let mut items: Items = Vec::with_capacity(batch);
        let mut positions = Vec::with_capacity(batch);
        let mut bytes = 0u64;
        for record in input::records(format, reader).with_context(|| name.clone())? {
            let Record { position, item } = record.with_context(|| name.clone())?;
            bytes += item
                .as_ref()
                .map(|v| v.to_string().len() as u64 + 1)
                .unwrap_or(1);
            positions.push(position);
            items.push(item);
            if items.len() == batch {
                let outcome = sink.send(std::mem::take(&mut items)).await?;
                totals.add(&name, &positions, &outcome);
                positions.clear();
                bar.set_position(bytes.min(size));
            }
        }
        if !items.is_empty() {
            let outcome = sink.send(items).await?;
            totals.add(&name, &positions, &outcome);
        }
        bar.finish_and_clear();
    }
    totals.print();
    if totals.rejected > 0 {
        std::process::exit(2);
    }
    Ok(())
}
