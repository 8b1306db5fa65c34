//! The one place a read is confined to one organisation in the database.

use super::db_err;
use crate::contract::{Result, StoreError};
use sqlx::PgConnection;

/// Internal id of an organisation (NotFound when there is none), read as the
/// connecting role.
pub async fn org_id(c: &mut PgConnection, org: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT id FROM orgs WHERE ext_id = $1")
        .bind(org)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))
}

/// Confine the rest of this read transaction to organisation `org`: from here
/// on it runs as `spendlens_reader`, whose row-level security policies show
/// that organisation's rows only (migration 0002). Returns its internal id.
pub async fn enter_org(c: &mut PgConnection, org: &str) -> Result<i64> {
    // One round trip: the lookup (as the connecting role), then both settings,
    // local to the transaction (`set_config('role', …)` is `SET LOCAL ROLE`).
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, set_config('spendlens.org', id::text, true),
                set_config('role', 'spendlens_reader', true) FROM orgs WHERE ext_id = $1",
    )
    .bind(org)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_err)?;
    row.map(|(id, _, _)| id)
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))
}
