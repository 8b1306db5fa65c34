//! Retention keeps every figure; verify finds what differs between the
//! aggregates and the detail; rebuild repairs it.

mod common;

use common::*;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use spendlens_domain::time::{Day, Period};
use spendlens_store::model::StoredEvent;
use spendlens_store::query::{Dim, Filter};
use spendlens_store::Store;

const TZ: &str = "America/New_York";

fn ago(days: i64, hours: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(days * 24 + hours)).to_string()
}

/// 160 calls over the last 100 days: four people, three models, keys or none,
/// conversations that span the retention boundary.
fn history() -> Vec<spendlens_domain::Event> {
    (0..160)
        .map(|i| {
            let days = (i * 5) % 100;
            let model = ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"][(i % 3) as usize];
            ev(
                &format!("h{i}"),
                &ago(days, i % 24),
                &format!("c{}", i / 3),
                json!({
                    "user_id": format!("u{}", i % 4),
                    "conversation_id": format!("c{}-u{}", i / 12, i % 4),
                    "model_name": model,
                    "api_key_id": if i % 5 == 0 { serde_json::Value::Null } else { json!(format!("k{}", i % 2)) },
                    "actual_api_cost": format!("0.{:09}", 1 + i * 7_919),
                    "tokens_in": 100 + i, "tokens_out": 10 + i,
                }),
            )
        })
        .collect()
}

fn periods(today: Day) -> Vec<Period> {
    vec![
        Period {
            from: Day(today.0 - 100),
            to: Day(today.0 + 1),
        },
        Period {
            from: Day(today.0 - 29),
            to: Day(today.0 + 1),
        },
        Period {
            from: Day(today.0 - 70),
            to: Day(today.0 - 40),
        },
    ]
}

/// The budget-scope spend table answers as the cube does, for every scope.
async fn spend_matches_the_cube(store: &dyn Store, events: &[StoredEvent], p: Period) {
    use spendlens_store::model::BudgetScope;
    let mut scopes: Vec<(BudgetScope, Option<String>)> = vec![(BudgetScope::Org, None)];
    for e in events {
        scopes.push((BudgetScope::User, Some(e.user_id.clone())));
        scopes.extend(e.team_id.clone().map(|t| (BudgetScope::Team, Some(t))));
        scopes.extend(
            e.department
                .clone()
                .map(|d| (BudgetScope::Department, Some(d))),
        );
        scopes.extend(e.api_key_id.clone().map(|k| (BudgetScope::ApiKey, Some(k))));
    }
    scopes.sort_by_key(|(s, id)| (format!("{s:?}"), id.clone()));
    scopes.dedup();
    for (scope, id) in scopes {
        let mut filter = Filter::default();
        let v = Some(id.clone());
        match scope {
            BudgetScope::Org => {}
            BudgetScope::User => filter.user = v,
            BudgetScope::Team => filter.team = v,
            BudgetScope::Department => filter.department = v,
            BudgetScope::ApiKey => filter.api_key = v,
        }
        let cube = store
            .figures(&query("ny", p, filter, vec![]))
            .await
            .unwrap();
        let want = cube.first().map_or(0, |r| r.figures.total_cost);
        let got = store.spend("ny", scope, id.as_deref(), p).await.unwrap();
        assert_eq!(got, want, "{scope:?} {id:?} {p:?}");
    }
}

async fn every_figure_matches(store: &dyn Store, oracle: &Oracle, today: Day) -> usize {
    let mut groups = 0;
    for p in periods(today) {
        for g in group_bys() {
            groups += check(store, oracle, &query("ny", p, Filter::default(), g)).await;
        }
        groups += check(
            store,
            oracle,
            &query("ny", p, Filter::default(), vec![Dim::Hour]),
        )
        .await;
    }
    groups
}

crate::on_both_backends!(retention_keeps_every_figure_and_verify_and_rebuild_repair);
async fn retention_keeps_every_figure_and_verify_and_rebuild_repair(b: Backend) {
    let store = b.open().await;
    let mut org = new_org("ny", TZ, "1.5");
    org.retention_days = 30;
    store.create_org(org, "test").await.unwrap();
    let out = send(store.as_ref(), history()).await;
    assert_eq!(out.accepted, 160, "{out:?}");
    let today = Day(local_day(Timestamp::now(), TZ));
    let raw = store.events("ny").await.unwrap();
    let oracle = Oracle::new("ny", TZ, &raw);
    assert!(every_figure_matches(store.as_ref(), &oracle, today).await > 100);

    // Retention in chunks of 7 until nothing is left to delete.
    let cutoff = Timestamp::now() - SignedDuration::from_hours(30 * 24);
    let (mut deleted, mut steps) = (0, 0);
    loop {
        let step = store.retention_step("ny", cutoff, 7).await.unwrap();
        if step.events_deleted == 0 && step.titles_cleared == 0 {
            break;
        }
        deleted += step.events_deleted;
        steps += 1;
    }
    let kept: Vec<StoredEvent> = store.events("ny").await.unwrap();
    let expected_kept = raw.iter().filter(|e| e.occurred_at >= cutoff).count();
    assert_eq!(kept.len(), expected_kept);
    assert_eq!(deleted as usize, raw.len() - expected_kept);
    assert!(steps > 3, "small chunks: {steps}");
    // The aggregates are untouched: every figure is what it was.
    every_figure_matches(store.as_ref(), &oracle, today).await;

    // An old replay is still a duplicate; a late event older than the window counts.
    let replay = send(store.as_ref(), vec![history().remove(19)]).await;
    assert_eq!((replay.accepted, replay.duplicates), (0, 1), "{replay:?}");
    let late = ev(
        "late",
        &ago(60, 0),
        "c-late",
        json!({"actual_api_cost": "1.5"}),
    );
    assert_eq!(send(store.as_ref(), vec![late]).await.accepted, 1);
    let mut with_late = raw.clone();
    with_late.extend(
        store
            .events("ny")
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event_id == "late"),
    );
    every_figure_matches(store.as_ref(), &Oracle::new("ny", TZ, &with_late), today).await;

    // Verify the days wholly inside the window: nothing differs.
    let from = Day(local_day(cutoff, TZ) + 1);
    assert_eq!(store.verify("ny", from).await.unwrap(), vec![]);

    // Damage one day cell and one hour cell behind the store's back.
    let day = store
        .events("ny")
        .await
        .unwrap()
        .iter()
        .map(|e| e.day)
        .max()
        .unwrap();
    let damage_day = |user: &str| {
        format!(
            "UPDATE cube SET total_cost = total_cost + 7, messages = messages + 1
             WHERE (org, grain, bucket, {user}, team, dept, key, model, provider) IN
               (SELECT org, grain, bucket, {user}, team, dept, key, model, provider FROM cube
                WHERE grain = 1 AND bucket = {day} LIMIT 1)"
        )
    };
    let damaged = b.raw(&damage_day("user"), &damage_day("usr")).await;
    assert_eq!(damaged, 1);
    let damage_hour = |user: &str| {
        format!(
            "UPDATE cube SET tokens_in = tokens_in + 3
             WHERE (org, grain, bucket, {user}, team, dept, key, model, provider) IN
               (SELECT org, grain, bucket, {user}, team, dept, key, model, provider FROM cube
                WHERE grain = 0 ORDER BY bucket DESC LIMIT 1)"
        )
    };
    assert_eq!(b.raw(&damage_hour("user"), &damage_hour("usr")).await, 1);
    let diffs = store.verify("ny", from).await.unwrap();
    let found: Vec<(&str, i64)> = diffs
        .iter()
        .map(|d| (d.field, d.aggregate - d.detail))
        .collect();
    assert_eq!(found, [("total_cost", 7), ("messages", 1)], "{diffs:#?}");
    assert_eq!(diffs[0].day, Day(day).to_string());

    let corrected = store.rebuild("ny", from, "test").await.unwrap();
    assert_eq!(corrected, 1);
    assert_eq!(store.verify("ny", from).await.unwrap(), vec![]);
    every_figure_matches(store.as_ref(), &Oracle::new("ny", TZ, &with_late), today).await;
    for p in periods(today) {
        spend_matches_the_cube(store.as_ref(), &with_late, p).await;
    }
}

crate::on_both_backends!(reprice_recomputes_server_costs_only_and_corrects_the_aggregates);
async fn reprice_recomputes_server_costs_only_and_corrects_the_aggregates(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", TZ, "1.5"), "test")
        .await
        .unwrap();
    let at = ago(3, 0);
    let events = vec![
        // Priced by the catalog (gpt-4o: $2.50 in, $10 out per million).
        ev(
            "cat",
            &at,
            "c1",
            json!({"actual_api_cost": null, "tokens_in": 1000, "tokens_out": 500}),
        ),
        // A model nobody prices yet: unpriced, cost 0.
        ev(
            "odd",
            &at,
            "c2",
            json!({"model_name": "mystery-1", "actual_api_cost": null, "tokens_in": 4000, "tokens_out": 0}),
        ),
        // The client's own costs are never touched.
        ev(
            "own",
            &at,
            "c3",
            json!({"actual_api_cost": "0.5", "total_cost": "0.9"}),
        ),
    ];
    assert_eq!(send(store.as_ref(), events).await.accepted, 3);
    let before: Vec<StoredEvent> = store.events("ny").await.unwrap();
    let cost = |list: &[StoredEvent], id: &str| {
        let e = list.iter().find(|e| e.event_id == id).unwrap();
        (e.total_cost, e.actual_api_cost, e.unpriced)
    };
    // 1000 × 2.50 + 500 × 10 per million = $0.0075; × 1.5 = $0.01125.
    assert_eq!(cost(&before, "cat"), (11_250_000, 7_500_000, false));
    assert_eq!(cost(&before, "odd"), (0, 0, true));

    // Negotiated prices from long ago: $1 in, $2 out for gpt-4o; $0.50 in for mystery-1.
    let since: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    let price = |i: &str, o: &str| spendlens_domain::Price::parse(i, o, None, None).unwrap();
    store
        .put_price("ny", "gpt-4o", since, price("1", "2"), "test")
        .await
        .unwrap();
    store
        .put_price("ny", "mystery-1", since, price("0.5", "0.5"), "test")
        .await
        .unwrap();
    let today = Day(local_day(Timestamp::now(), TZ));
    let r = store
        .reprice("ny", Day(today.0 - 30), Day(today.0 + 1), "test")
        .await
        .unwrap();

    let after: Vec<StoredEvent> = store.events("ny").await.unwrap();
    // 1000 × 1 + 500 × 2 per million = $0.002; × 1.5 = $0.003.
    assert_eq!(cost(&after, "cat"), (3_000_000, 2_000_000, false));
    // 4000 × 0.5 per million = $0.002; × 1.5 = $0.003; priced now.
    assert_eq!(cost(&after, "odd"), (3_000_000, 2_000_000, false));
    assert_eq!(cost(&after, "own"), cost(&before, "own"));
    assert_eq!((r.examined, r.changed), (2, 2));
    let sum = |list: &[StoredEvent]| list.iter().map(|e| i128::from(e.total_cost)).sum::<i128>();
    assert_eq!(r.total_cost_delta, sum(&after) - sum(&before));
    assert_eq!(r.total_cost_delta, 3_000_000 + 3_000_000 - 11_250_000);
    // The aggregates agree with the repriced detail everywhere.
    every_figure_matches(store.as_ref(), &Oracle::new("ny", TZ, &after), today).await;
    spend_matches_the_cube(
        store.as_ref(),
        &after,
        Period {
            from: Day(today.0 - 30),
            to: Day(today.0 + 1),
        },
    )
    .await;
    let again = store
        .reprice("ny", Day(today.0 - 30), Day(today.0 + 1), "test")
        .await
        .unwrap();
    assert_eq!(again.changed, 0, "a second reprice finds nothing to change");
}

// A reprice of every day of a month for sixty people changes more running
// totals than summing them again writes (PostgreSQL then sums again):
// either way, every figure follows the repriced events.
crate::on_both_backends!(a_wide_reprice_keeps_every_persons_figures);
async fn a_wide_reprice_keeps_every_persons_figures(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", TZ, "1"), "test")
        .await
        .unwrap();
    let mut events = Vec::new();
    for d in 1..=25 {
        for p in 0..60 {
            events.push(ev(
                &format!("e{d}-{p}"),
                &ago(d, 0),
                &format!("c{p}"),
                json!({"user_id": format!("p{p:02}"), "model_name": "mystery-1",
                       "actual_api_cost": null, "tokens_in": 1000 + p, "tokens_out": 0}),
            ));
        }
    }
    assert_eq!(send(store.as_ref(), events).await.accepted, 1_500);
    let since: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    let price = spendlens_domain::Price::parse("0.5", "0.5", None, None).unwrap();
    store
        .put_price("ny", "mystery-1", since, price, "test")
        .await
        .unwrap();
    let today = Day(local_day(Timestamp::now(), TZ));
    let r = store
        .reprice("ny", Day(today.0 - 30), Day(today.0 + 1), "test")
        .await
        .unwrap();
    assert_eq!(r.changed, 1_500);
    let after: Vec<StoredEvent> = store.events("ny").await.unwrap();
    every_figure_matches(store.as_ref(), &Oracle::new("ny", TZ, &after), today).await;
}
