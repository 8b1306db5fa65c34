//! A budget's current period, what it covers, and its status: spent,
//! remaining, fraction, projected spend at the period's end, state.

use serde_json::{json, Value};
use spendlens_domain::insights::{forecast, Daily};
use spendlens_domain::money::format_usd;
use spendlens_domain::time::{local_day, parse_timezone, Day, Period};
use spendlens_store::model::{Budget, BudgetPeriod, Org};
use spendlens_store::query::Filter;
use spendlens_store::{Store, StoreError};

/// The organisation's civil day now.
pub fn today(org: &Org) -> Day {
    let tz = parse_timezone(&org.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    local_day(jiff::Timestamp::now(), &tz)
}

/// The budget period that holds `day`: the local day, ISO week (Monday) or month.
pub fn period_of(period: BudgetPeriod, day: Day) -> Period {
    match period {
        BudgetPeriod::Daily => Period {
            from: day,
            to: Day(day.0 + 1),
        },
        BudgetPeriod::Weekly => {
            let monday = day.iso_week_monday();
            Period {
                from: monday,
                to: Day(monday.0 + 7),
            }
        }
        BudgetPeriod::Monthly => Period {
            from: day.month().first_day(),
            to: day.month().end(),
        },
    }
}

/// `total_cost` of the budget's events in `period`, read from the store.
pub async fn spent(
    store: &dyn Store,
    org: &str,
    budget: &Budget,
    period: Period,
) -> Result<i128, StoreError> {
    store
        .spend(org, budget.scope, budget.scope_id.as_deref(), period)
        .await
}

/// Whether `spent` has reached `ppm` millionths of `amount` (crossed at ≥).
pub fn reached(spent: i128, amount: i64, ppm: i64) -> bool {
    spent * 1_000_000 >= i128::from(amount) * i128::from(ppm)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Warning,
    Exceeded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warning => "warning",
            State::Exceeded => "exceeded",
        }
    }
    pub fn of(budget: &Budget, spent: i128) -> State {
        let first = budget.thresholds_ppm.first().copied().unwrap_or(1_000_000);
        if reached(spent, budget.amount, 1_000_000) {
            State::Exceeded
        } else if reached(spent, budget.amount, first) {
            State::Warning
        } else {
            State::Ok
        }
    }
}

/// The budget as the API shows it, with its status now.
pub async fn with_status(
    store: &dyn Store,
    org: &Org,
    budget: &Budget,
) -> Result<Value, StoreError> {
    let today = today(org);
    let period = period_of(budget.period, today);
    // Daily spend from four weeks before today (the forecast's window) to the
    // period's end (events may be dated up to a day ahead).
    let from = Day(period.from.0.min(today.0 - forecast::WINDOW));
    let to = Day(period.to.0.max(today.0 + 1));
    let daily = crate::insights::series::daily(
        store,
        &org.id,
        &Filter::of_scope(budget.scope, budget.scope_id.as_deref()),
        None,
        from,
        to,
    )
    .await?
    .remove(&None)
    .unwrap_or(Daily {
        first: from,
        values: vec![],
    });
    let spent: i128 = (period.from.0..period.to.0)
        .map(|d| daily.get(Day(d)))
        .sum();
    let projected = forecast::project(&daily, period.from, period.to, today);
    let amount = i128::from(budget.amount);
    let fraction = if amount > 0 {
        (spent as f64 / amount as f64 * 10_000.0).round() / 10_000.0
    } else {
        0.0
    };
    Ok(json!({
        "id": budget.id,
        "scope": budget.scope,
        "scope_id": budget.scope_id,
        "period": budget.period,
        "amount": format_usd(amount),
        "alert_thresholds": budget.thresholds_ppm.iter().map(|p| *p as f64 / 1e6).collect::<Vec<_>>(),
        "hard_limit": budget.hard_limit,
        "created_at": budget.created_at.to_string(),
        "period_from": period.from.to_string(),
        "period_to": period.to.to_string(),
        "spent": format_usd(spent),
        "remaining": format_usd((amount - spent).max(0)),
        "fraction": fraction,
        "projected": format_usd(projected),
        "state": State::of(budget, spent).as_str(),
    }))
}
