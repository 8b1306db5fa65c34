//! The storage contract of spendlens and its backends.

pub mod aggregate;
mod blocks;
pub mod contract;
pub mod copy;
pub mod model;
mod packs;
pub mod postgres;
pub mod query;
pub mod rules;
pub mod sqlite;

pub use contract::{Result, Store, StoreError};
pub use postgres::PgStore;
pub use sqlite::{Durability, SqliteStore};

use std::sync::Arc;

/// Open the store a URL names: `postgres://…` (or `postgresql://…`), or
/// `sqlite://path` (or a bare path). The only place that names a concrete
/// backend. `durability` applies to SQLite; PostgreSQL commits are as
/// durable as the server's `synchronous_commit` makes them.
pub async fn open(url: &str, durability: Durability) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::open(url).await?));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    if path.is_empty() {
        return Err(StoreError::Invalid("empty database path".into()));
    }
    Ok(Arc::new(SqliteStore::open(
        std::path::Path::new(path),
        durability,
    )?))
}
