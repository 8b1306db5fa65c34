//! Packed cube buckets (sqlite/packs.rs, postgres/packs.rs) answer exactly
//! what the cells do, on both backends: checked against the oracle before
//! any pack, with every sealed bucket packed, after late events landed in
//! packed buckets (their packs must be thrown away in the same
//! transaction), after repacking, and after a person is erased from packed
//! buckets.

mod common;

use common::suite::*;
use common::*;
use spendlens_datagen::{events, setup, Spec};
use spendlens_domain::time::{Day, Period};
use spendlens_store::query::{Dim, Filter};
use spendlens_store::{Durability, PgStore, SqliteStore, Store};
use std::sync::Arc;

async fn check_every_org(
    store: &Arc<dyn Store>,
    setup: &spendlens_datagen::Setup,
    periods: &[Period],
) -> usize {
    let raw = stored(store.as_ref(), setup).await;
    let mut groups = 0;
    for org in &setup.orgs {
        let oracle = Arc::new(Oracle::new(&org.id, &org.timezone, &raw[&org.id]));
        let mut qs = queries(&oracle, periods, periods, &[]);
        // Two and three dimensions, with and without a filter: the breakdowns
        // packs are for.
        for p in periods {
            for (f, g) in [
                (Filter::default(), vec![Dim::User, Dim::Model]),
                (Filter::default(), vec![Dim::Team, Dim::ApiKey, Dim::Day]),
                (
                    Filter::default(),
                    vec![Dim::Department, Dim::Provider, Dim::Month],
                ),
                (
                    Filter {
                        model: oracle.busiest(Dim::Model, false),
                        ..Filter::default()
                    },
                    vec![Dim::User, Dim::ApiKey],
                ),
                (
                    Filter {
                        api_key: Some(None),
                        ..Filter::default()
                    },
                    vec![Dim::Week, Dim::Model],
                ),
            ] {
                qs.push(query(&org.id, *p, f, g));
            }
        }
        groups += check_all(store, &oracle, qs).await;
    }
    groups
}

crate::on_both_backends!(packed_buckets_answer_what_their_cells_do);
async fn packed_buckets_answer_what_their_cells_do(b: Backend) {
    // 70 days ending 2026-10-20: whole August and September, days of July
    // and October at either end, Europe's DST change on 25 October outside.
    let anchor = jiff::civil::date(2026, 10, 20);
    let mut spec = Spec::custom(9_000, 5, anchor);
    spec.days = 70;
    let setup = setup(&spec);
    // No packing behind the test's back: the first checks read the cells,
    // and stale packs are seen to go.
    let store: Arc<dyn Store> = match &b.pg {
        None => {
            let s = SqliteStore::open(&b.dir.path().join("t.db"), Durability::Process).unwrap();
            s.pause_packing(true).await.unwrap();
            Arc::new(s)
        }
        Some(db) => {
            let s = PgStore::open(&db.url).await.unwrap();
            s.pause_packing(true);
            Arc::new(s)
        }
    };
    create_setup(store.as_ref(), &setup).await;
    let now = now_after(anchor);
    let sent = parse_all(events(&spec), now);
    // Every tenth event held back: sent after packing, they land in packed
    // days and months.
    let (late, early): (Vec<_>, Vec<_>) = sent
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 10 == 9);
    let early: Vec<_> = early.into_iter().map(|(_, s)| s).collect();
    let late: Vec<_> = late.into_iter().map(|(_, s)| s).collect();
    let out = ingest(
        store.as_ref(),
        &batches(&early, 500, Routing::Platform, now),
    )
    .await;
    assert!(out.errors.is_empty(), "{:?}", out.errors.first());

    let periods = [
        period("2026-07-25", "2026-10-21"),
        period("2026-08-01", "2026-10-01"),
        period("2026-09-03", "2026-10-11"),
        Period::resolve(None, None, Some("last_30d"), Day::from_date(anchor)).unwrap(),
    ];
    let packs = || async { b.count("SELECT count(*) FROM cube_packs").await };

    assert_eq!(packs().await, 0);
    let unpacked = check_every_org(&store, &setup, &periods).await;
    assert!(unpacked > 2_000, "{unpacked} groups compared");

    let packed = store.finish_upkeep().await.unwrap();
    // Days of 70 days of every organisation, and its whole months.
    assert!(packed > 5 * 60, "{packed} buckets packed");
    assert_eq!(packs().await, packed as u64);
    assert_eq!(check_every_org(&store, &setup, &periods).await, unpacked);

    // Late events into packed buckets: stale packs go with the change.
    let out = ingest(store.as_ref(), &batches(&late, 500, Routing::Platform, now)).await;
    assert!(out.errors.is_empty(), "{:?}", out.errors.first());
    assert_eq!(
        (out.accepted + out.duplicates) as usize,
        late.len(),
        "every held-back event answered"
    );
    assert!(
        packs().await < packed as u64 / 2,
        "the late events touched most buckets, and their packs went"
    );
    let all = check_every_org(&store, &setup, &periods).await;
    assert!(all >= unpacked, "{all} groups after the late events");

    let repacked = store.finish_upkeep().await.unwrap();
    assert!(repacked > packed / 2, "{repacked} repacked");
    assert_eq!(packs().await, packed as u64, "every bucket packed again");
    assert_eq!(check_every_org(&store, &setup, &periods).await, all);

    // Erasure rewrites a person's cells in packed buckets.
    let org = &setup.orgs[0].id;
    let raw = stored(store.as_ref(), &setup).await;
    let person = raw[org][0].user_id.clone();
    store
        .erase_user(org, &person, "erased-0001", "test")
        .await
        .unwrap();
    assert_eq!(check_every_org(&store, &setup, &periods).await, all);
    // The erased organisation's packs went with its cells; packed again,
    // they hold the new name.
    assert!(
        packs().await < packed as u64,
        "the erased organisation's packs went"
    );
    assert!(store.finish_upkeep().await.unwrap() > 0);
    assert_eq!(packs().await, packed as u64);
    assert_eq!(check_every_org(&store, &setup, &periods).await, all);
}

crate::on_both_backends!(history_written_after_a_scan_is_packed_in_the_background);
/// A store that has scanned once and is then sent months of history (an
/// import, a backfill) shows the packing owed at once and packs it in the
/// background, without waiting for a periodic whole scan; the upkeep
/// backlog (`/metrics`, which `bench` waits on) never reads 0 meanwhile.
async fn history_written_after_a_scan_is_packed_in_the_background(b: Backend) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    // Forty days ending a month ago: older than any scan of recent days sees.
    let anchor = today.checked_sub(jiff::Span::new().days(30)).unwrap();
    let mut spec = Spec::custom(3_000, 3, anchor);
    spec.days = 40;
    let setup = setup(&spec);
    let store: Arc<dyn Store> = match &b.pg {
        None => {
            Arc::new(SqliteStore::open(&b.dir.path().join("t.db"), Durability::Process).unwrap())
        }
        Some(db) => Arc::new(PgStore::open(&db.url).await.unwrap()),
    };
    let settled = || async {
        for _ in 0..600 {
            if store.upkeep_backlog() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the upkeep backlog stayed above 0 for a minute");
    };
    create_setup(store.as_ref(), &setup).await;
    // The first scan, of a store with no events.
    settled().await;
    let now = now_after(anchor);
    let sent = parse_all(events(&spec), now);
    let out = ingest(store.as_ref(), &batches(&sent, 500, Routing::Platform, now)).await;
    assert!(out.errors.is_empty(), "{:?}", out.errors.first());
    assert!(
        store.upkeep_backlog() > 0,
        "packing is owed for the history just written"
    );
    settled().await;
    assert!(b.count("SELECT count(*) FROM cube_packs").await > 40);
    assert_eq!(
        store.finish_upkeep().await.unwrap(),
        0,
        "the background packed every sealed bucket"
    );
}
