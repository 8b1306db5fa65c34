//! Every route, by area. Each area's module declares its own paths.

pub mod admin;
pub mod entity;
pub mod events;
pub mod export;
pub mod lists;
pub mod messages;
pub mod openapi;
pub mod params;
pub mod people;
pub mod platform;
pub mod prices;
pub mod structure;
pub mod summary;
pub mod tokens;

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(events::router())
        .merge(admin::router())
        .merge(tokens::router())
        .merge(summary::router())
        .merge(lists::router())
        .merge(people::router())
        .merge(entity::router())
        .merge(messages::router())
        .merge(openapi::router())
        .merge(platform::router())
        .merge(prices::router())
        .merge(structure::router())
        .merge(crate::pages::router())
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(|uri: axum::http::Uri| async move {
            crate::error::ApiError::NotFound(format!("route {}", uri.path()))
        })
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "store": state.store.backend()}))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.ingest.depth()),
    )
}
