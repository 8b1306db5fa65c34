//! `/orgs/{org}/users/{user}`: the individual dashboard — my cost against
//! the organisation average (API.md §3 `percent_vs_avg`), my usage, my trend,
//! my models and my recent conversations.

use super::charts;
use super::csv;
use super::error::PageError;
use super::format::{
    ago, change, compact, cost_change, count, instant, local, money, nanos, versus_average,
};
use super::layout::{self, card, section};
use super::org::{bars, crumbs, trend};
use super::range::{seg, PageQuery};
use super::session::Viewer;
use super::{covered, html};
use crate::routes::params::Query;
use crate::routes::people;
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use jiff::Timestamp;
use maud::html as markup;
use serde_json::Value;
use spendlens_domain::time::parse_timezone;
use std::collections::HashMap;

/// Recent conversations shown (the CSV holds the period's first 100).
const RECENT: &str = "10";

pub async fn page(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Path((org, user)): Path<(String, String)>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    let Json(v) = people::user_page(
        State(s.clone()),
        who.clone(),
        Path((org.clone(), user.clone())),
        Query(q.api(&[])),
    )
    .await?;
    let range = covered(&v);
    let limit = if q.csv.is_some() { "100" } else { RECENT };
    let Json(convs) = people::conversations(
        State(s.clone()),
        who.clone(),
        Path((org.clone(), user.clone())),
        Query(q.api(&[("limit", limit)])),
    )
    .await?;
    let empty = Vec::new();
    let conversations = convs["data"].as_array().unwrap_or(&empty);
    let models = v["models"].as_array().unwrap_or(&empty);
    let name = format!("user-{user}");
    match q.csv.as_deref() {
        Some("conversations") => {
            return Ok(csv::download(
                &org,
                &format!("{name}-conversations"),
                &range,
                &[
                    "conversation_id",
                    "title",
                    "started_at",
                    "last_event_at",
                    "messages",
                    "tokens",
                    "total_cost",
                    "models",
                ],
                conversations,
            ))
        }
        Some("models") => {
            return Ok(csv::download(
                &org,
                &format!("{name}-models"),
                &range,
                &["model", "total_cost", "messages", "share"],
                models,
            ))
        }
        Some("trend") => {
            return Ok(csv::download(
                &org,
                &format!("{name}-trend"),
                &range,
                &["date", "total_cost", "messages"],
                v["trend"].as_array().unwrap_or(&empty),
            ))
        }
        _ => {}
    }
    let info = s.store.get_org(&org).await?;
    let tz =
        parse_timezone(&info.timezone).map_err(|e| crate::error::ApiError::Internal(e.into()))?;
    let now = Timestamp::now();
    let c = &v["comparison"];
    let label = v["email"].as_str().unwrap_or(&user).to_owned();
    let base = format!("/orgs/{}", seg(&org));
    // "My" only for the person themselves; an admin or lead reads someone else's page.
    let mine = who.user.as_deref() == Some(user.as_str());
    let (heading, my) = if mine {
        (format!("My usage · {label}"), "My ")
    } else {
        (format!("Usage of {label}"), "")
    };
    let titled = |what: &str| {
        if mine {
            format!("{my}{what}")
        } else {
            let mut t = what.to_owned();
            t[..1].make_ascii_uppercase();
            t
        }
    };
    let savings = super::insights::recommendations_panel(&s, &info, Some(&user)).await?;
    let body = markup! {
        (layout::heading(&heading, &format!("{} · times in {}", info.name, info.timezone), &range, &q))
        section.card #comparison {
            p.callout { (versus_average(&c["percent_vs_avg"])) }
            p.muted {
                (titled("cost ")) (money(&c["my_cost"])) " · organisation average per active user " (money(&c["org_avg_cost_per_active_user"]))
                @if let Some(n) = c["org_active_users"].as_u64() { " over " (n) " active users" }
                @if c["org_avg_cost_per_active_user"].is_null() { " (shown once the organisation has 5 active users in the period)" }
            }
        }
        div.grid {
            (card(&titled("cost"), &money(&v["total_cost"]), cost_change(&v["change_pct"]["total_cost"])))
            (card("Conversations", &count(&v["conversations"]), change(&v["change_pct"]["conversations"])))
            (card("Messages", &count(&v["messages"]), change(&v["change_pct"]["messages"])))
            (card("Tokens", &compact(&v["tokens"]), change(&v["change_pct"]["tokens"])))
        }
        (super::insights::forecast_line(&v["forecast"]))
        @if let Some(b) = v["budgets"].as_array().filter(|b| !b.is_empty()) { (super::insights::budgets_panel(b)) }
        section.card #trend {
            (section(&titled("daily cost"), Some(&q.link(&[("csv", "trend")]))))
            (trend(&v["trend"]))
        }
        div.cols {
            section.card #models {
                (section(&titled("models"), Some(&q.link(&[("csv", "models")]))))
                @if models.is_empty() { (layout::empty("model usage")) } @else {
                    (charts::bars("Share of my cost per model", &bars(models, "model", |_| None)))
                }
            }
            section.card #conversations {
                (section("Recent conversations", Some(&q.link(&[("csv", "conversations")]))))
                @if conversations.is_empty() { (layout::empty("conversations")) } @else {
                    div.table-wrap { table.sortable #conversations-table {
                        thead { tr { th { "Conversation" } th.num { "Cost" } th.num { "Messages" } th { "Last message" } } }
                        tbody { @for conv in conversations {
                            @let id = conv["conversation_id"].as_str().unwrap_or_default();
                            tr {
                                td.title { a href=(format!("{base}/conversations/{}", seg(id))) { (conv["title"].as_str().unwrap_or(id)) } }
                                td.num data-v=(nanos(&conv["total_cost"]).unwrap_or(0)) { (money(&conv["total_cost"])) }
                                td.num data-v=(conv["messages"]) { (count(&conv["messages"])) }
                                td data-v=(conv["last_event_at"].as_str().unwrap_or_default()) title=(local(&conv["last_event_at"], &tz)) { (relative(&conv["last_event_at"], now)) }
                            }
                        } }
                    } }
                }
            }
        }
        (savings)
    };
    let mut crumbs = crumbs(&who, &org, &info.name);
    if let Some(team) = v["team_id"]
        .as_str()
        .filter(|t| who.require_may_see_team(&org, t).is_ok())
    {
        crumbs.push((
            format!("Team {team}"),
            format!("{base}/teams/{}", seg(team)),
        ));
    }
    crumbs.push((label.clone(), format!("{base}/users/{}", seg(&user))));
    Ok(html(layout::shell(&label, Some(&who), &crumbs, body)))
}

fn relative(v: &Value, now: Timestamp) -> String {
    instant(v)
        .map(|t| ago(t, now))
        .unwrap_or_else(|| "—".into())
}
