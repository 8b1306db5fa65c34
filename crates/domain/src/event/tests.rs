//! Unit tests of event validation, rule by rule against API.md §2: every
//! error names its code and field, every good case keeps exactly what was
//! sent, and the canonical hash depends on the payload and nothing else.

use super::*;
use serde_json::json;

/// The fixed "now" of these tests.
fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// A JSON value exactly as a client would spell it (numbers keep their text
/// thanks to `arbitrary_precision`, which `json!(0.5)` would not guarantee).
fn raw(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The smallest valid event: the seven required fields.
fn base() -> Value {
    json!({
        "event_id": "e-1",
        "occurred_at": "2026-11-20T15:00:00Z",
        "user_id": "alice",
        "conversation_id": "c-1",
        "model_name": "gpt-4o",
        "tokens_in": 1000,
        "tokens_out": 500,
    })
}

/// `base()` with fields replaced, or removed where the override is `"<drop>"`.
fn with(over: Value) -> Value {
    let mut v = base();
    let obj = v.as_object_mut().unwrap();
    for (k, x) in over.as_object().unwrap() {
        if x == "<drop>" {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), x.clone());
        }
    }
    v
}

/// `base()` with one field set to `value`.
fn with1(field: &str, value: Value) -> Value {
    let mut v = base();
    v.as_object_mut().unwrap().insert(field.to_owned(), value);
    v
}

fn parse(v: &Value) -> Result<Event, EventError> {
    Event::parse(v, now())
}

fn ok(v: &Value) -> Event {
    parse(v).unwrap_or_else(|e| panic!("should be accepted: {v}: {e:?}"))
}

/// The code and field of the rejection of `v`; also checks that the message
/// is there and names the field.
fn rejected(v: &Value) -> (ErrorCode, Option<&'static str>) {
    let e = parse(v).expect_err(&format!("should be refused: {v}"));
    if let Some(f) = e.field {
        assert!(e.message.contains(f), "message {:?} names {f}", e.message);
    } else {
        assert!(!e.message.is_empty());
    }
    (e.code, e.field)
}

fn invalid(field: &'static str) -> (ErrorCode, Option<&'static str>) {
    (ErrorCode::InvalidField, Some(field))
}

const REQUIRED: [&str; 7] = [
    "event_id",
    "occurred_at",
    "user_id",
    "conversation_id",
    "model_name",
    "tokens_in",
    "tokens_out",
];

/// Every string field, its maximum length in characters, and whether it is
/// an id (non-blank, not `_none`) or free text.
const TEXT_FIELDS: [(&str, usize, bool); 11] = [
    ("event_id", 128, true),
    ("organization_id", 128, true),
    ("user_id", 128, true),
    ("user_email", 320, false),
    ("team_id", 128, true),
    ("department", 128, true),
    ("api_key_id", 128, true),
    ("api_key_provider", 64, true),
    ("conversation_id", 128, true),
    ("conversation_title", 500, false),
    ("model_name", 200, true),
];

const OPTIONAL_TEXT: [&str; 7] = [
    "organization_id",
    "user_email",
    "team_id",
    "department",
    "api_key_id",
    "api_key_provider",
    "conversation_title",
];

const TOKEN_FIELDS: [&str; 4] = [
    "tokens_in",
    "tokens_out",
    "cached_tokens_in",
    "cache_write_tokens_in",
];

/// The string value of an optional text field of `e`, by name.
fn optional_text(e: &Event, field: &str) -> Option<String> {
    match field {
        "organization_id" => e.organization_id.clone(),
        "user_email" => e.user_email.clone(),
        "team_id" => e.team_id.clone(),
        "department" => e.department.clone(),
        "api_key_id" => e.api_key_id.clone(),
        "api_key_provider" => e.api_key_provider.clone(),
        "conversation_title" => e.conversation_title.clone(),
        other => panic!("not an optional text field: {other}"),
    }
}

/// The value of any string field of `e`, by name.
fn text(e: &Event, field: &str) -> Option<String> {
    match field {
        "event_id" => Some(e.event_id.clone()),
        "user_id" => Some(e.user_id.clone()),
        "conversation_id" => Some(e.conversation_id.clone()),
        "model_name" => Some(e.model_name.clone()),
        other => optional_text(e, other),
    }
}

fn token(e: &Event, field: &str) -> u64 {
    match field {
        "tokens_in" => e.tokens_in,
        "tokens_out" => e.tokens_out,
        "cached_tokens_in" => e.cached_tokens_in,
        "cache_write_tokens_in" => e.cache_write_tokens_in,
        other => panic!("not a token field: {other}"),
    }
}

// ---------------------------------------------------------------- good cases

#[test]
fn a_minimal_event_parses_with_every_default() {
    let e = ok(&base());
    assert_eq!(
        e,
        Event {
            event_id: "e-1".into(),
            occurred_at: ts("2026-11-20T15:00:00Z"),
            organization_id: None,
            user_id: "alice".into(),
            user_email: None,
            team_id: None,
            department: None,
            api_key_id: None,
            api_key_provider: None,
            conversation_id: "c-1".into(),
            conversation_title: None,
            model_name: "gpt-4o".into(),
            tokens_in: 1000,
            tokens_out: 500,
            cached_tokens_in: 0,
            cache_write_tokens_in: 0,
            actual_api_cost: None,
            total_cost: None,
        }
    );
}

#[test]
fn a_full_event_keeps_every_field() {
    let v = raw(r#"{
        "event_id": "7f0c1e9a-4b7e-4f5e-9a53-0d2b8c1f6e11",
        "occurred_at": "2026-11-20T10:00:00.123456789+05:30",
        "organization_id": "acme",
        "user_id": "alice",
        "user_email": "alice@example.com",
        "team_id": "core",
        "department": "Engineering",
        "api_key_id": "key-prod",
        "api_key_provider": "anthropic",
        "conversation_id": "conv-9",
        "conversation_title": "Refactor the parser — step 2 ✓",
        "model_name": "claude-sonnet-4-20250514",
        "tokens_in": 12000,
        "tokens_out": 800,
        "cached_tokens_in": 9000,
        "cache_write_tokens_in": 2500,
        "actual_api_cost": 0.041235,
        "total_cost": "0.051543750",
        "a_field_from_a_newer_client": {"ignored": true}
    }"#);
    assert_eq!(
        ok(&v),
        Event {
            event_id: "7f0c1e9a-4b7e-4f5e-9a53-0d2b8c1f6e11".into(),
            occurred_at: ts("2026-11-20T04:30:00.123456789Z"),
            organization_id: Some("acme".into()),
            user_id: "alice".into(),
            user_email: Some("alice@example.com".into()),
            team_id: Some("core".into()),
            department: Some("Engineering".into()),
            api_key_id: Some("key-prod".into()),
            api_key_provider: Some("anthropic".into()),
            conversation_id: "conv-9".into(),
            conversation_title: Some("Refactor the parser — step 2 ✓".into()),
            model_name: "claude-sonnet-4-20250514".into(),
            tokens_in: 12000,
            tokens_out: 800,
            cached_tokens_in: 9000,
            cache_write_tokens_in: 2500,
            actual_api_cost: Some(Nanos(41_235_000)),
            total_cost: Some(Nanos(51_543_750)),
        }
    );
}

#[test]
fn ids_are_kept_exactly_as_sent() {
    // Grouped as given: no trimming, no case folding, no normalisation.
    let e = ok(&with(json!({
        "user_id": " Alice ",
        "model_name": "GPT-4o-2024-08-06",
        "team_id": "Core/Platform",
        "api_key_provider": "OpenAI",
    })));
    assert_eq!(e.user_id, " Alice ");
    assert_eq!(e.model_name, "GPT-4o-2024-08-06");
    assert_eq!(e.team_id.as_deref(), Some("Core/Platform"));
    assert_eq!(e.api_key_provider.as_deref(), Some("OpenAI"));
}

#[test]
fn costs_come_as_json_numbers_or_strings() {
    let cases: &[(&str, i64)] = &[
        ("0.5", 500_000_000),
        (r#""0.5""#, 500_000_000),
        (r#""0.50""#, 500_000_000),
        ("0", 0),
        (r#""0""#, 0),
        ("0.000000001", 1),
        (r#""0.000000001""#, 1),
        // A float would turn this into 0.12345678899999999.
        ("0.123456789", 123_456_789),
        ("123.456789012", 123_456_789_012),
        ("1e-3", 1_000_000),
        (r#""1E-9""#, 1),
        ("12", 12_000_000_000),
        (r#"" 1.25 ""#, 1_250_000_000),
        // A zero past the 9th decimal rounds nothing away.
        (r#""1.5000000000""#, 1_500_000_000),
        ("-0", 0),
        ("1000000", 1_000_000_000_000_000),
        (r#""1000000.000000000""#, 1_000_000_000_000_000),
    ];
    for &(text, nanos) in cases {
        for field in ["actual_api_cost", "total_cost"] {
            let e = ok(&with1(field, raw(text)));
            let got = if field == "actual_api_cost" {
                (e.actual_api_cost, e.total_cost)
            } else {
                (e.total_cost, e.actual_api_cost)
            };
            assert_eq!(got, (Some(Nanos(nanos)), None), "{field} = {text}");
        }
    }
}

#[test]
fn absent_and_null_costs_are_left_to_the_server() {
    let e = ok(&with(json!({"actual_api_cost": null, "total_cost": null})));
    assert_eq!((e.actual_api_cost, e.total_cost), (None, None));
    let e = ok(&with(json!({"total_cost": "2"})));
    assert_eq!(
        (e.actual_api_cost, e.total_cost),
        (None, Some(Nanos(2_000_000_000)))
    );
}

// ------------------------------------------------------------- error codes

/// The wire name of every code. The match has no wildcard, so a new variant
/// does not compile until it is listed here.
fn wire_name(code: ErrorCode) -> &'static str {
    match code {
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

#[test]
fn every_code_has_its_api_name_in_as_str_and_serde() {
    let all = [
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::TimestampOutOfRange,
        ErrorCode::OrganizationMismatch,
        ErrorCode::ConversationOwnerMismatch,
        ErrorCode::DuplicateConflict,
        ErrorCode::UnknownOrganization,
        ErrorCode::AmbiguousOrganization,
        ErrorCode::InvalidJson,
    ];
    let names: Vec<&str> = all.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "missing_field",
            "invalid_field",
            "timestamp_out_of_range",
            "organization_mismatch",
            "conversation_owner_mismatch",
            "duplicate_conflict",
            "unknown_organization",
            "ambiguous_organization",
            "invalid_json",
        ]
    );
    for code in all {
        assert_eq!(code.as_str(), wire_name(code));
        assert_eq!(serde_json::to_value(code).unwrap(), json!(wire_name(code)));
    }
}

#[test]
fn missing_field_names_each_required_field() {
    for field in REQUIRED {
        let mut v = base();
        v.as_object_mut().unwrap().remove(field);
        assert_eq!(
            rejected(&v),
            (ErrorCode::MissingField, Some(field)),
            "{field} absent"
        );
        // null is the same as absent.
        assert_eq!(
            rejected(&with1(field, Value::Null)),
            (ErrorCode::MissingField, Some(field)),
            "{field} null"
        );
    }
}

#[test]
fn every_optional_field_may_be_left_out() {
    let mut v = json!({"tokens_in": 5, "tokens_out": 6});
    for f in [
        "event_id",
        "occurred_at",
        "user_id",
        "conversation_id",
        "model_name",
    ] {
        v[f] = base()[f].clone();
    }
    let e = ok(&v);
    assert_eq!((e.tokens_in, e.tokens_out, e.cached_tokens_in), (5, 6, 0));
}

#[test]
fn invalid_field_names_the_field() {
    let cases = [
        (with1("event_id", json!(42)), "event_id"),
        (with1("occurred_at", json!("yesterday")), "occurred_at"),
        (with1("organization_id", json!(7)), "organization_id"),
        (with1("user_id", json!(["alice"])), "user_id"),
        (with1("user_email", json!(true)), "user_email"),
        (with1("team_id", json!({"id": "core"})), "team_id"),
        (with1("department", json!(1.5)), "department"),
        (with1("api_key_id", json!(false)), "api_key_id"),
        (with1("api_key_provider", json!(0)), "api_key_provider"),
        (with1("conversation_id", json!(99)), "conversation_id"),
        (
            with1("conversation_title", json!(["t"])),
            "conversation_title",
        ),
        (with1("model_name", json!(4)), "model_name"),
        (with1("tokens_in", json!("1000")), "tokens_in"),
        (with1("tokens_out", json!(-1)), "tokens_out"),
        (with1("cached_tokens_in", json!(1.5)), "cached_tokens_in"),
        (
            with1("cache_write_tokens_in", json!(true)),
            "cache_write_tokens_in",
        ),
        (with1("actual_api_cost", json!("free")), "actual_api_cost"),
        (with1("total_cost", json!([1])), "total_cost"),
    ];
    for (v, field) in cases {
        assert_eq!(rejected(&v), invalid(field), "{v}");
    }
}

#[test]
fn timestamp_out_of_range_names_occurred_at() {
    let e = parse(&with1("occurred_at", json!("1999-12-31T23:59:59Z"))).unwrap_err();
    assert_eq!(
        (e.code, e.field),
        (ErrorCode::TimestampOutOfRange, Some("occurred_at"))
    );
    assert!(e.message.contains("1999-12-31T23:59:59Z"), "{}", e.message);
}

#[test]
fn a_value_that_is_not_an_object_is_invalid_json_without_a_field() {
    for v in [
        json!([base()]),
        json!("event"),
        json!(null),
        json!(42),
        json!(true),
    ] {
        let e = parse(&v).unwrap_err();
        assert_eq!((e.code, e.field), (ErrorCode::InvalidJson, None), "{v}");
        assert!(e.message.contains("JSON object"), "{}", e.message);
    }
    assert_eq!(
        rejected(&json!({})),
        (ErrorCode::MissingField, Some("event_id"))
    );
}

#[test]
fn the_first_problem_in_table_order_is_reported() {
    let everything_wrong = json!({
        "event_id": "", "occurred_at": "x", "user_id": "", "conversation_id": "",
        "model_name": "", "tokens_in": -1, "tokens_out": -1, "total_cost": "x",
    });
    assert_eq!(rejected(&everything_wrong), invalid("event_id"));
    let cases = [
        (
            json!({"occurred_at": "1990-01-01T00:00:00Z", "user_id": "<drop>"}),
            (ErrorCode::TimestampOutOfRange, Some("occurred_at")),
        ),
        (
            json!({"user_id": "<drop>", "model_name": "<drop>"}),
            (ErrorCode::MissingField, Some("user_id")),
        ),
        (
            json!({"team_id": "_none", "tokens_out": "<drop>"}),
            invalid("team_id"),
        ),
        (
            json!({"model_name": "", "tokens_in": -5}),
            invalid("model_name"),
        ),
        (
            json!({"tokens_in": 1.5, "tokens_out": -1}),
            invalid("tokens_in"),
        ),
        (
            json!({"cached_tokens_in": 2000, "actual_api_cost": -1}),
            invalid("cached_tokens_in"),
        ),
        (
            json!({"actual_api_cost": -1, "total_cost": -1}),
            invalid("actual_api_cost"),
        ),
    ];
    for (over, want) in cases {
        assert_eq!(rejected(&with(over.clone())), want, "{over}");
    }
}

#[test]
fn store_side_codes_are_never_produced_by_parsing() {
    // organization_mismatch, conversation_owner_mismatch, duplicate_conflict
    // and unknown/ambiguous_organization need the store: parsing accepts an
    // event naming any organisation, or none.
    for org in [json!("acme"), json!("never-heard-of-it"), json!("<drop>")] {
        let e = ok(&with(json!({"organization_id": org})));
        assert_eq!(
            e.organization_id,
            org.as_str().filter(|s| *s != "<drop>").map(String::from)
        );
    }
}

// ------------------------------------------------------- ids and free text

#[test]
fn empty_optional_text_is_absent() {
    for field in OPTIONAL_TEXT {
        for empty in [json!(""), Value::Null] {
            let e = ok(&with1(field, empty.clone()));
            assert_eq!(optional_text(&e, field), None, "{field} = {empty}");
        }
        let e = ok(&with1(field, json!("x")));
        assert_eq!(optional_text(&e, field).as_deref(), Some("x"), "{field}");
    }
    // All at once, and the event is the minimal one.
    let mut v = base();
    for field in OPTIONAL_TEXT {
        v[field] = json!("");
    }
    assert_eq!(ok(&v), ok(&base()));
}

#[test]
fn empty_or_blank_ids_are_invalid_and_required_ones_are_not_missing() {
    for (field, _, is_id) in TEXT_FIELDS {
        if !is_id {
            continue;
        }
        for blank in [" ", "   ", "\u{3000}", "\u{a0}"] {
            assert_eq!(
                rejected(&with1(field, json!(blank))),
                invalid(field),
                "{field} = {blank:?}"
            );
        }
    }
    for field in ["event_id", "user_id", "conversation_id", "model_name"] {
        assert_eq!(
            rejected(&with1(field, json!(""))),
            invalid(field),
            "{field}"
        );
    }
    // Free text may be blank.
    let e = ok(&with(
        json!({"conversation_title": "  ", "user_email": " "}),
    ));
    assert_eq!(e.conversation_title.as_deref(), Some("  "));
    assert_eq!(e.user_email.as_deref(), Some(" "));
}

#[test]
fn the_reserved_none_id_is_refused_in_every_id_field() {
    for (field, _, is_id) in TEXT_FIELDS {
        if is_id {
            let e = parse(&with1(field, json!(NONE_ID))).unwrap_err();
            assert_eq!((e.code, e.field), invalid(field), "{field}");
            assert!(e.message.contains("_none"), "{}", e.message);
        }
    }
    assert_eq!(NONE_ID, "_none");
    // Only the exact id is reserved; free text may say it.
    for (field, other) in [
        ("team_id", "_None"),
        ("team_id", "_NONE"),
        ("api_key_id", "_none_"),
        ("department", "none"),
        ("user_id", "_none "),
        ("conversation_title", "_none"),
        ("user_email", "_none"),
    ] {
        assert_eq!(
            text(&ok(&with1(field, json!(other))), field).as_deref(),
            Some(other),
            "{field}"
        );
    }
}

#[test]
fn control_characters_are_refused_in_every_string_field() {
    let controls = [
        "\u{0}", "\u{1}", "\t", "\n", "\r", "\u{1b}", "\u{1f}", "\u{7f}", "\u{80}", "\u{85}",
        "\u{9f}",
    ];
    for (field, _, _) in TEXT_FIELDS {
        for c in controls {
            for s in [format!("a{c}b"), c.to_string(), format!("title{c}")] {
                assert_eq!(
                    rejected(&with1(field, json!(s))),
                    invalid(field),
                    "{field} = {s:?}"
                );
            }
        }
        let e = parse(&with1(field, json!("a\nb"))).unwrap_err();
        assert!(e.message.contains("control"), "{}", e.message);
    }
}

#[test]
fn printable_unicode_is_accepted_everywhere() {
    for (field, _, _) in TEXT_FIELDS {
        // Not control characters: accents, CJK, emoji, a zero-width joiner, a
        // right-to-left mark (format characters, not controls), a non-breaking space.
        for s in [
            "Zoë",
            "日本語",
            "🚀✨",
            "👩\u{200d}💻",
            "a\u{200f}b",
            "a\u{a0}b",
        ] {
            assert_eq!(
                text(&ok(&with1(field, json!(s))), field).as_deref(),
                Some(s),
                "{field} = {s:?}"
            );
        }
    }
}

#[test]
fn lengths_are_counted_in_characters_up_to_each_limit() {
    for (field, max, _) in TEXT_FIELDS {
        for unit in ["x", "é", "日", "🚀"] {
            let at_max = unit.repeat(max);
            let e = ok(&with1(field, json!(at_max)));
            assert_eq!(
                text(&e, field).map(|s| s.chars().count()),
                Some(max),
                "{field} {unit}"
            );
            let over = unit.repeat(max + 1);
            let err = parse(&with1(field, json!(over))).unwrap_err();
            assert_eq!((err.code, err.field), invalid(field), "{field} {unit}");
            assert!(
                err.message.contains(&format!("longer than {max}")),
                "{}",
                err.message
            );
        }
        assert_eq!(
            text(&ok(&with1(field, json!("a"))), field).as_deref(),
            Some("a")
        );
    }
}

// ------------------------------------------------------------------ tokens

#[test]
fn tokens_are_integers_from_zero_to_a_billion() {
    for field in TOKEN_FIELDS {
        // tokens_in is raised so the cache fields may reach the maximum too.
        let at = |n: Value| {
            let mut v = with1(field, n);
            if field.starts_with("cache") {
                v["tokens_in"] = json!(MAX_TOKENS);
            }
            v
        };
        for (n, want) in [
            (json!(0), 0),
            (json!(1), 1),
            (json!(999_999_999), 999_999_999),
            (json!(1_000_000_000u64), 1_000_000_000),
        ] {
            assert_eq!(token(&ok(&at(n.clone())), field), want, "{field} = {n}");
        }
        for bad in [
            raw("1000000001"),
            raw("-1"),
            raw("-1000000000"),
            raw("18446744073709551615"),
            raw("18446744073709551616"),
            raw("100000000000000000000000000000000000000000"),
            raw("1e10"),
            raw("1e400"),
            raw("1000000000.5"),
            raw("0.5"),
            raw("1.5"),
            raw("1e-1"),
            raw("1e-400"),
            raw("-0.5"),
            json!("12"),
            json!(""),
            json!(true),
            json!([1]),
            json!({"n": 1}),
        ] {
            let e = parse(&at(bad.clone())).unwrap_err();
            assert_eq!((e.code, e.field), invalid(field), "{field} = {bad}");
            assert!(e.message.contains("integer"), "{}", e.message);
        }
    }
}

#[test]
fn an_integral_number_is_an_integer_however_it_is_spelt() {
    // JSON has one number type; 1000.0 and 1e3 are the integer 1000.
    for (text, want) in [
        ("1000.0", 1000),
        ("1000.000", 1000),
        ("1e3", 1000),
        ("1E+3", 1000),
        ("10000e-1", 1000),
        ("1e9", 1_000_000_000),
        ("0.0", 0),
        ("-0", 0),
        ("-0.0", 0),
        ("0e5", 0),
    ] {
        let e = ok(&with1("tokens_out", raw(text)));
        assert_eq!(e.tokens_out, want, "{text}");
        assert_eq!(e, ok(&with1("tokens_out", json!(want))), "{text}");
    }
    assert_eq!(
        rejected(&with1("tokens_in", raw("1.0000000001e9"))),
        invalid("tokens_in")
    );
}

#[test]
fn cached_and_cache_write_tokens_fit_in_tokens_in() {
    let t = |over: Value| ok(&with(over));
    // Up to and including equality.
    let e = t(json!({"tokens_in": 1000, "cached_tokens_in": 1000}));
    assert_eq!((e.cached_tokens_in, e.cache_write_tokens_in), (1000, 0));
    let e = t(json!({"tokens_in": 1000, "cache_write_tokens_in": 1000}));
    assert_eq!((e.cached_tokens_in, e.cache_write_tokens_in), (0, 1000));
    let e = t(json!({"tokens_in": 1000, "cached_tokens_in": 600, "cache_write_tokens_in": 400}));
    assert_eq!((e.cached_tokens_in, e.cache_write_tokens_in), (600, 400));
    let e = t(json!({"tokens_in": 0, "cached_tokens_in": 0, "cache_write_tokens_in": 0}));
    assert_eq!(
        (e.tokens_in, e.cached_tokens_in, e.cache_write_tokens_in),
        (0, 0, 0)
    );
    let e = t(
        json!({"tokens_in": MAX_TOKENS, "cached_tokens_in": 1, "cache_write_tokens_in": MAX_TOKENS - 1}),
    );
    assert_eq!(e.cache_write_tokens_in, MAX_TOKENS - 1);

    let r = |over: Value| rejected(&with(over));
    assert_eq!(
        r(json!({"tokens_in": 1000, "cached_tokens_in": 1001})),
        invalid("cached_tokens_in")
    );
    assert_eq!(
        r(json!({"tokens_in": 0, "cached_tokens_in": 1})),
        invalid("cached_tokens_in")
    );
    assert_eq!(
        r(json!({"tokens_in": 1000, "cache_write_tokens_in": 1001})),
        invalid("cache_write_tokens_in")
    );
    assert_eq!(
        r(json!({"tokens_in": 1000, "cached_tokens_in": 600, "cache_write_tokens_in": 401})),
        invalid("cache_write_tokens_in")
    );
    // Both at the maximum: the sum is checked without overflow.
    assert_eq!(
        r(
            json!({"tokens_in": MAX_TOKENS, "cached_tokens_in": MAX_TOKENS, "cache_write_tokens_in": MAX_TOKENS})
        ),
        invalid("cache_write_tokens_in")
    );
    // Cache tokens are part of tokens_in, not of tokens_out.
    assert_eq!(
        r(json!({"tokens_in": 10, "tokens_out": 5000, "cached_tokens_in": 11})),
        invalid("cached_tokens_in")
    );
}

// -------------------------------------------------------------- timestamps

#[test]
fn rfc3339_timestamps_in_every_legal_spelling() {
    let cases = [
        ("2026-11-20T15:00:00Z", "2026-11-20T15:00:00Z"),
        ("2026-11-20t15:00:00z", "2026-11-20T15:00:00Z"),
        ("2026-11-20 15:00:00Z", "2026-11-20T15:00:00Z"),
        ("2026-11-20T15:00:00+00:00", "2026-11-20T15:00:00Z"),
        ("2026-11-20T15:00:00-00:00", "2026-11-20T15:00:00Z"),
        ("2026-11-20T20:30:00+05:30", "2026-11-20T15:00:00Z"),
        ("2026-11-20T07:00:00-08:00", "2026-11-20T15:00:00Z"),
        ("2026-11-21T14:59:00+23:59", "2026-11-20T15:00:00Z"),
        ("2026-11-20T15:00:00.5Z", "2026-11-20T15:00:00.5Z"),
        ("2026-11-20T15:00:00.123Z", "2026-11-20T15:00:00.123Z"),
        (
            "2026-11-20T15:00:00.1234567Z",
            "2026-11-20T15:00:00.1234567Z",
        ),
        (
            "2026-11-20T15:00:00.123456789Z",
            "2026-11-20T15:00:00.123456789Z",
        ),
        ("2026-11-20T15:00:00.000000000Z", "2026-11-20T15:00:00Z"),
        // Digits past the nanosecond are dropped, not rounded.
        (
            "2026-11-20T15:00:00.123456789999Z",
            "2026-11-20T15:00:00.123456789Z",
        ),
        (
            "2026-11-20T16:00:00.9999999999+01:00",
            "2026-11-20T15:00:00.999999999Z",
        ),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        // RFC 3339 allows a leap second; it is kept as the second before.
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z"),
    ];
    for (text, instant) in cases {
        let e = ok(&with1("occurred_at", json!(text)));
        assert_eq!(e.occurred_at, ts(instant), "{text}");
    }
}

#[test]
fn anything_but_rfc3339_is_an_invalid_timestamp() {
    for text in [
        "",
        "2026-11-20",
        "2026-11-20T15:00:00",
        "2026-11-20T15:00Z",
        "2026-11-20T15Z",
        "2026-11-20T15:00:00+0530",
        "2026-11-20T15:00:00+05",
        "2026-11-20T15:00:00+24:00",
        "2026-11-20T15:00:00+05:60",
        "2026-11-20T15:00:00 Z",
        "2026-11-20T15:00:00UTC",
        "2026-11-20T15:00:00Z[Europe/Paris]",
        "2026-11-20T15:00:00+01:00[Europe/Paris]",
        " 2026-11-20T15:00:00Z",
        "2026-11-20T15:00:00Z ",
        "2026-11-20T15:00:00.Z",
        "2026-11-20T15:00:00,5Z",
        "2026-11-20_15:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T15:60:00Z",
        "2026-1-20T15:00:00Z",
        "26-11-20T15:00:00Z",
        "+2026-11-20T15:00:00Z",
        "20261120T150000Z",
        "2026-W47-5T15:00:00Z",
        "Fri, 20 Nov 2026 15:00:00 GMT",
        "1763650800",
        "２０２６-11-20T15:00:00Z",
        // Malformed in year 9999 is still malformed, not out of range.
        "9999-02-29T00:00:00Z",
        "9999-12-32T00:00:00Z",
        "9999-12-31T24:00:00Z",
        "9999-12-31T23:59:59",
        "9999-12-31",
    ] {
        let e = parse(&with1("occurred_at", json!(text))).unwrap_err();
        assert_eq!((e.code, e.field), invalid("occurred_at"), "{text:?}");
    }
    for v in [
        json!(1_763_650_800),
        json!(1.7636508e9),
        json!(true),
        json!({"s": 1}),
    ] {
        assert_eq!(
            rejected(&with1("occurred_at", v.clone())),
            invalid("occurred_at"),
            "{v}"
        );
    }
}

#[test]
fn timestamps_run_from_2000_to_one_day_after_now() {
    let (earliest, latest) = timestamp_bounds(now());
    assert_eq!(earliest, ts("2000-01-01T00:00:00Z"));
    assert_eq!(latest, ts("2026-11-29T12:00:00Z"));

    let accepted = [
        "2000-01-01T00:00:00Z",
        "2000-01-01T00:00:00.000000001Z",
        // The instant counts, not the local date: 2000-01-01T00:30Z.
        "1999-12-31T23:30:00-01:00",
        "2010-06-15T12:00:00Z",
        "2026-11-28T12:00:00Z",
        "2026-11-29T11:59:59.999999999Z",
        "2026-11-29T12:00:00Z",
        "2026-11-29T13:00:00+01:00",
    ];
    for text in accepted {
        assert_eq!(
            ok(&with1("occurred_at", json!(text))).occurred_at,
            ts(text),
            "{text}"
        );
    }
    let out = [
        "1999-12-31T23:59:59.999999999Z",
        "1999-12-31T23:59:59Z",
        "2000-01-01T00:30:00+01:00",
        "1970-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "2026-11-29T12:00:00.000000001Z",
        "2026-11-29T12:00:01Z",
        "2026-11-29T12:00:00-00:01",
        "2027-01-01T00:00:00Z",
        "9999-12-30T00:00:00Z",
        // Past the last instant jiff can hold, yet well-formed: out of range too.
        "9999-12-30T22:00:01Z",
        "9999-12-31T23:59:59.999999999Z",
        "9999-12-31T23:59:60Z",
        "9999-12-31T00:00:00-23:59",
    ];
    for text in out {
        assert_eq!(
            rejected(&with1("occurred_at", json!(text))),
            (ErrorCode::TimestampOutOfRange, Some("occurred_at")),
            "{text}"
        );
    }
    // The window moves with now.
    let later = ts("2030-01-01T00:00:00Z");
    assert!(Event::parse(&with1("occurred_at", json!("2029-12-31T12:00:00Z")), later).is_ok());
    assert_eq!(
        Event::parse(&with1("occurred_at", json!("2030-01-02T00:00:01Z")), later)
            .unwrap_err()
            .code,
        ErrorCode::TimestampOutOfRange
    );
}

// -------------------------------------------------------------------- costs

#[test]
fn a_cost_finer_than_a_nanodollar_is_an_error_never_a_rounding() {
    for text in [
        "0.0000000001",
        r#""0.0000000001""#,
        "0.0000000005",
        "0.0000000009",
        "1.0000000005",
        r#""0.1234567891""#,
        "1e-10",
        r#""1.5e-9""#,
        "123e-12",
        r#""0.00000000050""#,
    ] {
        for field in ["actual_api_cost", "total_cost"] {
            let e = parse(&with1(field, raw(text))).unwrap_err();
            assert_eq!((e.code, e.field), invalid(field), "{field} = {text}");
            assert!(
                e.message.contains("more than 9 fractional digits"),
                "{}",
                e.message
            );
        }
    }
}

#[test]
fn a_negative_cost_is_refused() {
    for text in [
        "-0.01",
        r#""-1""#,
        "-0.000000001",
        r#""-1e-12""#,
        "-1000001",
    ] {
        for field in ["actual_api_cost", "total_cost"] {
            let e = parse(&with1(field, raw(text))).unwrap_err();
            assert_eq!((e.code, e.field), invalid(field), "{field} = {text}");
            assert!(e.message.contains("negative"), "{}", e.message);
        }
    }
}

#[test]
fn costs_stop_at_a_million_dollars_and_must_be_decimals() {
    for text in [
        "1000000.000000001",
        r#""1000001""#,
        "1e7",
        "1e400",
        r#""99999999999999999999999""#,
    ] {
        let e = parse(&with1("total_cost", raw(text))).unwrap_err();
        assert_eq!((e.code, e.field), invalid("total_cost"), "{text}");
        assert!(e.message.contains("maximum"), "{}", e.message);
    }
    for bad in [
        json!(""),
        json!("  "),
        json!("free"),
        json!("$1.50"),
        json!("1,50"),
        json!("1.5 USD"),
        json!("NaN"),
        json!("Infinity"),
        json!("0x10"),
        json!(".5"),
        json!("+1"),
        json!(true),
        json!([0.5]),
        json!({"usd": 0.5}),
    ] {
        let e = parse(&with1("actual_api_cost", bad.clone())).unwrap_err();
        assert_eq!((e.code, e.field), invalid("actual_api_cost"), "{bad}");
        assert!(e.message.contains("not a decimal"), "{}", e.message);
    }
}

#[test]
fn a_million_nanodollar_costs_sum_exactly() {
    let one = ok(&with1("actual_api_cost", raw("0.000000001")))
        .actual_api_cost
        .unwrap();
    assert_eq!(one, Nanos(1));
    let sum: i128 = (0..1_000_000).map(|_| i128::from(one.0)).sum();
    assert_eq!(sum, 1_000_000);
    assert_eq!(crate::money::format_usd(sum), "0.001000000");
    let thousandth = ok(&with1("actual_api_cost", raw("0.001")))
        .actual_api_cost
        .unwrap();
    assert_eq!(sum, i128::from(thousandth.0));
    // What the same sum in floats would have given: not exact.
    let float: f64 = (0..1_000_000).map(|_| 1e-9_f64).sum();
    assert_ne!(float, 0.001);
}

// ----------------------------------------------------------- canonical hash

/// The same object with its keys in the reverse order.
fn reversed(v: &Value) -> Value {
    let obj = v.as_object().unwrap();
    let keys: Vec<&String> = obj.keys().rev().collect();
    let mut out = Map::new();
    for k in keys {
        out.insert(k.clone(), obj[k].clone());
    }
    Value::Object(out)
}

fn full() -> Value {
    with(json!({
        "organization_id": "acme", "user_email": "alice@example.com", "team_id": "core",
        "department": "Eng", "api_key_id": "key-1", "api_key_provider": "openai",
        "conversation_title": "Refactor", "cached_tokens_in": 600, "cache_write_tokens_in": 100,
        "actual_api_cost": "0.5", "total_cost": "0.625",
    }))
}

#[test]
fn the_canonical_hash_ignores_key_order() {
    for v in [base(), full()] {
        let r = reversed(&v);
        let (kv, kr): (Vec<_>, Vec<_>) = (
            v.as_object().unwrap().keys().collect(),
            r.as_object().unwrap().keys().collect(),
        );
        assert_ne!(kv, kr, "the keys really are in another order");
        assert_eq!(ok(&v).canonical_hash(), ok(&r).canonical_hash());
    }
}

/// `full()` with one field set to `value`, or removed where it is `"<drop>"`.
fn full_with(field: &str, value: &Value) -> Value {
    let mut v = full();
    if value == "<drop>" {
        v.as_object_mut().unwrap().remove(field);
    } else {
        v[field] = value.clone();
    }
    v
}

#[test]
fn the_canonical_hash_ignores_the_organisation() {
    let h = ok(&full()).canonical_hash();
    for org in [json!("beta"), json!(""), Value::Null, json!("<drop>")] {
        let v = full_with("organization_id", &org);
        let e = ok(&v);
        assert_ne!(e.organization_id.as_deref(), Some("acme"));
        assert_eq!(e.canonical_hash(), h, "{org}");
    }
}

#[test]
fn the_canonical_hash_ignores_spelling() {
    let h = ok(&full()).canonical_hash();
    let same = [
        ("actual_api_cost", raw("0.5")),
        ("actual_api_cost", raw("5e-1")),
        ("actual_api_cost", json!("0.500000000")),
        ("total_cost", raw("0.6250")),
        ("occurred_at", json!("2026-11-20T15:00:00+00:00")),
        ("occurred_at", json!("2026-11-20T16:00:00+01:00")),
        ("occurred_at", json!("2026-11-20T15:00:00.000Z")),
        ("occurred_at", json!("2026-11-20 15:00:00z")),
        ("tokens_out", raw("500.0")),
        ("tokens_out", raw("5e2")),
    ];
    for (field, value) in same {
        assert_eq!(
            ok(&full_with(field, &value)).canonical_hash(),
            h,
            "{field} = {value}"
        );
    }
    // Absent, null and "" optional fields, and 0 or absent cache tokens, are one payload.
    let b = ok(&base()).canonical_hash();
    let spelled_out = with(json!({
        "user_email": "", "team_id": null, "department": "", "api_key_id": "",
        "api_key_provider": null, "conversation_title": "", "cached_tokens_in": 0,
        "cache_write_tokens_in": 0, "actual_api_cost": null, "total_cost": null,
    }));
    assert_eq!(ok(&spelled_out).canonical_hash(), b);
}

#[test]
fn the_canonical_hash_changes_with_every_payload_field() {
    let h = ok(&full()).canonical_hash();
    let changes = [
        ("event_id", json!("e-2")),
        ("occurred_at", json!("2026-11-20T15:00:00.000000001Z")),
        ("user_id", json!("bob")),
        ("user_email", json!("bob@example.com")),
        ("user_email", json!("<drop>")),
        ("team_id", json!("platform")),
        ("team_id", json!("<drop>")),
        ("department", json!("Sales")),
        ("department", json!("<drop>")),
        ("api_key_id", json!("key-2")),
        ("api_key_id", json!("<drop>")),
        ("api_key_provider", json!("anthropic")),
        ("api_key_provider", json!("<drop>")),
        ("conversation_id", json!("c-2")),
        ("conversation_title", json!("Refactor!")),
        ("conversation_title", json!("<drop>")),
        ("model_name", json!("gpt-4o-mini")),
        ("tokens_in", json!(1001)),
        ("tokens_out", json!(501)),
        ("cached_tokens_in", json!(601)),
        ("cached_tokens_in", json!("<drop>")),
        ("cache_write_tokens_in", json!(101)),
        ("cache_write_tokens_in", json!("<drop>")),
        ("actual_api_cost", json!("0.500000001")),
        ("actual_api_cost", json!("0")),
        ("actual_api_cost", json!("<drop>")),
        ("total_cost", json!("0.625000001")),
        ("total_cost", json!("<drop>")),
    ];
    let mut seen = std::collections::HashSet::from([h]);
    for (field, value) in changes {
        let h2 = ok(&full_with(field, &value)).canonical_hash();
        assert_ne!(h2, h, "{field} = {value}");
        assert!(
            seen.insert(h2),
            "{field} = {value} collides with another change"
        );
    }
    // Field boundaries count: moving a character from one field to the next
    // is another payload, and so is a cost moved from one field to the other.
    let a = ok(&with(json!({"user_id": "ab", "team_id": "c"}))).canonical_hash();
    let b = ok(&with(json!({"user_id": "a", "team_id": "bc"}))).canonical_hash();
    assert_ne!(a, b);
    let a = ok(&with(json!({"actual_api_cost": "1"}))).canonical_hash();
    let b = ok(&with(json!({"total_cost": "1"}))).canonical_hash();
    assert_ne!(a, b);
    let a = ok(&with(json!({"cached_tokens_in": 10}))).canonical_hash();
    let b = ok(&with(json!({"cache_write_tokens_in": 10}))).canonical_hash();
    assert_ne!(a, b);
}

#[test]
fn the_canonical_hash_is_the_same_from_one_release_to_the_next() {
    // Hashes are stored with events, so a replay months later must hash the
    // same: a change of this value breaks duplicate detection of stored data.
    let h = ok(&base()).canonical_hash();
    assert_eq!(h, ok(&base()).canonical_hash());
    assert_eq!(h, PINNED_BASE_HASH, "canonical_hash changed: {h}");
}

/// SHA-256 over the fields in order, each followed by a NUL byte (absent
/// text as "\u{1}", absent costs as "-"), first 8 bytes little-endian;
/// computed independently of this crate (Python's hashlib).
const PINNED_BASE_HASH: i64 = 7_439_372_289_051_859_314;

// ---------------------------------------------------------- canonical JSON

#[test]
fn to_json_is_canonical_and_parses_back_to_the_same_event() {
    let v = raw(r#"{
        "event_id": "e-1", "occurred_at": "2026-11-20T20:30:00.5+05:30", "organization_id": "acme",
        "user_id": "alice", "team_id": "", "conversation_id": "c-1", "model_name": "gpt-4o",
        "tokens_in": 1000, "tokens_out": 5e2, "cached_tokens_in": 10,
        "actual_api_cost": 0.5, "total_cost": "1e-9"
    }"#);
    let e = ok(&v);
    let j = e.to_json();
    assert_eq!(
        j,
        json!({
            "event_id": "e-1", "occurred_at": "2026-11-20T15:00:00.5Z", "organization_id": "acme",
            "user_id": "alice", "user_email": null, "team_id": null, "department": null,
            "api_key_id": null, "api_key_provider": null, "conversation_id": "c-1",
            "conversation_title": null, "model_name": "gpt-4o", "tokens_in": 1000,
            "tokens_out": 500, "cached_tokens_in": 10, "cache_write_tokens_in": 0,
            "actual_api_cost": "0.500000000", "total_cost": "0.000000001",
        })
    );
    let back = ok(&j);
    assert_eq!(back, e);
    assert_eq!(back.canonical_hash(), e.canonical_hash());
    let full_event = ok(&full());
    assert_eq!(ok(&full_event.to_json()), full_event);
}
