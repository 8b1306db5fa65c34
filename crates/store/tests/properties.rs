//! Property: for any stream of events — shuffled, with replays and late
//! arrivals, split into batches any way — every stored figure equals a direct
//! computation over the distinct events sent, and each event is stored once.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::json;
use spendlens_domain::time::Period;
use spendlens_store::model::BudgetScope;
use spendlens_store::query::Filter;
use std::collections::BTreeMap;

/// One generated call: (user, conversation, model, key, day, hour, cost nanos, tokens).
type Call = (u8, u8, u8, u8, u8, u8, u32, u16);

fn call() -> impl Strategy<Value = Call> {
    (
        0..4u8,
        0..6u8,
        0..3u8,
        0..3u8,
        0..20u8,
        0..24u8,
        0..5_000_000u32,
        0..2_000u16,
    )
}

fn event_of(i: usize, c: &Call) -> spendlens_domain::Event {
    let (user, conv, model, key, day, hour, cost, tokens) = *c;
    let model = ["gpt-4o", "claude-sonnet-4", "mystery-model"][model as usize];
    let at = format!("2026-11-{:02}T{hour:02}:17:00Z", day + 1);
    ev(
        &format!("e{i}"),
        &at,
        // A conversation belongs to one user: its id names the user.
        &format!("c{conv}-u{user}"),
        json!({
            "user_id": format!("u{user}"),
            "conversation_id": format!("c{conv}-u{user}"),
            "model_name": model,
            "api_key_id": if key == 0 { serde_json::Value::Null } else { json!(format!("k{key}")) },
            "actual_api_cost": format!("0.{cost:09}"),
            "tokens_in": tokens, "tokens_out": tokens / 3,
        }),
    )
}

/// The property, on one store.
async fn stream_property(
    b: Backend,
    calls: Vec<Call>,
    replays: Vec<prop::sample::Index>,
    order: u64,
    cut: usize,
) -> Result<(), TestCaseError> {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "Europe/Berlin", "1.25"), "test")
        .await
        .unwrap();
    let distinct: Vec<_> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| event_of(i, c))
        .collect();
    let mut sent = distinct.clone();
    for r in &replays {
        sent.push(distinct[r.index(distinct.len())].clone());
    }
    // A deterministic shuffle from the generated seed.
    let mut seed = order | 1;
    for i in (1..sent.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        sent.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let mut accepted = 0;
    let mut duplicates = 0;
    for batch in sent.chunks(cut) {
        let out = send(store.as_ref(), batch.to_vec()).await;
        accepted += out.accepted;
        duplicates += out.duplicates;
    }
    prop_assert_eq!(accepted as usize, distinct.len());
    prop_assert_eq!(duplicates as usize, replays.len());
    let stored = store.events("ny").await.unwrap();
    let ids: BTreeMap<_, _> = stored
        .iter()
        .map(|e| (e.event_id.clone(), e.actual_api_cost))
        .collect();
    let want: BTreeMap<_, _> = distinct
        .iter()
        .map(|e| (e.event_id.clone(), e.actual_api_cost.unwrap().0))
        .collect();
    prop_assert_eq!(ids, want);
    let oracle = Oracle::new("ny", "Europe/Berlin", &stored);
    for p in [
        period("2026-11-01", "2026-11-22"),
        // Eight-day blocks start on Nov 3, 11 and 19 (day numbers divisible by 8).
        period("2026-11-03", "2026-11-19"),
        period("2026-11-04", "2026-11-21"),
        period("2026-11-05", "2026-11-09"),
        Period {
            from: day("2026-11-10"),
            to: day("2026-11-11"),
        },
    ] {
        for g in group_bys() {
            check(
                store.as_ref(),
                &oracle,
                &query("ny", p, Filter::default(), g),
            )
            .await;
        }
        // One value's figures (a key's, a model's, a person's page).
        for f in [
            Filter {
                api_key: Some(Some("k2".into())),
                ..Filter::default()
            },
            Filter {
                model: Some(Some("gpt-4o".into())),
                ..Filter::default()
            },
            Filter {
                user: Some(Some("u1".into())),
                ..Filter::default()
            },
        ] {
            check(store.as_ref(), &oracle, &query("ny", p, f, vec![])).await;
        }
        // The budget-scope spend table gives the same totals.
        for (scope, id) in [
            (BudgetScope::Org, None),
            (BudgetScope::User, Some("u1")),
            (BudgetScope::ApiKey, Some("k2")),
        ] {
            let mut f = Filter::default();
            match scope {
                BudgetScope::User => f.user = Some(id.map(str::to_owned)),
                BudgetScope::ApiKey => f.api_key = Some(id.map(str::to_owned)),
                _ => {}
            }
            let want = oracle
                .expected(&query("ny", p, f, vec![]))
                .values()
                .next()
                .map_or(0, |x| x.total_cost);
            prop_assert_eq!(store.spend("ny", scope, id, p).await.unwrap(), want);
        }
    }
    Ok(())
}

fn run(
    backend: impl std::future::Future<Output = Option<Backend>>,
    calls: Vec<Call>,
    replays: Vec<prop::sample::Index>,
    order: u64,
    cut: usize,
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        match backend.await {
            Some(b) => stream_property(b, calls, replays, order, cut).await,
            None => Ok(()),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn figures_equal_a_direct_computation_for_any_stream(
        calls in prop::collection::vec(call(), 1..60),
        replays in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        order in any::<u64>(),
        cut in 1..8usize,
    ) {
        run(async { Some(Backend::sqlite()) }, calls, replays, order, cut)?;
    }
}

proptest! {
    // Fewer cases: each makes a PostgreSQL database of its own.
    #![proptest_config(ProptestConfig { cases: 10, .. ProptestConfig::default() })]

    #[test]
    fn figures_equal_a_direct_computation_for_any_stream_on_postgres(
        calls in prop::collection::vec(call(), 1..60),
        replays in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        order in any::<u64>(),
        cut in 1..8usize,
    ) {
        run(Backend::postgres(), calls, replays, order, cut)?;
    }
}
