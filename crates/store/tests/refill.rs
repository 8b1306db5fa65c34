//! A store from before an aggregate table: opened by a newer binary, it
//! fills the table from the aggregates it has (on PostgreSQL the
//! organisations' and per-dimension day rows, then the people's running
//! totals; on SQLite the organisations' blocks and the running totals), and every answer is what it was, and what the events
//! sent say.

mod common;

use common::*;
use serde_json::json;
use spendlens_store::query::{Dim, Filter};

crate::on_both_backends!(tables_missing_at_open_are_filled_from_the_rest);
async fn tables_missing_at_open_are_filled_from_the_rest(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    // (event, person, day of November, cost in nano-dollars): bob starts
    // after alice, carol only at the end.
    let sent = [
        ("e1", "alice", 2, 5),
        ("e2", "alice", 9, 7),
        ("e3", "bob", 9, 11),
        ("e4", "alice", 15, 13),
        ("e5", "bob", 21, 17),
        ("e6", "carol", 27, 19),
    ];
    let events = sent
        .iter()
        .map(|(id, who, day, cost)| {
            ev(
                id,
                &format!("2026-11-{day:02}T12:00:00Z"),
                &format!("c-{id}"),
                json!({"user_id": who, "total_cost": format!("0.{cost:09}")}),
            )
        })
        .collect();
    assert_eq!(send(store.as_ref(), events).await.accepted, 6);
    let ranges = [("2026-11-01", "2026-12-01"), ("2026-11-09", "2026-11-22")];
    let mut questions = Vec::new();
    for (from, to) in ranges {
        let p = period(from, to);
        questions.push(query("ny", p, Filter::default(), vec![Dim::User]));
        let bob = Filter {
            user: Some(Some("bob".into())),
            ..Filter::default()
        };
        questions.push(query("ny", p, bob, vec![]));
        questions.push(query("ny", p, Filter::default(), vec![Dim::Model]));
        // The organisation's totals: blocks and the days at either end.
        questions.push(query("ny", p, Filter::default(), vec![]));
    }
    let before = store.figures_many(questions.clone()).await.unwrap();
    // Each person's cost over each range, from the events sent.
    for (i, (from, to)) in ranges.iter().enumerate() {
        let (lo, hi) = (day(from).0, day(to).0);
        let mut expected: Vec<(String, i128)> = Vec::new();
        for who in ["alice", "bob", "carol"] {
            let cost: i128 = sent
                .iter()
                .filter(|(_, w, d, _)| {
                    *w == who && (lo..hi).contains(&day(&format!("2026-11-{d:02}")).0)
                })
                .map(|(_, _, _, c)| *c)
                .sum();
            if cost > 0 {
                expected.push((who.to_owned(), cost));
            }
        }
        let total: i128 = expected.iter().map(|(_, c)| c).sum();
        let org = &before[i * 4 + 3][0].figures;
        assert_eq!(
            (org.total_cost, org.active_users),
            (total, expected.len() as u64),
            "the organisation over {from} to {to}"
        );
        let got: Vec<(String, i128)> = before[i * 4]
            .iter()
            .map(|r| (r.key[0].clone().unwrap(), r.figures.total_cost))
            .collect();
        assert_eq!(got, expected, "people over {from} to {to}");
    }
    drop(store);
    // The tables as a store from before them has them: empty.
    for (sqlite, postgres) in [
        ("DELETE FROM person_cum", "DELETE FROM dim_days"),
        ("DELETE FROM person_cum", "DELETE FROM dim_blocks"),
        ("DELETE FROM person_cum", "DELETE FROM person_cum"),
        ("DELETE FROM person_cum", "DELETE FROM person_cum_days"),
        ("DELETE FROM org_blocks", "DELETE FROM org_blocks"),
    ] {
        b.raw(sqlite, postgres).await;
    }
    let store = b.open().await;
    let after = store.figures_many(questions).await.unwrap();
    assert_eq!(after, before);
}
