//! Dense daily spend series from the aggregates, and the month forecast.

use serde_json::{json, Value};
use spendlens_domain::insights::{forecast, Daily};
use spendlens_domain::money::format_usd;
use spendlens_domain::time::{Day, Period};
use spendlens_store::model::Org;
use spendlens_store::query::{Dim, FigureQuery, Filter};
use spendlens_store::{Store, StoreError};
use std::collections::HashMap;

/// `total_cost` per day of `[from, to)`, per value of `by` (one series keyed
/// `None` when `by` is None).
pub async fn daily(
    store: &dyn Store,
    org: &str,
    filter: &Filter,
    by: Option<Dim>,
    from: Day,
    to: Day,
) -> Result<HashMap<Option<String>, Daily>, StoreError> {
    let group_by = match by {
        Some(d) => vec![d, Dim::Day],
        None => vec![Dim::Day],
    };
    let rows = store
        .figures(&FigureQuery {
            org: org.to_owned(),
            period: Period { from, to },
            filter: filter.clone(),
            group_by,
        })
        .await?;
    let mut out: HashMap<Option<String>, Daily> = HashMap::new();
    let len = (to.0 - from.0).max(0) as usize;
    for r in rows {
        let (key, day) = match by {
            Some(_) => (r.key[0].clone(), r.key[1].as_deref()),
            None => (None, r.key[0].as_deref()),
        };
        let Some(day) = day.and_then(|d| Day::parse(d).ok()) else {
            continue;
        };
        let series = out.entry(key).or_insert_with(|| Daily {
            first: from,
            values: vec![0; len],
        });
        if let Some(v) = series.values.get_mut((day.0 - from.0) as usize) {
            *v += r.figures.total_cost;
        }
    }
    if by.is_none() {
        out.entry(None).or_insert_with(|| Daily {
            first: from,
            values: vec![0; len],
        });
    }
    Ok(out)
}

/// Spend so far and projected at the end of the current local month.
pub async fn month_forecast(
    store: &dyn Store,
    org: &Org,
    filter: &Filter,
) -> Result<Value, StoreError> {
    let today = crate::budgets::status::today(org);
    let month = Period {
        from: today.month().first_day(),
        to: today.month().end(),
    };
    let from = Day(month.from.0.min(today.0 - forecast::WINDOW));
    let to = Day(month.to.0.max(today.0 + 1));
    let series = daily(store, &org.id, filter, None, from, to)
        .await?
        .remove(&None)
        .unwrap_or(Daily {
            first: from,
            values: vec![],
        });
    let spent: i128 = (month.from.0..month.to.0).map(|d| series.get(Day(d))).sum();
    Ok(json!({
        "period_from": month.from.to_string(),
        "period_to": month.to.to_string(),
        "spent": format_usd(spent),
        "projected": format_usd(forecast::project(&series, month.from, month.to, today)),
        "method": "weekday means of the last 28 days (docs/insights.md)",
    }))
}
