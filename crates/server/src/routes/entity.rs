//! One team, department or API key (API.md §4): its summary with the previous
//! period, a dense daily series, its people and its models.

use super::params::Query;
use super::params::{Params, NONE_ID};
use super::summary::{change_pct, figures_json, previous_json};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use spendlens_domain::money::format_usd;
use spendlens_domain::time::{Day, Period};
use spendlens_store::query::{Dim, FigureQuery, Figures, Filter};
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orgs/{org}/teams/{team}", get(team))
        .route("/v1/orgs/{org}/departments/{dept}", get(department))
        .route("/v1/orgs/{org}/api-keys/{key}", get(api_key))
}

type Raw = Query<HashMap<String, String>>;

/// How many people and models a page shows (the full lists are the org lists with this filter).
const NESTED: usize = 25;

fn id(v: &str) -> Option<String> {
    (v != NONE_ID).then(|| v.to_owned())
}

async fn page(
    s: &AppState,
    who: &Principal,
    org: &str,
    filter: Filter,
    raw: HashMap<String, String>,
    head: Map<String, Value>,
) -> ApiResult<Json<Value>> {
    let info = s.store.get_org(org).await?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    p.finish()?;
    let ask = |period: Period, group_by: Vec<Dim>| FigureQuery {
        org: org.to_owned(),
        period,
        filter: filter.clone(),
        group_by,
    };
    let one = |rows: Vec<spendlens_store::query::GroupRow>| {
        rows.into_iter()
            .next()
            .map(|r| r.figures)
            .unwrap_or_default()
    };
    let now = one(s.store.figures(&ask(period, vec![])).await?);
    let before = one(s.store.figures(&ask(period.previous(), vec![])).await?);
    let mut out = head;
    out.extend(figures_json(&now));
    out.insert("from".into(), period.from.to_string().into());
    out.insert("to".into(), period.to.to_string().into());
    out.insert(
        "previous".into(),
        Value::Object(previous_json(&before, period)),
    );
    out.insert("change_pct".into(), change_pct(&now, &before));
    let by_day: HashMap<String, Figures> = s
        .store
        .figures(&ask(period, vec![Dim::Day]))
        .await?
        .into_iter()
        .filter_map(|r| Some((r.key[0].clone()?, r.figures)))
        .collect();
    let series: Vec<Value> = (period.from.0..period.to.0)
        .map(|d| {
            let date = Day(d).to_string();
            let mut row = figures_json(&by_day.get(&date).copied().unwrap_or_default());
            row.insert("date".into(), date.into());
            Value::Object(row)
        })
        .collect();
    out.insert("series".into(), Value::Array(series));
    for (name, dim) in [("users", Dim::User), ("models", Dim::Model)] {
        let mut rows = s.store.figures(&ask(period, vec![dim])).await?;
        rows.sort_by(|a, b| {
            b.figures
                .total_cost
                .cmp(&a.figures.total_cost)
                .then_with(|| a.key.cmp(&b.key))
        });
        let total = rows.len();
        let field = if dim == Dim::User { "user_id" } else { "model" };
        let list: Vec<Value> = rows
            .into_iter()
            .take(NESTED)
            .map(|r| {
                json!({
                    field: r.key[0], "total_cost": format_usd(r.figures.total_cost), "messages": r.figures.messages,
                    "conversations": r.figures.conversations,
                    "share": if now.total_cost == 0 { Value::Null } else { json!(r.figures.total_cost as f64 / now.total_cost as f64) },
                })
            })
            .collect();
        out.insert(name.into(), Value::Array(list));
        out.insert(format!("{name}_total"), total.into());
    }
    let mut out = Value::Object(out);
    who.redact(&mut out);
    Ok(Json(out))
}

pub async fn team(
    State(s): State<AppState>,
    who: Principal,
    Path((org, team)): Path<(String, String)>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_may_see_team(&org, &team)?;
    let teams = s.store.list_teams(&org).await?;
    let info = teams.iter().find(|t| t.team_id == team);
    if info.is_none() && team != NONE_ID {
        return Err(crate::error::ApiError::NotFound(format!("team {team}")));
    }
    let members: Vec<Value> = s
        .store
        .list_members(&org)
        .await?
        .into_iter()
        .filter(|m| m.team_id.as_deref() == id(&team).as_deref())
        .map(|m| json!({"user_id": m.user_id, "email": m.email, "role": m.role}))
        .collect();
    let mut head = Map::new();
    head.insert("team_id".into(), id(&team).into());
    head.insert(
        "name".into(),
        info.map(|t| t.name.clone())
            .unwrap_or_else(|| "No team".into())
            .into(),
    );
    head.insert(
        "department".into(),
        info.and_then(|t| t.department.clone()).into(),
    );
    head.insert("members".into(), Value::Array(members));
    page(
        &s,
        &who,
        &org,
        Filter {
            team: Some(id(&team)),
            ..Filter::default()
        },
        raw,
        head,
    )
    .await
}

pub async fn department(
    State(s): State<AppState>,
    who: Principal,
    Path((org, dept)): Path<(String, String)>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let mut head = Map::new();
    head.insert("department".into(), id(&dept).into());
    page(
        &s,
        &who,
        &org,
        Filter {
            department: Some(id(&dept)),
            ..Filter::default()
        },
        raw,
        head,
    )
    .await
}

pub async fn api_key(
    State(s): State<AppState>,
    who: Principal,
    Path((org, key)): Path<(String, String)>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let keys = s.store.list_api_keys(&org).await?;
    let info = keys.iter().find(|k| k.api_key_id == key);
    if info.is_none() && key != NONE_ID {
        return Err(crate::error::ApiError::NotFound(format!("API key {key}")));
    }
    let mut head = Map::new();
    head.insert("api_key_id".into(), id(&key).into());
    head.insert(
        "name".into(),
        info.map(|k| k.name.clone())
            .unwrap_or_else(|| "Unknown key".into())
            .into(),
    );
    head.insert(
        "provider".into(),
        info.and_then(|k| k.provider.clone()).into(),
    );
    head.insert(
        "registered".into(),
        info.is_some_and(|k| k.registered).into(),
    );
    head.insert(
        "last_used_at".into(),
        json!(info.and_then(|k| k.last_used_at)),
    );
    page(
        &s,
        &who,
        &org,
        Filter {
            api_key: Some(id(&key)),
            ..Filter::default()
        },
        raw,
        head,
    )
    .await
}
