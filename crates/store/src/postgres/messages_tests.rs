//! The PostgreSQL export's chunks, names and connections (messages.rs).
use super::*;
use crate::contract::Store;
use crate::postgres::{testing, PgStore};
use spendlens_domain::time::{Day, Period};
use spendlens_domain::{Event, Markup};
use std::sync::Arc;

/// A store on a fresh database with a pool of `pool` connections and the
/// organisation `ny` (UTC); None without PostgreSQL (testing.rs).
async fn store(pool: u32) -> Option<(testing::TestDb, Arc<PgStore>)> {
    let db = testing::create().await?;
    let store = PgStore::open_sized(&db.url, pool).await.unwrap();
    let org = NewOrg {
        id: "ny".into(),
        name: "NY".into(),
        timezone: "UTC".into(),
        markup: Markup::parse("1").unwrap(),
        webhook_url: None,
        retention_days: 365,
    };
    store.create_org(org, "test").await.unwrap();
    Some((db, Arc::new(store)))
}

/// `ny`'s events of 2026-11-01 to 2026-11-09, whole.
fn november() -> EventQuery {
    EventQuery {
        org: "ny".into(),
        period: Period {
            from: Day::parse("2026-11-01").unwrap(),
            to: Day::parse("2026-11-10").unwrap(),
        },
        filter: Default::default(),
        after: None,
        limit: None,
    }
}

/// Chunks of 7 rows and at most 5 conversations kept: every boundary
/// is crossed many times, and each event comes out once, in order,
/// with the names it was sent with.
#[tokio::test]
async fn small_chunks_give_every_event_with_its_names() {
    let Some((_db, store)) = store(16).await else {
        return;
    };
    let now: jiff::Timestamp = "2027-06-01T00:00:00Z".parse().unwrap();
    let mut sent = Vec::new();
    for i in 0..300 {
        let user = format!("u{}", i % 7);
        let mut v = serde_json::json!({
            "event_id": format!("e{i:03}"),
            "occurred_at": format!("2026-11-03T{:02}:{:02}:00Z", i / 60, i % 60),
            "organization_id": "ny",
            "user_id": user,
            "conversation_id": format!("c-{user}-{}", i % 11),
            "model_name": format!("model-{}", i % 3),
            "tokens_in": i, "tokens_out": 1,
            "actual_api_cost": "0.000000003",
        });
        // Each person's own team (an event without one takes the
        // member's), and one person with none.
        if i % 7 != 6 {
            v["team_id"] = format!("t{}", i % 7 % 3).into();
        }
        if i % 6 != 0 {
            v["api_key_id"] = format!("k{}", i % 4).into();
        }
        sent.push(Event::parse(&v, now).unwrap());
    }
    let batch = IngestBatch {
        scope: IngestScope::Platform,
        events: sent.iter().cloned().enumerate().collect(),
        received_at: now,
    };
    let out = store.ingest(vec![batch]).await.unwrap().remove(0);
    assert_eq!(out.accepted, 300, "{:?}", out.errors);
    let q = november();
    let read = |sizes: (usize, usize)| {
        let (pool, q) = (store.pool.clone(), q.clone());
        async move {
            let mut c = pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
                .unwrap();
            let (tx, mut rx) = mpsc::channel(1_000);
            stream_sized(&mut c, &pool, &q, 13, sizes, tx)
                .await
                .unwrap();
            let mut got = Vec::new();
            while let Ok(b) = rx.try_recv() {
                got.extend(b);
            }
            got
        }
    };
    let small = read((7, 5)).await;
    assert_eq!(small.len(), sent.len());
    for (e, s) in small.iter().zip(&sent) {
        assert_eq!(e.event_id, s.event_id);
        assert_eq!(e.user_id, s.user_id);
        assert_eq!(e.team_id, s.team_id);
        assert_eq!(e.api_key_id, s.api_key_id);
        assert_eq!(e.model, s.model_name);
        assert_eq!(e.conversation_id, s.conversation_id);
        assert_eq!(e.tokens_in, s.tokens_in);
    }
    assert_eq!(small, read((CHUNK, CONVERSATIONS_KEPT)).await);
}

/// More streams at once than a pool of two connections could hold two
/// each of: they take turns instead of each holding one connection and
/// waiting for a second (sqlx gives up after 30 s).
#[tokio::test]
async fn more_streams_than_the_pool_holds_all_finish() {
    let Some((_db, store)) = store(2).await else {
        return;
    };
    let mut streams = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        streams.spawn(async move {
            let (tx, mut rx) = mpsc::channel(1);
            let reading = tokio::spawn(async move { while rx.recv().await.is_some() {} });
            let out = store.stream_events(november(), tx).await;
            reading.await.unwrap();
            out
        });
    }
    let all = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(done) = streams.join_next().await {
            done.unwrap().unwrap();
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "streams still waiting for connections after 20 s"
    );
}
