use super::{shutdown_signal, state, DbArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "SPENDLENS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Events that may wait to be written before ingest answers 429.
    #[arg(long, env = "SPENDLENS_QUEUE_CAPACITY", default_value_t = 200_000)]
    pub queue_capacity: usize,
    /// Let webhooks call private, loopback and link-local addresses (a
    /// receiver inside your network).
    #[arg(long, env = "SPENDLENS_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
    /// Minutes between background retention rounds (0: none; run
    /// `spendlens retention` yourself).
    #[arg(long, env = "SPENDLENS_RETENTION_EVERY_MINS", default_value_t = 60)]
    pub retention_every_mins: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, db = %args.db.db, backend = store.backend(), "serving");
    if std::env::var("SPENDLENS_ADMIN_TOKEN").is_err() {
        tracing::warn!(
            "SPENDLENS_ADMIN_TOKEN is not set: create a token with `spendlens token create` first"
        );
    }
    spendlens_server::serve(listener, state(store, Some(&args)), shutdown_signal()).await?;
    Ok(())
}
