//! Queued cell deltas. SQLite (sqlite/deferred.rs): commits that leave their
//! aggregates to a later fold still count every event exactly once — in the
//! budget check at once, in every figure once folded, after a restart that
//! finds the queue, and when another write folds it first. PostgreSQL
//! (postgres/fold.rs): a fold takes the rows other servers left.

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
    assert!(store.queued_cells() > 100, "{}", store.queued_cells());
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
    assert_eq!(store.queued_cells(), 0);
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

/// PostgreSQL: a fold takes every committed queued row no other fold holds,
/// not only its own — here a row a dead server left a moment ago (a copy of
/// the deltas already in the cube), which the next request's fold adds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_fold_takes_the_rows_other_servers_left() {
    use serde_json::json;
    use sqlx::Connection;
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let url = b.pg.as_ref().unwrap().url.clone();
    let store = b.open().await;
    store
        .create_org(new_org("acme", "UTC", "1"), "test")
        .await
        .unwrap();
    let one = |id: &str, cost: &str| {
        ev(
            id,
            "2026-11-03T10:00:00Z",
            &format!("c-{id}"),
            json!({"organization_id": "acme", "user_id": "ann", "total_cost": cost}),
        )
    };
    assert_eq!(
        send(store.as_ref(), vec![one("e1", "0.000000007")])
            .await
            .accepted,
        1
    );

    // The dead server's row: the cube's cells as they stand (e1's), queued.
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let cells: Vec<i64> = sqlx::query_scalar(
        "SELECT coalesce(array_agg(n ORDER BY r, i), '{}') FROM
           (SELECT row_number() OVER () AS r, org, grain, bucket, usr, team, dept, key, model, provider,
                   total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in,
                   unpriced, convs FROM cube) c,
           LATERAL unnest(ARRAY[org, grain, bucket, usr, team, dept, key, model, provider, total_cost,
                   actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in, unpriced,
                   convs]) WITH ORDINALITY AS u(n, i)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(cells.len() % 18, 0);
    assert!(cells.len() >= 3 * 18, "hour, day and month cells");
    sqlx::query("INSERT INTO pending_cells (cells) VALUES ($1)")
        .bind(&cells)
        .execute(&mut c)
        .await
        .unwrap();

    // The next request's fold takes both rows: e1 now counts twice, by
    // construction of the test, and e2 once.
    assert_eq!(
        send(store.as_ref(), vec![one("e2", "0.000000011")])
            .await
            .accepted,
        1
    );
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_cells")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(queued, 0);
    let november = period("2026-11-01", "2026-12-01");
    for group_by in [vec![], vec![spendlens_store::query::Dim::Day]] {
        let rows = store
            .figures(&query("acme", november, Default::default(), group_by))
            .await
            .unwrap();
        let total: i128 = rows.iter().map(|r| r.figures.total_cost).sum();
        let messages: u64 = rows.iter().map(|r| r.figures.messages).sum();
        assert_eq!((total, messages), (2 * 7 + 11, 3));
    }
}

/// SQLite, without the test hold: a commit queues only while the ingest
/// queue says more events wait; a commit with nothing waiting folds, and a
/// queue nobody folds is folded once it is due and the writer is idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queues_only_while_more_wait_and_folds_when_idle() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let store = open_at(dir.path());
    store.pause_packing(true).await.unwrap();
    // Long enough that nothing here is due before the test says so.
    store.set_fold_every(std::time::Duration::from_secs(3600));
    store
        .create_org(new_org("acme", "UTC", "1"), "test")
        .await
        .unwrap();
    let waiting = store.ingest_waiting().expect("the embedded store uses it");
    let one = |id: &str| {
        ev(
            id,
            "2026-11-03T10:00:00Z",
            &format!("c-{id}"),
            json!({"organization_id": "acme", "user_id": "ann", "total_cost": "0.000000005"}),
        )
    };
    let whole = period("2026-11-01", "2026-12-01");
    let total = |store: Arc<SqliteStore>| async move {
        let rows = store
            .figures(&query("acme", whole, Default::default(), vec![]))
            .await
            .unwrap();
        rows.iter().map(|r| r.figures.total_cost).sum::<i128>()
    };

    // Nothing waits: the commit folds.
    assert_eq!(send(store.as_ref(), vec![one("e1")]).await.accepted, 1);
    assert_eq!(store.queued_deltas().await.unwrap(), 0);
    assert_eq!(total(store.clone()).await, 5);

    // More wait behind them: the commits queue; the budget spend has them.
    waiting.store(1_000, std::sync::atomic::Ordering::Relaxed);
    for id in ["e2", "e3"] {
        assert_eq!(send(store.as_ref(), vec![one(id)]).await.accepted, 1);
    }
    assert_eq!(store.queued_deltas().await.unwrap(), 2);
    assert!(store.queued_cells() >= 3, "hour, day and month cells");
    assert_eq!(total(store.clone()).await, 5);
    assert_eq!(
        store
            .spends("acme", vec![(BudgetScope::Org, None, whole)])
            .await
            .unwrap(),
        vec![15]
    );

    // Nobody comes and the queue falls due: the idle writer folds it (the
    // pause below is a writer job, which wakes it to see the new limit).
    store.set_fold_every(std::time::Duration::from_millis(1));
    store.pause_packing(true).await.unwrap();
    let mut waited = 0;
    while store.queued_deltas().await.unwrap() > 0 {
        assert!(waited < 200, "the queue was never folded");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        waited += 1;
    }
    assert_eq!(total(store.clone()).await, 15);
    assert_eq!(store.queued_cells(), 0);

    // Queued again, then a commit with nothing waiting folds both.
    store.set_fold_every(std::time::Duration::from_secs(3600));
    assert_eq!(send(store.as_ref(), vec![one("e4")]).await.accepted, 1);
    assert_eq!(store.queued_deltas().await.unwrap(), 1);
    waiting.store(0, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(send(store.as_ref(), vec![one("e5")]).await.accepted, 1);
    assert_eq!(store.queued_deltas().await.unwrap(), 0);
    assert_eq!(total(store.clone()).await, 25);

    // 0 turns queueing off: a commit folds even with more waiting.
    store.set_fold_every(std::time::Duration::ZERO);
    waiting.store(1_000, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(send(store.as_ref(), vec![one("e6")]).await.accepted, 1);
    assert_eq!(store.queued_deltas().await.unwrap(), 0);
    assert_eq!(total(store.clone()).await, 30);
}
