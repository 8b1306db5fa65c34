//! Property tests of every parser that takes outside input: events, money,
//! timestamps, timezones and periods. None may panic; every rejection is one
//! of the documented codes; what is accepted keeps its exact value.

use jiff::Timestamp;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use spendlens_domain::money::format_usd;
use spendlens_domain::time::{parse_timestamp, parse_timezone, Day, Period};
use spendlens_domain::{ErrorCode, Event, Nanos};

fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("1e400")),
        Just(json!(u64::MAX)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 16] = [
    "event_id",
    "occurred_at",
    "organization_id",
    "user_id",
    "user_email",
    "team_id",
    "department",
    "api_key_id",
    "api_key_provider",
    "conversation_id",
    "conversation_title",
    "model_name",
    "tokens_in",
    "tokens_out",
    "actual_api_cost",
    "total_cost",
];

/// A mostly valid event with some fields replaced by anything.
fn event_like() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), json_value(), 0..6).prop_map(
        |over| {
            let mut v: Map<String, Value> = json!({
            "event_id": "e-1", "occurred_at": "2026-11-20T15:00:00Z", "user_id": "alice",
            "conversation_id": "c-1", "model_name": "gpt-4o", "tokens_in": 1000, "tokens_out": 500,
        })
        .as_object()
        .unwrap()
        .clone();
            for (k, x) in over {
                v.insert(k.to_owned(), x);
            }
            Value::Object(v)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, .. ProptestConfig::default() })]

    #[test]
    fn any_json_is_an_event_or_a_documented_error(v in prop_oneof![json_value(), event_like()]) {
        match Event::parse(&v, now()) {
            Ok(e) => {
                prop_assert!(e.tokens_in <= 1_000_000_000 && e.tokens_out <= 1_000_000_000);
                prop_assert!(e.cached_tokens_in + e.cache_write_tokens_in <= e.tokens_in);
                prop_assert!(e.actual_api_cost.is_none_or(|c| c.0 >= 0));
                prop_assert!(e.occurred_at <= now() + jiff::SignedDuration::from_hours(24));
            }
            Err(err) => {
                prop_assert!(matches!(err.code, ErrorCode::MissingField | ErrorCode::InvalidField | ErrorCode::TimestampOutOfRange | ErrorCode::InvalidJson), "{err:?}");
                prop_assert!(!err.message.is_empty());
            }
        }
    }

    #[test]
    fn money_text_parses_exactly_or_is_refused(text in "-?[0-9]{0,12}(\\.[0-9]{0,12})?|.{0,20}") {
        if let Ok(n) = Nanos::parse_usd(&text, 1_000_000) {
            // What was accepted is exactly the decimal given: digits past the
            // ninth may only be zeros, and it prints back to the same value.
            let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
            let frac = frac.trim_end_matches('0');
            prop_assert!(frac.len() <= 9, "{text} accepted with {frac}");
            let printed = format_usd(i128::from(n.0));
            let (pw, pf) = printed.split_once('.').unwrap();
            prop_assert_eq!(pw.parse::<i128>().unwrap(), whole.trim_start_matches('-').parse::<i128>().unwrap_or(0));
            prop_assert_eq!(pf.trim_end_matches('0'), frac);
        }
    }

    #[test]
    fn timestamps_timezones_and_periods_never_panic(
        text in ".{0,40}",
        ts in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
        from in prop::option::of("[0-9]{4}-[0-9]{2}-[0-9]{2}|.{0,12}"),
        to in prop::option::of("[0-9]{4}-[0-9]{2}-[0-9]{2}|.{0,12}"),
        period in prop::option::of(prop_oneof![Just("this_month".to_owned()), Just("last_7d".to_owned()), Just("last_month".to_owned()), ".{0,10}".prop_map(|s| s)]),
        today in -100_000i32..100_000,
    ) {
        let _ = parse_timestamp(&text);
        let _ = parse_timestamp(&ts);
        let _ = parse_timezone(&text);
        if let Ok(p) = Period::resolve(from.as_deref(), to.as_deref(), period.as_deref(), Day(today)) {
            prop_assert!(p.from < p.to, "{p:?}");
        }
    }
}
