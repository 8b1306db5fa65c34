//! The panels of issue 6 on the organisation and person pages: budgets with
//! their state and projection, the month forecast, days that stand out, and
//! savings recommendations. Each reads the same functions as the API.

use super::format::{fraction, money};
use super::layout::section;
use super::range::seg;
use crate::budgets::status::with_status;
use crate::insights::{anomalies, recommend};
use crate::AppState;
use maud::{html, Markup};
use serde_json::Value;
use spendlens_domain::time::{Day, Period};
use spendlens_store::model::{BudgetScope, Org};

/// Budgets of the organisation (`only_user`: that person's own), with status.
pub async fn budgets(
    s: &AppState,
    org: &Org,
    only_user: Option<&str>,
) -> Result<Vec<Value>, crate::error::ApiError> {
    let mut out = Vec::new();
    for b in s.store.list_budgets(&org.id).await? {
        let mine = b.scope == BudgetScope::User && b.scope_id.as_deref() == only_user;
        if only_user.is_none() || mine {
            out.push(with_status(s.store.as_ref(), org, &b).await?);
        }
    }
    Ok(out)
}

pub fn budgets_panel(budgets: &[Value]) -> Markup {
    html! {
        section.card #budgets {
            (section("Budgets", None))
            @if budgets.is_empty() {
                p.muted { "No budget yet. An admin sets one with POST /v1/orgs/{org}/budgets or spendlens budget set." }
            } @else {
                div.table-wrap { table #budgets-table {
                    thead { tr { th { "Budget" } th { "Covers" } th { "Period" } th.num { "Spent" } th.num { "Of" } th.num { "Used" } th.num { "Projected" } th { "State" } } }
                    tbody { @for b in budgets {
                        @let state = b["state"].as_str().unwrap_or("ok");
                        tr {
                            td { (b["id"].as_str().unwrap_or_default()) @if b["hard_limit"] == true { " · hard limit" } }
                            td { (b["scope"].as_str().unwrap_or_default()) @if let Some(id) = b["scope_id"].as_str() { " " (id) } }
                            td { (b["period"].as_str().unwrap_or_default()) " (" (b["period_from"].as_str().unwrap_or_default()) "…)" }
                            td.num { (money(&b["spent"])) }
                            td.num { (money(&b["amount"])) }
                            td.num { (fraction(&b["fraction"])) }
                            td.num { (money(&b["projected"])) }
                            td { span class=(format!("state state-{state}")) title=(format!("{state}: thresholds {}", b["alert_thresholds"])) { (state) } }
                        }
                    } }
                } }
            }
        }
    }
}

/// "Projected this month" with what is spent so far.
pub fn forecast_line(forecast: &Value) -> Markup {
    html! {
        p.muted #forecast {
            "Projected for the month to " (forecast["period_to"].as_str().unwrap_or_default()) ": "
            strong { (money(&forecast["projected"])) }
            " (spent so far " (money(&forecast["spent"])) "; weekday-aware, see docs/insights.md)"
        }
    }
}

pub async fn anomalies_panel(
    s: &AppState,
    org: &Org,
    today: Day,
) -> Result<Markup, crate::error::ApiError> {
    let period = Period {
        from: Day(today.0 - 29),
        to: Day(today.0 + 1),
    };
    let found = s
        .panels
        .get_or(format!("anomalies\u{0}{}\u{0}{today}", org.id), || {
            anomalies::find(s.store.as_ref(), &org.id, period)
        })
        .await?;
    let base = format!("/orgs/{}", seg(&org.id));
    Ok(html! {
        section.card #anomalies {
            (section("Days that stand out (last 30 days)", None))
            @if found.is_empty() {
                p.muted { "No day is far from its own 28-day baseline." }
            } @else {
                ul.plain { @for a in found.iter().take(10) {
                    li {
                        @match (a["scope"].as_str(), a["id"].as_str()) {
                            (Some("user"), Some(id)) => { a href=(format!("{base}/users/{}", seg(id))) { (id) } ": " }
                            (Some("api_key"), Some(id)) => { a href=(format!("{base}/api-keys/{}", seg(id))) { "key " (id) } ": " }
                            _ => {}
                        }
                        (a["explanation"].as_str().unwrap_or_default())
                    }
                } }
            }
        }
    })
}

pub async fn recommendations_panel(
    s: &AppState,
    org: &Org,
    user: Option<&str>,
) -> Result<Markup, crate::error::ApiError> {
    let list = s
        .panels
        .get_or(
            format!("recommendations\u{0}{}\u{0}{}", org.id, user.unwrap_or("")),
            || recommend::recommend(s.store.as_ref(), org, user),
        )
        .await?;
    Ok(html! {
        section.card #recommendations {
            (section("How to spend less", None))
            @if list.is_empty() {
                p.muted { "Nothing to recommend from the last 30 days." }
            } @else {
                ul.plain { @for r in &list {
                    li {
                        strong { (money(&r["monthly_saving"])) " a month" }
                        " · " (r["explanation"].as_str().unwrap_or_default())
                    }
                } }
            }
        }
    })
}
