//! Every aggregate figure of the SQLite store proven exact against an
//! independent computation over the raw stored events (tests/common: the
//! oracle), on generated datasets with the edge cases of BENCH.md — retries,
//! late events, missing keys, unpriced models, daylight-saving days, a +05:30
//! zone — plus hand-made cases for what a generator hits only by chance:
//! conversation starts moved by late events, conflicting duplicates,
//! quarantine, DST boundaries, timezone changes, exact nanodollar sums.

mod common;

use common::*;
use jiff::Timestamp;
use serde_json::json;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::time::{Day, Period};
use spendlens_domain::ErrorCode;
use spendlens_store::model::*;
use spendlens_store::query::{Dim, FigureQuery, Filter, GroupRow};
use spendlens_store::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// "Now" for parsing generated events: the day after the anchor, so the
/// tests never depend on the clock.
fn now_after(anchor: jiff::civil::Date) -> Timestamp {
    anchor
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

fn one_day(d: Day) -> Period {
    Period {
        from: d,
        to: Day(d.0 + 1),
    }
}

/// The filters worth asking of an organisation: the null groups it has, its
/// busiest user / team / department / key / model / provider, combinations,
/// and a value that names nothing.
fn filters(o: &Oracle) -> Vec<Filter> {
    let none = Filter::default;
    let mut out = Vec::new();
    if o.has_null(Dim::ApiKey) {
        out.push(Filter {
            api_key: Some(None),
            ..none()
        });
    }
    if o.has_null(Dim::Team) {
        out.push(Filter {
            team: Some(None),
            ..none()
        });
    }
    if o.has_null(Dim::Department) {
        out.push(Filter {
            department: Some(None),
            ..none()
        });
    }
    if o.has_null(Dim::Provider) {
        out.push(Filter {
            provider: Some(None),
            ..none()
        });
    }
    out.push(Filter {
        user: o.busiest(Dim::User, false),
        ..none()
    });
    out.push(Filter {
        team: o.busiest(Dim::Team, false),
        ..none()
    });
    out.push(Filter {
        department: o.busiest(Dim::Department, false),
        ..none()
    });
    out.push(Filter {
        api_key: o.busiest(Dim::ApiKey, false),
        ..none()
    });
    out.push(Filter {
        model: o.busiest(Dim::Model, false),
        provider: o.busiest(Dim::Provider, false),
        ..none()
    });
    out.push(Filter {
        user: o.busiest(Dim::User, false),
        api_key: Some(None),
        ..none()
    });
    out.push(Filter {
        team: Some(Some("no-such-team".into())),
        ..none()
    });
    out
}

/// Queries for one organisation: every group-by of 0–2 dimensions without a
/// filter over the `full` periods; no group, each single dimension and two
/// pairs with each filter over every period; local hours over `hourly`.
fn queries(o: &Oracle, full: &[Period], periods: &[Period], hourly: &[Period]) -> Vec<FigureQuery> {
    let singles = || group_bys().into_iter().take(10);
    let mut out = Vec::new();
    for p in full {
        for g in group_bys() {
            out.push(query(&o.org, *p, Filter::default(), g));
        }
        // The order of the dimensions is the order of the key.
        out.push(query(
            &o.org,
            *p,
            Filter::default(),
            vec![Dim::Month, Dim::User],
        ));
        out.push(query(
            &o.org,
            *p,
            Filter::default(),
            vec![Dim::Week, Dim::ApiKey],
        ));
    }
    for p in periods {
        if !full.contains(p) {
            out.extend(singles().map(|g| query(&o.org, *p, Filter::default(), g)));
        }
        for f in filters(o) {
            out.extend(singles().map(|g| query(&o.org, *p, f.clone(), g)));
            out.push(query(&o.org, *p, f.clone(), vec![Dim::Day, Dim::Model]));
            out.push(query(&o.org, *p, f.clone(), vec![Dim::Month, Dim::ApiKey]));
        }
    }
    for p in hourly {
        out.push(query(&o.org, *p, Filter::default(), vec![Dim::Hour]));
        out.push(query(
            &o.org,
            *p,
            Filter::default(),
            vec![Dim::Hour, Dim::Model],
        ));
        for f in filters(o).into_iter().take(2) {
            out.push(query(&o.org, *p, f, vec![Dim::Hour]));
        }
    }
    out
}

/// Run every query against the oracle, a few at a time. Returns the number
/// of groups compared.
async fn check_all(store: &Arc<dyn Store>, oracle: &Arc<Oracle>, qs: Vec<FigureQuery>) -> usize {
    let mut groups = 0;
    let mut qs = qs.into_iter();
    loop {
        let mut set = tokio::task::JoinSet::new();
        for q in qs.by_ref().take(4) {
            let (s, o) = (store.clone(), oracle.clone());
            set.spawn(async move { check(s.as_ref(), &o, &q).await });
        }
        if set.is_empty() {
            break;
        }
        while let Some(n) = set.join_next().await {
            groups += n.unwrap();
        }
    }
    groups
}

/// Figures to compare before and after replays: each single dimension.
async fn snapshot(store: &dyn Store, orgs: &[String], p: Period) -> Vec<Vec<GroupRow>> {
    let mut out = Vec::new();
    for org in orgs {
        for g in group_bys().into_iter().take(10) {
            let mut rows = store
                .figures(&query(org, p, Filter::default(), g))
                .await
                .unwrap();
            rows.sort_by(|a, b| a.key.cmp(&b.key));
            out.push(rows);
        }
    }
    out
}

fn distinct(sent: &[Sent]) -> usize {
    sent.iter()
        .map(|s| (s.org.as_str(), s.event.event_id.as_str()))
        .collect::<HashSet<_>>()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autumn_dataset_every_figure_matches_the_raw_events() {
    // 75 days ending 2026-11-15: whole September and October, Europe's and
    // America's autumn DST changes (25 Oct, 1 Nov), Asia/Kolkata at +05:30.
    let anchor = jiff::civil::date(2026, 11, 15);
    let mut spec = Spec::custom(24_000, 11, anchor);
    spec.days = 75;
    let setup = setup(&spec);
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
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
    store = open(dir.path());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_dataset_short_days_and_month_to_date() {
    // 40 days ending 2026-04-05: America springs forward on 8 March, Europe
    // on 29 March; Sydney falls back on 5 April, the anchor day.
    let anchor = jiff::civil::date(2026, 4, 5);
    let mut spec = Spec::custom(6_000, 23, anchor);
    spec.days = 40;
    let setup = setup(&spec);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
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

/// Every group-by of 0–2 dimensions and a few filters, over `periods`, for
/// one hand-made organisation.
async fn check_org(store: &Arc<dyn Store>, org: &str, tz: &str, periods: &[Period]) {
    let raw = store.events(org).await.unwrap();
    let oracle = Arc::new(Oracle::new(org, tz, &raw));
    let qs = queries(&oracle, periods, periods, periods);
    check_all(store, &oracle, qs).await;
}

fn by_first_key(rows: Vec<GroupRow>) -> BTreeMap<Option<String>, (u64, u64)> {
    rows.into_iter()
        .map(|r| {
            (
                r.key[0].clone(),
                (r.figures.messages, r.figures.conversations),
            )
        })
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_events_move_conversation_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_org(new_org("ny", "America/New_York", "1.25"), "test")
        .await
        .unwrap();
    let st = store.as_ref();
    let q = |from: &str, to: &str, f: Filter, group_by: Vec<Dim>| {
        query("ny", period(from, to), f, group_by)
    };
    let figures = |q: FigureQuery| async move { by_first_key(st.figures(&q).await.unwrap()) };
    let all = Filter::default;

    // c1 starts at 04:30Z on 2 Nov = 23:30 EST on 1 Nov, with key-late;
    // c2 at noon on 31 Oct; c3 on 1 Nov, where a later event changes nothing.
    let out = send(
        st,
        vec![
            ev(
                "b",
                "2026-11-02T04:30:00Z",
                "c1",
                json!({"api_key_id": "key-late", "team_id": "t-late"}),
            ),
            ev("z", "2026-10-31T12:00:00Z", "c2", json!({})),
            ev(
                "m",
                "2026-11-01T15:00:00Z",
                "c3",
                json!({"model_name": "gpt-4o-mini"}),
            ),
            ev(
                "n",
                "2026-11-01T16:00:00Z",
                "c3",
                json!({"model_name": "claude-sonnet-4-5"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 4, "{:?}", out.errors);
    let days = figures(q("2026-10-30", "2026-11-03", all(), vec![Dim::Day])).await;
    assert_eq!(
        days,
        BTreeMap::from([(s("2026-10-31"), (1, 1)), (s("2026-11-01"), (3, 2))])
    );
    check_org(
        &store,
        "ny",
        "America/New_York",
        &[
            period("2026-10-01", "2026-12-01"),
            period("2026-10-30", "2026-11-03"),
        ],
    )
    .await;

    // A late event earlier than c1's start, on 31 Oct local (03:59Z on 1 Nov),
    // with another key and team: c1 now starts on 31 Oct — in October's
    // month row — with that key and team. A tie at c2's start with a smaller
    // event_id takes c2's start (and its model). A late event after c3's
    // start moves nothing.
    let out = send(
        st,
        vec![
            ev(
                "a",
                "2026-11-01T03:59:00Z",
                "c1",
                json!({"api_key_id": "key-early", "team_id": "t-early"}),
            ),
            ev(
                "y",
                "2026-10-31T12:00:00Z",
                "c2",
                json!({"model_name": "gpt-4o-mini"}),
            ),
            ev(
                "l",
                "2026-11-01T15:30:00Z",
                "c3",
                json!({"api_key_id": "key-late"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 3, "{:?}", out.errors);
    let days = figures(q("2026-10-30", "2026-11-03", all(), vec![Dim::Day])).await;
    assert_eq!(
        days,
        BTreeMap::from([(s("2026-10-31"), (3, 2)), (s("2026-11-01"), (4, 1))])
    );
    let months = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::Month])).await;
    assert_eq!(
        months,
        BTreeMap::from([(s("2026-10-01"), (3, 2)), (s("2026-11-01"), (4, 1))])
    );
    let keys = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::ApiKey])).await;
    assert_eq!(
        keys,
        BTreeMap::from([
            (None, (4, 2)),
            (s("key-early"), (1, 1)),
            (s("key-late"), (2, 0))
        ])
    );
    let teams = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::Team])).await;
    // alice's membership was made on first sight of "b", with its team: her
    // events without a team count in t-late.
    assert_eq!(
        teams,
        BTreeMap::from([(s("t-early"), (1, 1)), (s("t-late"), (6, 2))])
    );
    // With a filter: the conversations whose first event matches it.
    let late_key = Filter {
        api_key: Some(s("key-late")),
        ..all()
    };
    let only = st
        .figures(&q("2026-10-01", "2026-12-01", late_key, vec![]))
        .await
        .unwrap();
    assert_eq!(
        (only[0].figures.messages, only[0].figures.conversations),
        (2, 0),
        "no conversation starts with key-late any more"
    );
    let models = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::Model])).await;
    assert_eq!(
        models,
        BTreeMap::from([
            (s("claude-sonnet-4-5"), (1, 0)),
            (s("gpt-4o"), (4, 1)),
            (s("gpt-4o-mini"), (2, 2)),
        ])
    );
    check_org(
        &store,
        "ny",
        "America/New_York",
        &[
            period("2026-10-01", "2026-12-01"),
            period("2026-10-30", "2026-11-03"),
            period("2026-11-01", "2026-11-02"),
        ],
    )
    .await;

    // In one batch: a conversation created and moved twice in the same
    // transaction, across a month boundary, counts once where it starts.
    let out = send(
        st,
        vec![
            ev(
                "q3",
                "2026-12-01T12:00:00Z",
                "c4",
                json!({"api_key_id": "key-late"}),
            ),
            ev(
                "q2",
                "2026-11-30T12:00:00Z",
                "c4",
                json!({"api_key_id": "key-early"}),
            ),
            ev("q1", "2026-11-29T12:00:00Z", "c4", json!({})),
            ev(
                "q4",
                "2026-11-29T12:00:00Z",
                "c4",
                json!({"model_name": "o3"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 4, "{:?}", out.errors);
    let days = figures(q("2026-11-28", "2026-12-02", all(), vec![Dim::Day])).await;
    assert_eq!(
        days,
        BTreeMap::from([
            (s("2026-11-29"), (2, 1)),
            (s("2026-11-30"), (1, 0)),
            (s("2026-12-01"), (1, 0))
        ])
    );
    // The detail agrees: the conversation starts at q1.
    let detail = st.conversation("ny", "c4").await.unwrap();
    assert_eq!(
        detail.started_at,
        "2026-11-29T12:00:00Z".parse::<Timestamp>().unwrap()
    );
    check_org(
        &store,
        "ny",
        "America/New_York",
        &[
            period("2026-10-01", "2027-01-01"),
            period("2026-11-15", "2026-12-15"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_event_under_a_known_id_is_a_conflicting_duplicate_and_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    store
        .create_org(new_org("la", "UTC", "1"), "test")
        .await
        .unwrap();
    let at = "2026-11-10T10:00:00Z";
    let first = ev("x", at, "c1", json!({"tokens_in": 100}));
    assert_eq!(send(store.as_ref(), vec![first.clone()]).await.accepted, 1);

    // Another batch: the same id with other tokens is a duplicate_conflict.
    let out = send(
        store.as_ref(),
        vec![ev("x", at, "c1", json!({"tokens_in": 101}))],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates, out.rejected), (0, 1, 0));
    assert_eq!(out.errors.len(), 1);
    let e = &out.errors[0];
    assert_eq!(
        (e.code.as_str(), e.field, e.event_id.as_deref(), e.index),
        ("duplicate_conflict", Some("event_id"), Some("x"), 0)
    );
    assert_eq!(ErrorCode::DuplicateConflict.as_str(), "duplicate_conflict");

    // The same payload spelled differently is a plain repeat (no error):
    // cost as a number, the instant with an offset, organisation left out
    // under an org-scoped token.
    let respelled = serde_json::json!({
        "event_id": "x", "occurred_at": "2026-11-10T05:00:00-05:00", "user_id": "alice",
        "conversation_id": "c1", "model_name": "gpt-4o", "tokens_in": 100, "tokens_out": 5,
        "actual_api_cost": 0.000000003,
    });
    let respelled = spendlens_domain::Event::parse(&respelled, parse_now()).unwrap();
    let out = send_as(
        store.as_ref(),
        IngestScope::Org("ny".into()),
        vec![respelled],
    )
    .await;
    assert_eq!(
        (out.accepted, out.duplicates, out.errors.len()),
        (0, 1, 0),
        "{:?}",
        out.errors
    );

    // In one batch: the first stays, the second conflicts (index 1), and a
    // third plain copy is a plain duplicate.
    let out = send(
        store.as_ref(),
        vec![
            ev("y", at, "c2", json!({"tokens_out": 1})),
            ev("y", at, "c2", json!({"tokens_out": 2})),
            ev("y", at, "c2", json!({"tokens_out": 1})),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates), (1, 2));
    assert_eq!(
        out.errors
            .iter()
            .map(|e| (e.index, e.code.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "duplicate_conflict")]
    );
    // The same id in another organisation is another event.
    let out = send(
        store.as_ref(),
        vec![ev(
            "x",
            at,
            "c1",
            json!({"organization_id": "la", "tokens_in": 7}),
        )],
    )
    .await;
    assert_eq!(out.accepted, 1, "{:?}", out.errors);

    // Two groups of one batch in one call: the second sees the first.
    let call = vec![
        IngestBatch {
            scope: IngestScope::Platform,
            events: vec![(0, ev("w", at, "c3", json!({})))],
            received_at: Timestamp::now(),
        },
        IngestBatch {
            scope: IngestScope::Org("ny".into()),
            events: vec![(0, ev("w", at, "c3", json!({"tokens_in": 11})))],
            received_at: Timestamp::now(),
        },
    ];
    let outs = store.ingest(call).await.unwrap();
    assert_eq!(
        (outs[0].accepted, outs[1].accepted, outs[1].duplicates),
        (1, 0, 1)
    );
    assert_eq!(
        codes(&outs[1]),
        vec![("w".to_string(), "duplicate_conflict")]
    );

    // After a restart the keys are still known.
    drop(store);
    store = open(dir.path());
    let out = send(
        store.as_ref(),
        vec![ev("x", at, "c1", json!({"tokens_in": 102})), first.clone()],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates), (0, 2));
    assert_eq!(codes(&out), vec![("x".to_string(), "duplicate_conflict")]);

    // Each counted once, with the first payload.
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
    assert_eq!(
        (f.messages, f.tokens_in, f.tokens_out, f.conversations),
        (3, 100 + 10 + 10, 5 + 1 + 5, 3)
    );
    let raw = store.events("ny").await.unwrap();
    assert_eq!(
        raw.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        vec!["w", "x", "y"]
    );
    check_org(&store, "ny", "UTC", &[period("2026-11-01", "2026-12-01")]).await;
    check_org(&store, "la", "UTC", &[period("2026-11-01", "2026-12-01")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_no_organisation_takes_are_quarantined_and_counted_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let st = store.as_ref();
    for org in ["ny", "la"] {
        st.create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    let member = |user: &str| Member {
        user_id: user.into(),
        email: None,
        role: Role::Member,
        team_id: None,
        department: None,
        added_by_admin: true,
    };
    st.put_member("ny", member("carol"), "test").await.unwrap();
    st.put_member("ny", member("bob"), "test").await.unwrap();
    st.put_member("la", member("bob"), "test").await.unwrap();
    let at = "2026-11-10T10:00:00Z";
    let anon = |id: &str, user: &str| {
        ev(
            id,
            at,
            &format!("c-{id}"),
            json!({"organization_id": null, "user_id": user}),
        )
    };
    // dave gets a membership in la on first sight (not made by an admin):
    // it does not place his events.
    assert_eq!(
        send(
            st,
            vec![ev(
                "d0",
                at,
                "c-d0",
                json!({"organization_id": "la", "user_id": "dave"})
            )]
        )
        .await
        .accepted,
        1
    );
    st.put_member("ny", member("dave"), "test").await.unwrap();

    let out = send(
        st,
        vec![
            ev("g1", at, "c-g1", json!({"organization_id": "ghost"})),
            anon("n1", "nobody"),
            anon("b1", "bob"),
            anon("c1", "carol"),
            anon("d1", "dave"),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.quarantined, out.rejected), (2, 3, 0));
    assert_eq!(
        codes(&out),
        vec![
            ("g1".to_string(), "unknown_organization"),
            ("n1".to_string(), "unknown_organization"),
            ("b1".to_string(), "ambiguous_organization"),
        ]
    );
    // An org-scoped token of an organisation that does not exist.
    let out = send_as(
        st,
        IngestScope::Org("gone".into()),
        vec![anon("o1", "alice")],
    )
    .await;
    assert_eq!(
        (out.quarantined, codes(&out)),
        (1, vec![("o1".to_string(), "unknown_organization")])
    );
    // An org-scoped token naming another organisation is rejected.
    let out = send_as(
        st,
        IngestScope::Org("ny".into()),
        vec![ev("m1", at, "c-m1", json!({"organization_id": "la"}))],
    )
    .await;
    assert_eq!(
        (out.rejected, codes(&out)),
        (1, vec![("m1".to_string(), "organization_mismatch")])
    );

    // Replays of quarantined events are duplicates; a changed one conflicts.
    let out = send(
        st,
        vec![
            ev("g1", at, "c-g1", json!({"organization_id": "ghost"})),
            ev(
                "g1",
                at,
                "c-g1",
                json!({"organization_id": "ghost", "tokens_in": 99}),
            ),
        ],
    )
    .await;
    assert_eq!((out.quarantined, out.duplicates), (0, 2));
    assert_eq!(codes(&out), vec![("g1".to_string(), "duplicate_conflict")]);

    let q = st.quarantined().await.unwrap();
    let listed: Vec<_> = q
        .iter()
        .map(|e| {
            (
                e.event_id.as_str(),
                e.organization_hint.as_deref(),
                e.user_id.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("g1", Some("ghost"), "alice", "unknown_organization"),
            ("n1", None, "nobody", "unknown_organization"),
            ("b1", None, "bob", "ambiguous_organization"),
            ("o1", Some("gone"), "alice", "unknown_organization"),
        ]
    );
    // Counted nowhere: ny has carol's and dave's events, la dave's first one.
    let whole = period("2026-11-01", "2026-12-01");
    let users = |org: &str| {
        let q = query(org, whole, Filter::default(), vec![Dim::User]);
        async move { by_first_key(st.figures(&q).await.unwrap()) }
    };
    assert_eq!(
        users("ny").await,
        BTreeMap::from([(s("carol"), (1, 1)), (s("dave"), (1, 1))])
    );
    assert_eq!(users("la").await, BTreeMap::from([(s("dave"), (1, 1))]));
    check_org(&store, "ny", "UTC", &[whole]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_belongs_to_its_first_user() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let at = "2026-11-10T10:00:00Z";
    let out = send(
        store.as_ref(),
        vec![
            ev("a", at, "c1", json!({})),
            ev("b", at, "c1", json!({"user_id": "mallory"})),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.rejected), (1, 1));
    assert_eq!(
        codes(&out),
        vec![("b".to_string(), "conversation_owner_mismatch")]
    );
    // Stored whole or not at all: a rejected event changes no one's email.
    let mallory = Member {
        user_id: "mallory".into(),
        email: Some("mallory@example.com".into()),
        role: Role::Member,
        team_id: None,
        department: None,
        added_by_admin: true,
    };
    store.put_member("ny", mallory, "test").await.unwrap();
    let out = send(
        store.as_ref(),
        vec![ev(
            "b",
            at,
            "c1",
            json!({"user_id": "mallory", "user_email": "evil@example.com"}),
        )],
    )
    .await;
    assert_eq!(
        codes(&out),
        vec![("b".to_string(), "conversation_owner_mismatch")]
    );
    let m = store.get_member("ny", "mallory").await.unwrap();
    assert_eq!(m.email.as_deref(), Some("mallory@example.com"));
    // Rejected, not remembered: the same id may come again, rightly this time.
    let out = send(
        store.as_ref(),
        vec![ev("b", at, "c2", json!({"user_id": "mallory"}))],
    )
    .await;
    assert_eq!(out.accepted, 1, "{:?}", out.errors);
    check_org(&store, "ny", "UTC", &[period("2026-11-01", "2026-12-01")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dst_and_odd_offset_days_hold_their_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timezone_change_applies_from_the_change_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nanodollars_sum_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_lists_keep_titles_and_model_names_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let model =
        |m: &str, title: Option<&str>| json!({"model_name": m, "conversation_title": title});
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "e1",
                "2026-11-10T10:00:00Z",
                "c1",
                model("ft:gpt-4o:acme,v2", Some("A")),
            ),
            ev(
                "e3",
                "2026-11-10T12:00:00Z",
                "c1",
                model("gpt-4o", Some("C")),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2);
    // Late events: an older title does not replace the latest one; an event
    // without a title changes nothing.
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "e2",
                "2026-11-10T11:00:00Z",
                "c1",
                model("gpt-4o", Some("B")),
            ),
            ev("e0", "2026-11-09T10:00:00Z", "c1", model("o3", None)),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2);
    let p = period("2026-11-10", "2026-11-11");
    let got = store.user_conversations("ny", "alice", p).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].title.as_deref(), Some("C"));
    assert_eq!(
        got[0].models,
        vec!["ft:gpt-4o:acme,v2".to_string(), "gpt-4o".to_string()]
    );
    assert_eq!(
        got[0].started_at,
        "2026-11-09T10:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(got[0].messages, 3, "the period's part only");
    let raw = store.events("ny").await.unwrap();
    check_conversations(store.as_ref(), "ny", &raw, "alice", p).await;
    let detail = store.conversation("ny", "c1").await.unwrap();
    assert_eq!(detail.title.as_deref(), Some("C"));
    assert_eq!(detail.messages.len(), 4);
}
