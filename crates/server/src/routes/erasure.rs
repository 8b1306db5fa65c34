//! `DELETE /v1/orgs/{org}/users/{user}/data` (API.md §5): erasure.

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::routing::delete;
use axum::{Json, Router};
use spendlens_store::model::Erasure;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/orgs/{org}/users/{user}/data", delete(erase))
}

async fn erase(
    State(s): State<AppState>,
    who: Principal,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Json<Erasure>> {
    who.require_org_admin(&org)?;
    // Random, so the pseudonym says nothing about the person.
    let pseudonym = format!("erased-{}", crate::auth::random_hex(8));
    Ok(Json(
        s.store
            .erase_user(&org, &user, &pseudonym, &who.token_id)
            .await?,
    ))
}
