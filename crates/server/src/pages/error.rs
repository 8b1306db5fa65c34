//! A page's failure as a page: not logged in goes to the login form; a 403,
//! 404 or 400 is an HTML page that says why, with the same status the API
//! gives (and, like the API, not a byte of the data refused).

use super::layout;
use crate::error::ApiError;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<spendlens_store::StoreError> for PageError {
    fn from(e: spendlens_store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let (title, advice) = match &self.0 {
            ApiError::Unauthorized => return Redirect::to("/login").into_response(),
            ApiError::Forbidden(_) => (
                "Not allowed",
                "This page is outside what your token may see.",
            ),
            ApiError::NotFound(_) => ("Not found", "There is no such page or item."),
            ApiError::BadRequest { .. } => ("Bad request", "A parameter of this page is wrong."),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "page failed");
                (
                    "Something went wrong",
                    "The server could not show this page.",
                )
            }
            _ => ("Cannot show this page", ""),
        };
        let body = html! {
            section.card.error-page {
                h1 { (status.as_u16()) " · " (title) }
                p { (advice) }
                @if !matches!(self.0, ApiError::Internal(_)) { p.muted { (self.0.to_string()) } }
                p { a href="/" { "Back to your dashboard" } " · " a href="/login" { "Log in with another token" } }
            }
        };
        (
            status,
            Html(layout::shell(title, None, &[], body).into_string()),
        )
            .into_response()
    }
}

/// The status of an error page, for tests of this module.
#[cfg(test)]
fn status_of(e: ApiError) -> axum::http::StatusCode {
    PageError(e).into_response().status()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn errors_keep_the_api_status_and_login_redirects() {
        assert_eq!(
            status_of(ApiError::Forbidden("x".into())),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(ApiError::NotFound("x".into())),
            StatusCode::NOT_FOUND
        );
        assert_eq!(status_of(ApiError::Unauthorized), StatusCode::SEE_OTHER);
    }
}
