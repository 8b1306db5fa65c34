//! The one place a read is confined to one organisation in the database.

use super::db_err;
use crate::contract::{Result, StoreError};
use sqlx::PgConnection;

/// The settings that confine the rest of a transaction to the organisation
/// of the row they are selected with (see `enter_org`). The budget check's
/// function (migration 0013) makes the same three.
const ENTER: &str = "set_config('spendlens.org', id::text, true),
    set_config('role', 'spendlens_reader', true),
    set_config('max_parallel_workers_per_gather', '0', true)";

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
    // One round trip: the lookup (as the connecting role), then the settings,
    // local to the transaction (`set_config('role', …)` is `SET LOCAL ROLE`).
    //
    // Without parallel workers: an organisation's reads are sized by its
    // aggregates, and PostgreSQL planned a Gather for a one-dimension list
    // over a few hundred day rows whose workers took 6 of its 7 ms (`large`,
    // acme's teams over 30 days: 6.8 ms with two workers, 0.8 without).
    // Exports read through a cursor, which never runs in parallel (messages.rs).
    let row: Option<(i64, String, String, String)> =
        sqlx::query_as(&format!("SELECT id, {ENTER} FROM orgs WHERE ext_id = $1"))
            .bind(org)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_err)?;
    row.map(|(id, ..)| id)
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))
}
