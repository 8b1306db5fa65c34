//! Figures for people: money rounded from the API's exact strings by the
//! domain's money module, counts with separators, ratios as percentages,
//! instants in the organisation's timezone.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use maud::{html, Markup};
use serde_json::Value;
use spendlens_domain::money::{display_usd, parse_usd_sum, thousands};

/// Exact nanodollars from an API money string.
pub fn nanos(v: &Value) -> Option<i128> {
    v.as_str().and_then(|t| parse_usd_sum(t).ok())
}

/// An API money value for display; null (withheld or undefined) is a dash.
pub fn money(v: &Value) -> String {
    nanos(v).map(display_usd).unwrap_or_else(|| "—".into())
}

pub fn count(v: &Value) -> String {
    v.as_u64()
        .map(|n| thousands(n.into()))
        .unwrap_or_else(|| "—".into())
}

/// `125000` → `125K`, as the mock-up shows tokens.
pub fn compact(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return "—".into();
    };
    let one = |unit: u64, suffix: &str| {
        let tenths = (n * 10 + unit / 2) / unit;
        if tenths.is_multiple_of(10) || tenths >= 1000 {
            format!("{}{suffix}", thousands(u128::from(tenths / 10)))
        } else {
            format!("{}.{}{suffix}", tenths / 10, tenths % 10)
        }
    };
    match n {
        0..=9_999 => thousands(n.into()),
        10_000..=999_999 => one(1_000, "K"),
        1_000_000..=999_999_999 => one(1_000_000, "M"),
        _ => one(1_000_000_000, "B"),
    }
}

/// A fraction of 1 (`share`, `margin`) as a percentage.
pub fn fraction(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if (f * 100.0).abs() < 10.0 => format!("{:.1}%", f * 100.0),
        Some(f) => format!("{:.0}%", f * 100.0),
        None => "—".into(),
    }
}

/// A `change_pct` against the previous period, with its direction.
pub fn change(v: &Value) -> Markup {
    tone(v, false)
}

/// The change of a cost: spending more is marked red, less green.
pub fn cost_change(v: &Value) -> Markup {
    tone(v, true)
}

fn tone(v: &Value, costly: bool) -> Markup {
    match v.as_f64() {
        None => {
            html! { span.change.flat title="no previous figure to compare with" { "— vs previous" } }
        }
        Some(p) if p.abs() < 0.05 => html! { span.change.flat { "0% vs previous" } },
        Some(p) => {
            let arrow = if p > 0.0 { "▲" } else { "▼" };
            let class = match (costly, p > 0.0) {
                (false, _) => "flat",
                (true, true) => "up",
                (true, false) => "down",
            };
            html! { span.change.(class) title=(format!("{p:+.4}% against the previous period")) { (arrow) " " (format!("{:.1}%", p.abs())) " vs previous" } }
        }
    }
}

/// `percent_vs_avg` (API.md §3) in words: 170 → "170% above average".
pub fn versus_average(v: &Value) -> String {
    match v.as_f64() {
        None => "No organisation average to compare with".into(),
        Some(p) if p.abs() < 0.5 => "At the organisation average".into(),
        Some(p) if p > 0.0 => format!("{p:.0}% above average"),
        Some(p) => format!("{:.0}% below average", -p),
    }
}

pub fn instant(v: &Value) -> Option<Timestamp> {
    v.as_str()?.parse().ok()
}

/// An instant as a local date and time in the organisation's timezone.
pub fn local(v: &Value, tz: &TimeZone) -> String {
    instant(v)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "—".into())
}

/// How long ago, as people say it: "just now", "5m ago", "2h ago", "3d ago".
pub fn ago(then: Timestamp, now: Timestamp) -> String {
    let s = now.as_second() - then.as_second();
    match s {
        i64::MIN..=59 => "just now".into(),
        60..=3_599 => format!("{}m ago", s / 60),
        3_600..=86_399 => format!("{}h ago", s / 3_600),
        86_400..=5_183_999 => format!("{}d ago", s / 86_400),
        _ => format!("{}mo ago", s / 2_592_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_is_rounded_from_the_exact_string() {
        assert_eq!(money(&json!("2500.000000000")), "$2,500.00");
        assert_eq!(money(&json!("0.004200000")), "$0.0042");
        assert_eq!(money(&Value::Null), "—");
    }

    #[test]
    fn counts_ratios_and_words() {
        assert_eq!(compact(&json!(125_000)), "125K");
        assert_eq!(compact(&json!(1_250_000)), "1.3M");
        assert_eq!(compact(&json!(9_999)), "9,999");
        assert_eq!(fraction(&json!(0.6)), "60%");
        assert_eq!(fraction(&json!(0.08)), "8.0%");
        assert_eq!(versus_average(&json!(170.0)), "170% above average");
        assert_eq!(versus_average(&json!(-25.0)), "25% below average");
    }

    #[test]
    fn relative_times() {
        let now: Timestamp = "2026-11-20T15:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(ago(at("2026-11-20T13:00:00Z"), now), "2h ago");
        assert_eq!(ago(at("2026-11-20T14:59:30Z"), now), "just now");
        assert_eq!(ago(at("2026-11-19T14:00:00Z"), now), "1d ago");
    }

    #[test]
    fn local_times_use_the_timezone() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(
            local(&json!("2026-11-20T15:00:00Z"), &tz),
            "2026-11-20 20:30"
        );
    }
}
