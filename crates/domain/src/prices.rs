//! Model prices and the cost of one call. API.md §2.
//!
//! The catalog ships inside the binary (`prices.toml` beside this file). A
//! model's price is the entry with the latest `effective_from` not after the
//! call; a dated snapshot (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`)
//! is priced as its base model unless the catalog lists the snapshot itself.

use crate::money::Nanos;
use jiff::Timestamp;

/// Prices in nanodollars per million tokens ($2.50/Mtok → 2_500_000_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Price {
    pub input: i64,
    pub output: i64,
    /// Missing: the input price.
    pub cached_input: Option<i64>,
    /// Missing: the input price.
    pub cache_write: Option<i64>,
}

impl Price {
    /// ((in − cached − write) × input + cached × cached_input + write × cache_write
    ///  + out × output) / 10⁶, rounded to the nanodollar, halves away from zero.
    /// Callers guarantee cached + write ≤ tokens_in.
    pub fn cost(&self, tokens_in: u64, cached: u64, cache_write: u64, tokens_out: u64) -> Nanos {
        todo!("helper A: {tokens_in} {cached} {cache_write} {tokens_out}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub model: String,
    pub provider: String,
    /// Instant from which this price applies (the catalog gives dates, taken at 00:00 UTC).
    pub effective_from: Timestamp,
    pub price: Price,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Sorted by (model, effective_from).
    entries: Vec<CatalogEntry>,
}

impl Catalog {
    /// The catalog shipped in the binary. Panics only if the shipped file is
    /// malformed, which a unit test rules out.
    pub fn builtin() -> &'static Catalog {
        todo!("helper A")
    }

    /// Parse a catalog TOML document (format: see prices.toml).
    pub fn from_toml(text: &str) -> Result<Catalog, String> {
        todo!("helper A: {text}")
    }

    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// The entry in force for `model` at `at`: exact name first, else the
    /// base name of a dated snapshot. Names compare case-sensitively as given.
    pub fn lookup(&self, model: &str, at: Timestamp) -> Option<&CatalogEntry> {
        todo!("helper A: {model} {at}")
    }

    /// The provider the catalog gives for `model` (or its base model).
    pub fn provider_of(&self, model: &str) -> Option<&str> {
        todo!("helper A: {model}")
    }
}

/// `gpt-4o-2024-08-06` → `gpt-4o`; `claude-3-5-sonnet-20241022` →
/// `claude-3-5-sonnet`; names without a date suffix → None.
pub fn snapshot_base(model: &str) -> Option<&str> {
    todo!("helper A: {model}")
}

/// Parse a per-million-token price in USD (`"2.50"`) into nanodollars per Mtok.
pub fn parse_per_mtok(text: &str) -> Result<i64, crate::money::MoneyError> {
    todo!("helper A: {text}")
}
