//! The web dashboard (API.md §7): server-rendered pages at the API's paths
//! without `/v1`. Every figure comes from the JSON handlers themselves (the
//! pages call them and render their answers), so a figure is defined once;
//! every access decision is theirs or `access.rs`'s.

mod charts;
mod conversation;
mod csv;
mod error;
mod format;
mod group;
mod insights;
mod layout;
mod org;
mod platform;
mod range;
mod session;
mod user;

use crate::AppState;
use axum::extract::{Path, RawQuery};
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;

pub use error::PageError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(session::home))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/platform", get(platform::page))
        .route("/orgs/{org}", get(org::page))
        .route("/orgs/{org}/users", to_section("users"))
        .route("/orgs/{org}/api-keys", to_section("api-keys"))
        .route("/orgs/{org}/models", to_section("models"))
        .route("/orgs/{org}/teams", to_section("teams"))
        .route("/orgs/{org}/departments", to_section("departments"))
        .route("/orgs/{org}/users/{user}", get(user::page))
        .route("/orgs/{org}/teams/{team}", get(group::team))
        .route("/orgs/{org}/departments/{dept}", get(group::department))
        .route("/orgs/{org}/api-keys/{key}", get(group::api_key))
        .route("/orgs/{org}/conversations/{conv}", get(conversation::page))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
}

/// The organisation's lists live on its page: their API paths without `/v1`
/// (`/orgs/{org}/users`, …) lead to the page's table, with the same period.
fn to_section(anchor: &'static str) -> axum::routing::MethodRouter<AppState> {
    get(
        move |Path(org): Path<String>, RawQuery(query): RawQuery| async move {
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            Redirect::to(&format!("/orgs/{}{query}#{anchor}", range::seg(&org)))
        },
    )
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("dashboard.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("dashboard.js"),
    )
}

/// A rendered page.
fn html(m: maud::Markup) -> axum::response::Response {
    axum::response::Html(m.into_string()).into_response()
}

/// The rows of a list answer (the pages never ask for a download).
fn rows(l: crate::routes::lists::Listed) -> Vec<serde_json::Value> {
    match l {
        crate::routes::lists::Listed::Page(mut v) => match v["data"].take() {
            serde_json::Value::Array(rows) => rows,
            _ => Vec::new(),
        },
        crate::routes::lists::Listed::Download(_) => Vec::new(),
    }
}

/// The period an answer covers, as its `from` and `to` dates.
fn covered(v: &serde_json::Value) -> (String, String) {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    (s("from"), s("to"))
}
