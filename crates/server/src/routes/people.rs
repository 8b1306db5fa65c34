//! One person: `/orgs/{org}/users/{user}`, their conversations, one
//! conversation with its messages, and `/me` (API.md §4).

use super::params::Query;
use super::params::{Cursor, Params};
use super::summary::{change_pct, figures_json, previous_json};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use spendlens_domain::money::{div_round, format_usd};
use spendlens_domain::time::Period;
use spendlens_store::model::{Member, Org, Role};
use spendlens_store::query::{Dim, FigureQuery, Figures, Filter};
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orgs/{org}/users/{user}", get(user_page))
        .route(
            "/v1/orgs/{org}/users/{user}/conversations",
            get(conversations),
        )
        .route("/v1/orgs/{org}/conversations/{conv}", get(conversation))
        .route("/v1/me", get(me))
}

type Raw = Query<HashMap<String, String>>;

/// Fewer active users than this and a member does not see the org average (API.md §1).
const MIN_USERS_FOR_AVERAGE: u64 = 5;

/// Decide (in access.rs) whether `who` may see `user`, looking up the
/// person's current team for a team lead.
async fn check_user(s: &AppState, who: &Principal, org: &str, user: &str) -> ApiResult<Member> {
    if who.role != Role::PlatformAdmin && who.org.as_deref() != Some(org) {
        return Err(ApiError::NotFound(format!("organisation {org}")));
    }
    // Everyone who sent an event to the organisation is a member of it (made
    // on first sight); any other id is no person of this organisation.
    let member = match s.store.get_member(org, user).await {
        Ok(m) => m,
        // Only those who may see everyone learn that an id is no member;
        // anyone else gets the same 403 as for a member outside their scope.
        Err(_) if matches!(who.role, Role::PlatformAdmin | Role::OrgAdmin) => {
            return Err(ApiError::NotFound(format!("user {user} in {org}")))
        }
        Err(_) => {
            return Err(ApiError::Forbidden(format!(
                "your token may not see {user}"
            )))
        }
    };
    who.require_may_see_user(org, user, member.team_id.as_deref())?;
    Ok(member)
}

fn total(rows: Vec<spendlens_store::query::GroupRow>) -> Figures {
    rows.into_iter()
        .next()
        .map(|r| r.figures)
        .unwrap_or_default()
}

async fn person(
    s: &AppState,
    who: &Principal,
    org: &str,
    user: &str,
    raw: HashMap<String, String>,
) -> ApiResult<Json<Value>> {
    let member = check_user(s, who, org, user).await?;
    let info = s.store.get_org(org).await?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    p.finish()?;
    let mine = Filter {
        user: Some(Some(user.to_owned())),
        ..Filter::default()
    };
    let ask = |period: Period, filter: &Filter, group_by: Vec<Dim>| FigureQuery {
        org: org.to_owned(),
        period,
        filter: filter.clone(),
        group_by,
    };
    // Every figure in one trip and one snapshot (the person's and the
    // organisation's average agree), the forecast and budgets beside it.
    let asks = vec![
        ask(period, &mine, vec![]),
        ask(period.previous(), &mine, vec![]),
        ask(period, &Filter::default(), vec![]),
        ask(period, &mine, vec![Dim::Model]),
        ask(period, &mine, vec![Dim::Day]),
    ];
    let (answers, forecast, budgets) = tokio::try_join!(
        async { Ok::<_, ApiError>(s.store.figures_many(asks).await?) },
        async {
            Ok(crate::insights::series::month_forecast(s.store.as_ref(), &info, &mine).await?)
        },
        own_budgets(s, &info, user),
    )?;
    let mut answers = answers.into_iter();
    let mut next = || answers.next().unwrap_or_default();
    let (now, before, everyone) = (total(next()), total(next()), total(next()));
    let (by_model, by_day) = (next(), next());
    let mut out = figures_json(&now);
    out.remove("active_users");
    out.remove("avg_cost_per_active_user");
    out.insert("organization_id".into(), org.into());
    out.insert("user_id".into(), user.into());
    out.insert("email".into(), member.email.into());
    out.insert("team_id".into(), member.team_id.into());
    out.insert("department".into(), member.department.into());
    out.insert("from".into(), period.from.to_string().into());
    out.insert("to".into(), period.to.to_string().into());
    let mut previous = previous_json(&before, period);
    previous.remove("active_users");
    previous.remove("avg_cost_per_active_user");
    out.insert("previous".into(), Value::Object(previous));
    let mut change = change_pct(&now, &before);
    // A person has no "active users" of their own.
    if let Some(m) = change.as_object_mut() {
        m.remove("active_users");
    }
    out.insert("change_pct".into(), change);

    // The organisation comparison: over the period only, exact until the ratio.
    let withheld = who.role == Role::Member && everyone.active_users < MIN_USERS_FOR_AVERAGE;
    let avg = if withheld {
        None
    } else {
        div_round(everyone.total_cost, everyone.active_users.into())
    };
    let ratio = avg
        .filter(|a| *a != 0)
        .map(|a| now.total_cost as f64 / a as f64);
    out.insert(
        "comparison".into(),
        json!({
            "my_cost": format_usd(now.total_cost),
            "org_avg_cost_per_active_user": avg.map(format_usd),
            "org_active_users": if withheld { Value::Null } else { everyone.active_users.into() },
            "ratio_to_avg": ratio,
            "percent_vs_avg": ratio.map(|r| (r - 1.0) * 100.0),
        }),
    );
    // Model preferences: the share of the person's cost per model.
    let mut models: Vec<Value> = by_model
        .into_iter()
        .map(|r| {
            let share = if now.total_cost == 0 { Value::Null } else { json!(r.figures.total_cost as f64 / now.total_cost as f64) };
            json!({"model": r.key[0], "total_cost": format_usd(r.figures.total_cost), "messages": r.figures.messages, "share": share})
        })
        .collect();
    models.sort_by(|a, b| {
        b["share"]
            .as_f64()
            .partial_cmp(&a["share"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    out.insert("models".into(), Value::Array(models));
    // The trend: a dense daily series of the person's cost and messages.
    let by_day: HashMap<String, Figures> = by_day
        .into_iter()
        .filter_map(|r| Some((r.key[0].clone()?, r.figures)))
        .collect();
    let trend: Vec<Value> = (period.from.0..period.to.0)
        .map(|d| {
            let day = spendlens_domain::time::Day(d).to_string();
            let f = by_day.get(&day).copied().unwrap_or_default();
            json!({"date": day, "total_cost": format_usd(f.total_cost), "messages": f.messages})
        })
        .collect();
    out.insert("trend".into(), Value::Array(trend));
    out.insert("forecast".into(), forecast);
    out.insert("budgets".into(), Value::Array(budgets));
    let mut out = Value::Object(out);
    who.redact(&mut out);
    Ok(Json(out))
}

/// The person's own budgets, with their status now.
async fn own_budgets(s: &AppState, info: &Org, user: &str) -> ApiResult<Vec<Value>> {
    let mut budgets = Vec::new();
    for b in s.store.list_budgets(&info.id).await? {
        if b.scope == spendlens_store::model::BudgetScope::User
            && b.scope_id.as_deref() == Some(user)
        {
            budgets.push(crate::budgets::status::with_status(s.store.as_ref(), info, &b).await?);
        }
    }
    Ok(budgets)
}

pub async fn user_page(
    State(s): State<AppState>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    person(&s, &who, &org, &user, raw).await
}

/// `/v1/me`: the caller's own page; `?org=` picks the organisation of a platform-wide person token.
async fn me(
    State(s): State<AppState>,
    who: Principal,
    Query(mut raw): Raw,
) -> ApiResult<Json<Value>> {
    let user = who
        .user
        .clone()
        .ok_or_else(|| ApiError::Forbidden("this token belongs to no person".into()))?;
    let org = match (raw.remove("org"), &who.org) {
        (Some(o), Some(mine)) if &o != mine => {
            return Err(ApiError::NotFound(format!("organisation {o}")))
        }
        (_, Some(mine)) => mine.clone(),
        (Some(o), None) => o,
        (None, None) => return Err(ApiError::param("org", "which organisation? add ?org=")),
    };
    person(&s, &who, &org, &user, raw).await
}

pub async fn conversations(
    State(s): State<AppState>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    check_user(&s, &who, &org, &user).await?;
    let info = s.store.get_org(&org).await?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    let limit = p.limit()?;
    let cursor = p.take("cursor").map(|c| Cursor::decode(&c)).transpose()?;
    p.finish()?;
    let pinned = format!("conversations|{org}|{user}|{}|{}", period.from, period.to);
    // Newest last event first, ties by id: the keyset is (last_event_at, id).
    let after = match &cursor {
        None => None,
        Some(c) => {
            c.belongs_to(&pinned)?;
            Some((c.micros()?, c.id.clone()))
        }
    };
    // One more than the page, to know whether another follows.
    let all = s
        .store
        .user_conversations_page(&org, &user, period, after, limit + 1)
        .await?;
    let end = limit.min(all.len());
    let next = (end < all.len()).then(|| {
        let last = &all[end - 1];
        Cursor {
            value: json!(last.last_event_at.as_microsecond().to_string()),
            id: last.conversation_id.clone(),
            pinned: pinned.clone(),
        }
        .encode()
    });
    let data: Vec<Value> = all[..end]
        .iter()
        .map(|c| {
            json!({
                "conversation_id": c.conversation_id, "title": c.title, "started_at": c.started_at, "last_event_at": c.last_event_at,
                "messages": c.messages, "tokens": c.tokens, "total_cost": format_usd(c.total_cost), "models": c.models,
            })
        })
        .collect();
    Ok(Json(json!({"data": data, "next_cursor": next})))
}

pub async fn conversation(
    State(s): State<AppState>,
    who: Principal,
    Path((org, conv)): Path<(String, String)>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    Params::new(raw).finish()?;
    // Another organisation is 404 before anything is read.
    if who.role != Role::PlatformAdmin && who.org.as_deref() != Some(org.as_str()) {
        return Err(ApiError::NotFound(format!("organisation {org}")));
    }
    let c = s.store.conversation(&org, &conv).await?;
    check_user(&s, &who, &org, &c.user_id).await?;
    let (mut total, mut actual, mut tokens) = (0i128, 0i128, 0u64);
    let messages: Vec<Value> = c
        .messages
        .iter()
        .map(|e| {
            total += i128::from(e.total_cost);
            actual += i128::from(e.actual_api_cost);
            tokens += e.tokens_in + e.tokens_out;
            json!({
                "event_id": e.event_id, "occurred_at": e.occurred_at, "model": e.model, "api_key_id": e.api_key_id,
                "tokens_in": e.tokens_in, "tokens_out": e.tokens_out, "cached_tokens_in": e.cached_tokens_in,
                "total_cost": format_usd(e.total_cost.into()),
                "actual_api_cost": format_usd(e.actual_api_cost.into()),
            })
        })
        .collect();
    let mut out = json!({
        "conversation_id": c.conversation_id, "user_id": c.user_id, "title": c.title,
        "started_at": c.started_at, "last_event_at": c.last_event_at,
        "message_count": messages.len(), "tokens": tokens, "total_cost": format_usd(total),
        "actual_api_cost": format_usd(actual),
        "messages": messages,
    });
    who.redact(&mut out);
    Ok(Json(out))
}
