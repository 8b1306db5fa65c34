//! Money as integer nanodollars (10⁻⁹ USD). API.md §3.
//!
//! Parsing takes the decimal text exactly as the client wrote it (JSON numbers
//! arrive as text thanks to serde_json's `arbitrary_precision`), so `0.1` is
//! exactly 100,000,000 nanodollars and more than 9 fractional digits is an
//! error, never a rounding. Sums are `i128`.

use thiserror::Error;

pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// An amount in nanodollars. Event costs are non-negative; differences
/// (repricing corrections) may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub i64);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("not a decimal number")]
    NotDecimal,
    #[error("more than 9 fractional digits")]
    TooPrecise,
    #[error("negative amount")]
    Negative,
    #[error("above the maximum of {0}")]
    TooLarge(&'static str),
}

impl Nanos {
    /// Parse a plain decimal USD string (`"12"`, `"0.000000001"`, `"1e-3"` is
    /// accepted too since JSON numbers may use exponents). Rejects more than
    /// 9 fractional digits, signs other than a leading `-`, NaN/Infinity.
    /// `max_usd` bounds the value (inclusive).
    pub fn parse_usd(text: &str, max_usd: i64) -> Result<Nanos, MoneyError> {
        todo!("helper A: {text} {max_usd}")
    }

    /// Parse from a JSON value that is a number or a string holding a decimal.
    pub fn from_json(v: &serde_json::Value, max_usd: i64) -> Result<Nanos, MoneyError> {
        match v {
            serde_json::Value::Number(n) => Nanos::parse_usd(&n.to_string(), max_usd),
            serde_json::Value::String(s) => Nanos::parse_usd(s.trim(), max_usd),
            _ => Err(MoneyError::NotDecimal),
        }
    }
}

/// Format an amount (or a sum) as USD with exactly 9 fractional digits:
/// `2500000000000` → `"2500.000000000"`, `-1` → `"-0.000000001"`.
pub fn format_usd(nanos: i128) -> String {
    todo!("helper A: {nanos}")
}

/// `num / den` rounded to the nearest integer, halves away from zero.
/// `None` when `den == 0` (API.md §3: any division by zero is null).
pub fn div_round(num: i128, den: i128) -> Option<i128> {
    todo!("helper A: {num} {den}")
}

/// A markup factor (what the organisation is charged per dollar the provider
/// bills), exact to 9 decimals, stored as parts per billion: 1.25 → 1_250_000_000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Markup(pub i64);

impl Default for Markup {
    fn default() -> Self {
        Markup(NANOS_PER_USD)
    }
}

impl Markup {
    /// Parse a decimal factor such as `"1.25"` (0 ≤ markup ≤ 1000).
    pub fn parse(text: &str) -> Result<Markup, MoneyError> {
        todo!("helper A: {text}")
    }
    /// actual × markup, rounded to the nanodollar, halves away from zero.
    pub fn apply(self, actual: Nanos) -> Nanos {
        todo!("helper A: {actual:?}")
    }
    /// The factor as a decimal string with no trailing zeros beyond one decimal (`"1.25"`, `"1.0"`).
    pub fn to_decimal_string(self) -> String {
        todo!("helper A")
    }
}
