//! Forecasts, anomalies and recommendations over HTTP, on data with known
//! answers worked out here by hand.

mod common;

use common::{event, ADMIN};
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde_json::json;

fn today() -> Date {
    jiff::Timestamp::now().to_zoned(TimeZone::UTC).date()
}

fn at_noon(d: Date) -> String {
    format!("{d}T12:00:00Z")
}

fn weekday(d: Date) -> bool {
    !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

#[tokio::test]
async fn the_month_forecast_keeps_weekends_quiet() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    // $100 on every weekday of the 40 days before today; nothing on weekends or today.
    let t = today();
    let events: Vec<_> = (1..=40)
        .map(|back| t.checked_sub(jiff::Span::new().days(back)).unwrap())
        .filter(|d| weekday(*d))
        .map(|d| {
            event(
                &format!("w{d}"),
                json!({"organization_id": "acme", "occurred_at": at_noon(d), "actual_api_cost": "100"}),
            )
        })
        .collect();
    assert_eq!(s.events(ADMIN, &events).await.status, 200);
    let f = &s.get(ADMIN, "/v1/orgs/acme/summary").await.body["forecast"];
    // The answer: $100 for each weekday of this month, past or to come.
    let first = t.first_of_month();
    let weekdays = (0..t.days_in_month())
        .map(|i| first.checked_add(jiff::Span::new().days(i)).unwrap())
        .filter(|d| weekday(*d))
        .count();
    assert_eq!(
        f["projected"],
        format!("{}.000000000", 100 * weekdays),
        "{f}"
    );
    let spent_days = (0..t.day() - 1)
        .map(|i| first.checked_add(jiff::Span::new().days(i)).unwrap())
        .filter(|d| weekday(*d))
        .count();
    assert_eq!(f["spent"], format!("{}.000000000", 100 * spent_days), "{f}");
    // The person page carries the same forecast for its person.
    let alice = &s.get(ADMIN, "/v1/orgs/acme/users/alice").await.body["forecast"];
    assert_eq!(alice["projected"], f["projected"]);
}

#[tokio::test]
async fn a_spike_is_listed_against_its_own_baseline() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    let t = today();
    let yesterday = t.yesterday().unwrap();
    // $10 a day for 40 days, then $100 yesterday.
    let events: Vec<_> = (1..=41)
        .map(|back| t.checked_sub(jiff::Span::new().days(back)).unwrap())
        .map(|d| {
            let cost = if d == yesterday { "100" } else { "10" };
            event(
                &format!("d{d}"),
                json!({"organization_id": "acme", "occurred_at": at_noon(d), "actual_api_cost": cost}),
            )
        })
        .collect();
    assert_eq!(s.events(ADMIN, &events).await.status, 200);
    let a = s.get(ADMIN, "/v1/orgs/acme/anomalies").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let found = a.body["data"].as_array().unwrap();
    let scopes: Vec<(&str, &str)> = found
        .iter()
        .map(|x| (x["scope"].as_str().unwrap(), x["day"].as_str().unwrap()))
        .collect();
    let day = yesterday.to_string();
    for scope in ["org", "user", "api_key"] {
        assert!(
            scopes.contains(&(scope, day.as_str())),
            "{scope}: {}",
            a.body
        );
    }
    assert_eq!(found.len(), 3, "only the spike: {}", a.body);
    let user = found.iter().find(|x| x["scope"] == "user").unwrap();
    assert_eq!(
        (
            user["id"].as_str(),
            user["spent"].as_str(),
            user["baseline_median"].as_str()
        ),
        (Some("alice"), Some("100.000000000"), Some("10.000000000"))
    );
    assert_eq!(user["direction"], "above");
    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    assert_eq!(s.get(&member, "/v1/orgs/acme/anomalies").await.status, 403);
}

#[tokio::test]
async fn premium_models_for_small_outputs_and_uncached_long_prompts_are_priced() {
    let s = common::start().await;
    s.org("acme", "UTC", "1").await;
    let t = today();
    // 30 calls to gpt-4o, 100,000 input and 300 output tokens each, priced by the catalog.
    let events: Vec<_> = (0..30)
        .map(|i| {
            event(
                &format!("p{i}"),
                json!({"organization_id": "acme", "occurred_at": at_noon(t.yesterday().unwrap()),
                       "model_name": "gpt-4o", "tokens_in": 100_000, "tokens_out": 300,
                       "actual_api_cost": null}),
            )
        })
        .collect();
    assert_eq!(s.events(ADMIN, &events).await.body["accepted"], 30);
    // A registered key nobody used, and spend without a key.
    s.post(
        ADMIN,
        "/v1/orgs/acme/api-keys",
        &json!({"id": "key-idle", "name": "Old", "provider": "openai"}),
    )
    .await;
    s.events(
        ADMIN,
        &[event(
            "nokey",
            json!({"organization_id": "acme", "api_key_id": null, "user_id": "bob",
                   "model_name": "claude-3-haiku", "actual_api_cost": "2"}),
        )],
    )
    .await;

    let r = s.get(ADMIN, "/v1/orgs/acme/recommendations").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let data = r.body["data"].as_array().unwrap();
    let kind = |k: &str| {
        data.iter()
            .find(|x| x["kind"] == k)
            .unwrap_or_else(|| panic!("{k}: {}", r.body))
    };
    // gpt-4o: 3,000,000 in × $2.50 + 9,000 out × $10 = $7.59; gpt-4o-mini:
    // 3,000,000 × $0.15 + 9,000 × $0.60 = $0.4554 (per million tokens).
    let cheaper = kind("cheaper_model");
    assert_eq!(cheaper["alternative"], "gpt-4o-mini");
    assert_eq!(cheaper["monthly_saving"], "7.134600000");
    // Half of 3,000,000 uncached input at $1.25 less per million.
    assert_eq!(kind("prompt_caching")["monthly_saving"], "1.875000000");
    assert_eq!(kind("idle_key")["api_key_id"], "key-idle");
    assert!(kind("unattributed_spend")["explanation"]
        .as_str()
        .unwrap()
        .contains("$2.00 ("));
    assert_eq!(r.body["total_monthly_saving"], "9.009600000");
    // Sorted by saving, largest first.
    assert_eq!(data[0]["kind"], "cheaper_model");

    // A member sees those about themselves only; not the organisation's.
    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    let mine = s
        .get(&member, "/v1/orgs/acme/recommendations?user_id=alice")
        .await;
    assert_eq!(mine.status, 200);
    assert!(mine.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["user_id"] == "alice"));
    assert_eq!(
        s.get(&member, "/v1/orgs/acme/recommendations").await.status,
        403
    );
}
