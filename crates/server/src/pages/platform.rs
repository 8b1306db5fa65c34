//! `/platform`: every organisation combined and the organisation
//! leaderboard, each row leading down to its organisation's page.

use super::charts;
use super::error::PageError;
use super::format::{change, compact, cost_change, count, fraction, money};
use super::layout::{self, card, section, sort_head};
use super::org::bars;
use super::range::{seg, PageQuery};
use super::session::Viewer;
use super::{covered, html, rows};
use crate::routes::params::Query;
use crate::routes::platform;
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use maud::html as markup;
use std::collections::HashMap;

pub async fn page(
    State(s): State<AppState>,
    Viewer(who): Viewer,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let q = PageQuery::parse(&raw);
    let Json(sum) = platform::summary(State(s.clone()), who.clone(), Query(q.api(&[]))).await?;
    let (sort, order) = (
        q.sort.as_deref().unwrap_or("total_cost"),
        q.order.as_deref().unwrap_or("desc"),
    );
    let orgs = rows(
        platform::organizations(
            State(s.clone()),
            who.clone(),
            Query(q.api(&[("limit", "100"), ("sort", sort), ("order", order)])),
        )
        .await?,
    );
    let range = covered(&sum);
    let href = |o: &serde_json::Value| {
        Some(format!(
            "/orgs/{}{}",
            seg(o["organization_id"].as_str().unwrap_or_default()),
            q.link(&[])
        ))
    };
    let top: Vec<_> = bars(&orgs, "name", href).into_iter().take(10).collect();
    let head = ("total_cost", "desc");
    let body = markup! {
        (layout::heading("Platform", "All organisations · dates in UTC, each organisation's days in its own timezone", &range, &q))
        div.grid {
            (card("Total cost", &money(&sum["total_cost"]), cost_change(&sum["change_pct"]["total_cost"])))
            (card("Profit margin", &fraction(&sum["margin"]), markup! { "profit " (money(&sum["profit"])) " · " (change(&sum["change_pct"]["profit"])) }))
            (card("Organisations active", &count(&sum["organizations"]), markup! { "with events in the period" }))
            (card("Active users", &count(&sum["active_users"]), change(&sum["change_pct"]["active_users"])))
            (card("Tokens processed", &compact(&sum["tokens"]), change(&sum["change_pct"]["tokens"])))
        }
        @if orgs.is_empty() {
            section.card { (layout::empty("organisation with events")) }
        } @else {
            section.card #top-orgs {
                (section("Top organisations by cost", None))
                (charts::bars("Cost per organisation", &top))
            }
            section.card #organizations {
                (section("Organisations", Some(&format!("/v1/platform/organizations{}", q.link(&[("sort", sort), ("order", order), ("format", "csv")])))))
                div.table-wrap { table #orgs-table {
                    thead { tr {
                        (sort_head(&q, "name", "Organisation", head))
                        (sort_head(&q, "total_cost", "Cost", head))
                        (sort_head(&q, "profit", "Profit", head))
                        th.num { "Margin" }
                        (sort_head(&q, "active_users", "Active users", head))
                        (sort_head(&q, "conversations", "Conversations", head))
                        (sort_head(&q, "messages", "Messages", head))
                        (sort_head(&q, "tokens", "Tokens", head))
                    } }
                    tbody { @for o in &orgs {
                        tr {
                            td { a href=[href(o)] { (o["name"].as_str().unwrap_or_default()) } }
                            td.num { (money(&o["total_cost"])) }
                            td.num { (money(&o["profit"])) }
                            td.num { (fraction(&o["margin"])) }
                            td.num { (count(&o["active_users"])) }
                            td.num { (count(&o["conversations"])) }
                            td.num { (count(&o["messages"])) }
                            td.num { (compact(&o["tokens"])) }
                        }
                    } }
                } }
            }
        }
    };
    let crumbs = vec![("Platform".to_owned(), "/platform".to_owned())];
    Ok(html(layout::shell("Platform", Some(&who), &crumbs, body)))
}
