//! One module per subcommand.

pub mod admin;
pub mod backfill;
pub mod bench;
pub mod bench_load;
pub mod bench_plain;
pub mod bench_query;
pub mod budget;
pub mod copy;
pub mod demo;
pub mod gen;
pub mod ingest;
pub mod lifecycle;
pub mod migrate;
pub mod serve;
pub mod token;

use crate::DurabilityArg;
use spendlens_server::{AppState, Config};
use spendlens_store::Store;
use std::sync::Arc;

/// Where the store is: shared by every command that opens one.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// The store: sqlite://FILE (embedded, the default) or postgres://…
    #[arg(long, env = "SPENDLENS_DB", default_value = "sqlite://spendlens.db")]
    pub db: String,
    #[arg(
        long,
        value_enum,
        env = "SPENDLENS_DURABILITY",
        default_value = "process"
    )]
    pub durability: DurabilityArg,
}

impl DbArgs {
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        spendlens_store::open(&self.db, self.durability.into())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", self.db))
    }
}

/// The server's state with the settings from the environment (and so from
/// the configuration file), and the server's own flags where it serves.
pub fn state(store: Arc<dyn Store>, serve: Option<&serve::Args>) -> AppState {
    let defaults = Config::default();
    let config = Config {
        admin_token: std::env::var("SPENDLENS_ADMIN_TOKEN").ok(),
        queue_capacity: serve.map_or(defaults.queue_capacity, |a| a.queue_capacity),
        allow_private_webhooks: serve.is_some_and(|a| a.allow_private_webhooks),
        retention_interval: match serve.map(|a| a.retention_every_mins) {
            Some(0) => None,
            Some(m) => Some(std::time::Duration::from_secs(60 * m)),
            // A one-shot command (ingest, demo) leaves retention to `serve`.
            None => None,
        },
        ..defaults
    };
    AppState::new(store, &config)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
