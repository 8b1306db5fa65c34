//! The spendlens HTTP API (API.md). `app` builds the router over any
//! `Store`; `serve` runs it on a listener until shutdown.

pub mod access;
pub mod auth;
pub mod budgets;
pub mod error;
pub mod ingest_queue;
pub mod insights;
pub mod lifecycle;
pub mod metrics;
pub mod pages;
pub mod routes;

use ingest_queue::IngestQueue;
use spendlens_store::Store;
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingest: IngestQueue,
    /// SHA-256 of `SPENDLENS_ADMIN_TOKEN`, when set.
    pub admin_token_hash: Option<String>,
    pub metrics: Arc<metrics::Metrics>,
    pub budgets: budgets::watch::Watcher,
    pub webhooks: budgets::webhook::Webhooks,
    /// The dashboard's advisory panels, reused for a minute (insights/cache.rs).
    pub panels: Arc<insights::cache::PanelCache>,
}

/// Settings of a server beyond its store.
#[derive(Debug, Clone)]
pub struct Config {
    /// The bootstrap platform-admin secret (`SPENDLENS_ADMIN_TOKEN`).
    pub admin_token: Option<String>,
    /// Events that may wait to be written before new requests get 429.
    pub queue_capacity: usize,
    /// Let webhooks call private, loopback and link-local addresses.
    pub allow_private_webhooks: bool,
    /// Delay before a failed webhook's first retry (doubling after).
    pub webhook_backoff: std::time::Duration,
    /// How often every organisation's budgets are looked at, besides after
    /// each commit that touches them.
    pub budget_sweep: std::time::Duration,
    /// How often the background task deletes detail past each organisation's
    /// retention window; None: never (`spendlens retention` still can).
    pub retention_interval: Option<std::time::Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            admin_token: None,
            queue_capacity: 200_000,
            allow_private_webhooks: false,
            webhook_backoff: std::time::Duration::from_secs(2),
            budget_sweep: std::time::Duration::from_secs(10),
            retention_interval: Some(std::time::Duration::from_secs(3600)),
        }
    }
}

impl AppState {
    /// Must be called inside a Tokio runtime: it starts the ingest writer task.
    pub fn new(store: Arc<dyn Store>, config: &Config) -> AppState {
        let metrics = Arc::new(metrics::Metrics::default());
        let webhooks = budgets::webhook::Webhooks::new(
            store.clone(),
            config.allow_private_webhooks,
            config.webhook_backoff,
        );
        let watcher =
            budgets::watch::Watcher::start(store.clone(), webhooks.clone(), config.budget_sweep);
        if let Some(every) = config.retention_interval {
            lifecycle::start(store.clone(), every);
        }
        AppState {
            ingest: IngestQueue::start(
                store.clone(),
                config.queue_capacity,
                metrics.clone(),
                watcher.clone(),
            ),
            budgets: watcher,
            webhooks,
            panels: Arc::default(),
            store,
            admin_token_hash: config
                .admin_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(auth::hash_secret),
            metrics,
        }
    }
}

pub fn app(state: AppState) -> axum::Router {
    routes::router()
        .layer(axum::middleware::from_fn(routes::export::accept_csv))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::observe,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        // Ingest bodies are checked against their own limit after decompression;
        // the transport limit only stops absurd uploads early.
        .layer(axum::extract::DefaultBodyLimit::max(
            routes::events::MAX_BYTES + 1024,
        ))
        .with_state(state)
}

/// Serve until `shutdown` resolves; requests in flight are finished first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
