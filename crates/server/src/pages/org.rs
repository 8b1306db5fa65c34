//! `/orgs/{org}`: the organisation admin's page (the mock-up of
//! ORIGINAL-PLAN.md): key figures with their change, the daily cost trend,
//! API keys, the users leaderboard, models, teams and departments.

use super::charts::{self, Bar};
use super::error::PageError;
use super::format::{change, compact, cost_change, count, fraction, money, nanos};
use super::layout::{self, card, section, sort_head};
use super::range::{seg, PageQuery};
use super::session::Viewer;
use super::{covered, html, rows};
use crate::routes::lists;
use crate::routes::params::Query;
use crate::routes::summary;
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use maud::{html as markup, Markup};
use serde_json::Value;
use spendlens_domain::time::Day;
use std::collections::HashMap;

/// Days the cost trend shows at least (the mock-up's 30-day chart).
const TREND_DAYS: i32 = 30;
/// Users the leaderboard shows; the CSV has them all.
const TOP_USERS: &str = "25";

pub async fn page(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Path(org): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    let call = |extra: &[(&str, &str)]| Query(q.api(extra));
    // The summary checks the period; the organisation's row is read beside
    // it, once access (the summary's own check) is known.
    who.require_org_admin(&org)?;
    let (Json(sum), info) = tokio::try_join!(
        summary::summary(State(s.clone()), who.clone(), Path(org.clone()), call(&[])),
        async { Ok::<_, crate::error::ApiError>(s.store.get_org(&org).await?) },
    )?;
    let range = covered(&sum);
    // The trend covers the period, and at least the 30 days ending with it.
    let to = Day::parse(&range.1).map_err(|e| crate::error::ApiError::Internal(e.into()))?;
    let from = Day::parse(&range.0).map_err(|e| crate::error::ApiError::Internal(e.into()))?;
    let trend_from = Day(from.0.min(to.0 - TREND_DAYS)).to_string();
    let (sort, order) = (
        q.sort.as_deref().unwrap_or("total_cost"),
        q.order.as_deref().unwrap_or("desc"),
    );
    let trend_query = [
        ("from", trend_from.as_str()),
        ("to", range.1.as_str()),
        ("bucket", "day"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let ten = [("limit", "10")];
    let today = crate::budgets::status::today(&info);
    // The summary above checked access and the period; the rest is asked at
    // once, so the store's readers answer side by side, and the lists read
    // their shared organisation total once. Budgets, days that stand out
    // and savings are independent of the lists, so they are asked with them.
    let (Json(series), users, keys, models, teams, depts, budgets, anomalies, savings) =
        lists::shared_totals(async {
            tokio::try_join!(
                lists::series(&s, &who, &org, trend_query),
                lists::users(
                    State(s.clone()),
                    who.clone(),
                    Path(org.clone()),
                    call(&[("limit", TOP_USERS), ("sort", sort), ("order", order)]),
                ),
                lists::api_keys(State(s.clone()), who.clone(), Path(org.clone()), call(&ten)),
                lists::models(State(s.clone()), who.clone(), Path(org.clone()), call(&ten)),
                lists::teams(State(s.clone()), who.clone(), Path(org.clone()), call(&[])),
                lists::departments(State(s.clone()), who.clone(), Path(org.clone()), call(&[])),
                super::insights::budgets(&s, &info, None),
                super::insights::anomalies_panel(&s, &info, today),
                super::insights::recommendations_panel(&s, &info, None),
            )
        })
        .await?;
    let (users, keys, models, teams, depts) = (
        rows(users),
        rows(keys),
        rows(models),
        rows(teams),
        rows(depts),
    );

    let base = format!("/orgs/{}", seg(&org));
    let csv = |list: &str, extra: &[(&str, &str)]| {
        let mut e = extra.to_vec();
        e.push(("format", "csv"));
        format!("/v1/orgs/{}/{list}{}", seg(&org), q.link(&e))
    };
    let body = markup! {
        (layout::heading(&info.name, &format!("Organisation · times in {}", info.timezone), &range, &q))
        div.grid {
            (card("Total cost", &money(&sum["total_cost"]), cost_change(&sum["change_pct"]["total_cost"])))
            (card("Profit margin", &fraction(&sum["margin"]), markup! { "profit " (money(&sum["profit"])) " · " (change(&sum["change_pct"]["profit"])) }))
            (card("Active users", &count(&sum["active_users"]), change(&sum["change_pct"]["active_users"])))
            (card("Tokens processed", &compact(&sum["tokens"]), change(&sum["change_pct"]["tokens"])))
            (card("Conversations", &count(&sum["conversations"]), markup! { (count(&sum["messages"])) " messages · " (change(&sum["change_pct"]["conversations"])) }))
        }
        (super::insights::forecast_line(&sum["forecast"]))
        (super::insights::budgets_panel(&budgets))
        section.card #trend {
            (section("Daily cost", Some(&format!("/v1/orgs/{}/timeseries?from={trend_from}&to={}&bucket=day&format=csv", seg(&org), range.1))))
            (trend(&series["data"]))
        }
        div.cols {
            section.card #api-keys {
                (section("Top API keys", Some(&csv("api-keys", &[]))))
                @if keys.is_empty() { (layout::empty("API key usage")) } @else {
                    div.table-wrap { table.sortable {
                        thead { tr { th { "Key" } th { "Provider" } th.num { "Cost" } th.num { "Share" } th.num { "Users" } } }
                        tbody { @for k in &keys {
                            @let id = k["api_key_id"].as_str().unwrap_or("_none");
                            tr {
                                td { a href=(format!("{base}/api-keys/{}{}", seg(id), q.link(&[]))) { (k["name"].as_str().unwrap_or(id)) } }
                                td { (k["provider"].as_str().unwrap_or("—")) }
                                td.num data-v=(nanos(&k["total_cost"]).unwrap_or(0)) { (money(&k["total_cost"])) }
                                td.num data-v=(k["share"]) { (fraction(&k["share"])) }
                                td.num data-v=(k["unique_users"]) { (count(&k["unique_users"])) }
                            }
                        } }
                    } }
                }
            }
            section.card #models {
                (section("Model distribution", Some(&csv("models", &[]))))
                @if models.is_empty() { (layout::empty("model usage")) } @else {
                    (charts::bars("Cost per model", &bars(&models, "model", |_| None)))
                }
            }
        }
        section.card #users {
            (section("Top users", Some(&csv("users", &[("sort", sort), ("order", order)]))))
            @if sum["active_users"].as_u64().is_some_and(|n| n as usize > users.len()) {
                p.muted { "The first " (users.len()) " of " (count(&sum["active_users"])) " active users; the CSV has them all." }
            }
            @if users.is_empty() { (layout::empty("users")) } @else {
                div.table-wrap { table #users-table {
                    thead { tr {
                        th { "#" }
                        (sort_head(&q, "email", "User", ("total_cost", "desc")))
                        th { "Team" }
                        (sort_head(&q, "total_cost", "Cost", ("total_cost", "desc")))
                        th.num { "Share" }
                        (sort_head(&q, "conversations", "Conversations", ("total_cost", "desc")))
                        (sort_head(&q, "messages", "Messages", ("total_cost", "desc")))
                        (sort_head(&q, "tokens", "Tokens", ("total_cost", "desc")))
                    } }
                    tbody { @for (i, u) in users.iter().enumerate() {
                        @let id = u["user_id"].as_str().unwrap_or_default();
                        tr {
                            td.num { (i + 1) }
                            td { a href=(format!("{base}/users/{}{}", seg(id), q.link(&[]))) { (u["email"].as_str().unwrap_or(id)) } }
                            td { @match u["team_id"].as_str() {
                                Some(t) => a href=(format!("{base}/teams/{}{}", seg(t), q.link(&[]))) { (t) },
                                None => span.muted { "—" },
                            } }
                            td.num data-nanos=(nanos(&u["total_cost"]).unwrap_or(0)) { (money(&u["total_cost"])) }
                            td.num { (fraction(&u["share"])) }
                            td.num { (count(&u["conversations"])) }
                            td.num data-count=(u["messages"]) { (count(&u["messages"])) }
                            td.num { (compact(&u["tokens"])) }
                        }
                    } }
                } }
            }
        }
        div.cols {
            section.card #teams {
                (section("Team costs", Some(&csv("teams", &[]))))
                @if teams.is_empty() { (layout::empty("team usage")) } @else {
                    (charts::bars("Cost per team", &bars(&teams, "name", |t| {
                        Some(format!("{base}/teams/{}{}", seg(t["team_id"].as_str().unwrap_or("_none")), q.link(&[])))
                    })))
                }
            }
            section.card #departments {
                (section("Department costs", Some(&csv("departments", &[]))))
                @if depts.is_empty() { (layout::empty("department usage")) } @else {
                    (charts::bars("Cost per department", &bars(&depts, "department", |d| {
                        Some(format!("{base}/departments/{}{}", seg(d["department"].as_str().unwrap_or("_none")), q.link(&[])))
                    })))
                }
            }
        }
        div.cols { (anomalies) (savings) }
    };
    let crumbs = crumbs(&who, &org, &info.name);
    Ok(html(layout::shell(&info.name, Some(&who), &crumbs, body)))
}

/// The breadcrumbs down to an organisation (the platform only for those who may see it).
pub fn crumbs(who: &crate::auth::Principal, org: &str, name: &str) -> Vec<layout::Crumb> {
    let mut c = Vec::new();
    if who.may_see_platform() {
        c.push(("Platform".to_owned(), "/platform".to_owned()));
    }
    if who.may_see_org_lists(org) {
        c.push((name.to_owned(), format!("/orgs/{}", seg(org))));
    }
    c
}

/// The cost line of a dense daily series, or what to do when it is all zero.
pub fn trend(series: &Value) -> Markup {
    let points: Vec<(String, i128)> = series
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["date"].as_str().unwrap_or_default().to_owned(),
                nanos(&r["total_cost"]).unwrap_or(0),
            )
        })
        .collect();
    if points.iter().all(|p| p.1 == 0) {
        return layout::empty("spend");
    }
    charts::line("Daily cost", &points)
}

/// Bars of a list's rows: labelled by `field`, valued by `total_cost`, noted with their share.
pub fn bars(rows: &[Value], field: &str, href: impl Fn(&Value) -> Option<String>) -> Vec<Bar> {
    rows.iter()
        .map(|r| Bar {
            label: r[field].as_str().unwrap_or("(none)").to_owned(),
            value: nanos(&r["total_cost"]).unwrap_or(0),
            note: format!("{} of cost", fraction(&r["share"])),
            href: href(r),
        })
        .collect()
}
