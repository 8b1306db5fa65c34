//! Local days at daylight-saving edges and odd offsets, timezone changes,
//! and exact nanodollar sums.

mod common;

use common::*;
use jiff::Timestamp;
use serde_json::json;
use spendlens_domain::time::{Day, Period};
use spendlens_store::model::*;
use spendlens_store::query::{Dim, Filter};
use std::collections::BTreeMap;

use common::suite::*;

crate::on_both_backends!(dst_and_odd_offset_days_hold_their_events);
async fn dst_and_odd_offset_days_hold_their_events(b: Backend) {
    let store = b.open().await;
    let zones = [
        ("ny", "America/New_York"),
        ("be", "Europe/Berlin"),
        ("sy", "Australia/Sydney"),
        ("in", "Asia/Kolkata"),
    ];
    for (id, tz) in zones {
        store
            .create_org(new_org(id, tz, "1"), "test")
            .await
            .unwrap();
    }
    // (org, instant, the local day it must count in)
    let cases = [
        // New York falls back on 1 Nov 2026 (06:00Z) and springs forward on 8 Mar (07:00Z).
        ("ny", "2026-11-01T03:59:59Z", "2026-10-31"),
        ("ny", "2026-11-01T04:00:00Z", "2026-11-01"),
        ("ny", "2026-11-01T05:30:00Z", "2026-11-01"), // 01:30 EDT
        ("ny", "2026-11-01T06:30:00Z", "2026-11-01"), // 01:30 EST, the repeated hour
        ("ny", "2026-11-02T04:59:59Z", "2026-11-01"), // 23:59:59 EST
        ("ny", "2026-11-02T05:00:00Z", "2026-11-02"),
        ("ny", "2026-03-08T04:59:59Z", "2026-03-07"),
        ("ny", "2026-03-08T05:00:00Z", "2026-03-08"),
        ("ny", "2026-03-08T06:59:59Z", "2026-03-08"), // 01:59:59 EST
        ("ny", "2026-03-08T07:00:00Z", "2026-03-08"), // 03:00 EDT
        ("ny", "2026-03-09T03:59:59Z", "2026-03-08"), // 23:59:59 EDT
        ("ny", "2026-03-09T04:00:00Z", "2026-03-09"),
        // Berlin: 29 Mar and 25 Oct 2026 at 01:00Z.
        ("be", "2026-03-28T22:59:59Z", "2026-03-28"),
        ("be", "2026-03-28T23:00:00Z", "2026-03-29"),
        ("be", "2026-03-29T21:59:59Z", "2026-03-29"),
        ("be", "2026-03-29T22:00:00Z", "2026-03-30"),
        ("be", "2026-10-24T21:59:59Z", "2026-10-24"),
        ("be", "2026-10-24T22:00:00Z", "2026-10-25"),
        ("be", "2026-10-25T00:30:00Z", "2026-10-25"), // 02:30 CEST
        ("be", "2026-10-25T01:30:00Z", "2026-10-25"), // 02:30 CET
        ("be", "2026-10-25T22:59:59Z", "2026-10-25"),
        ("be", "2026-10-25T23:00:00Z", "2026-10-26"),
        // Sydney falls back on 5 Apr 2026 (16:00Z on 4 Apr).
        ("sy", "2026-04-04T12:59:59Z", "2026-04-04"),
        ("sy", "2026-04-04T13:00:00Z", "2026-04-05"),
        ("sy", "2026-04-05T13:59:59Z", "2026-04-05"),
        ("sy", "2026-04-05T14:00:00Z", "2026-04-06"),
        // Kolkata, +05:30.
        ("in", "2026-11-10T18:29:59Z", "2026-11-10"),
        ("in", "2026-11-10T18:30:00Z", "2026-11-11"),
        ("in", "2026-10-31T18:29:59Z", "2026-10-31"),
        ("in", "2026-10-31T18:30:00Z", "2026-11-01"),
    ];
    let mut events: BTreeMap<&str, Vec<spendlens_domain::Event>> = BTreeMap::new();
    for (i, (org, at, _)) in cases.iter().enumerate() {
        let id = format!("e{i:02}");
        events.entry(org).or_default().push(ev(
            &id,
            at,
            &id,
            json!({"organization_id": org, "user_id": format!("u{}", i % 3)}),
        ));
    }
    for (org, evs) in events {
        let n = evs.len() as u64;
        assert_eq!(
            send_as(store.as_ref(), IngestScope::Org(org.into()), evs)
                .await
                .accepted,
            n
        );
    }
    for (org, tz) in zones {
        let raw = store.events(org).await.unwrap();
        for e in &raw {
            let i: usize = e.event_id[1..].parse().unwrap();
            let (_, at, want) = cases[i];
            assert_eq!(Day(e.day).to_string(), want, "{org} {at}");
            assert_eq!(e.day, local_day(e.occurred_at, tz), "{org} {at}");
        }
        let months = [
            period("2026-03-01", "2026-05-01"),
            period("2026-10-01", "2026-12-01"),
        ];
        let mut periods = months.to_vec();
        periods.extend(
            cases
                .iter()
                .filter(|c| c.0 == org)
                .map(|c| one_day(day(c.2))),
        );
        check_org(&store, org, tz, &periods).await;
    }
    // New York's 25-hour day in local hours: the repeated 01:00 is two hours.
    let rows = store
        .figures(&query(
            "ny",
            period("2026-11-01", "2026-11-02"),
            Filter::default(),
            vec![Dim::Hour],
        ))
        .await
        .unwrap();
    let mut hours: Vec<(i64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r.key[0].as_deref().unwrap().parse().unwrap(),
                r.figures.messages,
            )
        })
        .collect();
    hours.sort();
    let at = |t: &str| t.parse::<Timestamp>().unwrap().as_second();
    assert_eq!(
        hours,
        vec![
            (at("2026-11-01T04:00:00Z"), 1),
            (at("2026-11-01T05:00:00Z"), 1),
            (at("2026-11-01T06:00:00Z"), 1),
            (at("2026-11-02T04:00:00Z"), 1),
        ]
    );
}

crate::on_both_backends!(a_timezone_change_applies_from_the_change_on);
async fn a_timezone_change_applies_from_the_change_on(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "Etc/GMT+12", "1"), "test")
        .await
        .unwrap();
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let fmt = |t: Timestamp| t.to_string();
    let before = now - jiff::SignedDuration::from_hours(3);
    let late = now - jiff::SignedDuration::from_hours(2);
    let after = now + jiff::SignedDuration::from_hours(2);
    assert_eq!(
        send(store.as_ref(), vec![ev("a", &fmt(before), "c1", json!({}))])
            .await
            .accepted,
        1
    );
    let patch = OrgPatch {
        timezone: Some("Pacific/Kiritimati".into()),
        ..OrgPatch::default()
    };
    store.update_org("ny", patch, "test").await.unwrap();
    // After the change: an event from before it (late) keeps the old zone.
    let out = send(
        store.as_ref(),
        vec![
            ev("b", &fmt(late), "c2", json!({})),
            ev("c", &fmt(after), "c3", json!({})),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2, "{:?}", out.errors);
    let raw = store.events("ny").await.unwrap();
    let day_of = |id: &str| raw.iter().find(|e| e.event_id == id).unwrap().day;
    assert_eq!(day_of("a"), local_day(before, "Etc/GMT+12"));
    assert_eq!(day_of("b"), local_day(late, "Etc/GMT+12"));
    assert_eq!(day_of("c"), local_day(after, "Pacific/Kiritimati"));
    // Figures follow the stored days, local hours included: each event's
    // hour in the zone of its time, each period by the days events keep.
    let zones = [(Timestamp::MIN, "Etc/GMT+12"), (now, "Pacific/Kiritimati")];
    let oracle = Oracle::with_zones("ny", &zones, &raw);
    let p = Period {
        from: Day(day_of("a").min(day_of("b")) - 1),
        to: Day(day_of("c") + 2),
    };
    let mut periods = vec![p];
    periods.extend(["a", "b", "c"].map(|id| one_day(Day(day_of(id)))));
    for p in periods {
        let mut group_bys = group_bys();
        group_bys.extend([vec![Dim::Hour], vec![Dim::Hour, Dim::User]]);
        for g in group_bys {
            check(
                store.as_ref(),
                &oracle,
                &query("ny", p, Filter::default(), g),
            )
            .await;
        }
    }
}

crate::on_both_backends!(nanodollars_sum_exactly);
async fn nanodollars_sum_exactly(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1.5"), "test")
        .await
        .unwrap();
    // 50,000 events of 1 nanodollar (the domain's money tests sum a million),
    // and a few at the 1,000,000 USD ceiling.
    for chunk in 0..5 {
        let events: Vec<_> = (0..10_000)
            .map(|i| {
                ev(
                    &format!("n{chunk}-{i}"),
                    "2026-11-10T10:00:00Z",
                    &format!("c{chunk}-{}", i % 100),
                    json!({"actual_api_cost": "0.000000001"}),
                )
            })
            .collect();
        assert_eq!(send(store.as_ref(), events).await.accepted, 10_000);
    }
    let big: Vec<_> = (0..20)
        .map(|i| {
            ev(
                &format!("big{i}"),
                "2026-11-11T10:00:00Z",
                "big",
                json!({"actual_api_cost": "999999.999999999", "total_cost": "1000000"}),
            )
        })
        .collect();
    assert_eq!(send(store.as_ref(), big).await.accepted, 20);
    let rows = store
        .figures(&query(
            "ny",
            period("2026-11-01", "2026-12-01"),
            Filter::default(),
            vec![],
        ))
        .await
        .unwrap();
    let f = rows[0].figures;
    // 1 × 1.5 = 1.5 → 2 nanodollars each (halves away from zero), per event.
    let big = 20 * 1_000_000 * 1_000_000_000i128;
    assert_eq!(f.actual_api_cost, 50_000 + big - 20);
    assert_eq!(f.total_cost, 100_000 + big);
    assert_eq!((f.messages, f.conversations), (50_020, 501));
    check_org(
        &store,
        "ny",
        "UTC",
        &[
            period("2026-11-01", "2026-12-01"),
            period("2026-11-11", "2026-11-12"),
        ],
    )
    .await;
}
