//! A download (a list's whole result) gives every event of the range once,
//! in (occurred_at, event_id) order, also for many events at one instant
//! that were stored in the opposite order and fill several batches.

mod common;

use common::*;
use serde_json::json;
use spendlens_store::query::{EventQuery, Filter};

crate::on_both_backends!(ties_come_in_event_id_order_across_batches);
async fn ties_come_in_event_id_order_across_batches(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "America/New_York", "1.25"), "test")
        .await
        .unwrap();
    // 2,500 events at one instant (more than two batches of 1,000), stored
    // in descending event_id order, and events on other days and hours
    // around them, so the range has many slices.
    let mut events = Vec::new();
    for i in (0..2_500).rev() {
        events.push(ev(
            &format!("tie-{i:05}"),
            "2026-11-03T15:00:00.000001Z",
            &format!("c{}", i % 40),
            json!({}),
        ));
    }
    for d in 1..=9 {
        for h in [0, 7, 23] {
            events.push(ev(
                &format!("z-{d}-{h}"),
                &format!("2026-11-0{d}T{h:02}:30:00Z"),
                "other",
                json!({}),
            ));
            events.push(ev(
                &format!("a-{d}-{h}"),
                &format!("2026-11-0{d}T{h:02}:30:00Z"),
                "other",
                json!({}),
            ));
        }
    }
    let sent = events.len();
    for chunk in events.chunks(700) {
        let out = send(store.as_ref(), chunk.to_vec()).await;
        assert_eq!(out.accepted, chunk.len() as u64, "{:?}", out.errors);
    }
    let q = EventQuery {
        org: "ny".into(),
        period: period("2026-10-30", "2026-11-12"),
        filter: Filter::default(),
        after: None,
        limit: None,
    };
    let got = stream_whole(&store, q).await;
    assert_eq!(got.len(), sent);
    let keys: Vec<_> = got
        .iter()
        .map(|e| (e.occurred_at, e.event_id.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "in (occurred_at, event_id) order, each once");
    let ties = got
        .iter()
        .filter(|e| e.event_id.starts_with("tie-"))
        .count();
    assert_eq!(ties, 2_500);
}
