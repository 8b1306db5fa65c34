//! One team, department or API key: its figures with their change, its daily
//! series, its people and its models — the API's answer for it, rendered.

use super::charts;
use super::csv;
use super::error::PageError;
use super::format::{change, compact, cost_change, count, fraction, money, nanos};
use super::layout::{self, card, section};
use super::org::{bars, crumbs, trend};
use super::range::{seg, PageQuery};
use super::session::Viewer;
use super::{covered, html};
use crate::auth::Principal;
use crate::routes::entity;
use crate::routes::params::Query;
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use maud::{html as markup, Markup};
use serde_json::Value;
use std::collections::HashMap;

type Raw = Query<HashMap<String, String>>;

pub async fn team(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Path((org, team)): Path<(String, String)>,
    Query(raw): Raw,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    let Json(v) = entity::team(
        State(s.clone()),
        who.clone(),
        Path((org.clone(), team.clone())),
        Query(q.api(&[])),
    )
    .await?;
    let title = format!("Team {}", v["name"].as_str().unwrap_or(&team));
    let members: Vec<Value> = v["members"].as_array().cloned().unwrap_or_default();
    let base = format!("/orgs/{}", seg(&org));
    let extra = markup! {
        section.card #members {
            (section("Current members", Some(&q.link(&[("csv", "members")]))))
            @if members.is_empty() { p.muted { "No current members." } } @else {
                ul { @for m in &members {
                    @let id = m["user_id"].as_str().unwrap_or_default();
                    li { a href=(format!("{base}/users/{}{}", seg(id), q.link(&[]))) { (m["email"].as_str().unwrap_or(id)) } " · " (m["role"].as_str().unwrap_or_default()) }
                } }
            }
        }
    };
    if q.csv.as_deref() == Some("members") {
        return Ok(csv::download(
            &org,
            &format!("team-{team}-members"),
            &covered(&v),
            &["user_id", "email", "role"],
            &members,
        ));
    }
    render(
        &s,
        &who,
        &org,
        &format!("teams/{}", seg(&team)),
        &format!("team-{team}"),
        &title,
        &v,
        &q,
        extra,
    )
    .await
}

pub async fn department(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Path((org, dept)): Path<(String, String)>,
    Query(raw): Raw,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    let Json(v) = entity::department(
        State(s.clone()),
        who.clone(),
        Path((org.clone(), dept.clone())),
        Query(q.api(&[])),
    )
    .await?;
    let title = format!(
        "Department {}",
        v["department"].as_str().unwrap_or("(none)")
    );
    render(
        &s,
        &who,
        &org,
        &format!("departments/{}", seg(&dept)),
        &format!("department-{dept}"),
        &title,
        &v,
        &q,
        markup! {},
    )
    .await
}

pub async fn api_key(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Path((org, key)): Path<(String, String)>,
    Query(raw): Raw,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    let Json(v) = entity::api_key(
        State(s.clone()),
        who.clone(),
        Path((org.clone(), key.clone())),
        Query(q.api(&[])),
    )
    .await?;
    let title = format!("API key {}", v["name"].as_str().unwrap_or(&key));
    let extra = markup! {
        p.muted { "Provider " (v["provider"].as_str().unwrap_or("unknown")) " · "
            @if v["registered"].as_bool() == Some(true) { "registered" } @else { "not registered (created on first sight)" } }
    };
    render(
        &s,
        &who,
        &org,
        &format!("api-keys/{}", seg(&key)),
        &format!("api-key-{key}"),
        &title,
        &v,
        &q,
        extra,
    )
    .await
}

/// `here` is the page's path below its organisation (`teams/web`), for the breadcrumb.
#[allow(clippy::too_many_arguments)]
async fn render(
    s: &AppState,
    who: &Principal,
    org: &str,
    here: &str,
    name: &str,
    title: &str,
    v: &Value,
    q: &PageQuery,
    extra: Markup,
) -> Result<Response, PageError> {
    let range = covered(v);
    let empty = Vec::new();
    let users = v["users"].as_array().unwrap_or(&empty);
    let models = v["models"].as_array().unwrap_or(&empty);
    let series = v["series"].as_array().unwrap_or(&empty);
    match q.csv.as_deref() {
        Some("users") => {
            return Ok(csv::download(
                org,
                &format!("{name}-users"),
                &range,
                &[
                    "user_id",
                    "total_cost",
                    "messages",
                    "conversations",
                    "share",
                ],
                users,
            ))
        }
        Some("models") => {
            return Ok(csv::download(
                org,
                &format!("{name}-models"),
                &range,
                &["model", "total_cost", "messages", "conversations", "share"],
                models,
            ))
        }
        Some("series") => {
            return Ok(csv::download(
                org,
                &format!("{name}-series"),
                &range,
                &[
                    "date",
                    "total_cost",
                    "actual_api_cost",
                    "profit",
                    "active_users",
                    "conversations",
                    "messages",
                    "tokens",
                ],
                series,
            ))
        }
        _ => {}
    }
    let info = s.store.get_org(org).await?;
    let base = format!("/orgs/{}", seg(org));
    let provider = who.sees_provider_cost();
    let body = markup! {
        (layout::heading(title, &format!("{} · times in {}", info.name, info.timezone), &range, q))
        (extra)
        div.grid {
            (card("Total cost", &money(&v["total_cost"]), cost_change(&v["change_pct"]["total_cost"])))
            @if provider {
                (card("Profit margin", &fraction(&v["margin"]), markup! { "profit " (money(&v["profit"])) }))
            }
            (card("Active users", &count(&v["active_users"]), change(&v["change_pct"]["active_users"])))
            (card("Conversations", &count(&v["conversations"]), markup! { (count(&v["messages"])) " messages" }))
            (card("Tokens processed", &compact(&v["tokens"]), change(&v["change_pct"]["tokens"])))
        }
        section.card #trend {
            (section("Daily cost", Some(&q.link(&[("csv", "series")]))))
            (trend(&v["series"]))
        }
        div.cols {
            section.card #users {
                (section(&format!("Users ({} with events)", v["users_total"]), Some(&q.link(&[("csv", "users")]))))
                @if users.is_empty() { (layout::empty("users")) } @else {
                    div.table-wrap { table.sortable {
                        thead { tr { th { "User" } th.num { "Cost" } th.num { "Share" } th.num { "Conversations" } th.num { "Messages" } } }
                        tbody { @for u in users {
                            @let id = u["user_id"].as_str().unwrap_or_default();
                            tr {
                                td { a href=(format!("{base}/users/{}{}", seg(id), q.link(&[]))) { (id) } }
                                td.num data-v=(nanos(&u["total_cost"]).unwrap_or(0)) { (money(&u["total_cost"])) }
                                td.num data-v=(u["share"]) { (fraction(&u["share"])) }
                                td.num data-v=(u["conversations"]) { (count(&u["conversations"])) }
                                td.num data-v=(u["messages"]) { (count(&u["messages"])) }
                            }
                        } }
                    } }
                }
            }
            section.card #models {
                (section("Models", Some(&q.link(&[("csv", "models")]))))
                @if models.is_empty() { (layout::empty("model usage")) } @else {
                    (charts::bars("Cost per model", &bars(models, "model", |_| None)))
                }
            }
        }
    };
    let mut crumbs = crumbs(who, org, &info.name);
    crumbs.push((title.to_owned(), format!("{base}/{here}")));
    Ok(html(layout::shell(title, Some(who), &crumbs, body)))
}
