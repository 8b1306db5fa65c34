//! The platform level (API.md §4): the sum of every organisation, each over
//! the same dates in its own timezone, and the organisations as a list.

use super::lists::{money_sort, page_of, share, Key, Row};
use super::params::Params;
use super::params::Query;
use super::summary::{change_pct, figures_json};
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

type Raw = Query<HashMap<String, String>>;

fn add(total: &mut Figures, f: &Figures) {
    total.total_cost += f.total_cost;
    total.actual_api_cost += f.actual_api_cost;
    total.messages += f.messages;
    total.tokens_in += f.tokens_in;
    total.tokens_out += f.tokens_out;
    total.cached_tokens_in += f.cached_tokens_in;
    total.cache_write_tokens_in += f.cache_write_tokens_in;
    total.unpriced_events += f.unpriced_events;
    total.conversations += f.conversations;
    // Users are per organisation here: distinct (organisation, user) pairs add up.
    total.active_users += f.active_users;
}

/// Every organisation's figures for the period (dates in UTC for the shortcuts).
async fn per_org(s: &AppState, period: Period) -> ApiResult<Vec<(Org, Figures)>> {
    let mut out = Vec::new();
    for org in s.store.list_orgs().await? {
        let q = FigureQuery {
            org: org.id.clone(),
            period,
            filter: Filter::default(),
            group_by: vec![],
        };
        let f = s
            .store
            .figures(&q)
            .await?
            .into_iter()
            .next()
            .map(|r| r.figures)
            .unwrap_or_default();
        out.push((org, f));
    }
    Ok(out)
}

fn platform_json(orgs: &[(Org, Figures)]) -> Map<String, Value> {
    let mut total = Figures::default();
    for (_, f) in orgs {
        add(&mut total, f);
    }
    let mut m = figures_json(&total);
    m.insert(
        "organizations".into(),
        orgs.iter().filter(|(_, f)| f.messages > 0).count().into(),
    );
    m
}

async fn summary(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_platform_admin()?;
    let mut p = Params::new(raw);
    let period = p.period("UTC")?;
    p.finish()?;
    let now = per_org(&s, period).await?;
    let before = per_org(&s, period.previous()).await?;
    let mut out = platform_json(&now);
    let prev = platform_json(&before);
    let totals = |orgs: &[(Org, Figures)]| {
        let mut t = Figures::default();
        for (_, f) in orgs {
            add(&mut t, f);
        }
        t
    };
    out.insert("from".into(), period.from.to_string().into());
    out.insert("to".into(), period.to.to_string().into());
    out.insert(
        "change_pct".into(),
        change_pct(&totals(&now), &totals(&before)),
    );
    let mut prev = prev;
    prev.insert("from".into(), period.previous().from.to_string().into());
    prev.insert("to".into(), period.previous().to.to_string().into());
    out.insert("previous".into(), Value::Object(prev));
    Ok(Json(Value::Object(out)))
}

async fn organizations(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<axum::response::Response> {
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
    let orgs = per_org(&s, period).await?;
    let whole: i128 = orgs.iter().map(|(_, f)| f.total_cost).sum();
    let rows = orgs
        .into_iter()
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
