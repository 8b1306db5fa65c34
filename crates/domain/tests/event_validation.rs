//! Event::parse against every rule of API.md §2: each bad case names its code
//! and field; the good cases keep exactly what was sent.

use jiff::Timestamp;
use serde_json::{json, Value};
use spendlens_domain::{ErrorCode, Event};

fn now() -> Timestamp {
    "2026-11-28T12:00:00Z".parse().unwrap()
}

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

fn with(over: Value) -> Value {
    let mut v = base();
    for (k, x) in over.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v
}

fn err(over: Value) -> (ErrorCode, Option<&'static str>) {
    let e =
        Event::parse(&with(over.clone()), now()).expect_err(&format!("should be refused: {over}"));
    assert!(!e.message.is_empty());
    (e.code, e.field)
}

#[test]
fn a_minimal_and_a_full_event_parse() {
    let e = Event::parse(&base(), now()).unwrap();
    assert_eq!(
        (
            e.event_id.as_str(),
            e.tokens_in,
            e.tokens_out,
            e.cached_tokens_in
        ),
        ("e-1", 1000, 500, 0)
    );
    assert_eq!(
        (e.actual_api_cost, e.total_cost, e.api_key_id.clone()),
        (None, None, None)
    );
    let full = with(json!({
        "organization_id": "acme", "user_email": "alice@example.com", "team_id": "core", "department": "Eng",
        "api_key_id": "key-1", "api_key_provider": "openai", "conversation_title": "Refactor the parser",
        "cached_tokens_in": 600, "cache_write_tokens_in": 400, "actual_api_cost": 0.5, "total_cost": "0.625",
        "occurred_at": "2026-11-20T10:00:00.123456789+05:30",
    }));
    let e = Event::parse(&full, now()).unwrap();
    assert_eq!(e.actual_api_cost.unwrap().0, 500_000_000);
    assert_eq!(e.total_cost.unwrap().0, 625_000_000);
    assert_eq!(e.occurred_at.to_string(), "2026-11-20T04:30:00.123456789Z");
    assert_eq!(e.conversation_title.as_deref(), Some("Refactor the parser"));
}

#[test]
fn every_required_field_missing_is_named() {
    for f in [
        "event_id",
        "occurred_at",
        "user_id",
        "conversation_id",
        "model_name",
        "tokens_in",
        "tokens_out",
    ] {
        let mut v = base();
        v.as_object_mut().unwrap().remove(f);
        let e = Event::parse(&v, now()).unwrap_err();
        assert_eq!((e.code, e.field), (ErrorCode::MissingField, Some(f)), "{f}");
    }
}

#[test]
fn invalid_fields_are_named() {
    use ErrorCode::InvalidField as I;
    let cases = [
        (json!({"event_id": ""}), "event_id"),
        (json!({"event_id": "x".repeat(129)}), "event_id"),
        (json!({"event_id": 42}), "event_id"),
        (json!({"user_id": "al\u{0007}ice"}), "user_id"),
        (json!({"user_id": "_none"}), "user_id"),
        (json!({"api_key_id": "_none"}), "api_key_id"),
        (
            json!({"conversation_title": "t".repeat(501)}),
            "conversation_title",
        ),
        (json!({"model_name": "m".repeat(201)}), "model_name"),
        (json!({"tokens_in": -1}), "tokens_in"),
        (json!({"tokens_in": 1_000_000_001u64}), "tokens_in"),
        (json!({"tokens_out": 1.5}), "tokens_out"),
        (json!({"tokens_out": "12"}), "tokens_out"),
        (json!({"cached_tokens_in": 1001}), "cached_tokens_in"),
        (
            json!({"cached_tokens_in": 600, "cache_write_tokens_in": 401}),
            "cache_write_tokens_in",
        ),
        (
            json!({"actual_api_cost": "0.0000000001"}),
            "actual_api_cost",
        ),
        (json!({"actual_api_cost": -0.01}), "actual_api_cost"),
        (
            json!({"actual_api_cost": "1000000.000000001"}),
            "actual_api_cost",
        ),
        (json!({"actual_api_cost": "1,5"}), "actual_api_cost"),
        (json!({"total_cost": true}), "total_cost"),
        (json!({"occurred_at": "2026-11-20 15:00"}), "occurred_at"),
        (json!({"occurred_at": "2026-11-20T15:00:00"}), "occurred_at"),
        (json!({"occurred_at": 1763650800}), "occurred_at"),
    ];
    for (over, field) in cases {
        assert_eq!(err(over.clone()), (I, Some(field)), "{over}");
    }
}

#[test]
fn timestamps_outside_the_window_are_out_of_range() {
    use ErrorCode::TimestampOutOfRange as T;
    assert_eq!(
        err(json!({"occurred_at": "1999-12-31T23:59:59Z"})),
        (T, Some("occurred_at"))
    );
    assert_eq!(
        err(json!({"occurred_at": "2026-11-29T12:00:01Z"})),
        (T, Some("occurred_at"))
    );
    assert!(
        Event::parse(&with(json!({"occurred_at": "2026-11-29T12:00:00Z"})), now()).is_ok(),
        "one day ahead is allowed"
    );
    assert!(Event::parse(&with(json!({"occurred_at": "2000-01-01T00:00:00Z"})), now()).is_ok());
}

#[test]
fn a_non_object_is_invalid_json() {
    for v in [json!([1, 2]), json!("event"), json!(null)] {
        assert_eq!(
            Event::parse(&v, now()).unwrap_err().code,
            ErrorCode::InvalidJson
        );
    }
}

#[test]
fn empty_optional_ids_are_absent() {
    let e = Event::parse(
        &with(json!({"api_key_id": "", "team_id": "", "organization_id": ""})),
        now(),
    )
    .unwrap();
    assert_eq!(
        (e.api_key_id, e.team_id, e.organization_id),
        (None, None, None)
    );
}

#[test]
fn the_canonical_hash_ignores_spelling_and_the_organisation() {
    let a = Event::parse(
        &with(json!({"actual_api_cost": 0.5, "organization_id": "acme"})),
        now(),
    )
    .unwrap();
    let b = Event::parse(
        &with(json!({"actual_api_cost": "0.500", "occurred_at": "2026-11-20T15:00:00+00:00"})),
        now(),
    )
    .unwrap();
    assert_eq!(a.canonical_hash(), b.canonical_hash());
    let c = Event::parse(&with(json!({"actual_api_cost": "0.500000001"})), now()).unwrap();
    assert_ne!(a.canonical_hash(), c.canonical_hash());
    let d = Event::parse(
        &with(json!({"tokens_out": 501, "actual_api_cost": 0.5})),
        now(),
    )
    .unwrap();
    assert_ne!(a.canonical_hash(), d.canonical_hash());
}

#[test]
fn the_store_side_codes_have_their_wire_names() {
    let names: Vec<&str> = [
        ErrorCode::OrganizationMismatch,
        ErrorCode::ConversationOwnerMismatch,
        ErrorCode::DuplicateConflict,
        ErrorCode::UnknownOrganization,
        ErrorCode::AmbiguousOrganization,
    ]
    .iter()
    .map(|c| c.as_str())
    .collect();
    assert_eq!(
        names,
        [
            "organization_mismatch",
            "conversation_owner_mismatch",
            "duplicate_conflict",
            "unknown_organization",
            "ambiguous_organization"
        ]
    );
    assert_eq!(
        serde_json::to_value(ErrorCode::MissingField).unwrap(),
        json!("missing_field")
    );
}
