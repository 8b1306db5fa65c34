//! Logging in to the dashboard. The session cookie holds the token itself
//! (docs/decisions.md): every request authenticates it like a bearer token,
//! so expiry and revocation take effect at once, on every node, with no
//! session store. HttpOnly keeps it from scripts, SameSite=Strict from other
//! sites, and it is Secure when the request came over HTTPS.

use super::error::PageError;
use super::layout;
use super::range::seg;
use crate::access::Landing;
use crate::auth::{self, Principal, SESSION_COOKIE};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;

/// The person looking at a page: from the session cookie (or a bearer
/// header, for scripts); without one, the login form.
pub struct Viewer(pub Principal);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Ok(Viewer(Principal::from_request_parts(parts, state).await?))
    }
}

pub fn landing_url(l: &Landing) -> String {
    match l {
        Landing::Platform => "/platform".into(),
        Landing::Org(o) => format!("/orgs/{}", seg(o)),
        Landing::Team(o, t) => format!("/orgs/{}/teams/{}", seg(o), seg(t)),
        Landing::User(o, u) => format!("/orgs/{}/users/{}", seg(o), seg(u)),
    }
}

/// `/`: one's own level, or the login form.
pub async fn home(State(s): State<AppState>, mut parts: Parts) -> Response {
    match Principal::from_request_parts(&mut parts, &s).await {
        Ok(who) => match who.landing() {
            Ok(l) => Redirect::to(&landing_url(&l)).into_response(),
            Err(e) => PageError(e).into_response(),
        },
        Err(_) => Redirect::to("/login").into_response(),
    }
}

fn form(status: StatusCode, message: Option<&str>) -> Response {
    let body = html! {
        section.card.login {
            h1 { "Log in to spendlens" }
            p.muted { "Paste the token you were given (a platform, organisation, team lead or member token)." }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/login" {
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                button type="submit" { "Log in" }
            }
        }
    };
    (
        status,
        Html(layout::shell("Log in", None, &[], body).into_string()),
    )
        .into_response()
}

pub async fn login_form() -> Response {
    form(StatusCode::OK, None)
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

/// Secure only when the browser reached us over HTTPS (through a proxy
/// that says so); a plain-HTTP demo would otherwise never keep the cookie.
fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

pub async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let token = f.token.trim();
    // A cookie value may not hold these; no token this server makes does.
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
    {
        return form(StatusCode::UNAUTHORIZED, Some("That is not a token."));
    }
    let who = match auth::authenticate(&s, token).await {
        Ok(who) => who,
        Err(ApiError::Unauthorized) => {
            return form(
                StatusCode::UNAUTHORIZED,
                Some("This token is unknown, expired or revoked."),
            )
        }
        Err(e) => return PageError(e).into_response(),
    };
    let landing = match who.landing() {
        Ok(l) => l,
        Err(e) => return form(StatusCode::FORBIDDEN, Some(&e.to_string())),
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{}",
        if secure(&headers) { "; Secure" } else { "" }
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&landing_url(&landing)),
    )
        .into_response()
}

pub async fn logout(headers: HeaderMap) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure(&headers) { "; Secure" } else { "" }
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}
