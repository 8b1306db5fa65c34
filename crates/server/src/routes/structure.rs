//! `PATCH/DELETE /v1/orgs/{org}/teams/{team}` and `…/api-keys/{key}` (API.md
//! §5). Their `GET` is the analytics page (entity.rs).

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::patch;
use axum::{Json, Router};
use serde_json::{Map, Value};
use spendlens_store::model::{ApiKey, Team};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/orgs/{org}/teams/{team}",
            patch(update_team).delete(delete_team),
        )
        .route(
            "/v1/orgs/{org}/api-keys/{key}",
            patch(update_key).delete(delete_key),
        )
}

/// The body as an object of known fields: absent = unchanged, null = cleared (where allowed).
fn fields(raw: &[u8], known: &[&str]) -> ApiResult<Map<String, Value>> {
    let v: Value = serde_json::from_slice(raw)
        .map_err(|e| ApiError::bad("invalid_body", format!("invalid request body: {e}")))?;
    let Value::Object(m) = v else {
        return Err(ApiError::bad("invalid_body", "expected a JSON object"));
    };
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad(
            "invalid_field",
            format!("{k}: unknown field; one of {}", known.join(", ")),
        ));
    }
    Ok(m)
}

fn text(m: &Map<String, Value>, field: &str, nullable: bool) -> ApiResult<Option<Option<String>>> {
    match m.get(field) {
        None => Ok(None),
        Some(Value::Null) if nullable => Ok(Some(None)),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 200 => {
            Ok(Some(Some(s.clone())))
        }
        Some(_) => Err(ApiError::bad(
            "invalid_field",
            format!(
                "{field}: a non-empty string of at most 200 characters{}",
                if nullable { ", or null" } else { "" }
            ),
        )),
    }
}

async fn update_team(
    State(s): State<AppState>,
    who: Principal,
    Path((org, team)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> ApiResult<Json<Team>> {
    who.require_org_admin(&org)?;
    let m = fields(&raw, &["name", "department"])?;
    let name = text(&m, "name", false)?.flatten();
    let department = text(&m, "department", true)?;
    Ok(Json(
        s.store
            .update_team(&org, &team, name, department, &who.token_id)
            .await?,
    ))
}

async fn delete_team(
    State(s): State<AppState>,
    who: Principal,
    Path((org, team)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    who.require_org_admin(&org)?;
    s.store.delete_team(&org, &team, &who.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_key(
    State(s): State<AppState>,
    who: Principal,
    Path((org, key)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> ApiResult<Json<ApiKey>> {
    who.require_org_admin(&org)?;
    let m = fields(&raw, &["name", "provider"])?;
    let name = text(&m, "name", false)?.flatten();
    let provider = text(&m, "provider", true)?;
    Ok(Json(
        s.store
            .update_api_key(&org, &key, name, provider, &who.token_id)
            .await?,
    ))
}

async fn delete_key(
    State(s): State<AppState>,
    who: Principal,
    Path((org, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    who.require_org_admin(&org)?;
    s.store.delete_api_key(&org, &key, &who.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
