//! The platform level (API.md §4): the sum of every organisation, each over
//! the same dates in its own timezone, and the organisations as a list.

use super::lists::{money_sort, page_of, share, Key, Listed, Row};
use super::params::Params;
use super::params::Query;
use super::summary::{change_pct, figures_json, previous_json};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};
use spendlens_domain::time::Period;
use spendlens_store::model::Org;
use spendlens_store::query::{FigureQuery, Figures, Filter};
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/platform/summary", get(summary))
        .route("/v1/platform/organizations", get(organizations))
}

pub type Raw = Query<HashMap<String, String>>;

/// Every organisation's figures for each period (dates in UTC for the
/// shortcuts): `out[p][o]` for period `p`, organisation `o`. One store read
/// per period, the periods read side by side (on PostgreSQL, two
/// connections and so both cores; each read took ~10 ms on `large`).
async fn per_org(s: &AppState, orgs: &[Org], periods: &[Period]) -> ApiResult<Vec<Vec<Figures>>> {
    let of_period = |period: Period| {
        let queries = orgs
            .iter()
            .map(|org| FigureQuery {
                org: org.id.clone(),
                period,
                filter: Filter::default(),
                group_by: vec![],
            })
            .collect();
        async move {
            let answers = s.store.figures_many(queries).await?;
            Ok::<_, crate::error::ApiError>(
                answers
                    .into_iter()
                    .map(|rows| {
                        rows.into_iter()
                            .next()
                            .map(|r| r.figures)
                            .unwrap_or_default()
                    })
                    .collect(),
            )
        }
    };
    futures_util::future::try_join_all(periods.iter().map(|p| of_period(*p))).await
}

/// The platform's figures: organisations share no user, so they add up.
fn sum(figures: &[Figures]) -> Figures {
    let mut total = Figures::default();
    figures.iter().for_each(|f| total.add_disjoint(f));
    total
}

fn active(figures: &[Figures]) -> usize {
    figures.iter().filter(|f| f.messages > 0).count()
}

pub async fn summary(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_platform_admin()?;
    let mut p = Params::new(raw);
    let period = p.period("UTC")?;
    p.finish()?;
    let orgs = s.store.list_orgs().await?;
    let mut both = per_org(&s, &orgs, &[period, period.previous()]).await?;
    let before = both.pop().unwrap_or_default();
    let now = both.pop().unwrap_or_default();
    let (total, total_before) = (sum(&now), sum(&before));
    let mut out = figures_json(&total);
    out.insert("organizations".into(), active(&now).into());
    out.insert("from".into(), period.from.to_string().into());
    out.insert("to".into(), period.to.to_string().into());
    out.insert("change_pct".into(), change_pct(&total, &total_before));
    let mut prev = previous_json(&total_before, period);
    prev.insert("organizations".into(), active(&before).into());
    out.insert("previous".into(), Value::Object(prev));
    Ok(Json(Value::Object(out)))
}

pub async fn organizations(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Listed> {
    who.require_platform_admin()?;
    let mut p = Params::new(raw);
    let period = p.period("UTC")?;
    let list = p.list(
        &[
            "total_cost",
            "actual_api_cost",
            "messages",
            "conversations",
            "tokens",
            "active_users",
            "profit",
            "name",
        ],
        "total_cost",
    )?;
    p.finish()?;
    let orgs = s.store.list_orgs().await?;
    let figures = per_org(&s, &orgs, &[period])
        .await?
        .pop()
        .unwrap_or_default();
    let whole = sum(&figures).total_cost;
    let rows = orgs
        .into_iter()
        .zip(figures)
        .filter(|(_, f)| f.messages > 0)
        .map(|(org, f)| {
            let mut json = Map::new();
            json.insert("organization_id".into(), org.id.clone().into());
            json.insert("name".into(), org.name.clone().into());
            json.insert("timezone".into(), org.timezone.clone().into());
            json.extend(figures_json(&f));
            json.insert("share".into(), share(f.total_cost, whole));
            let mut sort: HashMap<_, _> = money_sort(&f).into_iter().collect();
            sort.insert("profit", Key::Num(f.total_cost - f.actual_api_cost));
            sort.insert("name", Key::Text(org.name));
            Row {
                id: org.id,
                sort,
                json,
            }
        })
        .collect();
    let columns = [
        "organization_id",
        "name",
        "timezone",
        "total_cost",
        "actual_api_cost",
        "profit",
        "margin",
        "active_users",
        "conversations",
        "messages",
        "tokens_in",
        "tokens_out",
        "tokens",
        "unpriced_events",
        "avg_cost_per_active_user",
        "share",
    ];
    page_of(
        "platform",
        period,
        &Filter::default(),
        &list,
        "organizations",
        &columns,
        rows,
    )
}
