//! The storage contract of spendlens and its backends.

pub mod aggregate;
pub mod contract;
pub mod model;
pub mod query;
pub mod postgres;
pub mod sqlite;

pub use contract::{Result, Store, StoreError};
pub use sqlite::{Durability, SqliteStore};

use std::sync::Arc;

/// Open the store a URL names: `sqlite://path` (or a bare path). The only
/// place that names a concrete backend.
pub fn open(url: &str, durability: Durability) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(StoreError::Invalid(
            "the PostgreSQL backend is not built yet (issue 4); use sqlite://".into(),
        ));
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
