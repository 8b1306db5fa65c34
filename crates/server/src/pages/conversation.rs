//! `/orgs/{org}/conversations/{conv}`: every message with its time (in the
//! organisation's timezone), model, key, tokens and costs.

use super::csv;
use super::error::PageError;
use super::format::{count, local, money, nanos};
use super::html;
use super::layout::{self, section};
use super::org::crumbs;
use super::range::{seg, PageQuery};
use super::session::Viewer;
use crate::routes::params::Query;
use crate::routes::people;
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use maud::html as markup;
use spendlens_domain::time::parse_timezone;
use std::collections::HashMap;

pub async fn page(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Path((org, conv)): Path<(String, String)>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    // The conversation takes no period: all its retained messages.
    let Json(v) = people::conversation(
        State(s.clone()),
        who.clone(),
        Path((org.clone(), conv.clone())),
        Query(HashMap::new()),
    )
    .await?;
    let empty = Vec::new();
    let messages = v["messages"].as_array().unwrap_or(&empty);
    if q.csv.as_deref() == Some("messages") {
        let span = (
            v["started_at"]
                .as_str()
                .unwrap_or_default()
                .get(..10)
                .unwrap_or_default()
                .to_owned(),
            v["last_event_at"]
                .as_str()
                .unwrap_or_default()
                .get(..10)
                .unwrap_or_default()
                .to_owned(),
        );
        let columns = [
            "event_id",
            "occurred_at",
            "model",
            "api_key_id",
            "tokens_in",
            "tokens_out",
            "cached_tokens_in",
            "total_cost",
            "actual_api_cost",
        ];
        return Ok(csv::download(
            &org,
            &format!("conversation-{conv}"),
            &span,
            &columns,
            messages,
        ));
    }
    let info = s.store.get_org(&org).await?;
    let tz =
        parse_timezone(&info.timezone).map_err(|e| crate::error::ApiError::Internal(e.into()))?;
    let user = v["user_id"].as_str().unwrap_or_default();
    let title = v["title"].as_str().unwrap_or("Untitled conversation");
    let provider = who.sees_provider_cost();
    let keys_visible = who.may_see_org_lists(&org);
    let base = format!("/orgs/{}", seg(&org));
    let body = markup! {
        div.heading { div {
            h1 { (title) }
            p.muted { "Conversation " code { (conv) } " of " a href=(format!("{base}/users/{}", seg(user))) { (user) }
                " · started " (local(&v["started_at"], &tz)) " · last message " (local(&v["last_event_at"], &tz)) " (" (info.timezone) ")" }
        } }
        div.grid {
            (layout::card("Total cost", &money(&v["total_cost"]), markup! {}))
            @if provider { (layout::card("Provider cost", &money(&v["actual_api_cost"]), markup! {})) }
            (layout::card("Messages", &count(&v["message_count"]), markup! {}))
            (layout::card("Tokens", &count(&v["tokens"]), markup! {}))
        }
        section.card #messages {
            (section("Messages", Some(&q.link(&[("csv", "messages")]))))
            div.table-wrap { table.sortable #messages-table {
                thead { tr {
                    th { "Time" } th { "Model" } th { "API key" } th.num { "Tokens in" } th.num { "Cached" } th.num { "Tokens out" } th.num { "Cost" }
                    @if provider { th.num { "Provider cost" } }
                } }
                tbody { @for m in messages {
                    tr {
                        td data-v=(m["occurred_at"].as_str().unwrap_or_default()) { (local(&m["occurred_at"], &tz)) }
                        td { (m["model"].as_str().unwrap_or_default()) }
                        td { @match (m["api_key_id"].as_str(), keys_visible) {
                            (Some(k), true) => a href=(format!("{base}/api-keys/{}", seg(k))) { (k) },
                            (Some(k), false) => (k),
                            (None, _) => span.muted { "Unknown key" },
                        } }
                        td.num data-v=(m["tokens_in"]) { (count(&m["tokens_in"])) }
                        td.num data-v=(m["cached_tokens_in"]) { (count(&m["cached_tokens_in"])) }
                        td.num data-v=(m["tokens_out"]) { (count(&m["tokens_out"])) }
                        td.num data-v=(nanos(&m["total_cost"]).unwrap_or(0)) { (money(&m["total_cost"])) }
                        @if provider { td.num data-v=(nanos(&m["actual_api_cost"]).unwrap_or(0)) { (money(&m["actual_api_cost"])) } }
                    }
                } }
            } }
        }
    };
    let mut crumbs = crumbs(&who, &org, &info.name);
    crumbs.push((user.to_owned(), format!("{base}/users/{}", seg(user))));
    Ok(html(layout::shell(title, Some(&who), &crumbs, body)))
}
