//! Budgets, alerts, webhook deliveries and the budget check (API.md §5).

use super::admin::{body, check_id};
use super::params::{Params, Query};
use crate::auth::Principal;
use crate::budgets::{check, status, watch, webhook};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use spendlens_domain::Nanos;
use spendlens_store::model::{Budget, BudgetPeriod, BudgetScope, Org};
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/orgs/{org}/budgets",
            get(list_budgets).post(create_budget),
        )
        .route(
            "/v1/orgs/{org}/budgets/{id}",
            get(get_budget).put(put_budget).delete(delete_budget),
        )
        .route("/v1/orgs/{org}/alerts", get(alerts))
        .route("/v1/orgs/{org}/webhook/deliveries", get(deliveries))
        .route("/v1/budget-check", get(budget_check))
}

type Raw = Query<HashMap<String, String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetBody {
    id: Option<String>,
    scope: Option<String>,
    scope_id: Option<String>,
    period: Option<String>,
    amount: Option<Value>,
    alert_thresholds: Option<Vec<Value>>,
    hard_limit: Option<bool>,
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad("invalid_field", format!("{field}: {message}"))
}

fn missing(field: &str) -> ApiError {
    ApiError::bad("missing_field", format!("{field} is required"))
}

/// A threshold as a fraction of the amount ("0.8", 0.8) → parts per million.
fn threshold_ppm(v: &Value) -> ApiResult<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(invalid(
                "alert_thresholds",
                "each must be a number like 0.8",
            ))
        }
    };
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let ok = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= 6
        && frac.chars().all(|c| c.is_ascii_digit());
    if !ok {
        return Err(invalid(
            "alert_thresholds",
            format!("{text:?} is not a fraction with at most 6 decimals"),
        ));
    }
    let ppm = whole
        .parse::<i64>()
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
        + format!("{frac:0<6}").parse::<i64>().unwrap_or(0);
    if ppm <= 0 || ppm > 10_000_000 {
        return Err(invalid(
            "alert_thresholds",
            format!("{text} must be above 0 and at most 10 (1000%)"),
        ));
    }
    Ok(ppm)
}

/// A budget from a request body (`raw` JSON), checked field by field; `path_id`
/// is the id of a PUT. Shared with `spendlens budget set`.
pub async fn from_json(
    store: &dyn spendlens_store::Store,
    org: &str,
    raw: &[u8],
    path_id: Option<&str>,
) -> ApiResult<Budget> {
    let b: BudgetBody = body(raw)?;
    if let (Some(given), Some(path)) = (b.id.as_deref(), path_id) {
        if given != path {
            return Err(invalid("id", "differs from the id in the path"));
        }
    }
    let id = match (path_id, &b.id) {
        (Some(p), _) => p.to_owned(),
        (None, Some(given)) => given.clone(),
        (None, None) => format!("b-{}", crate::auth::random_hex(5)),
    };
    parse(store, org, b, id).await
}

async fn parse(
    store: &dyn spendlens_store::Store,
    org: &str,
    b: BudgetBody,
    id: String,
) -> ApiResult<Budget> {
    check_id("id", &id)?;
    let scope = match b.scope.as_deref().ok_or_else(|| missing("scope"))? {
        "org" => BudgetScope::Org,
        "team" => BudgetScope::Team,
        "department" => BudgetScope::Department,
        "user" => BudgetScope::User,
        "api_key" => BudgetScope::ApiKey,
        other => {
            return Err(invalid(
                "scope",
                format!("{other:?}: org, team, department, user or api_key"),
            ))
        }
    };
    let scope_id = b.scope_id.filter(|s| !s.is_empty());
    match (scope, &scope_id) {
        (BudgetScope::Org, Some(_)) => {
            return Err(invalid(
                "scope_id",
                "an organisation budget has no scope_id",
            ))
        }
        (BudgetScope::Org, None) => {}
        (_, None) => return Err(missing("scope_id")),
        (BudgetScope::Team, Some(t)) => {
            if !store.list_teams(org).await?.iter().any(|x| &x.team_id == t) {
                return Err(invalid("scope_id", format!("no team {t} in {org}")));
            }
        }
        (BudgetScope::ApiKey, Some(k)) => {
            if !store
                .list_api_keys(org)
                .await?
                .iter()
                .any(|x| &x.api_key_id == k)
            {
                return Err(invalid("scope_id", format!("no API key {k} in {org}")));
            }
        }
        (_, Some(_)) => {}
    }
    let period = match b.period.as_deref().ok_or_else(|| missing("period"))? {
        "monthly" => BudgetPeriod::Monthly,
        "weekly" => BudgetPeriod::Weekly,
        "daily" => BudgetPeriod::Daily,
        other => {
            return Err(invalid(
                "period",
                format!("{other:?}: monthly, weekly or daily"),
            ))
        }
    };
    let amount = Nanos::from_json(
        b.amount.as_ref().ok_or_else(|| missing("amount"))?,
        1_000_000_000,
    )
    .map_err(|e| invalid("amount", e))?;
    if amount.0 <= 0 {
        return Err(invalid("amount", "must be above 0"));
    }
    let mut thresholds = match &b.alert_thresholds {
        None => vec![500_000, 800_000, 1_000_000],
        Some(list) => list
            .iter()
            .map(threshold_ppm)
            .collect::<ApiResult<Vec<_>>>()?,
    };
    thresholds.sort_unstable();
    thresholds.dedup();
    if thresholds.len() > 10 {
        return Err(invalid("alert_thresholds", "at most 10"));
    }
    Ok(Budget {
        id,
        scope,
        scope_id,
        period,
        amount: amount.0,
        thresholds_ppm: thresholds,
        hard_limit: b.hard_limit.unwrap_or(false),
        created_at: jiff::Timestamp::now(),
    })
}

/// Record what a new or changed budget has already crossed, before answering.
async fn evaluate(s: &AppState, org: &str) {
    if let Err(e) = watch::evaluate(s.store.as_ref(), &s.webhooks, org).await {
        tracing::warn!(org, error = %e, "budget evaluation failed; the sweep retries it");
    }
}

async fn shown(s: &AppState, org: &Org, b: &Budget) -> ApiResult<Value> {
    Ok(status::with_status(s.store.as_ref(), org, b).await?)
}

async fn find(s: &AppState, org: &str, id: &str) -> ApiResult<Budget> {
    s.store
        .list_budgets(org)
        .await?
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("budget {id}")))
}

async fn create_budget(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    let budget = from_json(s.store.as_ref(), &org, &raw, None).await?;
    if find(&s, &org, &budget.id).await.is_ok() {
        return Err(ApiError::Conflict(format!("budget {}", budget.id)));
    }
    let budget = s.store.put_budget(&org, budget, &who.token_id).await?;
    evaluate(&s, &org).await;
    Ok((StatusCode::CREATED, Json(shown(&s, &info, &budget).await?)))
}

async fn put_budget(
    State(s): State<AppState>,
    who: Principal,
    Path((org, id)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    let mut budget = from_json(s.store.as_ref(), &org, &raw, Some(&id)).await?;
    if let Ok(before) = find(&s, &org, &id).await {
        budget.created_at = before.created_at;
    }
    let budget = s.store.put_budget(&org, budget, &who.token_id).await?;
    evaluate(&s, &org).await;
    Ok(Json(shown(&s, &info, &budget).await?))
}

async fn list_budgets(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    Params::new(raw).finish()?;
    let info = s.store.get_org(&org).await?;
    let mut data = Vec::new();
    for b in s.store.list_budgets(&org).await? {
        data.push(shown(&s, &info, &b).await?);
    }
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

async fn get_budget(
    State(s): State<AppState>,
    who: Principal,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    let b = find(&s, &org, &id).await?;
    Ok(Json(shown(&s, &info, &b).await?))
}

async fn delete_budget(
    State(s): State<AppState>,
    who: Principal,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    who.require_org_admin(&org)?;
    s.store.delete_budget(&org, &id, &who.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `limit` (default 100, at most 1,000) of a log, newest first.
fn log_limit(raw: HashMap<String, String>) -> ApiResult<usize> {
    let mut p = Params::new(raw);
    let limit = match p.take("limit") {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(ApiError::param("limit", format!("{l:?}: 1 to 1000"))),
        },
    };
    p.finish()?;
    Ok(limit)
}

async fn alerts(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let limit = log_limit(raw)?;
    let data: Vec<Value> = s
        .store
        .list_alerts(&org, limit)
        .await?
        .iter()
        .map(webhook::alert_json)
        .collect();
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

async fn deliveries(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let limit = log_limit(raw)?;
    let data = s.store.list_deliveries(&org, limit).await?;
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

async fn budget_check(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    let mut p = Params::new(raw);
    let user = p.take("user_id").filter(|u| !u.is_empty());
    let key = p.take("api_key_id").filter(|k| !k.is_empty());
    let org = p
        .take("organization_id")
        .or_else(|| who.org.clone())
        .ok_or_else(|| {
            ApiError::param(
                "organization_id",
                "required with a token of no organisation",
            )
        })?;
    p.finish()?;
    who.require_may_check_budget(&org, user.as_deref())?;
    let blocking = check::blocking(s.store.as_ref(), &org, user.as_deref(), key.as_deref()).await?;
    Ok(Json(
        json!({"allowed": blocking.is_empty(), "blocking": blocking}),
    ))
}
