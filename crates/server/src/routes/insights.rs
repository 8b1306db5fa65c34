//! `GET /v1/orgs/{org}/anomalies` and `GET /v1/orgs/{org}/recommendations`.

use super::params::{Params, Query};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::insights::{anomalies, recommend};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use spendlens_domain::money::format_usd;
use spendlens_domain::Nanos;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orgs/{org}/anomalies", get(list_anomalies))
        .route("/v1/orgs/{org}/recommendations", get(recommendations))
}

type Raw = Query<HashMap<String, String>>;

async fn list_anomalies(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(mut raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    if !raw.contains_key("from") && !raw.contains_key("to") {
        raw.entry("period".into())
            .or_insert_with(|| "last_30d".into());
    }
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    p.finish()?;
    let data = anomalies::find(s.store.as_ref(), &org, period).await?;
    Ok(Json(json!({
        "from": period.from.to_string(),
        "to": period.to.to_string(),
        "method": "median and MAD of the 28 days before each day; |score| ≥ 3.5 and at least $1 away (docs/insights.md)",
        "data": data,
    })))
}

async fn recommendations(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    let mut p = Params::new(raw);
    let user = p.take("user_id");
    p.finish()?;
    match &user {
        Some(u) => {
            let team = s
                .store
                .get_member(&org, u)
                .await
                .ok()
                .and_then(|m| m.team_id);
            who.require_may_see_user(&org, u, team.as_deref())?;
        }
        None => who.require_org_admin(&org)?,
    }
    let info = s.store.get_org(&org).await?;
    let data = recommend::recommend(s.store.as_ref(), &info, user.as_deref()).await?;
    let total: i128 = data
        .iter()
        .filter_map(|r| Nanos::parse_usd(r["monthly_saving"].as_str()?, 1_000_000_000).ok())
        .map(|n| i128::from(n.0))
        .sum();
    Ok(Json(json!({
        "window_days": 30,
        "total_monthly_saving": format_usd(total),
        "data": data,
    })))
}
