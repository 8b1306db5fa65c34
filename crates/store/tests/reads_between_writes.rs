//! Reads between writes: what a read keeps for the next ones (on SQLite,
//! slices of people's running totals held in memory, read_cache.rs) never
//! outlives a write. Each round sends events, some late into days whose
//! slices the round before read, and new people, then asks the people list
//! and each person's totals over several ranges twice (the second may come
//! from memory), each answer checked against the raw events.

mod common;

use common::*;
use serde_json::json;
use spendlens_store::query::{Dim, Filter};

crate::on_both_backends!(people_figures_follow_every_write);
async fn people_figures_follow_every_write(b: Backend) {
    let store = b.open().await;
    rounds(&store, &store).await;
}

/// On PostgreSQL each server keeps slices of running totals in memory
/// (person_cum.rs): one server's reads follow another's writes, each slice
/// found by the number the writer's fold gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_figures_follow_another_servers_writes() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let (writer, reader) = (b.open().await, b.open().await);
    rounds(&writer, &reader).await;
}

/// Six rounds of writes through `writer`, each followed by reads through
/// `reader`, checked against the raw events.
async fn rounds(
    writer: &std::sync::Arc<dyn spendlens_store::Store>,
    reader: &std::sync::Arc<dyn spendlens_store::Store>,
) {
    let store = reader;
    writer
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let periods = [
        period("2026-11-01", "2026-11-30"),
        period("2026-11-03", "2026-11-11"),
        period("2026-11-10", "2026-11-21"),
    ];
    let mut n = 0;
    let mut checked = 0;
    for round in 0..6 {
        let mut events = Vec::new();
        for i in 0..5 {
            n += 1;
            // In order, then late into the first days, then the middle.
            let day = match round % 3 {
                0 => 20 - round - i,
                1 => 2 + i,
                _ => 10 + i,
            };
            events.push(ev(
                &format!("e{n}"),
                &format!("2026-11-{day:02}T10:00:00Z"),
                &format!("c{n}"),
                json!({
                    "user_id": format!("u{}", n % 4 + round / 2),
                    "actual_api_cost": format!("0.{:09}", n * 1000),
                }),
            ));
        }
        assert_eq!(send(writer.as_ref(), events).await.accepted, 5);
        let stored = store.events("ny").await.unwrap();
        let oracle = Oracle::new("ny", "UTC", &stored);
        for p in periods {
            for _ in 0..2 {
                let people = query("ny", p, Filter::default(), vec![Dim::User]);
                checked += check(store.as_ref(), &oracle, &people).await;
                for u in 0..7 {
                    let one = Filter {
                        user: Some(Some(format!("u{u}"))),
                        ..Filter::default()
                    };
                    check(store.as_ref(), &oracle, &query("ny", p, one, vec![])).await;
                }
            }
        }
    }
    // Every round found people in every range: the checks compared rows.
    assert!(checked > 6 * 3 * 2, "{checked} people rows compared");
}
