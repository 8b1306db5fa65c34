//! Money as integer nanodollars (10⁻⁹ USD). API.md §3.
//!
//! Parsing takes the decimal text exactly as the client wrote it (JSON numbers
//! arrive as text thanks to serde_json's `arbitrary_precision`), so `0.1` is
//! exactly 100,000,000 nanodollars and more than 9 fractional digits is an
//! error, never a rounding. Sums are `i128`.
//!
//! Accepted text: an optional leading `-`, digits, optionally `.` and digits,
//! optionally an exponent (`e`/`E`, optional sign, digits). That is JSON's
//! number grammar, relaxed only to allow leading zeros (`007.50`, as
//! spreadsheets export). Rejected: `+1`, `.5`, `1.`, `1e`, surrounding
//! whitespace, `NaN`, `Infinity`, `0x10`, `1_000`, `1,000`, the empty string.
//! Precision is judged on the value, not the spelling: `1.5000000000` (a zero
//! past the 9th digit) is accepted since nothing is rounded; `1e-10` is not.

use serde::{Serialize, Serializer};
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
    ///
    /// Checks run in the order syntax, sign, precision, size, so `-1e-12` is
    /// `Negative` and `1e400` is `TooLarge` (never an overflow). `-0` is zero.
    pub fn parse_usd(text: &str, max_usd: i64) -> Result<Nanos, MoneyError> {
        let max = (i128::from(max_usd) * i128::from(NANOS_PER_USD)).min(i128::from(i64::MAX));
        let n = parse_nanos(text, max, max_label(max_usd))?;
        // parse_nanos returns at most `max`, which fits in i64.
        i64::try_from(n)
            .map(Nanos)
            .map_err(|_| MoneyError::TooLarge(max_label(max_usd)))
    }

    /// Parse from a JSON value that is a number or a string holding a decimal.
    pub fn from_json(v: &serde_json::Value, max_usd: i64) -> Result<Nanos, MoneyError> {
        match v {
            serde_json::Value::Number(n) => Nanos::parse_usd(&n.to_string(), max_usd),
            serde_json::Value::String(s) => Nanos::parse_usd(s.trim(), max_usd),
            _ => Err(MoneyError::NotDecimal),
        }
    }

    /// The API's money text: USD with exactly 9 fractional digits.
    pub fn to_usd_string(self) -> String {
        format_usd(i128::from(self.0))
    }
}

impl std::fmt::Display for Nanos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_usd_string())
    }
}

/// Money goes over the wire as a decimal string (API.md §3), never a float.
impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_usd_string())
    }
}

/// `TooLarge` carries a `&'static str`, so only well-known limits get a number.
fn max_label(max_usd: i64) -> &'static str {
    match max_usd {
        1 => "1",
        10 => "10",
        100 => "100",
        1_000 => "1000",
        10_000 => "10000",
        100_000 => "100000",
        1_000_000 => "1000000",
        10_000_000 => "10000000",
        1_000_000_000 => "1000000000",
        _ => "the allowed amount",
    }
}

/// The exact value of `text` × 10⁹, if it is an integer no larger than `max`.
fn parse_nanos(text: &str, max: i128, label: &'static str) -> Result<i128, MoneyError> {
    let b = text.as_bytes();
    let (negative, mut i) = if b.first() == Some(&b'-') {
        (true, 1)
    } else {
        (false, 0)
    };
    let digits_from = |i: usize| i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();

    let int_end = digits_from(i);
    if int_end == i {
        return Err(MoneyError::NotDecimal);
    }
    let int_digits = &b[i..int_end];
    i = int_end;
    let mut frac_digits: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        let end = digits_from(i + 1);
        if end == i + 1 {
            return Err(MoneyError::NotDecimal);
        }
        frac_digits = &b[i + 1..end];
        i = end;
    }
    let mut exp: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_negative = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let end = digits_from(i);
        if end == i {
            return Err(MoneyError::NotDecimal);
        }
        // Saturate: an exponent this large is out of range either way.
        for &c in &b[i..end] {
            exp = exp.saturating_mul(10).saturating_add(i64::from(c - b'0'));
        }
        if exp_negative {
            exp = -exp;
        }
        i = end;
    }
    if i != b.len() {
        return Err(MoneyError::NotDecimal);
    }

    // value = significant digits × 10^scale, with no leading or trailing zeros,
    // so precision and size follow from lengths alone, before any arithmetic.
    let all = || int_digits.iter().chain(frac_digits.iter()).copied();
    let total = int_digits.len() + frac_digits.len();
    let leading = all().take_while(|&c| c == b'0').count();
    if leading == total {
        return if max < 0 {
            Err(MoneyError::TooLarge(label))
        } else {
            Ok(0)
        };
    }
    if negative {
        return Err(MoneyError::Negative);
    }
    let trailing = all().rev().take_while(|&c| c == b'0').count();
    let sig_len = total - leading - trailing;
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let scale = exp
        .saturating_sub(as_i64(frac_digits.len()))
        .saturating_add(as_i64(trailing))
        .saturating_add(9);
    if scale < 0 {
        return Err(MoneyError::TooPrecise);
    }
    // 10^19 exceeds i64::MAX and hence any `max`.
    if as_i64(sig_len).saturating_add(scale) > 19 {
        return Err(MoneyError::TooLarge(label));
    }
    let mut value: i128 = 0;
    for c in all().skip(leading).take(sig_len) {
        value = value * 10 + i128::from(c - b'0');
    }
    for _ in 0..scale {
        value *= 10;
    }
    if value > max {
        return Err(MoneyError::TooLarge(label));
    }
    Ok(value)
}

/// Format an amount (or a sum) as USD with exactly 9 fractional digits:
/// `2500000000000` → `"2500.000000000"`, `-1` → `"-0.000000001"`.
pub fn format_usd(nanos: i128) -> String {
    let mut out = String::with_capacity(24);
    push_usd(&mut out, nanos);
    out
}

/// `format_usd` appended to `out`: a download writes two amounts per row,
/// millions of rows, and `format!` with 128-bit division was a tenth of its
/// time.
pub fn push_usd(out: &mut String, nanos: i128) {
    if nanos < 0 {
        out.push('-');
    }
    let abs = nanos.unsigned_abs();
    let (whole, frac) = match u64::try_from(abs) {
        Ok(a) => (
            u128::from(a / NANOS_PER_USD as u64),
            a % NANOS_PER_USD as u64,
        ),
        Err(_) => (
            abs / NANOS_PER_USD as u128,
            (abs % NANOS_PER_USD as u128) as u64,
        ),
    };
    let mut digits = [0u8; 39];
    let mut at = digits.len();
    let mut rest = whole;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut fraction = [b'0'; 10];
    fraction[0] = b'.';
    let mut rest = frac;
    for d in fraction[1..].iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // Only ASCII digits and a point were written.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
    out.push_str(std::str::from_utf8(&fraction).unwrap_or_default());
}

/// Read back a sum written by `format_usd` (sums may exceed an event's
/// bounds and be negative, as a profit can), exactly.
pub fn parse_usd_sum(text: &str) -> Result<i128, MoneyError> {
    let (negative, abs) = match text.strip_prefix('-') {
        Some(abs) => (true, abs),
        None => (false, text),
    };
    let (int, frac) = abs.split_once('.').ok_or(MoneyError::NotDecimal)?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || frac.len() != 9 || !digits(frac) {
        return Err(MoneyError::NotDecimal);
    }
    // Up to 27 integer digits fit in an i128 once multiplied by 10⁹.
    if int.len() > 27 {
        return Err(MoneyError::TooLarge("the largest sum"));
    }
    let n = int.parse::<i128>().map_err(|_| MoneyError::NotDecimal)? * i128::from(NANOS_PER_USD)
        + frac.parse::<i128>().map_err(|_| MoneyError::NotDecimal)?;
    Ok(if negative { -n } else { n })
}

/// Money for people (pages round; API.md §3): dollars with thousands
/// separators and cents, `2500000000000` → `"$2,500.00"`. Amounts under a
/// dollar keep four decimals (`"$0.0042"`), so small spend never reads as
/// zero. Rounded from the exact integer, halves away from zero.
pub fn display_usd(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let per = NANOS_PER_USD as u128;
    // Four decimals only while they still round to under a dollar.
    let (digits, step) = if abs + 50_000 < per {
        (4, 100_000)
    } else {
        (2, 10_000_000)
    };
    let units = (abs + step / 2) / step;
    let scale = per / step;
    format!(
        "{sign}${}.{:0digits$}",
        thousands(units / scale),
        units % scale
    )
}

/// Money on a chart axis: cents below $100 (`$0.50`, `$12.00`), whole
/// dollars below $1,000 (`$950`), then one decimal (`$1.5K`, `$2.3M`).
pub fn display_usd_compact(nanos: i128) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let cents = (nanos.unsigned_abs() + 5_000_000) / 10_000_000;
    let text = match cents {
        c if c < 10_000 => format!("{}.{:02}", c / 100, c % 100),
        c if c < 100_000 => thousands(c / 100 + u128::from(c % 100 >= 50)),
        c if c < 100_000_000 => tenths(c, 100_000, "K"),
        c if c < 100_000_000_000 => tenths(c, 100_000_000, "M"),
        c => tenths(c, 100_000_000_000, "B"),
    };
    format!("{sign}${text}")
}

/// `cents / unit` with one decimal, halves up, without a trailing `.0`.
fn tenths(cents: u128, unit: u128, suffix: &str) -> String {
    let t = (cents * 10 + unit / 2) / unit;
    if t.is_multiple_of(10) {
        format!("{}{suffix}", t / 10)
    } else {
        format!("{}.{}{suffix}", t / 10, t % 10)
    }
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `num / den` rounded to the nearest integer, halves away from zero.
/// `None` when `den == 0` (API.md §3: any division by zero is null), and for
/// the one quotient that does not fit, `i128::MIN / -1`.
pub fn div_round(num: i128, den: i128) -> Option<i128> {
    let q = num.checked_div(den)?;
    let r = num % den;
    // |r| ≥ |den| − |r| is 2|r| ≥ |den| without overflowing.
    if r.unsigned_abs() >= den.unsigned_abs() - r.unsigned_abs() {
        let away = if (num < 0) == (den < 0) { 1 } else { -1 };
        q.checked_add(away)
    } else {
        Some(q)
    }
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
    pub const MAX: i64 = 1000;

    /// Parse a decimal factor such as `"1.25"` (0 ≤ markup ≤ 1000). Same
    /// grammar and errors as [`Nanos::parse_usd`].
    pub fn parse(text: &str) -> Result<Markup, MoneyError> {
        Nanos::parse_usd(text, Markup::MAX).map(|n| Markup(n.0))
    }
    /// actual × markup, rounded to the nanodollar, halves away from zero.
    /// Saturates at the `i64` range, far beyond any valid event cost.
    pub fn apply(self, actual: Nanos) -> Nanos {
        let product = i128::from(actual.0) * i128::from(self.0);
        let n = div_round(product, i128::from(NANOS_PER_USD)).unwrap_or(0);
        Nanos(n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
    /// The factor as a decimal string with no trailing zeros beyond one decimal (`"1.25"`, `"1.0"`).
    pub fn to_decimal_string(self) -> String {
        let full = format_usd(i128::from(self.0));
        let trimmed = full.trim_end_matches('0');
        if trimmed.ends_with('.') {
            format!("{trimmed}0")
        } else {
            trimmed.to_string()
        }
    }
}

impl std::fmt::Display for Markup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_decimal_string())
    }
}

impl std::str::FromStr for Markup {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Markup, MoneyError> {
        Markup::parse(s)
    }
}

/// A decimal string, like money, so the factor stays exact.
impl Serialize for Markup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_decimal_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_rounds_to_cents_with_separators() {
        assert_eq!(display_usd(2_500_000_000_000), "$2,500.00");
        assert_eq!(display_usd(1_234_567_890_123_456), "$1,234,567.89");
        assert_eq!(display_usd(1_005_000_000), "$1.01");
        assert_eq!(display_usd(1_004_999_999), "$1.00");
        assert_eq!(display_usd(999_940_000), "$0.9999");
        assert_eq!(display_usd(999_950_000), "$1.00");
        assert_eq!(display_usd(4_200_000), "$0.0042");
        assert_eq!(display_usd(1), "$0.0000");
        assert_eq!(display_usd(0), "$0.0000");
        assert_eq!(display_usd(-1_500_000_000), "-$1.50");
    }

    #[test]
    fn sums_read_back_exactly() {
        for n in [0, 1, -1, 2_500_000_000_000, i128::from(i64::MAX) * 1000] {
            assert_eq!(parse_usd_sum(&format_usd(n)), Ok(n));
        }
        assert_eq!(parse_usd_sum("x"), Err(MoneyError::NotDecimal));
    }

    #[test]
    fn compact_axis_labels() {
        assert_eq!(display_usd_compact(0), "$0.00");
        assert_eq!(display_usd_compact(500_000_000), "$0.50");
        assert_eq!(display_usd_compact(1_500_000_000), "$1.50");
        assert_eq!(display_usd_compact(12_000_000_000), "$12.00");
        assert_eq!(display_usd_compact(950_000_000_000), "$950");
        assert_eq!(display_usd_compact(1_500_000_000_000), "$1.5K");
        assert_eq!(display_usd_compact(2_000_000_000_000), "$2K");
        assert_eq!(display_usd_compact(2_340_000_000_000_000), "$2.3M");
        assert_eq!(display_usd_compact(-3_000_000_000_000), "-$3K");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    const MAX: i64 = 1_000_000;

    fn parse(s: &str) -> Result<i64, MoneyError> {
        Nanos::parse_usd(s, MAX).map(|n| n.0)
    }

    #[test]
    fn parses_exact_decimals() {
        let cases: &[(&str, i64)] = &[
            ("12", 12_000_000_000),
            ("0", 0),
            ("-0", 0),
            ("-0.000", 0),
            ("0.1", 100_000_000),
            ("0.000000001", 1),
            ("123.456789012", 123_456_789_012),
            ("1e-3", 1_000_000),
            ("1E-9", 1),
            ("10e-10", 1),
            ("1.5E2", 150_000_000_000),
            ("1e+2", 100_000_000_000),
            ("0.0025e3", 2_500_000_000),
            ("007.50", 7_500_000_000),
            ("1000000", 1_000_000_000_000_000),
            ("1e6", 1_000_000_000_000_000),
            ("1000000.000000000", 1_000_000_000_000_000),
            // Zeros past the 9th digit round nothing away.
            ("0.1000000000", 100_000_000),
            ("2.50000000000000000000", 2_500_000_000),
            ("0e999999999999999999999", 0),
            ("0.0000000000000", 0),
        ];
        for &(text, nanos) in cases {
            assert_eq!(parse(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn rejects_bad_syntax() {
        let bad = [
            "",
            " ",
            " 1",
            "1 ",
            "\t1",
            "+1",
            "1.",
            ".5",
            "-.5",
            "-",
            "--1",
            "-+1",
            "1e",
            "1e+",
            "1e-",
            "e5",
            "1.e5",
            "NaN",
            "nan",
            "Infinity",
            "-Infinity",
            "inf",
            "0x10",
            "1_000",
            "1,000",
            "1,5",
            "1.2.3",
            "1e5.5",
            "1e5e5",
            "abc",
            "12abc",
            "$12",
            "12$",
            "١٢",
            "１２",
            "1\u{0}",
        ];
        for text in bad {
            assert_eq!(parse(text), Err(MoneyError::NotDecimal), "{text:?}");
        }
    }

    #[test]
    fn rejects_more_than_nine_fractional_digits() {
        for text in [
            "0.0000000001",
            "1.1234567891",
            "1e-10",
            "123e-12",
            "1.5e-9",
            "0.00000000050",
        ] {
            assert_eq!(parse(text), Err(MoneyError::TooPrecise), "{text}");
        }
        let huge_negative_exponent = "1e-99999999999999999999999999";
        assert_eq!(parse(huge_negative_exponent), Err(MoneyError::TooPrecise));
    }

    #[test]
    fn rejects_negative_amounts_before_other_checks() {
        for text in ["-1", "-0.000000001", "-1e-12", "-1e400"] {
            assert_eq!(parse(text), Err(MoneyError::Negative), "{text}");
        }
    }

    #[test]
    fn rejects_too_large_without_overflow() {
        let many_nines = "9".repeat(500);
        let long_fraction = format!("1{}.5", "0".repeat(500));
        let tiny_but_scaled = format!("0.{}1e600", "0".repeat(500));
        let cases = [
            "1000000.000000001",
            "1000001",
            "1e7",
            "1e400",
            "1e99999999999999999999999999",
            "99999999999999999999",
            many_nines.as_str(),
            long_fraction.as_str(),
            tiny_but_scaled.as_str(),
        ];
        for text in cases {
            assert_eq!(
                parse(text),
                Err(MoneyError::TooLarge("1000000")),
                "{text:.40}"
            );
        }
    }

    #[test]
    fn bounds_at_the_i64_limit() {
        assert_eq!(
            Nanos::parse_usd("9223372036.854775807", i64::MAX),
            Ok(Nanos(i64::MAX))
        );
        assert!(matches!(
            Nanos::parse_usd("9223372036.854775808", i64::MAX),
            Err(MoneyError::TooLarge(_))
        ));
        assert_eq!(Nanos::parse_usd("0", 0), Ok(Nanos(0)));
        assert!(matches!(
            Nanos::parse_usd("0.000000001", 0),
            Err(MoneyError::TooLarge(_))
        ));
        assert!(matches!(
            Nanos::parse_usd("0", -1),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn from_json_numbers_and_strings() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(Nanos::from_json(&v("0.1"), MAX), Ok(Nanos(100_000_000)));
        assert_eq!(Nanos::from_json(&v("1e-3"), MAX), Ok(Nanos(1_000_000)));
        assert_eq!(
            Nanos::from_json(&v("12.50"), MAX),
            Ok(Nanos(12_500_000_000))
        );
        assert_eq!(
            Nanos::from_json(&v("\" 1.5 \""), MAX),
            Ok(Nanos(1_500_000_000))
        );
        // arbitrary_precision keeps the digits a float would lose.
        assert_eq!(
            Nanos::from_json(&v("0.123456789"), MAX),
            Ok(Nanos(123_456_789))
        );
        assert_eq!(
            Nanos::from_json(&v("0.1234567891"), MAX),
            Err(MoneyError::TooPrecise)
        );
        assert_eq!(
            Nanos::from_json(&v("1e400"), MAX),
            Err(MoneyError::TooLarge("1000000"))
        );
        for other in ["true", "null", "[]", "{}"] {
            assert_eq!(
                Nanos::from_json(&v(other), MAX),
                Err(MoneyError::NotDecimal)
            );
        }
    }

    #[test]
    fn a_million_nanodollars_sum_exactly() {
        let one = Nanos::parse_usd("0.000000001", MAX).unwrap();
        let sum: i128 = (0..1_000_000).map(|_| i128::from(one.0)).sum();
        assert_eq!(format_usd(sum), "0.001000000");
    }

    #[test]
    fn formats_nine_digits() {
        assert_eq!(format_usd(0), "0.000000000");
        assert_eq!(format_usd(1), "0.000000001");
        assert_eq!(format_usd(-1), "-0.000000001");
        assert_eq!(format_usd(2_500_000_000_000), "2500.000000000");
        assert_eq!(format_usd(-1_000_000_005), "-1.000000005");
        assert_eq!(format_usd(123_456_789_012), "123.456789012");
        assert_eq!(
            format_usd(i128::MIN),
            "-170141183460469231731687303715.884105728"
        );
        assert_eq!(
            format_usd(i128::MAX),
            "170141183460469231731687303715.884105727"
        );
        // Either side of the 64-bit fast path, against plain 128-bit division.
        let max64 = i128::from(u64::MAX);
        for n in [
            max64,
            max64 + 1,
            -max64,
            -max64 - 1,
            i128::from(i64::MIN),
            999_999_999,
        ] {
            let abs = n.unsigned_abs();
            let sign = if n < 0 { "-" } else { "" };
            let expected = format!("{sign}{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000);
            assert_eq!(format_usd(n), expected);
        }
        assert_eq!(Nanos(1_500_000_000).to_string(), "1.500000000");
        assert_eq!(serde_json::to_string(&Nanos(1)).unwrap(), "\"0.000000001\"");
    }

    /// A small deterministic generator, so the round trips cover every digit
    /// position without a dependency.
    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *seed >> 11
    }

    #[test]
    fn parse_format_round_trip() {
        let max_nanos = MAX * NANOS_PER_USD;
        let mut seed = 42;
        let mut values: Vec<i64> = (0..19).map(|p| 10i64.pow(p).min(max_nanos)).collect();
        values.extend([0, 1, 9, 999_999_999, max_nanos - 1, max_nanos]);
        values.extend((0..20_000).map(|i| {
            let digits = i % 16 + 1; // spread over magnitudes
            (lcg(&mut seed) as i64)
                .rem_euclid(10i64.pow(digits))
                .min(max_nanos)
        }));
        for n in values {
            let text = format_usd(i128::from(n));
            assert_eq!(parse(&text), Ok(n), "{text}");
            // The same value written with an exponent parses the same.
            let exp = format!("{n}e-9");
            assert_eq!(parse(&exp), Ok(n), "{exp}");
        }
    }

    fn reference_div_round(num: i128, den: i128) -> i128 {
        let sign = if (num < 0) == (den < 0) { 1 } else { -1 };
        sign * ((2 * num.abs() + den.abs()) / (2 * den.abs()))
    }

    #[test]
    fn div_round_halves_away_from_zero() {
        assert_eq!(div_round(5, 2), Some(3));
        assert_eq!(div_round(-5, 2), Some(-3));
        assert_eq!(div_round(5, -2), Some(-3));
        assert_eq!(div_round(-5, -2), Some(3));
        assert_eq!(div_round(4, 3), Some(1));
        assert_eq!(div_round(5, 3), Some(2));
        assert_eq!(div_round(-4, 3), Some(-1));
        assert_eq!(div_round(-5, 3), Some(-2));
        assert_eq!(div_round(0, 7), Some(0));
        assert_eq!(div_round(1, 0), None);
        assert_eq!(div_round(0, 0), None);
        for num in -60..=60 {
            for den in (-12..=12).filter(|&d| d != 0) {
                assert_eq!(
                    div_round(num, den),
                    Some(reference_div_round(num, den)),
                    "{num}/{den}"
                );
            }
        }
    }

    #[test]
    fn div_round_extremes() {
        assert_eq!(div_round(i128::MIN, -1), None);
        assert_eq!(div_round(i128::MIN, 1), Some(i128::MIN));
        assert_eq!(div_round(i128::MAX, i128::MAX), Some(1));
        assert_eq!(div_round(i128::MAX, i128::MIN), Some(-1));
        assert_eq!(div_round(i128::MAX, 2), Some(i128::MAX / 2 + 1));
        assert_eq!(div_round(i128::MIN, 2), Some(i128::MIN / 2));
        assert_eq!(div_round(i128::MIN + 1, 2), Some(i128::MIN / 2));
        assert_eq!(div_round(1, i128::MAX), Some(0));
        assert_eq!(div_round(i128::MAX / 2 + 1, i128::MAX), Some(1));
    }

    #[test]
    fn markup_parse() {
        assert_eq!(Markup::parse("1.25"), Ok(Markup(1_250_000_000)));
        assert_eq!(Markup::parse("1"), Ok(Markup::default()));
        assert_eq!(Markup::parse("0"), Ok(Markup(0)));
        assert_eq!(Markup::parse("1000"), Ok(Markup(1_000_000_000_000)));
        assert_eq!("2.5".parse::<Markup>(), Ok(Markup(2_500_000_000)));
        assert_eq!(
            Markup::parse("1000.000000001"),
            Err(MoneyError::TooLarge("1000"))
        );
        assert_eq!(Markup::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Markup::parse("1.0000000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Markup::parse("1,25"), Err(MoneyError::NotDecimal));
    }

    #[test]
    fn markup_apply_rounds_half_away_from_zero() {
        let m = |s: &str| Markup::parse(s).unwrap();
        assert_eq!(
            Markup::default().apply(Nanos(123_456_789)),
            Nanos(123_456_789)
        );
        assert_eq!(m("1.25").apply(Nanos(3)), Nanos(4)); // 3.75
        assert_eq!(m("1.25").apply(Nanos(2)), Nanos(3)); // 2.5
        assert_eq!(m("1.25").apply(Nanos(1)), Nanos(1)); // 1.25
        assert_eq!(m("1.5").apply(Nanos(-1)), Nanos(-2)); // -1.5
        assert_eq!(m("0").apply(Nanos(1_000)), Nanos(0));
        assert_eq!(
            m("1.000000001").apply(Nanos(500_000_000)),
            Nanos(500_000_001)
        ); // +0.5
        assert_eq!(
            m("1.2").apply(Nanos(2_500_000_000_000)),
            Nanos(3_000_000_000_000)
        );
        // The largest valid cost times the largest markup still fits.
        assert_eq!(
            m("1000").apply(Nanos(MAX * NANOS_PER_USD)),
            Nanos(1_000_000_000_000_000_000)
        );
        assert_eq!(Markup(i64::MAX).apply(Nanos(i64::MAX)), Nanos(i64::MAX));
    }

    #[test]
    fn markup_decimal_string() {
        let cases = [
            (1_250_000_000, "1.25"),
            (1_000_000_000, "1.0"),
            (0, "0.0"),
            (500_000_000, "0.5"),
            (1_000_000_001, "1.000000001"),
            (1_000_000_000_000, "1000.0"),
            (1_100_000_000, "1.1"),
        ];
        for (ppb, text) in cases {
            assert_eq!(Markup(ppb).to_decimal_string(), text);
            assert_eq!(Markup::parse(text), Ok(Markup(ppb)));
        }
        assert_eq!(
            serde_json::to_string(&Markup(1_250_000_000)).unwrap(),
            "\"1.25\""
        );
        assert_eq!(Markup(2_000_000_000).to_string(), "2.0");
    }
}
