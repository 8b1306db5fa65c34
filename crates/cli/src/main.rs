//! The `spendlens` command: server, ingestion, administration, demo, benchmarks.

mod alloc;
mod commands;
mod config;
mod input;
mod sched;
mod summary;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use spendlens_store::Durability;

#[derive(Debug, Parser)]
#[command(
    name = "spendlens",
    version,
    about = "Usage and cost analytics for LLM APIs"
)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "SPENDLENS_LOG_JSON")]
    log_json: bool,
    /// A TOML file of settings (keys as in `spendlens config`); flags and
    /// SPENDLENS_… variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DurabilityArg {
    /// Survives a crash of the process (kill -9); the default.
    Process,
    /// Also survives a power loss (fsync on every commit).
    Full,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::Process => Durability::Process,
            DurabilityArg::Full => Durability::Full,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(commands::serve::Args),
    /// Load events from JSON, NDJSON or CSV files (same rules as the API).
    Ingest(commands::ingest::Args),
    /// Create, list and revoke access tokens.
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Organisations on the local store.
    #[command(subcommand)]
    Org(commands::admin::OrgCommand),
    /// Teams on the local store.
    #[command(subcommand)]
    Team(commands::admin::TeamCommand),
    /// Members on the local store.
    #[command(subcommand)]
    Member(commands::admin::MemberCommand),
    /// Provider keys on the local store.
    #[command(subcommand)]
    Key(commands::admin::KeyCommand),
    /// Budgets on the local store: set, list (with status), delete.
    #[command(subcommand)]
    Budget(commands::budget::BudgetCommand),
    /// Place and count quarantined events whose organisation now exists
    /// (or whose user now has exactly one membership).
    Backfill(commands::backfill::Args),
    /// Delete message and conversation detail past each organisation's
    /// retention window (aggregates stay).
    Retention(commands::lifecycle::Args),
    /// Recompute the aggregates of the days inside the retention window from
    /// the detail and report every difference (exit 1 if any).
    Verify(commands::lifecycle::Args),
    /// Repair the aggregates of the days inside the retention window from the detail.
    Rebuild(commands::lifecycle::Args),
    /// Compute again, with the prices in force now, the costs the server
    /// computed for retained events of [--from, --to); correct the aggregates.
    Reprice(commands::lifecycle::RepriceArgs),
    /// Bring the database schema up to date and say what it holds.
    Migrate(commands::migrate::Args),
    /// Copy a whole embedded store into an empty PostgreSQL database.
    Copy(commands::copy::Args),
    /// Generate a realistic dataset, create a token per role and serve it.
    Demo(commands::demo::Args),
    /// Write a standard dataset (small, medium, large, demo) as NDJSON.
    Gen(commands::gen::Args),
    /// Print the effective settings of `spendlens serve` (with the same flags)
    /// and where each comes from; secrets hidden.
    Config(commands::serve::Args),
    /// Benchmarks over HTTP: `ingest` (events/s, RSS) or `query` (every analytics endpoint).
    Bench(commands::bench::Args),
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPENDLENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    alloc::keep_freed_pages_briefly();
    // Transparent huge pages cost more than they give here: mimalloc asks for
    // them on its segments, so a page freed and touched again is zeroed 2 MiB
    // at a time (half of a people list's time on `medium`), and RSS counts
    // whole huge pages (docs/operations.md).
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("warning: transparent huge pages stay on: {e}");
    }
    let args: Vec<String> = std::env::args().collect();
    // SPENDLENS_DATABASE_URL is the conventional name; SPENDLENS_DB wins when both are set.
    if std::env::var_os("SPENDLENS_DB").is_none() {
        if let Some(url) = std::env::var_os("SPENDLENS_DATABASE_URL") {
            std::env::set_var("SPENDLENS_DB", url);
        }
    }
    let file = match config::apply_file(&args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let matches = Cli::command().get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Command::Config(_) = cli.command {
        let sub = matches
            .subcommand_matches("config")
            .expect("the config subcommand was parsed");
        config::print(sub, &file);
        return Ok(());
    }
    init_logging(cli.log_json);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let hint = std::env::var("SPENDLENS_SHORT_SLICE").map_or(true, |v| v != "0");
    if hint && matches!(cli.command, Command::Serve(_) | Command::Demo(_)) {
        let granted = sched::short_slice();
        tracing::info!(granted, "short scheduler slice for request threads");
        builder.on_thread_start(|| {
            sched::short_slice();
        });
    }
    let runtime = builder.build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Ingest(args) => commands::ingest::run(args).await,
            Command::Token(cmd) => commands::token::run(cmd).await,
            Command::Migrate(args) => commands::migrate::run(args).await,
            Command::Copy(args) => commands::copy::run(args).await,
            Command::Backfill(args) => commands::backfill::run(args).await,
            Command::Org(cmd) => commands::admin::org(cmd).await,
            Command::Team(cmd) => commands::admin::team(cmd).await,
            Command::Member(cmd) => commands::admin::member(cmd).await,
            Command::Key(cmd) => commands::admin::key(cmd).await,
            Command::Budget(cmd) => commands::budget::run(cmd).await,
            Command::Retention(args) => commands::lifecycle::retention(args).await,
            Command::Verify(args) => commands::lifecycle::verify(args).await,
            Command::Rebuild(args) => commands::lifecycle::rebuild(args).await,
            Command::Reprice(args) => commands::lifecycle::reprice(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Gen(args) => commands::gen::run(args),
            Command::Bench(args) => commands::bench::run(args).await,
            Command::Config(_) => unreachable!("answered before the runtime starts"),
        }
    })
}
