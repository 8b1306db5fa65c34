//! Bearer tokens: random secrets, shown once, stored only as SHA-256 hashes.
//! `Principal` is extracted from every request that needs one; what it may
//! see is decided in `access.rs`, nowhere else.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use jiff::{Timestamp, ToSpan};
use rand::RngCore;
use sha2::{Digest, Sha256};
use spendlens_store::model::{Role, TokenRecord};
use subtle::ConstantTimeEq;

/// Who is calling, from their token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: String,
    pub role: Role,
    pub org: Option<String>,
    pub team: Option<String>,
    pub user: Option<String>,
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `bytes` random bytes from the OS as hex: ids, pseudonyms and secrets that
/// must say nothing about what they name.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A new token: (public id, secret). The secret carries 256 random bits.
pub fn new_secret() -> (String, String) {
    let mut rng = rand::rngs::OsRng;
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    (
        format!("tok_{}", hex::encode(id)),
        format!("sl_{}", hex::encode(secret)),
    )
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The name of the dashboard's session cookie (docs/decisions.md: it holds the token itself).
pub const SESSION_COOKIE: &str = "spendlens_session";

/// The session cookie's value, if the request carries one.
pub fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The bootstrap admin token from `SPENDLENS_ADMIN_TOKEN`, compared in
/// constant time against the hash of what the client sent.
fn is_bootstrap(state: &AppState, hash: &str) -> bool {
    match &state.admin_token_hash {
        Some(h) => bool::from(h.as_bytes().ct_eq(hash.as_bytes())),
        None => false,
    }
}

pub async fn authenticate(state: &AppState, secret: &str) -> Result<Principal, ApiError> {
    let hash = hash_secret(secret);
    if is_bootstrap(state, &hash) {
        return Ok(Principal {
            token_id: "bootstrap".into(),
            role: Role::PlatformAdmin,
            org: None,
            team: None,
            user: None,
        });
    }
    // The lookup is by hash, so timing reveals nothing about any stored secret.
    let record = state
        .store
        .find_token(&hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let now = Timestamp::now();
    if record.revoked_at.is_some() || record.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::Unauthorized);
    }
    // Recording last use costs a write; once a minute per token is enough.
    if record.last_used_at.is_none_or(|t| t < now - 60.seconds()) {
        let store = state.store.clone();
        let id = record.id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, now).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        });
    }
    Ok(principal_of(record))
}

fn principal_of(t: TokenRecord) -> Principal {
    Principal {
        token_id: t.id,
        role: t.role,
        org: t.organization_id,
        team: t.team_id,
        user: t.user_id,
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The dashboard's session cookie authorises reads only (its CSV links
        // are API downloads); anything that changes data needs the header,
        // so a forged cross-site form can never act with a session.
        let read = matches!(parts.method, Method::GET | Method::HEAD);
        let secret = match bearer(parts) {
            Some(s) => s,
            None if read => session_cookie(parts).ok_or(ApiError::Unauthorized)?,
            None => return Err(ApiError::Unauthorized),
        };
        authenticate(state, secret).await
    }
}
