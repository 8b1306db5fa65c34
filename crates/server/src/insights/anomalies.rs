//! Days whose spend is far from the entity's own baseline: the organisation,
//! each person and each provider key.

use super::series::daily;
use serde_json::{json, Value};
use spendlens_domain::insights::anomaly::{self, Anomaly};
use spendlens_domain::money::{display_usd, format_usd};
use spendlens_domain::time::{Day, Period};
use spendlens_store::query::{Dim, Filter};
use spendlens_store::{Store, StoreError};

/// A day must differ from its baseline median by at least a dollar.
pub const MIN_DIFFERENCE: i128 = 1_000_000_000;

pub async fn find(store: &dyn Store, org: &str, period: Period) -> Result<Vec<Value>, StoreError> {
    let from = Day(period.from.0 - anomaly::BASELINE_DAYS as i32);
    let mut out: Vec<(f64, Value)> = Vec::new();
    for (scope, by) in [
        ("org", None),
        ("user", Some(Dim::User)),
        ("api_key", Some(Dim::ApiKey)),
    ] {
        for (id, series) in daily(store, org, &Filter::default(), by, from, period.to).await? {
            if by.is_some() && id.is_none() {
                continue; // the unattributed share is not an entity of its own
            }
            for a in anomaly::detect(&series, period.from, period.to, MIN_DIFFERENCE) {
                out.push((a.score.abs(), shown(scope, id.as_deref(), &a)));
            }
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

fn shown(scope: &str, id: Option<&str>, a: &Anomaly) -> Value {
    let direction = if a.value >= a.median {
        "above"
    } else {
        "below"
    };
    let times = if a.median > 0 {
        format!("{:.1}× its usual", a.value as f64 / a.median as f64)
    } else {
        "where it usually spends nothing".to_owned()
    };
    json!({
        "scope": scope,
        "id": id,
        "day": a.day.to_string(),
        "spent": format_usd(a.value),
        "baseline_median": format_usd(a.median),
        "score": if a.score.is_finite() { json!((a.score * 100.0).round() / 100.0) } else { json!(null) },
        "direction": direction,
        "explanation": format!(
            "{} spent {} on {}, {} (median of the 28 days before: {}).",
            id.unwrap_or("the organisation"),
            display_usd(a.value),
            a.day,
            times,
            display_usd(a.median)
        ),
    })
}
