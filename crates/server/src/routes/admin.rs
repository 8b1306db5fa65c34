//! Administration (API.md §5): organisations, teams, members, provider keys,
//! quarantine and audit. Tokens are in `tokens.rs`.

use super::params::Query;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use spendlens_domain::time::parse_timezone;
use spendlens_domain::Markup;
use spendlens_store::model::*;
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orgs", post(create_org).get(list_orgs))
        .route("/v1/orgs/{org}", get(get_org).patch(patch_org))
        .route("/v1/orgs/{org}/teams", post(create_team))
        .route("/v1/orgs/{org}/members", get(list_members))
        .route(
            "/v1/orgs/{org}/members/{user}",
            get(get_member).put(put_member).delete(delete_member),
        )
        .route("/v1/orgs/{org}/api-keys", post(create_key))
        .route("/v1/orgs/{org}/audit", get(org_audit))
        .route("/v1/audit", get(platform_audit))
        .route("/v1/quarantine", get(quarantine))
}

/// Read a JSON body, answering a 400 that names the problem.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad("invalid_body", format!("invalid request body: {e}")))
}

/// The id given, or one made from the name; checked either way.
fn id_or_slug(given: Option<String>, name: &str) -> ApiResult<String> {
    let id = given.unwrap_or_else(|| slug(name));
    check_id("id", &id)?;
    Ok(id)
}

pub(super) fn check_id(field: &str, id: &str) -> ApiResult<()> {
    if id.trim().is_empty()
        || id.chars().count() > 128
        || id == spendlens_domain::event::NONE_ID
        || id.contains('/')
        || id.chars().any(char::is_control)
    {
        return Err(ApiError::bad(
            "invalid_field",
            format!(
                "{field}: must be 1–128 characters, no '/' or control characters, not \"_none\""
            ),
        ));
    }
    Ok(())
}

fn markup(text: &Value) -> ApiResult<Markup> {
    let s = match text {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::bad(
                "invalid_field",
                "markup: a decimal factor such as \"1.25\"",
            ))
        }
    };
    Markup::parse(&s).map_err(|e| ApiError::bad("invalid_field", format!("markup: {e}")))
}

fn slug(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-').chars().take(64).collect::<String>();
    if s.is_empty() {
        "org".into()
    } else {
        s
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgBody {
    id: Option<String>,
    name: Option<String>,
    timezone: Option<String>,
    markup: Option<Value>,
    webhook_url: Option<Option<String>>,
    retention_days: Option<u32>,
}

fn check_timezone(tz: &str) -> ApiResult<()> {
    parse_timezone(tz).map(|_| ()).map_err(|_| {
        ApiError::bad(
            "invalid_field",
            format!("timezone: unknown IANA timezone {tz:?}"),
        )
    })
}

async fn create_org(
    State(s): State<AppState>,
    who: Principal,
    raw: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    who.require_platform_admin()?;
    let b: OrgBody = body(&raw)?;
    let name = b
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad("missing_field", "name is required"))?;
    let id = id_or_slug(b.id, &name)?;
    let timezone = b.timezone.unwrap_or_else(|| "UTC".into());
    check_timezone(&timezone)?;
    let markup = match &b.markup {
        Some(m) => markup(m)?,
        None => Markup::default(),
    };
    let retention_days = b.retention_days.unwrap_or(90);
    if retention_days == 0 {
        return Err(ApiError::bad("invalid_field", "retention_days: at least 1"));
    }
    let webhook_url = b.webhook_url.flatten();
    let secret = match &webhook_url {
        Some(_) => webhook_secret(&Some(webhook_url.clone()))?,
        None => None,
    };
    let org = NewOrg {
        id,
        name,
        timezone,
        markup,
        webhook_url: None,
        retention_days,
    };
    let created = s.store.create_org(org, &who.token_id).await?;
    let created = match secret {
        None => created,
        Some(_) => {
            let patch = OrgPatch {
                webhook_url: Some(webhook_url),
                webhook_secret: secret.clone(),
                ..OrgPatch::default()
            };
            s.store
                .update_org(&created.id, patch, &who.token_id)
                .await?
        }
    };
    Ok((StatusCode::CREATED, Json(with_secret(created, secret))))
}

/// A new signing secret when a webhook URL is set (`Some(None)` when it is
/// removed; None when the URL is not touched). The URL must be http(s).
fn webhook_secret(url: &Option<Option<String>>) -> ApiResult<Option<Option<String>>> {
    match url {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(u)) => {
            let parsed = reqwest::Url::parse(u)
                .map_err(|e| ApiError::bad("invalid_field", format!("webhook_url: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(ApiError::bad(
                    "invalid_field",
                    "webhook_url: an http or https URL with a host",
                ));
            }
            Ok(Some(Some(format!("whsec_{}", crate::auth::random_hex(32)))))
        }
    }
}

/// The organisation, with a new webhook secret shown this once.
fn with_secret(org: Org, secret: Option<Option<String>>) -> Value {
    let mut v = serde_json::to_value(org).unwrap_or_default();
    if let Some(Some(secret)) = secret {
        v["webhook_secret"] = secret.into();
    }
    v
}

/// Administration lists return everything and take no parameter; anything
/// given (a `limit`, a typo) is refused rather than silently ignored.
fn no_params(raw: HashMap<String, String>) -> ApiResult<()> {
    super::params::Params::new(raw).finish()
}

type Raw = Query<HashMap<String, String>>;

async fn list_orgs(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_platform_admin()?;
    no_params(raw)?;
    Ok(Json(
        json!({"data": s.store.list_orgs().await?, "next_cursor": null}),
    ))
}

async fn get_org(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
) -> ApiResult<Json<Org>> {
    who.require_org_admin(&org)?;
    Ok(Json(s.store.get_org(&org).await?))
}

async fn patch_org(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    let b: OrgBody = body(&raw)?;
    if b.id.is_some() {
        return Err(ApiError::bad(
            "invalid_field",
            "id: an organisation's id cannot change",
        ));
    }
    if let Some(tz) = &b.timezone {
        check_timezone(tz)?;
    }
    let markup = match &b.markup {
        Some(m) => {
            who.require_may_set_markup()?;
            Some(markup(m)?)
        }
        None => None,
    };
    let secret = webhook_secret(&b.webhook_url)?;
    let patch = OrgPatch {
        name: b.name,
        timezone: b.timezone,
        markup,
        webhook_url: b.webhook_url,
        webhook_secret: secret.clone(),
        retention_days: b.retention_days,
    };
    let updated = s.store.update_org(&org, patch, &who.token_id).await?;
    Ok(Json(with_secret(updated, secret)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    id: Option<String>,
    name: String,
    department: Option<String>,
}

async fn create_team(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Team>)> {
    who.require_org_admin(&org)?;
    let b: TeamBody = body(&raw)?;
    let id = id_or_slug(b.id, &b.name)?;
    let team = Team {
        team_id: id,
        name: b.name,
        department: b.department.filter(|d| !d.is_empty()),
    };
    Ok((
        StatusCode::CREATED,
        Json(s.store.create_team(&org, team, &who.token_id).await?),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    email: Option<String>,
    role: String,
    team_id: Option<String>,
    department: Option<String>,
}

async fn put_member(
    State(s): State<AppState>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> ApiResult<Json<Member>> {
    who.require_org_admin(&org)?;
    check_id("user_id", &user)?;
    let b: MemberBody = body(&raw)?;
    let role = match Role::parse(&b.role) {
        Some(r @ (Role::OrgAdmin | Role::TeamLead | Role::Member)) => r,
        _ => {
            return Err(ApiError::bad(
                "invalid_field",
                "role: org_admin, team_lead or member",
            ))
        }
    };
    if role == Role::TeamLead && b.team_id.is_none() {
        return Err(ApiError::bad(
            "missing_field",
            "team_id is required for a team_lead",
        ));
    }
    let m = Member {
        user_id: user,
        email: b.email,
        role,
        team_id: b.team_id,
        department: b.department,
        added_by_admin: true,
    };
    Ok(Json(s.store.put_member(&org, m, &who.token_id).await?))
}

async fn get_member(
    State(s): State<AppState>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Json<Member>> {
    who.require_org_admin(&org)?;
    Ok(Json(s.store.get_member(&org, &user).await?))
}

async fn list_members(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    no_params(raw)?;
    Ok(Json(
        json!({"data": s.store.list_members(&org).await?, "next_cursor": null}),
    ))
}

async fn delete_member(
    State(s): State<AppState>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    who.require_org_admin(&org)?;
    s.store.delete_member(&org, &user, &who.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    id: Option<String>,
    name: String,
    provider: Option<String>,
}

async fn create_key(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    raw: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<ApiKey>)> {
    who.require_org_admin(&org)?;
    let b: KeyBody = body(&raw)?;
    let id = id_or_slug(b.id, &b.name)?;
    let key = s
        .store
        .create_api_key(&org, &id, &b.name, b.provider.as_deref(), &who.token_id)
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}

async fn org_audit(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_org_admin(&org)?;
    no_params(raw)?;
    s.store.get_org(&org).await?;
    Ok(Json(
        json!({"data": s.store.audit_log(Some(&org), 1000).await?, "next_cursor": null}),
    ))
}

async fn platform_audit(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_platform_admin()?;
    no_params(raw)?;
    Ok(Json(
        json!({"data": s.store.audit_log(None, 1000).await?, "next_cursor": null}),
    ))
}

async fn quarantine(
    State(s): State<AppState>,
    who: Principal,
    Query(raw): Raw,
) -> ApiResult<Json<Value>> {
    who.require_platform_admin()?;
    no_params(raw)?;
    Ok(Json(
        json!({"data": s.store.quarantined().await?, "next_cursor": null}),
    ))
}
