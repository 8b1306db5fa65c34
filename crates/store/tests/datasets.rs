//! Every aggregate figure proven exact against the oracle (tests/common) on
//! generated datasets with the edge cases of BENCH.md: retries, late events,
//! missing keys, unpriced models, daylight-saving days, a +05:30 zone.

mod common;

use common::*;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::time::{Day, Period};
use spendlens_store::model::*;
use spendlens_store::query::{Dim, Filter};
use std::sync::Arc;

use common::suite::*;

crate::on_both_backends!(autumn_dataset_every_figure_matches_the_raw_events);
async fn autumn_dataset_every_figure_matches_the_raw_events(b: Backend) {
    // 75 days ending 2026-11-15: whole September and October, Europe's and
    // America's autumn DST changes (25 Oct, 1 Nov), Asia/Kolkata at +05:30.
    let anchor = jiff::civil::date(2026, 11, 15);
    let mut spec = Spec::custom(24_000, 11, anchor);
    spec.days = 75;
    let setup = setup(&spec);
    let mut store = b.open().await;
    create_setup(store.as_ref(), &setup).await;

    let now = now_after(anchor);
    let sent = parse_all(events(&spec), now);
    let unique = distinct(&sent);
    // A third platform-wide, a third under org-scoped tokens, a third
    // without organization_id (placed by the user's one membership).
    let calls = batches(&sent, 1000, Routing::Mixed, now);
    let first = ingest(store.as_ref(), &calls).await;
    assert_eq!(
        (
            first.accepted,
            first.duplicates,
            first.rejected,
            first.quarantined
        ),
        (unique as u64, (sent.len() - unique) as u64, 0, 0),
        "{:?}",
        first.errors.first()
    );
    assert!(
        first.errors.is_empty(),
        "plain repeats carry no error: {:?}",
        first.errors.first()
    );
    assert!(first.duplicates > 300, "the generator resends 3%");

    // Every event stored once, where API.md §2 says, with its costs and local day.
    let raw = stored(store.as_ref(), &setup).await;
    check_placement(&setup, &sent, &raw);

    // Replaying the same batches three times changes nothing and reports
    // every event as a duplicate; so does a replay after a restart.
    let orgs: Vec<String> = setup.orgs.iter().map(|o| o.id.clone()).collect();
    let whole = period("2026-08-01", "2026-12-01");
    let before = snapshot(store.as_ref(), &orgs, whole).await;
    for round in 0..3 {
        let again = ingest(store.as_ref(), &calls).await;
        assert_eq!(
            (
                again.accepted,
                again.duplicates,
                again.rejected,
                again.quarantined,
                again.errors.len()
            ),
            (0, sent.len() as u64, 0, 0, 0),
            "replay {round}"
        );
    }
    drop(store);
    store = b.open().await;
    let some = &calls[..4];
    let n: usize = some.iter().flatten().map(|b| b.events.len()).sum();
    let again = ingest(store.as_ref(), some).await;
    assert_eq!(
        (again.accepted, again.duplicates, again.errors.len()),
        (0, n as u64, 0),
        "replay after reopening"
    );
    assert_eq!(
        snapshot(store.as_ref(), &orgs, whole).await,
        before,
        "a replay changed a figure"
    );
    assert_eq!(
        stored(store.as_ref(), &setup).await,
        raw,
        "a replay changed the detail"
    );

    // The dataset really has the edge cases the checks are meant to cover.
    let all: Vec<&StoredEvent> = raw.values().flatten().collect();
    assert!(
        all.iter().any(|e| e.api_key_id.is_none()),
        "events without a key"
    );
    assert!(all.iter().any(|e| e.unpriced), "unpriced events");
    assert!(
        all.iter().any(|e| e.actual_api_cost == 1),
        "a 1-nanodollar event"
    );
    let zones: Vec<&str> = setup.orgs.iter().map(|o| o.timezone.as_str()).collect();
    assert!(
        zones.contains(&"America/New_York") && zones.contains(&"Asia/Kolkata"),
        "{zones:?}"
    );

    let today = Day::from_date(anchor);
    let this_month = Period::resolve(None, None, Some("this_month"), today).unwrap();
    let last_30 = Period::resolve(None, None, Some("last_30d"), today).unwrap();
    let last_7 = Period::resolve(None, None, Some("last_7d"), today).unwrap();
    assert_eq!(this_month, period("2026-11-01", "2026-11-16"));
    assert_eq!(last_30, period("2026-10-17", "2026-11-16"));
    let range = period("2026-09-01", "2026-11-16");
    let (mut total_queries, mut total_groups, mut dst_checked) = (0, 0, 0);
    let (mut conversations, mut streamed) = (0, 0);
    for org in &setup.orgs {
        let oracle = Arc::new(Oracle::new(&org.id, &org.timezone, &raw[&org.id]));
        let dst: Vec<Period> = dst_days(&org.timezone, range)
            .into_iter()
            .map(one_day)
            .collect();
        dst_checked += dst.len();
        // Whole months only (month rows); months and days mixed at both ends;
        // month-to-date; the last 30 days across a month boundary; DST days.
        let mut full = vec![
            whole,
            period("2026-09-14", "2026-11-03"),
            this_month,
            last_30,
        ];
        full.extend(&dst);
        let mut periods = full.clone();
        periods.extend([
            range,
            period("2026-10-01", "2026-11-01"),
            last_7,
            period("2027-01-01", "2027-02-01"), // nothing
        ]);
        let mut hourly = vec![last_7];
        hourly.extend(&dst);
        let qs = queries(&oracle, &full, &periods, &hourly);
        total_queries += qs.len();
        total_groups += check_all(&store, &oracle, qs).await;

        // The detail reads agree with the same events: each person's
        // conversations, whole conversations, the message stream and its pages.
        let events = &raw[&org.id];
        for user in oracle.values(Dim::User).into_iter().flatten() {
            for p in [last_30, this_month, whole] {
                conversations +=
                    check_conversations(store.as_ref(), &org.id, events, &user, p).await;
            }
        }
        for conv in events.iter().step_by(97).map(|e| &e.conversation_id) {
            let detail = store.conversation(&org.id, conv).await.unwrap();
            let mine: Vec<StoredEvent> = events
                .iter()
                .filter(|e| &e.conversation_id == conv)
                .cloned()
                .collect();
            assert_eq!(detail.messages, mine, "conversation {conv}");
            assert_eq!(detail.started_at, mine[0].occurred_at);
            assert_eq!(
                detail.last_event_at,
                mine.iter().map(|e| e.occurred_at).max().unwrap()
            );
            assert_eq!(detail.user_id, mine[0].user_id);
        }
        // Last-seen times follow the events.
        let last = |key: Option<&str>| {
            events
                .iter()
                .filter(|e| key.is_none() || e.api_key_id.as_deref() == key)
                .map(|e| e.occurred_at)
                .max()
        };
        assert_eq!(
            store.get_org(&org.id).await.unwrap().last_event_at,
            last(None)
        );
        for k in store.list_api_keys(&org.id).await.unwrap() {
            assert_eq!(
                k.last_used_at,
                last(Some(&k.api_key_id)),
                "{}",
                k.api_key_id
            );
            assert!(k.registered, "datagen's keys are all registered");
        }
        let streams = [
            (whole, Filter::default(), 997),
            (last_30, filters(&oracle)[0].clone(), 50),
            (
                this_month,
                Filter {
                    user: oracle.busiest(Dim::User, false),
                    ..Filter::default()
                },
                10,
            ),
            (
                range,
                Filter {
                    team: oracle.busiest(Dim::Team, false),
                    model: oracle.busiest(Dim::Model, false),
                    ..Filter::default()
                },
                100,
            ),
        ];
        for (p, f, page) in streams {
            streamed += check_stream(&store, &org.id, events, p, f, page).await;
        }
    }
    assert!(
        conversations > 1_000 && streamed > 20_000,
        "{conversations} conversations, {streamed} streamed"
    );
    assert!(
        dst_checked >= 3,
        "New York and two more zones change in the range: {dst_checked}"
    );
    assert!(
        total_groups > 50_000,
        "{total_queries} queries, {total_groups} groups"
    );
}

crate::on_both_backends!(spring_dataset_short_days_and_month_to_date);
async fn spring_dataset_short_days_and_month_to_date(b: Backend) {
    // 40 days ending 2026-04-05: America springs forward on 8 March, Europe
    // on 29 March; Sydney falls back on 5 April, the anchor day.
    let anchor = jiff::civil::date(2026, 4, 5);
    let mut spec = Spec::custom(6_000, 23, anchor);
    spec.days = 40;
    let setup = setup(&spec);
    let store = b.open().await;
    create_setup(store.as_ref(), &setup).await;
    let now = now_after(anchor);
    let sent = parse_all(events(&spec), now);
    let calls = batches(&sent, 1000, Routing::Platform, now);
    let out = ingest(store.as_ref(), &calls).await;
    assert_eq!(
        out.accepted as usize,
        distinct(&sent),
        "{:?}",
        out.errors.first()
    );
    let raw = stored(store.as_ref(), &setup).await;
    check_placement(&setup, &sent, &raw);

    let today = Day::from_date(anchor);
    let this_month = Period::resolve(None, None, Some("this_month"), today).unwrap();
    let last_30 = Period::resolve(None, None, Some("last_30d"), today).unwrap();
    let range = period("2026-02-20", "2026-04-06");
    let mut short_days = 0;
    for org in &setup.orgs {
        let oracle = Arc::new(Oracle::new(&org.id, &org.timezone, &raw[&org.id]));
        let dst: Vec<Period> = dst_days(&org.timezone, range)
            .into_iter()
            .map(one_day)
            .collect();
        short_days += dst.len();
        let mut full = vec![range, this_month, last_30];
        full.extend(&dst);
        let periods = vec![range, period("2026-03-01", "2026-04-01")];
        let qs = queries(&oracle, &full, &periods, &dst);
        check_all(&store, &oracle, qs).await;
    }
    assert!(short_days >= 2, "{short_days}");
}
