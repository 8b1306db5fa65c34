//! Process metrics, served at `/metrics` in the Prometheus (OpenMetrics) text
//! format: ingestion outcomes, rejections by error code, request latency per
//! route, store commit timings and the ingest queue depth.
//!
//! Labels are bounded on purpose: the route label is the matched path pattern
//! (`/v1/orgs/{org}/summary`), never the URL, so ids never become label values.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use spendlens_store::model::BatchOutcome;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// 0.25 ms to ~8 s: dashboard reads sit at the low end, big commits at the top.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 10))
}

pub struct Metrics {
    registry: Registry,
    requests: Counter,
    accepted: Counter,
    duplicates: Counter,
    quarantined: Counter,
    rejected: Family<CodeLabels, Counter>,
    busy: Counter,
    http: HistogramFamily<RouteLabels>,
    commit_seconds: Histogram,
    commit_events: Histogram,
    commit_failures: Counter,
    queue_depth: Gauge,
    upkeep_backlog: Gauge,
    queued_cells: Gauge,
    kept_projections: Gauge,
    kept_bytes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            requests: Counter::default(),
            accepted: Counter::default(),
            duplicates: Counter::default(),
            quarantined: Counter::default(),
            rejected: Family::default(),
            busy: Counter::default(),
            http: Family::new_with_constructor(latency_histogram),
            commit_seconds: latency_histogram(),
            commit_events: size_histogram(),
            commit_failures: Counter::default(),
            queue_depth: Gauge::default(),
            upkeep_backlog: Gauge::default(),
            queued_cells: Gauge::default(),
            kept_projections: Gauge::default(),
            kept_bytes: Gauge::default(),
        };
        let mut registry = Registry::default();
        let r = &mut registry;
        r.register(
            "spendlens_ingest_requests",
            "Ingest requests answered",
            m.requests.clone(),
        );
        r.register(
            "spendlens_events_accepted",
            "Events stored",
            m.accepted.clone(),
        );
        r.register(
            "spendlens_events_duplicate",
            "Events already stored (replays), counted once",
            m.duplicates.clone(),
        );
        r.register(
            "spendlens_events_quarantined",
            "Events kept in quarantine until their organisation exists",
            m.quarantined.clone(),
        );
        r.register(
            "spendlens_events_rejected",
            "Events refused, by error code",
            m.rejected.clone(),
        );
        r.register(
            "spendlens_ingest_busy",
            "Ingest requests refused with 429 (queue full)",
            m.busy.clone(),
        );
        r.register(
            "spendlens_http_request_duration_seconds",
            "Time to answer a request, by route pattern, method and status",
            m.http.clone(),
        );
        r.register(
            "spendlens_store_commit_duration_seconds",
            "Time of one ingest transaction (group commit) in the store",
            m.commit_seconds.clone(),
        );
        r.register(
            "spendlens_store_commit_events",
            "Events in one ingest transaction",
            m.commit_events.clone(),
        );
        r.register(
            "spendlens_store_commit_failures",
            "Ingest transactions that failed (nothing of them stored)",
            m.commit_failures.clone(),
        );
        r.register(
            "spendlens_ingest_queue_events",
            "Events waiting to be written",
            m.queue_depth.clone(),
        );
        r.register(
            "spendlens_store_upkeep_backlog",
            "Background upkeep waiting in the store (embedded store: cube buckets to pack)",
            m.upkeep_backlog.clone(),
        );
        r.register(
            "spendlens_store_queued_cells",
            "Cell deltas committed but not yet in the aggregates (embedded store, while ingestion is busy)",
            m.queued_cells.clone(),
        );
        r.register(
            "spendlens_store_kept_projections",
            "Packs' groups kept in memory for questions of the same shape",
            m.kept_projections.clone(),
        );
        r.register(
            "spendlens_store_kept_projection_bytes",
            "Bytes those kept groups hold (SPENDLENS_PACK_CACHE_MB bounds them)",
            m.kept_bytes.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn record(&self, outcome: &BatchOutcome) {
        self.requests.inc();
        self.accepted.inc_by(outcome.accepted);
        self.duplicates.inc_by(outcome.duplicates);
        self.quarantined.inc_by(outcome.quarantined);
        for error in &outcome.errors {
            self.rejected
                .get_or_create(&CodeLabels {
                    code: error.code.as_str().to_owned(),
                })
                .inc();
        }
    }

    pub fn busy(&self) {
        self.busy.inc();
    }

    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.http
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .observe(took.as_secs_f64());
    }

    pub fn commit(&self, events: usize, took: Duration, ok: bool) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_events.observe(events as f64);
        if !ok {
            self.commit_failures.inc();
        }
    }

    pub fn render(&self, queue_depth: usize, store: &dyn spendlens_store::Store) -> String {
        let kept = store.kept_projections();
        self.queue_depth.set(queue_depth as i64);
        self.upkeep_backlog.set(store.upkeep_backlog() as i64);
        self.queued_cells.set(store.queued_cells() as i64);
        self.kept_projections.set(kept.0 as i64);
        self.kept_bytes.set(kept.1 as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Times every request under its route pattern.
pub async fn observe(
    axum::extract::State(metrics): axum::extract::State<std::sync::Arc<Metrics>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    metrics.request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
