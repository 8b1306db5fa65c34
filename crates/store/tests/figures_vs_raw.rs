//! Every aggregate figure against a direct computation over the raw stored
//! events, on a generated dataset with the edge cases of BENCH.md: replays,
//! late events that move conversation starts, missing keys, unpriced models,
//! daylight-saving days, a +05:30 zone, ranges mixing month and day granules.

use jiff::Timestamp;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::time::{Day, Period};
use spendlens_domain::{Event, Markup};
use spendlens_store::model::*;
use spendlens_store::query::{Dim, FigureQuery, Figures, Filter};
use spendlens_store::Store;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = spendlens_store::open(&url, spendlens_store::Durability::Process).unwrap();
    (dir, store)
}

async fn create(store: &dyn Store, spec: &Spec) {
    for org in setup(spec).orgs {
        let new = NewOrg {
            id: org.id.clone(),
            name: org.name,
            timezone: org.timezone,
            markup: Markup::parse(&org.markup).unwrap(),
            webhook_url: None,
            retention_days: 365,
        };
        store.create_org(new, "test").await.unwrap();
        for t in org.teams {
            store
                .create_team(
                    &org.id,
                    Team {
                        team_id: t.id,
                        name: t.name,
                        department: t.department,
                    },
                    "test",
                )
                .await
                .unwrap();
        }
        for m in org.members {
            let member = Member {
                user_id: m.user_id,
                email: Some(m.email),
                role: Role::parse(&m.role).unwrap(),
                team_id: m.team_id,
                department: m.department,
                added_by_admin: true,
            };
            store.put_member(&org.id, member, "test").await.unwrap();
        }
        for k in org.keys {
            store
                .create_api_key(&org.id, &k.id, &k.name, Some(&k.provider), "test")
                .await
                .unwrap();
        }
    }
}

async fn ingest_all(store: &dyn Store, spec: &Spec) -> BatchOutcome {
    let now = Timestamp::now();
    let all: Vec<Event> = events(spec)
        .map(|v| Event::parse(&v, now).unwrap())
        .collect();
    let mut total = BatchOutcome::default();
    for chunk in all.chunks(1000) {
        let batch = IngestBatch {
            scope: IngestScope::Platform,
            events: chunk.iter().cloned().enumerate().collect(),
            received_at: now,
        };
        let out = store.ingest(vec![batch]).await.unwrap().remove(0);
        total.accepted += out.accepted;
        total.duplicates += out.duplicates;
        total.quarantined += out.quarantined;
        total.rejected += out.rejected;
        total.errors.extend(out.errors);
    }
    total
}

fn dim_value(e: &StoredEvent, d: Dim) -> Option<String> {
    let day = Day(e.day);
    match d {
        Dim::User => Some(e.user_id.clone()),
        Dim::Team => e.team_id.clone(),
        Dim::Department => e.department.clone(),
        Dim::ApiKey => e.api_key_id.clone(),
        Dim::Model => Some(e.model.clone()),
        Dim::Provider => e.provider.clone(),
        Dim::Day => Some(day.to_string()),
        Dim::Week => Some(day.iso_week_monday().to_string()),
        Dim::Month => Some(day.month().first_day().to_string()),
        Dim::Hour => unreachable!("hours are not grouped in this test"),
    }
}

fn matches(e: &StoredEvent, f: &Filter) -> bool {
    let ok = |want: &Option<Option<String>>, have: Option<String>| {
        want.as_ref().is_none_or(|w| *w == have)
    };
    ok(&f.user, Some(e.user_id.clone()))
        && ok(&f.team, e.team_id.clone())
        && ok(&f.department, e.department.clone())
        && ok(&f.api_key, e.api_key_id.clone())
        && ok(&f.model, Some(e.model.clone()))
        && ok(&f.provider, e.provider.clone())
}

type Expected = BTreeMap<Vec<Option<String>>, Figures>;

/// API.md §3, written out plainly over the stored events.
fn expected(raw: &[StoredEvent], q: &FigureQuery) -> Expected {
    let mut out: Expected = BTreeMap::new();
    let mut users: HashMap<Vec<Option<String>>, HashSet<&str>> = HashMap::new();
    let key = |e: &StoredEvent| {
        q.group_by
            .iter()
            .map(|d| dim_value(e, *d))
            .collect::<Vec<_>>()
    };
    for e in raw
        .iter()
        .filter(|e| q.period.contains(Day(e.day)) && matches(e, &q.filter))
    {
        let k = key(e);
        let f = out.entry(k.clone()).or_default();
        f.total_cost += i128::from(e.total_cost);
        f.actual_api_cost += i128::from(e.actual_api_cost);
        f.messages += 1;
        f.tokens_in += e.tokens_in;
        f.tokens_out += e.tokens_out;
        f.cached_tokens_in += e.cached_tokens_in;
        f.cache_write_tokens_in += e.cache_write_tokens_in;
        f.unpriced_events += u64::from(e.unpriced);
        users.entry(k).or_default().insert(&e.user_id);
    }
    for (k, set) in users {
        out.get_mut(&k).unwrap().active_users = set.len() as u64;
    }
    // A conversation counts once: where its first event (earliest occurred_at,
    // ties by event_id) falls.
    let mut first: HashMap<&str, &StoredEvent> = HashMap::new();
    for e in raw {
        let slot = first.entry(&e.conversation_id).or_insert(e);
        if (e.occurred_at, &e.event_id) < (slot.occurred_at, &slot.event_id) {
            *slot = e;
        }
    }
    for e in first
        .values()
        .filter(|e| q.period.contains(Day(e.day)) && matches(e, &q.filter))
    {
        out.get_mut(&key(e))
            .expect("a conversation's first event is a message of its group")
            .conversations += 1;
    }
    out
}

async fn check(store: &dyn Store, raw: &[StoredEvent], q: FigureQuery) {
    let got: Expected = store
        .figures(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.figures))
        .collect();
    let want = expected(raw, &q);
    if got != want {
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(3)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !want.contains_key(*k))
            .take(3)
            .collect();
        let differ: Vec<_> = want
            .iter()
            .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
            .take(2)
            .map(|(k, v)| (k, v, got[k]))
            .collect();
        panic!("{q:?}\n{} groups expected, {} got; missing {missing:?}; extra {extra:?}; differ {differ:#?}", want.len(), got.len());
    }
}

fn period(from: &str, to: &str) -> Period {
    Period {
        from: Day::parse(from).unwrap(),
        to: Day::parse(to).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_figure_matches_the_raw_events() {
    // 75 days ending 2026-11-15: whole September and October, both autumn DST
    // changes (Europe 25 Oct, America 1 Nov), Asia/Kolkata at +05:30.
    let mut spec = Spec::custom(30_000, 7, jiff::civil::date(2026, 11, 15));
    spec.days = 75;
    let (_dir, store) = open();
    create(store.as_ref(), &spec).await;

    let first = ingest_all(store.as_ref(), &spec).await;
    assert_eq!(first.accepted, 30_000, "{:?}", first.errors.first());
    assert!(
        first.duplicates > 500,
        "the generator resends 3%: {}",
        first.duplicates
    );
    assert_eq!(
        first.rejected + first.quarantined,
        0,
        "{:?}",
        first.errors.first()
    );
    // Replaying everything changes nothing.
    let orgs = store.list_orgs().await.unwrap();
    let mut before = Vec::new();
    for o in &orgs {
        before.push(store.events(&o.id).await.unwrap());
    }
    let again = ingest_all(store.as_ref(), &spec).await;
    assert_eq!(
        (again.accepted, again.duplicates, again.errors.len()),
        (0, first.accepted + first.duplicates, 0)
    );

    let periods = [
        period("2026-09-01", "2026-11-16"), // everything: month granules + days
        period("2026-09-14", "2026-11-03"), // partial months at both ends, one whole month
        period("2026-10-01", "2026-11-01"), // exactly October
        period("2026-11-01", "2026-11-02"), // America's 25-hour day
        period("2026-10-25", "2026-10-26"), // Europe's 25-hour day
        period("2026-11-09", "2026-11-16"), // the last week
        period("2027-01-01", "2027-02-01"), // nothing
    ];
    let singles = [
        Dim::User,
        Dim::Team,
        Dim::Department,
        Dim::ApiKey,
        Dim::Model,
        Dim::Provider,
        Dim::Day,
        Dim::Week,
        Dim::Month,
    ];
    let pairs = [
        [Dim::User, Dim::Model],
        [Dim::Team, Dim::Day],
        [Dim::ApiKey, Dim::Week],
        [Dim::Provider, Dim::Month],
        [Dim::Department, Dim::ApiKey],
        [Dim::Model, Dim::Month],
    ];
    let mut checked = 0;
    for (o, raw) in orgs.iter().zip(&before) {
        assert_eq!(
            &store.events(&o.id).await.unwrap(),
            raw,
            "replay changed {}",
            o.id
        );
        let busiest_user = raw.first().map(|e| e.user_id.clone());
        let filters = [
            Filter::default(),
            Filter {
                api_key: Some(None),
                ..Filter::default()
            }, // "Unknown key"
            Filter {
                user: busiest_user.map(Some),
                ..Filter::default()
            },
            Filter {
                provider: Some(Some("anthropic".into())),
                model: Some(Some("claude-sonnet-4-5".into())),
                ..Filter::default()
            },
        ];
        for p in periods {
            for f in &filters {
                let ask = |group_by: Vec<Dim>| FigureQuery {
                    org: o.id.clone(),
                    period: p,
                    filter: f.clone(),
                    group_by,
                };
                check(store.as_ref(), raw, ask(vec![])).await;
                for d in singles {
                    check(store.as_ref(), raw, ask(vec![d])).await;
                }
                if f == &Filter::default() {
                    for pair in pairs {
                        check(store.as_ref(), raw, ask(pair.to_vec())).await;
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, orgs.len() * periods.len() * 4);
    // The dataset really has the edge cases the checks are meant to cover.
    let all: Vec<&StoredEvent> = before.iter().flatten().collect();
    assert!(all.iter().any(|e| e.api_key_id.is_none()));
    assert!(all.iter().any(|e| e.unpriced));
    assert!(
        all.iter().any(|e| e.actual_api_cost == 1),
        "a 1-nanodollar event"
    );
    let tz: HashSet<&str> = orgs.iter().map(|o| o.timezone.as_str()).collect();
    assert!(
        tz.contains("America/New_York") && tz.contains("Asia/Kolkata"),
        "{tz:?}"
    );
}

fn ev(id: &str, at: &str, conv: &str, over: serde_json::Value) -> Event {
    let mut v = serde_json::json!({
        "event_id": id, "occurred_at": at, "organization_id": "ny", "user_id": "alice",
        "conversation_id": conv, "model_name": "gpt-4o", "tokens_in": 10, "tokens_out": 5, "actual_api_cost": "0.000000003",
    });
    for (k, x) in over.as_object().unwrap() {
        v[k] = x.clone();
    }
    Event::parse(&v, Timestamp::now()).unwrap()
}

async fn send(store: &dyn Store, events: Vec<Event>) -> BatchOutcome {
    let batch = IngestBatch {
        scope: IngestScope::Platform,
        events: events.into_iter().enumerate().collect(),
        received_at: Timestamp::now(),
    };
    store.ingest(vec![batch]).await.unwrap().remove(0)
}

#[tokio::test]
async fn late_events_move_conversation_starts_and_dst_days_hold_their_hours() {
    let (_dir, store) = open();
    let org = NewOrg {
        id: "ny".into(),
        name: "NY".into(),
        timezone: "America/New_York".into(),
        markup: Markup::parse("1").unwrap(),
        webhook_url: None,
        retention_days: 365,
    };
    store.create_org(org, "test").await.unwrap();
    // 04:30Z on 2 Nov is 23:30 EST on 1 Nov; 03:59Z on 1 Nov is 23:59 EDT on 31 Oct.
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "b",
                "2026-11-02T04:30:00Z",
                "c1",
                serde_json::json!({"api_key_id": "key-late"}),
            ),
            ev("z", "2026-10-31T12:00:00Z", "c2", serde_json::json!({})),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2);
    let q = |from: &str, to: &str, group_by: Vec<Dim>| FigureQuery {
        org: "ny".into(),
        period: period(from, to),
        filter: Filter::default(),
        group_by,
    };
    let convs_by_day = |rows: Vec<spendlens_store::query::GroupRow>| {
        rows.into_iter()
            .map(|r| {
                (
                    r.key[0].clone().unwrap(),
                    (r.figures.messages, r.figures.conversations),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let rows = store
        .figures(&q("2026-10-30", "2026-11-03", vec![Dim::Day]))
        .await
        .unwrap();
    assert_eq!(
        convs_by_day(rows),
        BTreeMap::from([
            ("2026-10-31".to_string(), (1, 1)),
            ("2026-11-01".to_string(), (1, 1))
        ])
    );

    // A late event, earlier than c1's start, on 31 Oct local (03:59Z), with
    // another key: c1 now starts on 31 Oct, with that key. A tie at c2's
    // start with a smaller event_id takes c2's start too.
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "a",
                "2026-11-01T03:59:00Z",
                "c1",
                serde_json::json!({"api_key_id": "key-early"}),
            ),
            ev(
                "y",
                "2026-10-31T12:00:00Z",
                "c2",
                serde_json::json!({"model_name": "gpt-4o-mini"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2, "{:?}", out.errors);
    let rows = store
        .figures(&q("2026-10-30", "2026-11-03", vec![Dim::Day]))
        .await
        .unwrap();
    assert_eq!(
        convs_by_day(rows),
        BTreeMap::from([
            ("2026-10-31".to_string(), (3, 2)),
            ("2026-11-01".to_string(), (1, 0))
        ])
    );
    let by_key: BTreeMap<_, _> = store
        .figures(&q("2026-10-30", "2026-11-03", vec![Dim::ApiKey]))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key[0].clone(), r.figures.conversations))
        .collect();
    assert_eq!(
        by_key,
        BTreeMap::from([
            (None, 1),
            (Some("key-early".into()), 1),
            (Some("key-late".into()), 0)
        ])
    );
    let by_model: BTreeMap<_, _> = store
        .figures(&q("2026-10-30", "2026-11-03", vec![Dim::Model]))
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key[0].clone().unwrap(), r.figures.conversations))
        .collect();
    assert_eq!(
        by_model,
        BTreeMap::from([("gpt-4o".into(), 1), ("gpt-4o-mini".into(), 1)])
    );
    // The month view agrees with the days (October from month rows).
    let months = store
        .figures(&q("2026-10-01", "2026-12-01", vec![Dim::Month]))
        .await
        .unwrap();
    let m: Vec<_> = months
        .iter()
        .map(|r| {
            (
                r.key[0].clone().unwrap(),
                r.figures.messages,
                r.figures.conversations,
            )
        })
        .collect();
    assert_eq!(
        m,
        vec![
            ("2026-10-01".to_string(), 3, 2),
            ("2026-11-01".to_string(), 1, 0)
        ]
    );
    let raw = store.events("ny").await.unwrap();
    let days: BTreeMap<_, _> = raw
        .iter()
        .map(|e| (e.event_id.clone(), Day(e.day).to_string()))
        .collect();
    assert_eq!(days["a"], "2026-10-31");
    assert_eq!(days["b"], "2026-11-01");
}

#[tokio::test]
async fn a_million_one_nanodollar_events_sum_exactly() {
    let (_dir, store) = open();
    let org = NewOrg {
        id: "ny".into(),
        name: "NY".into(),
        timezone: "UTC".into(),
        markup: Markup::parse("1.5").unwrap(),
        webhook_url: None,
        retention_days: 365,
    };
    store.create_org(org, "test").await.unwrap();
    // 100,000 events of 1 nanodollar each (a million takes too long in a debug test;
    // the domain's money tests sum a million).
    for chunk in 0..10 {
        let events: Vec<Event> = (0..10_000)
            .map(|i| {
                ev(
                    &format!("n{chunk}-{i}"),
                    "2026-11-10T10:00:00Z",
                    &format!("c{chunk}-{}", i % 100),
                    serde_json::json!({"actual_api_cost": "0.000000001"}),
                )
            })
            .collect();
        assert_eq!(send(store.as_ref(), events).await.accepted, 10_000);
    }
    let rows = store
        .figures(&FigureQuery {
            org: "ny".into(),
            period: period("2026-11-01", "2026-12-01"),
            filter: Filter::default(),
            group_by: vec![],
        })
        .await
        .unwrap();
    // 1 × 1.5 = 1.5 → 2 nanodollars each (half away from zero), per event.
    assert_eq!(
        (rows[0].figures.actual_api_cost, rows[0].figures.total_cost),
        (100_000, 200_000)
    );
    assert_eq!(rows[0].figures.conversations, 1_000);
}
