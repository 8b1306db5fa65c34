//! Days, months, periods and IANA timezones. API.md §3.
//!
//! A `Day` is a civil date (no timezone) counted from 1970-01-01; an event's
//! day is the civil date of its `occurred_at` in its organisation's timezone,
//! fixed at ingest. Bucket boundaries come from jiff's tz database (bundled in
//! the binary), so daylight-saving days have 23 or 25 hours.

use jiff::{tz::TimeZone, Timestamp};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("not a date of the form YYYY-MM-DD")]
    BadDate,
    #[error("unknown IANA timezone")]
    BadTimezone,
    #[error("not an RFC 3339 timestamp")]
    BadTimestamp,
    #[error("unknown period (expected this_month, last_month, last_7d, last_30d or last_90d)")]
    BadPeriod,
    #[error("give either period or from/to, not both")]
    PeriodAndRange,
    #[error("from and to must both be given")]
    HalfRange,
    #[error("to must be after from")]
    EmptyRange,
}

/// A civil date as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

/// A civil month as months since 1970-01 (`year * 12 + month - 1 - 1970 * 12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(pub i32);

impl Day {
    /// `YYYY-MM-DD`, strictly (no time, no offset).
    pub fn parse(text: &str) -> Result<Day, TimeError> {
        todo!("helper A: {text}")
    }
    pub fn month(self) -> Month {
        todo!("helper A")
    }
    /// The Monday of this day's ISO week.
    pub fn iso_week_monday(self) -> Day {
        todo!("helper A")
    }
    /// The first instant of this civil day in `tz` (if midnight does not exist
    /// because of a DST gap, the first instant that does).
    pub fn start_in(self, tz: &TimeZone) -> Timestamp {
        todo!("helper A: {tz:?}")
    }
}

impl std::fmt::Display for Day {
    /// `YYYY-MM-DD`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = f;
        todo!("helper A")
    }
}

impl Month {
    pub fn first_day(self) -> Day {
        todo!("helper A")
    }
    /// Number of days in this month.
    pub fn days(self) -> i32 {
        todo!("helper A")
    }
}

/// Look up an IANA timezone name (`Europe/Berlin`, `Asia/Kolkata`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<TimeZone, TimeError> {
    todo!("helper A: {name}")
}

/// Parse an RFC 3339 timestamp with an offset (`2026-11-28T10:00:00Z`, `…+05:30`).
pub fn parse_timestamp(text: &str) -> Result<Timestamp, TimeError> {
    todo!("helper A: {text}")
}

/// The civil day of `ts` in `tz`.
pub fn local_day(ts: Timestamp, tz: &TimeZone) -> Day {
    todo!("helper A: {ts} {tz:?}")
}

/// Unix seconds of the start of the local clock hour containing `ts` in `tz`.
/// For +05:30 this lands on :30 UTC; in a repeated DST hour the two local
/// hours are distinct instants.
pub fn local_hour_start(ts: Timestamp, tz: &TimeZone) -> i64 {
    todo!("helper A: {ts} {tz:?}")
}

/// A half-open range of civil days `[from, to)` in an organisation's timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub from: Day,
    pub to: Day,
}

impl Period {
    pub fn days(self) -> i32 {
        self.to.0 - self.from.0
    }
    /// The same number of days immediately before.
    pub fn previous(self) -> Period {
        Period { from: Day(self.from.0 - self.days()), to: self.from }
    }
    /// Resolve the query parameters `from`, `to`, `period` (API.md §3) given
    /// today's civil date in the organisation's timezone. Default: this_month.
    /// `this_month` = month-to-date including today; `last_month` = the previous
    /// whole month; `last_Nd` = the N days ending today (today included).
    pub fn resolve(
        from: Option<&str>,
        to: Option<&str>,
        period: Option<&str>,
        today: Day,
    ) -> Result<Period, TimeError> {
        todo!("helper A: {from:?} {to:?} {period:?} {today:?}")
    }
}
