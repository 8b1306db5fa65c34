//! The FOCUS export: its rows add up to the raw events, per local day, in the
//! organisation's timezone.

mod common;

use common::{event, ADMIN};
use serde_json::json;
use std::collections::BTreeMap;

/// "12.345678901" → nanodollars, written apart from the server's money code.
fn nanos(text: &str) -> i128 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = format!("{frac:0<9}");
    whole.parse::<i128>().unwrap() * 1_000_000_000 + frac.parse::<i128>().unwrap()
}

#[tokio::test]
async fn focus_rows_add_up_per_local_day() {
    let s = common::start().await;
    s.org("acme", "Asia/Kolkata", "1.5").await;
    // 19:00Z on the 19th is 00:30 on the 20th in Kolkata (+05:30).
    let sent = [
        (
            "a",
            "2026-11-19T18:00:00Z",
            "0.000000001",
            "key-prod",
            "gpt-4o",
        ),
        ("b", "2026-11-19T19:00:00Z", "1.25", "key-prod", "gpt-4o"),
        (
            "c",
            "2026-11-20T10:00:00Z",
            "0.333333333",
            "key-prod",
            "gpt-4o",
        ),
        (
            "d",
            "2026-11-20T11:00:00Z",
            "2",
            "key-other",
            "claude-sonnet-4",
        ),
    ];
    let events: Vec<_> = sent
        .iter()
        .map(|(id, at, cost, key, model)| {
            event(
                id,
                json!({"organization_id": "acme", "occurred_at": at, "actual_api_cost": cost,
                       "api_key_id": key, "model_name": model}),
            )
        })
        .collect();
    assert_eq!(s.events(ADMIN, &events).await.body["accepted"], 4);

    let r = s
        .http
        .get(s.url("/v1/orgs/acme/focus?from=2026-11-01&to=2026-12-01"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("focus"));
    let body = r.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let head: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    for column in [
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ServiceName",
        "ResourceId",
        "BillingCurrency",
    ] {
        assert!(
            head.contains(&column.to_owned()),
            "{column} missing: {head:?}"
        );
    }
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();

    // Independent: total charged per local day = actual × 1.5 per event.
    let mut expected: BTreeMap<&str, i128> = BTreeMap::new();
    for (id, _, cost, ..) in &sent {
        let local_start = match *id {
            "a" => "2026-11-18T18:30:00Z",
            _ => "2026-11-19T18:30:00Z",
        };
        *expected.entry(local_start).or_default() += (nanos(cost) * 3 + 1) / 2; // × 1.5, halves away from zero, per event
    }
    let mut got: BTreeMap<String, i128> = BTreeMap::new();
    let mut provider_cost = 0;
    for r in &rows {
        *got.entry(r[col("ChargePeriodStart")].to_owned())
            .or_default() += nanos(&r[col("BilledCost")]);
        assert_eq!(r[col("BilledCost")], r[col("EffectiveCost")]);
        assert_eq!(r[col("BillingCurrency")], *"USD");
        provider_cost += nanos(&r[col("x_ProviderCost")]);
    }
    let expected: BTreeMap<String, i128> = expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(provider_cost, sent.iter().map(|e| nanos(e.2)).sum::<i128>());
    let claude = rows
        .iter()
        .find(|r| &r[col("SkuId")] == "claude-sonnet-4")
        .expect("a claude row");
    assert_eq!(&claude[col("ResourceId")], "key-other");
    assert_eq!(&claude[col("ChargePeriodEnd")], "2026-11-20T18:30:00Z");
    assert_eq!(&claude[col("BillingPeriodStart")], "2026-10-31T18:30:00Z");

    // Only organisation admins: a member is refused, another org is not found.
    let member = s
        .token(
            ADMIN,
            json!({"role": "member", "organization_id": "acme", "user_id": "alice"}),
        )
        .await;
    assert_eq!(s.get(&member, "/v1/orgs/acme/focus").await.status, 403);
    assert_eq!(s.get(ADMIN, "/v1/orgs/nope/focus").await.status, 404);
    assert_eq!(
        s.get(ADMIN, "/v1/orgs/acme/focus?format=xml").await.status,
        400
    );
}
