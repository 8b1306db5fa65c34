//! SQLite's queued cell deltas (sqlite/deferred.rs): commits that leave their
//! aggregates to a later fold still count every event exactly once — in the
//! budget check at once, in every figure once folded, after a restart that
//! finds the queue, and when another write folds it first.

mod common;

use common::*;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::time::Day;
use spendlens_store::model::{BudgetScope, Team};
use spendlens_store::{Durability, SqliteStore, Store};
use std::collections::HashMap;
use std::sync::Arc;

use common::suite::*;

fn open_at(dir: &std::path::Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(&dir.join("t.db"), Durability::Process).unwrap())
}

/// The spend of all the events, or of one person's, from the raw events
/// (the budget check's figure).
fn spend_of(raw: &[spendlens_store::model::StoredEvent], user: Option<&str>) -> i128 {
    raw.iter()
        .filter(|e| user.is_none_or(|u| e.user_id == u))
        .map(|e| i128::from(e.total_cost))
        .sum()
}

#[tokio::test]
async fn queued_deltas_count_once_after_a_fold_a_restart_and_another_write() {
    let anchor = jiff::civil::date(2026, 11, 15);
    let mut spec = Spec::custom(6_000, 4, anchor);
    spec.days = 40;
    let setup = setup(&spec);
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    create_setup(store.as_ref(), &setup).await;
    let now = now_after(anchor);
    let sent = parse_all(events(&spec), now);
    let calls = batches(&sent, 500, Routing::Mixed, now);
    let (first, second) = calls.split_at(calls.len() / 2);

    // Held: every commit queues its cells; the aggregates see none of them.
    // (Packing, a write that folds the queue first, waits.)
    store.pause_packing(true).await.unwrap();
    store.hold_aggregates(true).await.unwrap();
    let out = ingest(store.as_ref(), first).await;
    assert!(out.accepted > 2_000, "{out:?}");
    let queued = store.queued_deltas().await.unwrap();
    assert_eq!(
        queued,
        first.len() as u64,
        "one queued row per commit that accepted events"
    );
    let raw = stored(store.as_ref(), &setup).await;
    let busiest = setup
        .orgs
        .iter()
        .max_by_key(|o| raw.get(&o.id).map_or(0, Vec::len))
        .unwrap();
    let events = &raw[&busiest.id];
    let whole = period("2026-10-01", "2026-12-01");
    let figures = store
        .figures(&query(&busiest.id, whole, Default::default(), vec![]))
        .await
        .unwrap();
    assert!(
        figures.first().is_none_or(|r| r.figures.messages == 0),
        "held deltas are not in the aggregates yet: {figures:?}"
    );
    // The budget check's spend is never queued.
    let user = events[0].user_id.clone();
    let asks = vec![
        (BudgetScope::Org, None, whole),
        (BudgetScope::User, Some(user.clone()), whole),
    ];
    assert_eq!(
        store.spends(&busiest.id, asks.clone()).await.unwrap(),
        vec![spend_of(events, None), spend_of(events, Some(&user))]
    );

    // A restart finds the queue and folds it before answering anything.
    drop(store);
    let store = open_at(dir.path());
    assert_eq!(store.queued_deltas().await.unwrap(), 0);
    check_every_org(&store, &setup, Day::from_date(anchor)).await;

    // Held again: the second half queues; another write (a new team) folds
    // it first, in its own transaction.
    store.pause_packing(true).await.unwrap();
    store.hold_aggregates(true).await.unwrap();
    let out = ingest(store.as_ref(), second).await;
    assert!(out.accepted > 2_000, "{out:?}");
    assert!(store.queued_deltas().await.unwrap() > 0);
    store
        .create_team(
            &busiest.id,
            Team {
                team_id: "late-team".into(),
                name: "Late team".into(),
                department: None,
            },
            "test",
        )
        .await
        .unwrap();
    assert_eq!(store.queued_deltas().await.unwrap(), 0);
    check_every_org(&store, &setup, Day::from_date(anchor)).await;

    // Replays queue nothing new and change nothing; released, the store
    // folds at once, and `verify` finds every cell as the events say.
    let again = ingest(store.as_ref(), &calls).await;
    assert_eq!(again.accepted, 0);
    store.hold_aggregates(false).await.unwrap();
    assert_eq!(store.queued_deltas().await.unwrap(), 0);
    check_every_org(&store, &setup, Day::from_date(anchor)).await;
    for org in &setup.orgs {
        let diffs = store.verify(&org.id, day("2026-09-01")).await.unwrap();
        assert!(diffs.is_empty(), "{}: {diffs:?}", org.id);
    }
}

/// Every organisation's figures over the dataset's range equal the oracle's.
async fn check_every_org(store: &Arc<SqliteStore>, setup: &spendlens_datagen::Setup, today: Day) {
    let dyn_store: Arc<dyn Store> = store.clone();
    let raw: HashMap<String, Vec<_>> = stored(dyn_store.as_ref(), setup).await;
    let mut groups = 0;
    for org in &setup.orgs {
        let Some(events) = raw.get(&org.id) else {
            continue;
        };
        let oracle = Arc::new(Oracle::new(&org.id, &org.timezone, events));
        let periods = [
            period("2026-10-01", "2026-12-01"),
            period("2026-10-20", "2026-11-03"),
            one_day(Day(today.0 - 3)),
        ];
        let qs = queries(&oracle, &periods, &periods, &periods[2..]);
        groups += check_all(&dyn_store, &oracle, qs).await;
    }
    assert!(groups > 500, "compared {groups} groups");
}
