//! `GET /v1/orgs/{org}/summary` (API.md §4): the organisation's figures for a
//! period, its previous period and the change. The rest of the analytics API
//! builds on the same `FigureQuery`.

use super::params::Params;
use super::params::Query;
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use spendlens_domain::money::{div_round, format_usd};
use spendlens_domain::time::Period;
use spendlens_store::query::FigureQuery;
use spendlens_store::query::Figures;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/orgs/{org}/summary", get(summary))
}

fn ratio(num: i128, den: i128) -> Value {
    if den == 0 {
        Value::Null
    } else {
        json!(num as f64 / den as f64)
    }
}

/// The figures of API.md §3 as JSON: money as 9-decimal strings.
pub fn figures_json(f: &Figures) -> Map<String, Value> {
    let profit = f.total_cost - f.actual_api_cost;
    let avg = div_round(f.total_cost, f.active_users as i128).map(format_usd);
    let mut m = Map::new();
    m.insert("total_cost".into(), format_usd(f.total_cost).into());
    m.insert(
        "actual_api_cost".into(),
        format_usd(f.actual_api_cost).into(),
    );
    m.insert("profit".into(), format_usd(profit).into());
    m.insert("margin".into(), ratio(profit, f.total_cost));
    m.insert("active_users".into(), f.active_users.into());
    m.insert("conversations".into(), f.conversations.into());
    m.insert("messages".into(), f.messages.into());
    m.insert("tokens_in".into(), f.tokens_in.into());
    m.insert("tokens_out".into(), f.tokens_out.into());
    m.insert("tokens".into(), (f.tokens_in + f.tokens_out).into());
    m.insert("unpriced_events".into(), f.unpriced_events.into());
    m.insert("avg_cost_per_active_user".into(), avg.into());
    m
}

/// The previous period's figures, with the dates they cover.
pub fn previous_json(f: &Figures, period: Period) -> Map<String, Value> {
    let prev = period.previous();
    let mut m = figures_json(f);
    m.insert("from".into(), prev.from.to_string().into());
    m.insert("to".into(), prev.to.to_string().into());
    m
}

pub fn change_pct(now: &Figures, before: &Figures) -> Value {
    let pct = |cur: i128, prev: i128| {
        if prev == 0 {
            Value::Null
        } else {
            json!((cur - prev) as f64 / prev as f64 * 100.0)
        }
    };
    json!({
        "total_cost": pct(now.total_cost, before.total_cost),
        "actual_api_cost": pct(now.actual_api_cost, before.actual_api_cost),
        "profit": pct(now.total_cost - now.actual_api_cost, before.total_cost - before.actual_api_cost),
        "active_users": pct(now.active_users.into(), before.active_users.into()),
        "conversations": pct(now.conversations.into(), before.conversations.into()),
        "messages": pct(now.messages.into(), before.messages.into()),
        "tokens": pct((now.tokens_in + now.tokens_out).into(), (before.tokens_in + before.tokens_out).into()),
    })
}

pub async fn summary(
    State(state): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let info = state.store.get_org(&org).await?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    let filter = p.filter()?;
    p.finish()?;
    let ask = |period: Period| FigureQuery {
        org: org.clone(),
        period,
        filter: filter.clone(),
        group_by: vec![],
    };
    let total = |rows: Vec<spendlens_store::query::GroupRow>| {
        rows.into_iter()
            .next()
            .map(|r| r.figures)
            .unwrap_or_default()
    };
    // The period and the one before it, read side by side.
    let (q_now, q_before) = (ask(period), ask(period.previous()));
    let (now, before) =
        tokio::try_join!(state.store.figures(&q_now), state.store.figures(&q_before),)?;
    let (now, before) = (total(now), total(before));
    let mut out = figures_json(&now);
    out.insert("organization_id".into(), org.clone().into());
    out.insert("from".into(), period.from.to_string().into());
    out.insert("to".into(), period.to.to_string().into());
    out.insert("last_event_at".into(), json!(info.last_event_at));
    out.insert(
        "previous".into(),
        Value::Object(previous_json(&before, period)),
    );
    out.insert("change_pct".into(), change_pct(&now, &before));
    out.insert(
        "forecast".into(),
        crate::insights::series::month_forecast(state.store.as_ref(), &info, &filter).await?,
    );
    Ok(Json(Value::Object(out)))
}
