//! The budget check's reads on every backend: the context (organisation,
//! budgets, the person's membership) and several scopes' spend at once, each
//! equal to the sums of the events sent, and both in one trip.

mod common;

use common::*;
use jiff::Timestamp;
use serde_json::json;
use spendlens_store::model::{Budget, BudgetPeriod, BudgetScope};
use spendlens_store::StoreError;

crate::on_both_backends!(the_budget_reads_see_what_was_sent);
async fn the_budget_reads_see_what_was_sent(b: Backend) {
    let store = b.open().await;
    for org in ["ny", "sf"] {
        store
            .create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    // (event, org, user, key, total cost in nanodollars, day)
    let sent = [
        ("a1", "ny", "alice", Some("k1"), 7, "2026-11-03"),
        ("a2", "ny", "alice", None, 11, "2026-11-04"),
        ("b1", "ny", "bob", Some("k1"), 13, "2026-11-04"),
        ("b2", "ny", "bob", Some("k2"), 17, "2026-10-30"),
        ("s1", "sf", "alice", Some("k1"), 19, "2026-11-04"),
    ];
    let events = sent
        .iter()
        .map(|(id, org, user, key, cost, day)| {
            ev(
                id,
                &format!("{day}T12:00:00Z"),
                &format!("c-{id}"),
                json!({"organization_id": org, "user_id": user, "api_key_id": key,
                       "total_cost": format!("0.{cost:09}")}),
            )
        })
        .collect();
    assert_eq!(send(store.as_ref(), events).await.accepted, 5);
    let budget = |id: &str, scope, scope_id: Option<&str>, hard| Budget {
        id: id.into(),
        scope,
        scope_id: scope_id.map(str::to_owned),
        period: BudgetPeriod::Monthly,
        amount: 20,
        thresholds_ppm: vec![1_000_000],
        hard_limit: hard,
        created_at: Timestamp::now(),
    };
    store
        .put_budget("ny", budget("org", BudgetScope::Org, None, true), "test")
        .await
        .unwrap();
    store
        .put_budget(
            "ny",
            budget("al", BudgetScope::User, Some("alice"), false),
            "test",
        )
        .await
        .unwrap();

    // Only `ny` has budgets; the watcher asks this once per wake-up.
    assert_eq!(store.orgs_with_budgets().await.unwrap(), ["ny"]);

    let ctx = store.budget_context("ny", Some("alice")).await.unwrap();
    assert_eq!(ctx.org.id, "ny");
    let mut ids: Vec<_> = ctx.budgets.iter().map(|b| b.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["al", "org"]);
    assert_eq!(ctx.member.map(|m| m.user_id).as_deref(), Some("alice"));
    let stranger = store.budget_context("ny", Some("nobody")).await.unwrap();
    assert!(stranger.member.is_none());
    assert!(store
        .budget_context("sf", None)
        .await
        .unwrap()
        .budgets
        .is_empty());
    assert!(matches!(
        store.budget_context("nowhere", None).await,
        Err(StoreError::NotFound(_))
    ));

    // November in `ny`, computed from the list above.
    let expect = |f: &dyn Fn(&str, Option<&str>) -> bool| -> i128 {
        sent.iter()
            .filter(|(_, org, user, key, _, day)| {
                *org == "ny" && day.starts_with("2026-11") && f(user, *key)
            })
            .map(|(.., cost, _)| i128::from(*cost))
            .sum()
    };
    let november = period("2026-11-01", "2026-12-01");
    let asks = vec![
        (BudgetScope::Org, None, november),
        (BudgetScope::User, Some("alice".to_owned()), november),
        (BudgetScope::ApiKey, Some("k1".to_owned()), november),
        (BudgetScope::User, Some("ghost".to_owned()), november),
        (
            BudgetScope::ApiKey,
            Some("k2".to_owned()),
            period("2026-10-01", "2026-11-01"),
        ),
        // Scopes that name nothing here, and one without its id.
        (BudgetScope::Team, Some("no-team".to_owned()), november),
        (
            BudgetScope::Department,
            Some("No dept".to_owned()),
            november,
        ),
        (BudgetScope::User, None, november),
        (BudgetScope::Org, None, period("2026-10-01", "2026-12-01")),
    ];
    let spent = store.spends("ny", asks.clone()).await.unwrap();
    assert_eq!(
        spent,
        vec![
            expect(&|_, _| true),
            expect(&|u, _| u == "alice"),
            expect(&|_, k| k == Some("k1")),
            0,
            17,
            0,
            0,
            0,
            48,
        ]
    );
    assert_eq!(spent[..3], [31, 18, 20]);
    // The same in one trip, the plan seeing the context it asks from.
    let planned = asks.clone();
    let (ctx, in_one) = store
        .budget_check(
            "ny",
            Some("alice"),
            Box::new(move |ctx| {
                assert_eq!(
                    ctx.member.as_ref().map(|m| m.user_id.as_str()),
                    Some("alice")
                );
                assert_eq!(ctx.budgets.len(), 2);
                planned
            }),
        )
        .await
        .unwrap();
    assert_eq!((ctx.org.id.as_str(), &in_one), ("ny", &spent));
    let (_, none) = store
        .budget_check("ny", None, Box::new(|_| Vec::new()))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(matches!(
        store
            .budget_check("nowhere", None, Box::new(|_| Vec::new()))
            .await,
        Err(StoreError::NotFound(_))
    ));
    // The same, one scope at a time.
    for ((scope, id, p), want) in asks.into_iter().zip(&spent) {
        assert_eq!(
            store.spend("ny", scope, id.as_deref(), p).await.unwrap(),
            *want
        );
    }
}

crate::on_both_backends!(the_watcher_sees_which_orgs_have_budgets);
async fn the_watcher_sees_which_orgs_have_budgets(b: Backend) {
    let store = b.open().await;
    for org in ["a", "b", "c"] {
        store
            .create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    assert!(store.orgs_with_budgets().await.unwrap().is_empty());
    let budget = |id: &str| Budget {
        id: id.into(),
        scope: BudgetScope::Org,
        scope_id: None,
        period: BudgetPeriod::Monthly,
        amount: 20,
        thresholds_ppm: vec![1_000_000],
        hard_limit: false,
        created_at: Timestamp::now(),
    };
    for (org, id) in [("c", "one"), ("a", "one"), ("c", "two")] {
        store.put_budget(org, budget(id), "test").await.unwrap();
    }
    assert_eq!(store.orgs_with_budgets().await.unwrap(), ["a", "c"]);
    store.delete_budget("c", "one", "test").await.unwrap();
    assert_eq!(store.orgs_with_budgets().await.unwrap(), ["a", "c"]);
    store.delete_budget("c", "two", "test").await.unwrap();
    assert_eq!(store.orgs_with_budgets().await.unwrap(), ["a"]);
}
