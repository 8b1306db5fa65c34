//! Every route, by area. Each area's module declares its own paths.

pub mod admin;
pub mod budgets;
pub mod entity;
pub mod erasure;
pub mod events;
pub mod export;
pub mod focus;
pub mod insights;
pub mod lists;
pub mod messages;
pub mod openapi;
pub mod otlp;
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
        .merge(otlp::router())
        .merge(focus::router())
        .merge(budgets::router())
        .merge(insights::router())
        .merge(erasure::router())
        .merge(crate::pages::router())
        .route("/healthz", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|uri: axum::http::Uri| async move {
            crate::error::ApiError::NotFound(format!("route {}", uri.path()))
        })
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "store": state.store.backend()}))
}

/// Ready to take traffic: the store answers and the ingest writer runs.
/// A load balancer takes a node out while this says 503.
async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let store = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    let problem = match store {
        Err(_) => Some("the store did not answer within 2 s".to_owned()),
        Ok(Err(e)) => Some(format!("the store failed: {e}")),
        Ok(Ok(())) if !state.ingest.running() => Some("the ingest writer stopped".to_owned()),
        Ok(Ok(())) => None,
    };
    match problem {
        None => Json(json!({"status": "ready", "store": state.store.backend(),
            "queue_events": state.ingest.depth()}))
        .into_response(),
        Some(p) => {
            tracing::warn!(problem = %p, "not ready");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "problem": p})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .metrics
            .render(state.ingest.depth(), state.store.as_ref()),
    )
}
