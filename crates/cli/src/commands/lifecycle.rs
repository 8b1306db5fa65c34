//! `spendlens retention`, `verify` and `rebuild` (API.md §6), each over one
//! organisation (`--org`) or all, with progress on stderr.

use super::DbArgs;
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use spendlens_server::lifecycle;
use spendlens_store::model::Org;
use spendlens_store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: DbArgs,
    /// One organisation (default: every one).
    #[arg(long)]
    pub org: Option<String>,
}

async fn orgs(store: &dyn Store, only: Option<&str>) -> anyhow::Result<Vec<Org>> {
    Ok(match only {
        Some(id) => vec![store.get_org(id).await?],
        None => store.list_orgs().await?,
    })
}

fn bar(len: usize, what: &str) -> ProgressBar {
    ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{pos}}/{{len}} organisations {{wide_msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

pub async fn retention(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let orgs = orgs(store.as_ref(), args.org.as_deref()).await?;
    let progress = bar(orgs.len(), "retention");
    let now = Timestamp::now();
    let (mut events, mut titles) = (0, 0);
    for org in &orgs {
        let done = lifecycle::apply(store.as_ref(), org, now, |so_far| {
            progress.set_message(format!(
                "{}: {} events deleted",
                org.id, so_far.events_deleted
            ));
        })
        .await?;
        events += done.events_deleted;
        titles += done.titles_cleared;
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "retention: {events} events and {titles} conversation titles past their organisation's window deleted in {} organisations; aggregates unchanged",
        orgs.len()
    );
    Ok(())
}

pub async fn verify(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let orgs = orgs(store.as_ref(), args.org.as_deref()).await?;
    let progress = bar(orgs.len(), "verify");
    let mut differences = 0;
    for org in &orgs {
        progress.set_message(org.id.clone());
        let from = lifecycle::first_full_day(org, Timestamp::now());
        for d in store.verify(&org.id, from).await? {
            differences += 1;
            progress.println(format!(
                "{}\t{}\t{}\tmodel {}\tkey {}\tteam {}\t{}: aggregate {} detail {}",
                org.id,
                d.day,
                d.user_id,
                d.model,
                d.api_key_id.as_deref().unwrap_or("-"),
                d.team_id.as_deref().unwrap_or("-"),
                d.field,
                d.aggregate,
                d.detail
            ));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if differences == 0 {
        println!(
            "verify: the aggregates of every retained day agree with the detail ({} organisations)",
            orgs.len()
        );
        Ok(())
    } else {
        anyhow::bail!("verify: {differences} differences (run `spendlens rebuild` to repair them)")
    }
}

pub async fn rebuild(args: Args) -> anyhow::Result<()> {
    let store = args.db.open().await?;
    let orgs = orgs(store.as_ref(), args.org.as_deref()).await?;
    let progress = bar(orgs.len(), "rebuild");
    let mut corrected = 0;
    for org in &orgs {
        progress.set_message(org.id.clone());
        let from = lifecycle::first_full_day(org, Timestamp::now());
        corrected += store.rebuild(&org.id, from, "cli").await?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "rebuild: {corrected} day cells corrected from the detail in {} organisations",
        orgs.len()
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct RepriceArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// One organisation (default: every one).
    #[arg(long)]
    pub org: Option<String>,
    /// First local day, YYYY-MM-DD.
    #[arg(long)]
    pub from: String,
    /// The day after the last, YYYY-MM-DD.
    #[arg(long)]
    pub to: String,
}

/// `spendlens reprice`: costs the server computed, computed again with the
/// prices in force now; the aggregates corrected by the exact difference.
pub async fn reprice(args: RepriceArgs) -> anyhow::Result<()> {
    let day = |flag: &str, text: &str| {
        spendlens_domain::time::Day::parse(text)
            .map_err(|e| anyhow::anyhow!("--{flag} {text}: {e}"))
    };
    let (from, to) = (day("from", &args.from)?, day("to", &args.to)?);
    anyhow::ensure!(from < to, "--to must be after --from");
    let store = args.db.open().await?;
    let orgs = orgs(store.as_ref(), args.org.as_deref()).await?;
    let progress = bar(orgs.len(), "reprice");
    let (mut changed, mut total, mut actual) = (0, 0i128, 0i128);
    for org in &orgs {
        progress.set_message(org.id.clone());
        let r = store.reprice(&org.id, from, to, "cli").await?;
        if r.changed > 0 {
            progress.println(format!(
                "{}\t{} of {} events repriced\tcharged {:+} USD\tprovider cost {:+} USD",
                org.id,
                r.changed,
                r.examined,
                spendlens_domain::money::format_usd(r.total_cost_delta),
                spendlens_domain::money::format_usd(r.actual_api_cost_delta)
            ));
        }
        changed += r.changed;
        total += r.total_cost_delta;
        actual += r.actual_api_cost_delta;
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "reprice {from}..{to}: {changed} events changed; charged {} USD, provider cost {} USD (new minus old)",
        spendlens_domain::money::format_usd(total),
        spendlens_domain::money::format_usd(actual)
    );
    Ok(())
}
