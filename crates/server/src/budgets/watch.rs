//! Records each threshold a budget crosses, once per budget, threshold and
//! period, and hands new alerts to the webhook sender.
//!
//! Runs beside ingestion, never in its path: a commit only sends the names of
//! the organisations it touched; a sweep every few seconds also looks at every
//! organisation with budgets (events placed through a membership, reprices,
//! other processes' ingestion). Exactly-once comes from the store's unique
//! key, so any number of watchers (one per server process) may race.

use super::status::{period_of, reached, spent, today};
use super::webhook::Webhooks;
use spendlens_domain::time::{local_day, parse_timezone, Day, Period};
use spendlens_store::model::{Alert, Budget, Org};
use spendlens_store::{Store, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Watcher {
    tx: mpsc::UnboundedSender<String>,
}

impl Watcher {
    pub fn start(store: Arc<dyn Store>, webhooks: Webhooks, sweep: Duration) -> Watcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, webhooks, rx, sweep));
        Watcher { tx }
    }

    /// An organisation's spend changed: look at its budgets soon.
    pub fn touched(&self, org: &str) {
        let _ = self.tx.send(org.to_owned());
    }
}

async fn run(
    store: Arc<dyn Store>,
    webhooks: Webhooks,
    mut rx: mpsc::UnboundedReceiver<String>,
    sweep: Duration,
) {
    let mut tick = tokio::time::interval(sweep);
    loop {
        let mut orgs = BTreeSet::new();
        let mut everyone = false;
        tokio::select! {
            got = rx.recv() => match got {
                Some(org) => { orgs.insert(org); }
                None => return,
            },
            _ = tick.tick() => everyone = true,
        }
        while let Ok(org) = rx.try_recv() {
            orgs.insert(org);
        }
        // One question for the whole wake-up: most touched organisations
        // have no budget, and asking each for its budgets cost more
        // round trips under ingestion than ingestion's own statements.
        let with = match store.orgs_with_budgets().await {
            Ok(with) => with,
            Err(e) => {
                tracing::warn!(error = %e, "budget watcher cannot list organisations with budgets");
                continue;
            }
        };
        for org in with.iter().filter(|o| everyone || orgs.contains(*o)) {
            if let Err(e) = evaluate(store.as_ref(), &webhooks, org).await {
                tracing::warn!(org = %org, error = %e, "budget evaluation failed; retried at the next sweep");
            }
        }
    }
}

/// Record the crossings of every budget of `org` in its current period and,
/// for late events, the previous one (if the budget existed then).
pub async fn evaluate(store: &dyn Store, webhooks: &Webhooks, org: &str) -> Result<(), StoreError> {
    let budgets = store.list_budgets(org).await?;
    if budgets.is_empty() {
        return Ok(());
    }
    let info = store.get_org(org).await?;
    let today = today(&info);
    for budget in &budgets {
        let current = period_of(budget.period, today);
        let previous = period_of(budget.period, Day(current.from.0 - 1));
        let created = created_day(&info, budget);
        for period in [current, previous] {
            if period.to.0 <= created.0 {
                continue;
            }
            let spent = spent(store, org, budget, period).await?;
            for &ppm in &budget.thresholds_ppm {
                if !reached(spent, budget.amount, ppm) {
                    continue;
                }
                let alert = new_alert(budget, ppm, period, spent);
                if let Some(id) = store.record_alert(org, alert.clone()).await? {
                    tracing::info!(org, budget = %budget.id, threshold_ppm = ppm, "budget threshold crossed");
                    webhooks.deliver(&info, Alert { id, ..alert });
                }
            }
        }
    }
    Ok(())
}

fn created_day(org: &Org, budget: &Budget) -> Day {
    let tz = parse_timezone(&org.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    local_day(budget.created_at, &tz)
}

fn new_alert(budget: &Budget, ppm: i64, period: Period, spent: i128) -> Alert {
    Alert {
        id: 0,
        budget_id: budget.id.clone(),
        scope: budget.scope,
        scope_id: budget.scope_id.clone(),
        threshold_ppm: ppm,
        period_from: period.from.0,
        period_to: period.to.0,
        spent: i64::try_from(spent).unwrap_or(i64::MAX),
        amount: budget.amount,
        crossed_at: jiff::Timestamp::now(),
    }
}
