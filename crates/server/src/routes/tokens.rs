//! `POST /v1/tokens`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}` (API.md §5).
//! The secret is returned once, by the create call; only its hash is stored.

use super::params::Query;
use crate::auth::{hash_secret, new_secret, Principal};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use spendlens_store::model::{NewToken, Role, TokenRecord};
use spendlens_store::Store;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tokens", post(create).get(list))
        .route("/v1/tokens/{id}", delete(revoke))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub role: String,
    pub organization_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub expires_at: Option<String>,
}

/// Check a token request against the rules of API.md §1 and make it: scope
/// fits the role, a person's token does not exceed their membership. Shared
/// with `spendlens token create` and `spendlens demo`.
pub async fn issue(
    store: &dyn Store,
    req: TokenRequest,
    actor: &str,
) -> ApiResult<(TokenRecord, String)> {
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::param(
            "role",
            format!(
                "unknown role {:?}; one of platform_admin, org_admin, team_lead, member, ingest",
                req.role
            ),
        )
    })?;
    let expires_at = match req.expires_at.as_deref() {
        None => None,
        Some(s) => {
            let t: Timestamp = s.parse().map_err(|e| {
                ApiError::param("expires_at", format!("not an RFC 3339 timestamp: {e}"))
            })?;
            if t <= Timestamp::now() {
                return Err(ApiError::param("expires_at", "expires_at is in the past"));
            }
            Some(t)
        }
    };
    let org = req.organization_id.filter(|s| !s.is_empty());
    let user = req.user_id.filter(|s| !s.is_empty());
    let mut team = req.team_id.filter(|s| !s.is_empty());
    match role {
        Role::PlatformAdmin => {
            if org.is_some() || user.is_some() || team.is_some() {
                return Err(ApiError::param(
                    "organization_id",
                    "a platform_admin token belongs to no organisation, team or user",
                ));
            }
        }
        Role::Ingest => {
            if user.is_some() || team.is_some() {
                return Err(ApiError::param(
                    "user_id",
                    "an ingest token carries no user or team",
                ));
            }
            if let Some(o) = &org {
                store.get_org(o).await?;
            }
        }
        Role::OrgAdmin | Role::TeamLead | Role::Member => {
            let o = org.as_deref().ok_or_else(|| {
                ApiError::param(
                    "organization_id",
                    format!("a {} token needs an organisation", role.as_str()),
                )
            })?;
            store.get_org(o).await?;
            let u = user.as_deref().ok_or_else(|| {
                ApiError::param("user_id", "a person's token needs the person's user_id")
            })?;
            let member = store.get_member(o, u).await.map_err(|_| {
                ApiError::param("user_id", format!("{u} is not a member of {o}; add them with PUT /v1/orgs/{o}/members/{u} first"))
            })?;
            if member.role.rank() < role.rank() {
                return Err(ApiError::param(
                    "role",
                    format!(
                        "{u} is a {} of {o}; a token may not exceed the membership's role",
                        member.role.as_str()
                    ),
                ));
            }
            if role == Role::TeamLead {
                team = team.or(member.team_id.clone());
                if team.is_none() {
                    return Err(ApiError::param(
                        "team_id",
                        "a team_lead token needs a team (the member has none)",
                    ));
                }
            }
        }
    }
    let (id, secret) = new_secret();
    let record = store
        .create_token(
            NewToken {
                id,
                secret_hash: hash_secret(&secret),
                role,
                organization_id: org,
                team_id: team,
                user_id: user,
                name: req.name,
                expires_at,
            },
            actor,
        )
        .await?;
    Ok((record, secret))
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    raw: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // Read whatever the Content-Type says (curl -d sends a form type): the body is JSON.
    let req: TokenRequest = super::admin::body(&raw)?;
    let role = Role::parse(&req.role)
        .ok_or_else(|| ApiError::param("role", format!("unknown role {:?}", req.role)))?;
    who.require_may_create_token(role, req.organization_id.as_deref())?;
    let (record, secret) = issue(state.store.as_ref(), req, &who.token_id).await?;
    let mut out = serde_json::to_value(&record).map_err(anyhow::Error::from)?;
    out["token"] = secret.into();
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(raw): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut p = super::params::Params::new(raw);
    let wanted = p.take("organization_id");
    p.finish()?;
    let org = match (who.role, wanted) {
        (Role::PlatformAdmin, org) => org,
        (_, org) => {
            let own = who.org.clone().unwrap_or_default();
            let org = org.unwrap_or(own);
            who.require_org_admin(&org)?;
            Some(org)
        }
    };
    let tokens = state.store.list_tokens(org.as_deref()).await?;
    Ok(Json(json!({"data": tokens, "next_cursor": null})))
}

async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let all = state.store.list_tokens(None).await?;
    let token = all
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("token {id}")))?;
    match &token.organization_id {
        Some(org) => who.require_org_admin(org)?,
        None => who.require_platform_admin()?,
    }
    state.store.revoke_token(&id, &who.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
