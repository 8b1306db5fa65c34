//! Deterministic, realistic usage data: the `demo` store and the standard
//! datasets of BENCH.md (`small`, `medium`, `large`).
//!
//! Everything follows from a [`Spec`] (its seed and anchor date included):
//! [`setup`] gives the organisations with their teams, members and keys, and
//! [`events`] / [`lines`] / [`write_ndjson`] give the events in the order a
//! client would send them. Generation streams: memory stays flat whatever the
//! size.
//!
//! What every dataset holds (rates are per distinct event):
//! - organisation sizes Zipf-like, the first (`acme`, "Acme Corp") the largest;
//!   people's activity Zipf-like within an organisation; some join or leave
//!   during the range;
//! - conversations of one person averaging 5 messages a few minutes apart;
//!   weekends at 30% of a weekday; a daytime rhythm in the organisation's
//!   timezone;
//! - `Spec::events` distinct events spanning `days` local days ending on the
//!   anchor date, none after the anchor date 10:00 UTC;
//! - 3% sent twice (a byte-identical retry up to 400 lines later), 1% without
//!   `api_key_id`, 0.5% sent late (10 minutes to 2 days after their place in
//!   time order); everything else in time order;
//! - timezones: Acme in America/New_York, organisations 2 and 4 in zones whose
//!   DST change falls inside the range when any does (no zone changes between
//!   late April and early September), organisation 3 in Asia/Kolkata (+05:30);
//! - 20% send `actual_api_cost` (number or string, ≤ 9 decimals, 1% of them a
//!   few nanodollars, down to `0.000000001`), 30% of those `total_cost` too;
//!   30% have `cached_tokens_in`, some Anthropic calls `cache_write_tokens_in`;
//! - a few calls on models no catalog lists (`acme-finetune-v2` at Acme,
//!   `local-llama-3-70b` without a key anywhere).

mod gen;
mod json;
mod models;
mod names;
mod roster;
mod setup;
mod stream;
mod world;

#[cfg(test)]
mod tests;

pub use setup::{setup, KeySetup, MemberSetup, OrgSetup, Setup, TeamSetup};

use jiff::civil::Date;
use std::io::Write;

/// The standard dataset names, smallest first.
pub const STANDARD: [&str; 3] = ["small", "medium", "large"];

/// The shape of a dataset. Same spec, same output, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub name: String,
    /// Distinct events; retries come on top (about 3% more lines).
    pub events: u64,
    pub orgs: u32,
    pub users: u32,
    /// Provider keys over all organisations.
    pub keys: u32,
    /// How many of the model list to draw from (at most 40).
    pub models: u32,
    pub days: u32,
    /// Events of the largest organisation (`acme`).
    pub largest_org_events: u64,
    /// People of the largest organisation.
    pub largest_org_users: u32,
    /// Provider keys of the largest organisation.
    pub largest_org_keys: u32,
    pub seed: u64,
    /// Last day of data, inclusive.
    pub anchor: Date,
}

impl Spec {
    /// `small`, `medium` or `large` as in BENCH.md.
    pub fn standard(name: &str, anchor: Date) -> Option<Spec> {
        let (events, orgs, users, keys, models, days, largest, l_users, l_keys) = match name {
            "small" => (100_000, 20, 1_000, 60, 20, 90, 20_000, 200, 6),
            "medium" => (1_000_000, 100, 10_000, 400, 30, 180, 200_000, 2_000, 12),
            "large" => (
                10_000_000, 500, 50_000, 2_000, 40, 180, 2_000_000, 5_000, 24,
            ),
            _ => return None,
        };
        Some(Spec {
            name: name.to_string(),
            events,
            orgs,
            users,
            keys,
            models,
            days,
            largest_org_events: largest,
            largest_org_users: l_users,
            largest_org_keys: l_keys,
            seed: 20_251_128,
            anchor,
        })
    }

    /// The demo: six organisations over 90 days, 50,000 events; Acme Corp has
    /// 30 people in 4 teams and 3 departments and the keys "OpenAI Prod",
    /// "Claude Prod", "OpenAI Dev" and "Gemini Team".
    pub fn demo(anchor: Date) -> Spec {
        Spec {
            name: "demo".into(),
            events: 50_000,
            orgs: 6,
            users: 90,
            keys: 16,
            models: 20,
            days: 90,
            largest_org_events: 20_000,
            largest_org_users: 30,
            largest_org_keys: 4,
            seed: 7,
            anchor,
        }
    }

    /// A small dataset for tests: 6 organisations, 60 people, 30 days.
    pub fn custom(events: u64, seed: u64, anchor: Date) -> Spec {
        Spec {
            name: "custom".into(),
            events,
            orgs: 6,
            users: 60,
            keys: 18,
            models: 20,
            days: 30,
            largest_org_events: events / 4,
            largest_org_users: 20,
            largest_org_keys: 4,
            seed,
            anchor,
        }
    }
}

/// The events in arrival order, as JSON objects with the API.md §2 field names.
pub fn events(spec: &Spec) -> impl Iterator<Item = serde_json::Value> {
    lines(spec).map(|line| serde_json::from_str(&line).unwrap_or(serde_json::Value::Null))
}

/// The events in arrival order, serialised (what [`write_ndjson`] writes).
pub fn lines(spec: &Spec) -> Lines {
    let world = world::World::new(spec);
    let text = json::Fragments::new(&world);
    Lines {
        stream: stream::Stream::new(world, spec.seed),
        text,
    }
}

/// The serialised events of a spec; see [`lines`].
pub struct Lines {
    stream: stream::Stream,
    text: json::Fragments,
}

impl Lines {
    /// Append the next event's JSON and a newline to `out`; false at the end.
    pub fn write_next(&mut self, out: &mut Vec<u8>) -> bool {
        match self.stream.next() {
            Some(ev) => {
                json::write_event(&self.text, &ev, out);
                out.push(b'\n');
                true
            }
            None => false,
        }
    }
}

impl Iterator for Lines {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let ev = self.stream.next()?;
        let mut out = Vec::with_capacity(512);
        json::write_event(&self.text, &ev, &mut out);
        String::from_utf8(out).ok()
    }
}

/// Write the events as NDJSON, calling `progress(lines so far)` every 100,000
/// lines and at the end. Returns the number of lines (events plus retries).
pub fn write_ndjson(
    spec: &Spec,
    mut w: impl Write,
    mut progress: impl FnMut(u64),
) -> std::io::Result<u64> {
    const FLUSH_AT: usize = 1 << 20;
    const PROGRESS_EVERY: u64 = 100_000;
    let mut lines = lines(spec);
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    let mut n = 0u64;
    let mut report_at = PROGRESS_EVERY;
    while lines.write_next(&mut buf) {
        n += 1;
        if buf.len() >= FLUSH_AT {
            w.write_all(&buf)?;
            buf.clear();
        }
        if n == report_at {
            progress(n);
            report_at += PROGRESS_EVERY;
        }
    }
    w.write_all(&buf)?;
    w.flush()?;
    if n + PROGRESS_EVERY != report_at {
        progress(n);
    }
    Ok(n)
}
