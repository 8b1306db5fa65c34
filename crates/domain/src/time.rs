//! Days, months, periods and IANA timezones. API.md §3.
//!
//! A `Day` is a civil date (no timezone) counted from 1970-01-01; an event's
//! day is the civil date of its `occurred_at` in its organisation's timezone,
//! fixed at ingest. Bucket boundaries come from jiff's tz database (bundled in
//! the binary), so daylight-saving days have 23 or 25 hours.

use jiff::{
    civil::{Date, Time},
    tz::{AmbiguousOffset, TimeZone},
    SignedDuration, Timestamp,
};
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

// Day arithmetic is done here rather than through jiff so that every `Day`
// (any i32) has a date; jiff's calendar stops at year ±9999. Algorithms from
// Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms".

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn month_days(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days beyond i32 cannot come from a valid date string or timestamp.
fn clamp_day(z: i64) -> Day {
    Day(z.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

impl Day {
    /// `YYYY-MM-DD`, strictly (no time, no offset).
    pub fn parse(text: &str) -> Result<Day, TimeError> {
        let b = text.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return Err(TimeError::BadDate);
        }
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0'));
        Day::from_ymd(num(0..4), num(5..7), num(8..10)).ok_or(TimeError::BadDate)
    }

    /// The day of a civil date, if it exists (`2025-02-29` does not).
    pub fn from_ymd(year: i64, month: i64, day: i64) -> Option<Day> {
        if !(1..=12).contains(&month) || day < 1 || day > month_days(year, month) {
            return None;
        }
        let z = days_from_civil(year, month, day);
        i32::try_from(z).ok().map(Day)
    }

    /// (year, month 1–12, day 1–31).
    pub fn ymd(self) -> (i64, i64, i64) {
        civil_from_days(i64::from(self.0))
    }

    pub fn month(self) -> Month {
        let (y, m, _) = self.ymd();
        Month((y * 12 + m - 1 - 1970 * 12) as i32)
    }
    /// The Monday of this day's ISO week.
    pub fn iso_week_monday(self) -> Day {
        // 1970-01-01 was a Thursday: three days after a Monday.
        let since_monday = (i64::from(self.0) + 3).rem_euclid(7);
        clamp_day(i64::from(self.0) - since_monday)
    }
    /// The first instant of this civil day in `tz` (if midnight does not exist
    /// because of a DST gap, the first instant that does).
    pub fn start_in(self, tz: &TimeZone) -> Timestamp {
        let Some(date) = self.to_date() else {
            return if self.0 < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            };
        };
        let ambiguous = tz.to_ambiguous_timestamp(date.to_datetime(Time::midnight()));
        let in_gap = matches!(ambiguous.offset(), AmbiguousOffset::Gap { .. });
        let Ok(ts) = ambiguous.compatible() else {
            return if self.0 < 0 {
                Timestamp::MIN
            } else {
                Timestamp::MAX
            };
        };
        if !in_gap {
            // Not a gap: midnight exists, and in a fold `compatible` takes
            // its first occurrence.
            return ts;
        }
        // In a gap `compatible` reads midnight with the offset before the
        // gap; when the gap began on the previous day that lands after the
        // true start of the day, which is the transition itself.
        let after = ts.checked_add(SignedDuration::from_nanos(1)).unwrap_or(ts);
        tz.preceding(after).next().map_or(ts, |t| t.timestamp())
    }

    /// The jiff date, for days within jiff's years −9999..=9999.
    pub fn to_date(self) -> Option<Date> {
        let (y, m, d) = self.ymd();
        Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
    }

    pub fn from_date(date: Date) -> Day {
        clamp_day(days_from_civil(
            i64::from(date.year()),
            i64::from(date.month()),
            i64::from(date.day()),
        ))
    }
}

impl std::fmt::Display for Day {
    /// `YYYY-MM-DD`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}-{m:02}-{d:02}")
        } else {
            // ISO 8601 expanded years, as jiff writes them.
            write!(
                f,
                "{}{:06}-{m:02}-{d:02}",
                if y < 0 { '-' } else { '+' },
                y.unsigned_abs()
            )
        }
    }
}

impl std::str::FromStr for Day {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Day, TimeError> {
        Day::parse(s)
    }
}

impl serde::Serialize for Day {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Month {
    /// The month of a (year, month 1–12).
    pub fn from_ym(year: i64, month: i64) -> Option<Month> {
        if !(1..=12).contains(&month) {
            return None;
        }
        i32::try_from(year * 12 + month - 1 - 1970 * 12)
            .ok()
            .map(Month)
    }
    /// (year, month 1–12).
    pub fn ym(self) -> (i64, i64) {
        let n = i64::from(self.0);
        (1970 + n.div_euclid(12), n.rem_euclid(12) + 1)
    }
    pub fn first_day(self) -> Day {
        let (y, m) = self.ym();
        clamp_day(days_from_civil(y, m, 1))
    }
    /// Number of days in this month.
    pub fn days(self) -> i32 {
        let (y, m) = self.ym();
        month_days(y, m) as i32
    }
    /// The day after this month's last day.
    pub fn end(self) -> Day {
        Day(self.first_day().0.saturating_add(self.days()))
    }
}

/// Look up an IANA timezone name (`Europe/Berlin`, `Asia/Kolkata`, `UTC`).
/// Names compare case-insensitively (jiff's database does); store
/// `tz.iana_name()` to keep the canonical spelling.
pub fn parse_timezone(name: &str) -> Result<TimeZone, TimeError> {
    if name.is_empty() || name.trim() != name {
        return Err(TimeError::BadTimezone);
    }
    TimeZone::get(name).map_err(|_| TimeError::BadTimezone)
}

/// Parse an RFC 3339 timestamp with an offset (`2026-11-28T10:00:00Z`, `…+05:30`).
///
/// Strictly RFC 3339: seconds required, fraction optional (up to 9 digits),
/// `T` or a space between date and time, `Z` or `±HH:MM`. jiff's broader ISO
/// 8601 forms (`+0530`, `-05`, `[Europe/Berlin]` annotations) are refused so
/// that every client means the same instant by the same text.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, TimeError> {
    let b = text.as_bytes();
    if !is_rfc3339_shape(b) {
        return Err(TimeError::BadTimestamp);
    }
    // RFC 3339 allows any number of fractional digits, jiff at most 9 (.NET
    // and others send 7, some 12): digits past the nanosecond are dropped.
    let frac_end = 20 + b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
    let owned;
    let text = if b[19] == b'.' && frac_end > 29 {
        owned = format!("{}{}", &text[..29], &text[frac_end..]);
        owned.as_str()
    } else {
        text
    };
    text.parse::<Timestamp>()
        .map_err(|_| TimeError::BadTimestamp)
}

fn is_rfc3339_shape(b: &[u8]) -> bool {
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let head = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !head {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        // time-numoffset: hours 00–23, minutes 00–59.
        [b'+' | b'-', h1 @ b'0'..=b'2', h2 @ b'0'..=b'9', b':', b'0'..=b'5', b'0'..=b'9'] => {
            *h1 < b'2' || *h2 <= b'3'
        }
        _ => false,
    }
}

/// The civil day of `ts` in `tz`.
pub fn local_day(ts: Timestamp, tz: &TimeZone) -> Day {
    Day::from_date(tz.to_datetime(ts).date())
}

/// Unix seconds of the start of the local clock hour containing `ts` in `tz`.
/// For +05:30 this lands on :30 UTC; in a repeated DST hour the two local
/// hours are distinct instants.
pub fn local_hour_start(ts: Timestamp, tz: &TimeZone) -> i64 {
    // The offset in force at `ts` reads the local clock; flooring that and
    // undoing the same offset keeps the two passes of a repeated hour apart.
    let offset = i64::from(tz.to_offset(ts).seconds());
    let local = ts.as_second() + offset;
    local - local.rem_euclid(3600) - offset
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
        Period {
            from: Day(self.from.0 - self.days()),
            to: self.from,
        }
    }
    pub fn contains(self, day: Day) -> bool {
        self.from <= day && day < self.to
    }
    /// Resolve the query parameters `from`, `to`, `period` (API.md §3) given
    /// today's civil date in the organisation's timezone. Default: this_month.
    /// `this_month` = month-to-date including today; `last_month` = the previous
    /// whole month; `last_Nd` = the N days ending today (today included).
    ///
    /// A `period` together with `from` or `to` is `PeriodAndRange` before
    /// either is looked at; `to` equal to `from` is `EmptyRange`.
    pub fn resolve(
        from: Option<&str>,
        to: Option<&str>,
        period: Option<&str>,
        today: Day,
    ) -> Result<Period, TimeError> {
        let tomorrow = Day(today.0 + 1);
        let last_days = |n: i32| {
            Ok(Period {
                from: Day(tomorrow.0 - n),
                to: tomorrow,
            })
        };
        match (from, to, period) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(TimeError::PeriodAndRange),
            (Some(from), Some(to), None) => {
                let (from, to) = (Day::parse(from)?, Day::parse(to)?);
                if to <= from {
                    return Err(TimeError::EmptyRange);
                }
                Ok(Period { from, to })
            }
            (Some(_), None, None) | (None, Some(_), None) => Err(TimeError::HalfRange),
            (None, None, None | Some("this_month")) => Ok(Period {
                from: today.month().first_day(),
                to: tomorrow,
            }),
            (None, None, Some("last_month")) => {
                let this = today.month();
                Ok(Period {
                    from: Month(this.0 - 1).first_day(),
                    to: this.first_day(),
                })
            }
            (None, None, Some("last_7d")) => last_days(7),
            (None, None, Some("last_30d")) => last_days(30),
            (None, None, Some("last_90d")) => last_days(90),
            (None, None, Some(_)) => Err(TimeError::BadPeriod),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::{civil::date, Span};

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }
    fn ts(s: &str) -> Timestamp {
        parse_timestamp(s).unwrap()
    }
    fn tz(name: &str) -> TimeZone {
        parse_timezone(name).unwrap()
    }
    fn hours_of(d: Day, zone: &TimeZone) -> i64 {
        (Day(d.0 + 1).start_in(zone).as_second() - d.start_in(zone).as_second()) / 3600
    }

    #[test]
    fn day_parse_and_display() {
        assert_eq!(day("1970-01-01"), Day(0));
        assert_eq!(day("1970-01-02"), Day(1));
        assert_eq!(day("1969-12-31"), Day(-1));
        assert_eq!(day("2000-03-01"), Day(11_017));
        assert_eq!(day("2024-02-29").to_string(), "2024-02-29");
        assert_eq!("2026-11-28".parse::<Day>(), Ok(day("2026-11-28")));
        assert_eq!(
            serde_json::to_string(&day("2026-01-05")).unwrap(),
            "\"2026-01-05\""
        );
        let bad = [
            "",
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-04-31",
            "24-01-01",
            "2024-1-01",
            "2024-01-1",
            "2024/01/01",
            "2024-01-01T00:00:00Z",
            " 2024-01-01",
            "2024-01-01 ",
            "2024-01-011",
            "+2024-01-01",
            "２０２４-01-01",
            "2024-01-0x",
            "20240101",
        ];
        for text in bad {
            assert_eq!(Day::parse(text), Err(TimeError::BadDate), "{text:?}");
        }
    }

    #[test]
    fn day_arithmetic_agrees_with_jiff() {
        let epoch = date(1970, 1, 1);
        for d in (-700_000..2_000_000).step_by(997).chain(-1000..1000) {
            let jd = epoch.checked_add(Span::new().days(i64::from(d))).unwrap();
            let ours = Day(d);
            assert_eq!(ours.to_date(), Some(jd), "{d}");
            assert_eq!(Day::from_date(jd), ours);
            assert_eq!(ours.to_string(), jd.to_string());
            assert_eq!(Day::parse(&ours.to_string()), Ok(ours));
            let monday = ours.iso_week_monday();
            assert_eq!(
                monday.to_date().unwrap().weekday(),
                jiff::civil::Weekday::Monday
            );
            assert!((0..7).contains(&(ours.0 - monday.0)));
            let month = ours.month();
            assert_eq!(month.ym(), (i64::from(jd.year()), i64::from(jd.month())));
            assert_eq!(month.days(), i32::from(jd.days_in_month()));
            assert_eq!(month.first_day().to_date(), Some(jd.first_of_month()));
        }
    }

    #[test]
    fn days_beyond_jiff_still_format() {
        assert_eq!(Day(i32::MAX).to_date(), None);
        assert!(Day(i32::MAX).to_string().starts_with('+'));
        assert!(Day(i32::MIN).to_string().starts_with('-'));
        assert_eq!(Day(i32::MAX).start_in(&TimeZone::UTC), Timestamp::MAX);
        assert_eq!(Day(i32::MIN).start_in(&TimeZone::UTC), Timestamp::MIN);
        assert_eq!(Day(i32::MIN).iso_week_monday(), Day(i32::MIN));
    }

    #[test]
    fn months() {
        assert_eq!(Month(0).first_day(), Day(0));
        assert_eq!(Month(-1).first_day(), day("1969-12-01"));
        assert_eq!(day("2024-02-29").month(), Month::from_ym(2024, 2).unwrap());
        assert_eq!(Month::from_ym(2024, 2).unwrap().days(), 29);
        assert_eq!(Month::from_ym(2023, 2).unwrap().days(), 28);
        assert_eq!(Month::from_ym(1900, 2).unwrap().days(), 28);
        assert_eq!(Month::from_ym(2000, 2).unwrap().days(), 29);
        assert_eq!(Month::from_ym(2026, 4).unwrap().days(), 30);
        assert_eq!(Month::from_ym(2026, 12).unwrap().days(), 31);
        assert_eq!(Month::from_ym(2026, 12).unwrap().end(), day("2027-01-01"));
        assert_eq!(Month::from_ym(2026, 13), None);
        assert_eq!(Month::from_ym(2026, 11).unwrap().0, 56 * 12 + 10);
    }

    #[test]
    fn iso_week_monday() {
        assert_eq!(day("2026-11-28").iso_week_monday(), day("2026-11-23")); // Saturday
        assert_eq!(day("2026-11-29").iso_week_monday(), day("2026-11-23")); // Sunday
        assert_eq!(day("2026-11-30").iso_week_monday(), day("2026-11-30")); // Monday
        assert_eq!(day("1970-01-01").iso_week_monday(), day("1969-12-29")); // Thursday
        assert_eq!(day("2027-01-01").iso_week_monday(), day("2026-12-28"));
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let berlin = tz("Europe/Berlin");
        assert_eq!(hours_of(day("2026-03-28"), &berlin), 24);
        assert_eq!(hours_of(day("2026-03-29"), &berlin), 23);
        assert_eq!(hours_of(day("2026-10-25"), &berlin), 25);
        assert_eq!(
            day("2026-03-29").start_in(&berlin),
            ts("2026-03-28T23:00:00Z")
        );
        assert_eq!(
            day("2026-03-30").start_in(&berlin),
            ts("2026-03-29T22:00:00Z")
        );
        let new_york = tz("America/New_York");
        assert_eq!(hours_of(day("2026-03-08"), &new_york), 23);
        assert_eq!(hours_of(day("2026-11-01"), &new_york), 25);
        assert_eq!(hours_of(day("2026-11-02"), &new_york), 24);
        assert_eq!(
            day("2026-11-01").start_in(&new_york),
            ts("2026-11-01T04:00:00Z")
        );
        let utc = tz("UTC");
        assert_eq!(hours_of(day("2026-03-29"), &utc), 24);
        assert_eq!(day("2026-11-28").start_in(&utc), ts("2026-11-28T00:00:00Z"));
        assert_eq!(
            day("2026-11-28").start_in(&tz("Asia/Kolkata")),
            ts("2026-11-27T18:30:00Z")
        );
    }

    #[test]
    fn start_in_is_the_first_instant_of_the_local_day() {
        // Santiago and Havana skip midnight itself; Lord Howe shifts by 30
        // minutes; Kathmandu and Chatham have odd offsets.
        let zones = [
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "America/Santiago",
            "America/Havana",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "Pacific/Chatham",
            "Asia/Kolkata",
            "America/St_Johns",
            "Pacific/Kiritimati",
            "Pacific/Pago_Pago",
        ];
        for name in zones {
            let zone = tz(name);
            for d in day("2024-01-01").0..day("2026-12-31").0 {
                let d = Day(d);
                let start = d.start_in(&zone);
                assert_eq!(local_day(start, &zone), d, "{name} {d}");
                let before = start.checked_sub(SignedDuration::from_nanos(1)).unwrap();
                assert_eq!(local_day(before, &zone), Day(d.0 - 1), "{name} {d}");
            }
        }
    }

    #[test]
    fn start_in_a_midnight_gap() {
        // Chile springs forward at 24:00: 2026-09-06 starts at 01:00 local.
        let santiago = tz("America/Santiago");
        let start = day("2026-09-06").start_in(&santiago);
        assert_eq!(
            santiago.to_datetime(start).time(),
            jiff::civil::time(1, 0, 0, 0)
        );
        assert_eq!(hours_of(day("2026-09-06"), &santiago), 23);
        // Samoa skipped 2011-12-30 entirely: it has no instants.
        let apia = tz("Pacific/Apia");
        assert_eq!(
            day("2011-12-30").start_in(&apia),
            day("2011-12-31").start_in(&apia)
        );
    }

    #[test]
    fn local_day_near_midnight() {
        let cases = [
            ("UTC", "2026-11-28T23:59:59.999999999Z", "2026-11-28"),
            ("UTC", "2026-11-29T00:00:00Z", "2026-11-29"),
            ("Europe/Berlin", "2026-11-28T22:59:59Z", "2026-11-28"),
            ("Europe/Berlin", "2026-11-28T23:00:00Z", "2026-11-29"),
            ("Europe/Berlin", "2026-07-28T21:59:59Z", "2026-07-28"),
            ("Europe/Berlin", "2026-07-28T22:00:00Z", "2026-07-29"),
            ("America/New_York", "2026-11-29T04:59:59Z", "2026-11-28"),
            ("America/New_York", "2026-11-29T05:00:00Z", "2026-11-29"),
            ("America/Los_Angeles", "2026-11-29T07:59:59Z", "2026-11-28"),
            ("America/Los_Angeles", "2026-11-29T08:00:00Z", "2026-11-29"),
            ("Asia/Kolkata", "2026-11-28T18:29:59Z", "2026-11-28"),
            ("Asia/Kolkata", "2026-11-28T18:30:00Z", "2026-11-29"),
            ("Asia/Tokyo", "2026-11-28T14:59:59Z", "2026-11-28"),
            ("Asia/Tokyo", "2026-11-28T15:00:00Z", "2026-11-29"),
            ("Pacific/Kiritimati", "2026-11-28T10:00:00Z", "2026-11-29"),
            ("Pacific/Pago_Pago", "2026-11-29T10:59:59Z", "2026-11-28"),
            ("Asia/Kolkata", "2026-11-28T23:59:59+05:30", "2026-11-28"),
        ];
        for (name, at, expected) in cases {
            assert_eq!(local_day(ts(at), &tz(name)), day(expected), "{name} {at}");
        }
    }

    #[test]
    fn local_hour_starts() {
        let hour = |name: &str, at: &str| local_hour_start(ts(at), &tz(name));
        let secs = |at: &str| ts(at).as_second();
        assert_eq!(
            hour("UTC", "2026-11-28T10:45:00Z"),
            secs("2026-11-28T10:00:00Z")
        );
        assert_eq!(
            hour("UTC", "2026-11-28T10:00:00Z"),
            secs("2026-11-28T10:00:00Z")
        );
        assert_eq!(hour("UTC", "1969-12-31T23:59:59Z"), -3600);
        // +05:30 and +05:45: local hours start at :30 and :15 UTC.
        assert_eq!(
            hour("Asia/Kolkata", "2026-11-28T10:45:00Z"),
            secs("2026-11-28T10:30:00Z")
        );
        assert_eq!(
            hour("Asia/Kolkata", "2026-11-28T10:29:59Z"),
            secs("2026-11-28T09:30:00Z")
        );
        assert_eq!(
            hour("Asia/Kathmandu", "2026-11-28T10:00:00Z"),
            secs("2026-11-28T09:15:00Z")
        );
        for m in 0..24 * 60 {
            let at = Timestamp::from_second(secs("2026-11-28T00:00:00Z") + m * 60).unwrap();
            assert_eq!(
                local_hour_start(at, &tz("Asia/Kolkata")).rem_euclid(3600),
                1800
            );
        }
        // The repeated 02:00 hour of 2026-10-25 in Berlin is two buckets.
        let first = hour("Europe/Berlin", "2026-10-25T00:30:00Z"); // 02:30 CEST
        let second = hour("Europe/Berlin", "2026-10-25T01:30:00Z"); // 02:30 CET
        assert_eq!(first, secs("2026-10-25T00:00:00Z"));
        assert_eq!(second, secs("2026-10-25T01:00:00Z"));
        // Spring forward: 01:59 CET and 03:00 CEST are adjacent hours.
        assert_eq!(
            hour("Europe/Berlin", "2026-03-29T00:59:59Z"),
            secs("2026-03-29T00:00:00Z")
        );
        assert_eq!(
            hour("Europe/Berlin", "2026-03-29T01:00:00Z"),
            secs("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn timezones() {
        assert!(parse_timezone("Europe/Berlin").is_ok());
        assert!(parse_timezone("UTC").is_ok());
        assert!(parse_timezone("Asia/Kolkata").is_ok());
        for bad in [
            "",
            "Mars/Olympus",
            " UTC",
            "UTC ",
            "Europe/Berlin\n",
            "+05:30",
            "Z",
        ] {
            assert_eq!(
                parse_timezone(bad).err(),
                Some(TimeError::BadTimezone),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn timestamps() {
        let same = [
            ("2026-11-28T10:00:00Z", "2026-11-28T10:00:00Z"),
            ("2026-11-28T15:30:00+05:30", "2026-11-28T10:00:00Z"),
            ("2026-11-28T02:00:00-08:00", "2026-11-28T10:00:00Z"),
            ("2026-11-28t10:00:00z", "2026-11-28T10:00:00Z"),
            ("2026-11-28 10:00:00Z", "2026-11-28T10:00:00Z"),
            ("2026-11-28T10:00:00-00:00", "2026-11-28T10:00:00Z"),
            ("2026-11-28T10:00:00.5Z", "2026-11-28T10:00:00.5Z"),
            (
                "2026-11-28T10:00:00.123456789Z",
                "2026-11-28T10:00:00.123456789Z",
            ),
            (
                "2026-11-28T10:00:00.1234567Z",
                "2026-11-28T10:00:00.1234567Z",
            ),
            (
                "2026-11-28T10:00:00.123456789999+01:00",
                "2026-11-28T09:00:00.123456789Z",
            ),
            ("2026-11-28T10:00:00+23:59", "2026-11-27T10:01:00Z"),
        ];
        for (text, utc) in same {
            assert_eq!(parse_timestamp(text).unwrap().to_string(), utc, "{text}");
        }
        let bad = [
            "",
            "2026-11-28T10:00:00",
            "2026-11-28",
            "2026-11-28T10:00Z",
            "2026-11-28T10:00:00+0530",
            "2026-11-28T10:00:00+05",
            "2026-11-28T10:00:00Z[Europe/Berlin]",
            "2026-11-28T10:00:00+05:30[Asia/Kolkata]",
            "2026-11-28T10:00:00+24:00",
            "2026-11-28T10:00:00+05:60",
            "2026-02-30T10:00:00Z",
            "2026-11-28T25:00:00Z",
            "2026-11-28T10:00:00Z ",
            " 2026-11-28T10:00:00Z",
            "1764324000",
            "2026-11-28T10:00:00.Z",
            "2026-11-28T10:00:00,5Z",
            "2026-11-28_10:00:00Z",
            "+2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00UTC",
        ];
        for text in bad {
            assert_eq!(
                parse_timestamp(text),
                Err(TimeError::BadTimestamp),
                "{text:?}"
            );
        }
    }

    fn resolve(
        from: Option<&str>,
        to: Option<&str>,
        period: Option<&str>,
        today: &str,
    ) -> Result<(String, String), TimeError> {
        Period::resolve(from, to, period, day(today))
            .map(|p| (p.from.to_string(), p.to.to_string()))
    }
    fn range(from: &str, to: &str) -> Result<(String, String), TimeError> {
        Ok((from.to_string(), to.to_string()))
    }

    #[test]
    fn period_shortcuts() {
        let today = "2026-11-28";
        assert_eq!(
            resolve(None, None, None, today),
            range("2026-11-01", "2026-11-29")
        );
        assert_eq!(
            resolve(None, None, Some("this_month"), today),
            range("2026-11-01", "2026-11-29")
        );
        assert_eq!(
            resolve(None, None, Some("last_month"), today),
            range("2026-10-01", "2026-11-01")
        );
        assert_eq!(
            resolve(None, None, Some("last_7d"), today),
            range("2026-11-22", "2026-11-29")
        );
        assert_eq!(
            resolve(None, None, Some("last_30d"), today),
            range("2026-10-30", "2026-11-29")
        );
        assert_eq!(
            resolve(None, None, Some("last_90d"), today),
            range("2026-08-31", "2026-11-29")
        );
        for (period, days) in [("last_7d", 7), ("last_30d", 30), ("last_90d", 90)] {
            let p = Period::resolve(None, None, Some(period), day(today)).unwrap();
            assert_eq!(p.days(), days);
            assert!(p.contains(day(today)));
            assert_eq!(p.previous().days(), days);
            assert_eq!(p.previous().to, p.from);
        }
    }

    #[test]
    fn period_month_boundaries_and_leap_years() {
        // The first of a month: this_month is just today.
        assert_eq!(
            resolve(None, None, Some("this_month"), "2026-03-01"),
            range("2026-03-01", "2026-03-02")
        );
        assert_eq!(
            resolve(None, None, Some("last_month"), "2026-03-01"),
            range("2026-02-01", "2026-03-01")
        );
        assert_eq!(
            resolve(None, None, Some("last_month"), "2024-03-31"),
            range("2024-02-01", "2024-03-01")
        );
        assert_eq!(
            Period::resolve(None, None, Some("last_month"), day("2024-03-15"))
                .unwrap()
                .days(),
            29
        );
        assert_eq!(
            resolve(None, None, Some("last_month"), "2026-01-15"),
            range("2025-12-01", "2026-01-01")
        );
        assert_eq!(
            resolve(None, None, Some("this_month"), "2026-12-31"),
            range("2026-12-01", "2027-01-01")
        );
        assert_eq!(
            resolve(None, None, Some("last_7d"), "2024-03-02"),
            range("2024-02-25", "2024-03-03")
        );
        assert_eq!(
            resolve(None, None, Some("last_7d"), "2025-03-02"),
            range("2025-02-24", "2025-03-03")
        );
        assert_eq!(
            resolve(None, None, Some("last_7d"), "2027-01-03"),
            range("2026-12-28", "2027-01-04")
        );
        assert_eq!(
            resolve(None, None, Some("last_30d"), "2024-03-01"),
            range("2024-02-01", "2024-03-02")
        );
        assert_eq!(
            resolve(None, None, Some("last_90d"), "2024-03-31"),
            range("2024-01-02", "2024-04-01")
        );
    }

    #[test]
    fn period_from_to() {
        let today = "2026-11-28";
        assert_eq!(
            resolve(Some("2026-01-01"), Some("2026-02-01"), None, today),
            range("2026-01-01", "2026-02-01")
        );
        let p = Period::resolve(Some("2024-02-28"), Some("2024-03-01"), None, day(today)).unwrap();
        assert_eq!(p.days(), 2);
        assert_eq!(
            p.previous(),
            Period {
                from: day("2024-02-26"),
                to: day("2024-02-28")
            }
        );
        // Ranges may reach past today; the caller bounds them if it must.
        assert_eq!(
            resolve(Some("2026-11-01"), Some("2027-01-01"), None, today),
            range("2026-11-01", "2027-01-01")
        );
    }

    #[test]
    fn period_errors() {
        let today = "2026-11-28";
        let err = |f, t, p| resolve(f, t, p, today).unwrap_err();
        assert_eq!(
            err(Some("2026-01-01"), Some("2026-02-01"), Some("last_7d")),
            TimeError::PeriodAndRange
        );
        assert_eq!(
            err(Some("2026-01-01"), None, Some("last_7d")),
            TimeError::PeriodAndRange
        );
        assert_eq!(
            err(None, Some("2026-01-01"), Some("this_month")),
            TimeError::PeriodAndRange
        );
        assert_eq!(
            err(Some("junk"), None, Some("junk")),
            TimeError::PeriodAndRange
        );
        assert_eq!(err(Some("2026-01-01"), None, None), TimeError::HalfRange);
        assert_eq!(err(None, Some("2026-01-01"), None), TimeError::HalfRange);
        assert_eq!(
            err(Some("2026-01-01"), Some("2026-01-01"), None),
            TimeError::EmptyRange
        );
        assert_eq!(
            err(Some("2026-02-01"), Some("2026-01-01"), None),
            TimeError::EmptyRange
        );
        assert_eq!(
            err(Some("2026-13-01"), Some("2027-01-01"), None),
            TimeError::BadDate
        );
        assert_eq!(
            err(Some("2026-01-01"), Some("2026-01-01T00:00:00Z"), None),
            TimeError::BadDate
        );
        for bad in [
            "this_week",
            "",
            "THIS_MONTH",
            "last_7d ",
            "last_14d",
            "yesterday",
        ] {
            assert_eq!(err(None, None, Some(bad)), TimeError::BadPeriod, "{bad:?}");
        }
    }
}
