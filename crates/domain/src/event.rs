//! The event: one LLM call, parsed and validated once at the edge (API.md §2).
//!
//! After `Event::parse` nothing downstream checks a field again: tokens are
//! bounded integers, costs are exact nanodollars, ids are non-empty and within
//! their lengths. Unknown fields are ignored so that newer clients can send
//! more than this server knows.

use crate::money::{Nanos, NANOS_PER_USD};
use crate::time::parse_timestamp;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub const MAX_TOKENS: u64 = 1_000_000_000;
pub const MAX_COST_USD: i64 = 1_000_000;
/// The id that names the null group in paths and filters; no real id may use it.
pub const NONE_ID: &str = "_none";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MissingField,
    InvalidField,
    TimestampOutOfRange,
    OrganizationMismatch,
    ConversationOwnerMismatch,
    DuplicateConflict,
    UnknownOrganization,
    AmbiguousOrganization,
    InvalidJson,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::TimestampOutOfRange => "timestamp_out_of_range",
            ErrorCode::OrganizationMismatch => "organization_mismatch",
            ErrorCode::ConversationOwnerMismatch => "conversation_owner_mismatch",
            ErrorCode::DuplicateConflict => "duplicate_conflict",
            ErrorCode::UnknownOrganization => "unknown_organization",
            ErrorCode::AmbiguousOrganization => "ambiguous_organization",
            ErrorCode::InvalidJson => "invalid_json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub code: ErrorCode,
    pub field: Option<&'static str>,
    pub message: String,
}

impl EventError {
    fn missing(field: &'static str) -> Self {
        EventError {
            code: ErrorCode::MissingField,
            field: Some(field),
            message: format!("{field} is required"),
        }
    }
    fn invalid(field: &'static str, why: impl std::fmt::Display) -> Self {
        EventError {
            code: ErrorCode::InvalidField,
            field: Some(field),
            message: format!("{field}: {why}"),
        }
    }
}

/// A validated event. Costs are `None` when the client left them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub organization_id: Option<String>,
    pub user_id: String,
    pub user_email: Option<String>,
    pub team_id: Option<String>,
    pub department: Option<String>,
    pub api_key_id: Option<String>,
    pub api_key_provider: Option<String>,
    pub conversation_id: String,
    pub conversation_title: Option<String>,
    pub model_name: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cached_tokens_in: u64,
    pub cache_write_tokens_in: u64,
    pub actual_api_cost: Option<Nanos>,
    pub total_cost: Option<Nanos>,
}

/// Where an event may be: from 2000-01-01 to one day after `now`.
pub fn timestamp_bounds(now: Timestamp) -> (Timestamp, Timestamp) {
    let earliest = Timestamp::from_second(946_684_800).unwrap_or(Timestamp::UNIX_EPOCH);
    let latest = now.checked_add(24.hours()).unwrap_or(Timestamp::MAX);
    (earliest, latest)
}

impl Event {
    /// Validate one JSON value as an event. The first problem found is
    /// reported, fields checked in the order of API.md's table.
    pub fn parse(value: &Value, now: Timestamp) -> Result<Event, EventError> {
        let obj = value.as_object().ok_or_else(|| EventError {
            code: ErrorCode::InvalidJson,
            field: None,
            message: "an event must be a JSON object".into(),
        })?;
        let event_id = required_id(obj, "event_id", 128)?;
        let occurred_at = occurred_at(obj, now)?;
        let organization_id = optional_id(obj, "organization_id", 128)?;
        let user_id = required_id(obj, "user_id", 128)?;
        let user_email = optional_text(obj, "user_email", 320)?;
        let team_id = optional_id(obj, "team_id", 128)?;
        let department = optional_id(obj, "department", 128)?;
        let api_key_id = optional_id(obj, "api_key_id", 128)?;
        let api_key_provider = optional_id(obj, "api_key_provider", 64)?;
        let conversation_id = required_id(obj, "conversation_id", 128)?;
        let conversation_title = optional_text(obj, "conversation_title", 500)?;
        let model_name = required_id(obj, "model_name", 200)?;
        let tokens_in = tokens(obj, "tokens_in", true)?;
        let tokens_out = tokens(obj, "tokens_out", true)?;
        let cached_tokens_in = tokens(obj, "cached_tokens_in", false)?;
        let cache_write_tokens_in = tokens(obj, "cache_write_tokens_in", false)?;
        if cached_tokens_in > tokens_in {
            return Err(EventError::invalid(
                "cached_tokens_in",
                "must not exceed tokens_in",
            ));
        }
        if cached_tokens_in + cache_write_tokens_in > tokens_in {
            return Err(EventError::invalid(
                "cache_write_tokens_in",
                "cached_tokens_in + cache_write_tokens_in must not exceed tokens_in",
            ));
        }
        let actual_api_cost = cost(obj, "actual_api_cost")?;
        let total_cost = cost(obj, "total_cost")?;
        Ok(Event {
            event_id,
            occurred_at,
            organization_id,
            user_id,
            user_email,
            team_id,
            department,
            api_key_id,
            api_key_provider,
            conversation_id,
            conversation_title,
            model_name,
            tokens_in,
            tokens_out,
            cached_tokens_in,
            cache_write_tokens_in,
            actual_api_cost,
            total_cost,
        })
    }

    /// A 64-bit digest of the event's canonical payload: two sends of the same
    /// call give the same digest however the JSON was spelled (`0.5` or
    /// `"0.50"`, `Z` or `+00:00`). `organization_id` is left out because it is
    /// part of the idempotency key itself.
    pub fn canonical_hash(&self) -> i64 {
        let mut h = Sha256::new();
        let mut put = |s: &str| {
            h.update(s.as_bytes());
            h.update([0u8]);
        };
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "\u{1}".into());
        put(&self.event_id);
        put(&self.occurred_at.as_nanosecond().to_string());
        put(&self.user_id);
        put(&opt(&self.user_email));
        put(&opt(&self.team_id));
        put(&opt(&self.department));
        put(&opt(&self.api_key_id));
        put(&opt(&self.api_key_provider));
        put(&self.conversation_id);
        put(&opt(&self.conversation_title));
        put(&self.model_name);
        for n in [
            self.tokens_in,
            self.tokens_out,
            self.cached_tokens_in,
            self.cache_write_tokens_in,
        ] {
            put(&n.to_string());
        }
        for c in [self.actual_api_cost, self.total_cost] {
            put(&c.map(|n| n.0.to_string()).unwrap_or_else(|| "-".into()));
        }
        let digest = h.finalize();
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&digest[..8]);
        i64::from_le_bytes(eight)
    }
}

fn present<'a>(obj: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    obj.get(field).filter(|v| !v.is_null())
}

fn text_in(field: &'static str, v: &Value, max: usize) -> Result<String, EventError> {
    let s = v
        .as_str()
        .ok_or_else(|| EventError::invalid(field, "must be a string"))?;
    let n = s.chars().count();
    if n > max {
        return Err(EventError::invalid(
            field,
            format!("longer than {max} characters ({n})"),
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(EventError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

fn check_id(field: &'static str, s: String) -> Result<String, EventError> {
    if s.trim().is_empty() {
        return Err(EventError::invalid(field, "must not be empty or blank"));
    }
    if s == NONE_ID {
        return Err(EventError::invalid(
            field,
            "\"_none\" is reserved for the null group",
        ));
    }
    Ok(s)
}

fn required_id(
    obj: &Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<String, EventError> {
    let v = present(obj, field).ok_or_else(|| EventError::missing(field))?;
    check_id(field, text_in(field, v, max)?)
}

/// Optional ids: absent, null and "" all mean "not given" (IDEs often send "").
fn optional_id(
    obj: &Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, EventError> {
    match present(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => check_id(field, text_in(field, v, max)?).map(Some),
    }
}

fn optional_text(
    obj: &Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, EventError> {
    match present(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v) => text_in(field, v, max).map(Some),
    }
}

fn occurred_at(obj: &Map<String, Value>, now: Timestamp) -> Result<Timestamp, EventError> {
    let field = "occurred_at";
    let v = present(obj, field).ok_or_else(|| EventError::missing(field))?;
    let s = v
        .as_str()
        .ok_or_else(|| EventError::invalid(field, "must be an RFC 3339 timestamp string"))?;
    let out_of_range = || EventError {
        code: ErrorCode::TimestampOutOfRange,
        field: Some(field),
        message: format!("occurred_at {s} is outside 2000-01-01 .. one day after now"),
    };
    let ts = parse_timestamp(s).map_err(|e| {
        if beyond_representable(s) {
            out_of_range()
        } else {
            EventError::invalid(field, e)
        }
    })?;
    let (earliest, latest) = timestamp_bounds(now);
    if ts < earliest || ts > latest {
        return Err(out_of_range());
    }
    Ok(ts)
}

/// A well-formed RFC 3339 timestamp past the last instant jiff represents
/// (9999-12-30T22:00Z): out of range like any other far-future date, not
/// malformed. The Gregorian calendar repeats every 400 years, so the text is
/// well-formed exactly when the same text 400 years earlier is.
fn beyond_representable(s: &str) -> bool {
    s.strip_prefix("9999-")
        .is_some_and(|rest| parse_timestamp(&format!("9599-{rest}")).is_ok())
}

fn tokens(
    obj: &Map<String, Value>,
    field: &'static str,
    required: bool,
) -> Result<u64, EventError> {
    let Some(v) = present(obj, field) else {
        return if required {
            Err(EventError::missing(field))
        } else {
            Ok(0)
        };
    };
    let Value::Number(n) = v else {
        return Err(EventError::invalid(field, "must be an integer"));
    };
    let out_of_range = || {
        EventError::invalid(
            field,
            format!("must be an integer from 0 to {MAX_TOKENS}, got {n}"),
        )
    };
    if let Some(t) = n.as_u64() {
        return if t <= MAX_TOKENS {
            Ok(t)
        } else {
            Err(out_of_range())
        };
    }
    // JSON has a single number type: `1000.0`, `1e3` and `-0` are the
    // integers 1000 and 0 (what JSON Schema's "integer" means, and what a
    // client that keeps counts in floats sends). Judged exactly on the text,
    // like money, so `1.5` and `1e-10` are refused and nothing is rounded.
    match Nanos::parse_usd(&n.to_string(), MAX_TOKENS_I64) {
        Ok(Nanos(x)) if x % NANOS_PER_USD == 0 => {
            u64::try_from(x / NANOS_PER_USD).map_err(|_| out_of_range())
        }
        _ => Err(out_of_range()),
    }
}

const MAX_TOKENS_I64: i64 = MAX_TOKENS as i64;

fn cost(obj: &Map<String, Value>, field: &'static str) -> Result<Option<Nanos>, EventError> {
    match present(obj, field) {
        None => Ok(None),
        Some(v) => Nanos::from_json(v, MAX_COST_USD).map(Some).map_err(|e| {
            EventError::invalid(
                field,
                format!("{e} (a decimal USD amount from 0 to 1000000 with at most 9 decimals)"),
            )
        }),
    }
}

impl Event {
    /// The canonical JSON form (costs as 9-decimal strings, timestamp in UTC):
    /// what quarantine keeps so that `backfill` can replay the event exactly.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("event_id", self.event_id.clone().into());
        put("occurred_at", self.occurred_at.to_string().into());
        let opt = |o: &Option<String>| o.clone().map_or(Value::Null, Value::from);
        put("organization_id", opt(&self.organization_id));
        put("user_id", self.user_id.clone().into());
        put("user_email", opt(&self.user_email));
        put("team_id", opt(&self.team_id));
        put("department", opt(&self.department));
        put("api_key_id", opt(&self.api_key_id));
        put("api_key_provider", opt(&self.api_key_provider));
        put("conversation_id", self.conversation_id.clone().into());
        put("conversation_title", opt(&self.conversation_title));
        put("model_name", self.model_name.clone().into());
        put("tokens_in", self.tokens_in.into());
        put("tokens_out", self.tokens_out.into());
        put("cached_tokens_in", self.cached_tokens_in.into());
        put("cache_write_tokens_in", self.cache_write_tokens_in.into());
        let money = |c: Option<Nanos>| {
            c.map_or(Value::Null, |n| {
                crate::money::format_usd(i128::from(n.0)).into()
            })
        };
        put("actual_api_cost", money(self.actual_api_cost));
        put("total_cost", money(self.total_cost));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests;
