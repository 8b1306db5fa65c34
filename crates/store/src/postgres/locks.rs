//! Transaction-level advisory locks, in the two-int key space (the
//! migrations' single-bigint lock apart): a class per use, and a key within
//! it. The classes:
//! - `ALERT_IDS`, `DELIVERY_SEQS` (budgets.rs): an organisation's numberings;
//! - `SLICES` (person_cum.rs): an organisation's running-total slices;
//! - `PACK_BUCKETS`, `PACK_ORGS` (packs.rs): a cube bucket's pack, and every
//!   pack of an organisation.

use super::db_err;
use crate::contract::Result;
use sqlx::PgConnection;
use std::collections::BTreeMap;

pub const ALERT_IDS: i32 = 0x5e4d_a1e7;
pub const DELIVERY_SEQS: i32 = 0x5e4d_de15;
pub const SLICES: i32 = 0x5e4d_c0de;
pub const PACK_BUCKETS: i32 = 0x5e4d_9ac0;
pub const PACK_ORGS: i32 = 0x5e4d_9ac1;

/// The key of an id: ids that share one merely wait for each other.
pub fn key_of(id: i64) -> i32 {
    id.rem_euclid(i64::from(i32::MAX)) as i32
}

/// Hold the locks of `keys` of `class` until the transaction ends, each
/// exclusive (true) or shared, taken one after the other in key order (a
/// function scan calls each row as it passes) in one statement, so that two
/// transactions never wait for each other in a circle.
pub async fn take(c: &mut PgConnection, class: i32, keys: &BTreeMap<i32, bool>) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let (k, ex): (Vec<i32>, Vec<bool>) = keys.iter().map(|(k, e)| (*k, *e)).unzip();
    sqlx::query(
        "SELECT count(CASE WHEN u.ex THEN pg_advisory_xact_lock($1, u.k)::text
                           ELSE pg_advisory_xact_lock_shared($1, u.k)::text END)
         FROM UNNEST($2::int[], $3::bool[]) AS u(k, ex)",
    )
    .bind(class)
    .bind(k)
    .bind(ex)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// One exclusive lock.
pub async fn take_one(c: &mut PgConnection, class: i32, key: i32) -> Result<()> {
    take(c, class, &BTreeMap::from([(key, true)])).await
}
