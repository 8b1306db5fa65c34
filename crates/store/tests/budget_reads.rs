//! The budget check's reads on every backend: the context (organisation,
//! budgets, the person's membership) and several scopes' spend at once, each
//! equal to the sums of the events sent, and both in one trip.

mod common;

use common::*;
use jiff::Timestamp;
use serde_json::json;
use spendlens_domain::time::{Day, Period};
use spendlens_store::model::{Budget, BudgetPeriod, BudgetScope, Member, Role};
use spendlens_store::StoreError;

/// A store with organisations `ny` and `sf`, both in UTC.
async fn ny_and_sf(b: &Backend) -> std::sync::Arc<dyn spendlens_store::Store> {
    let store = b.open().await;
    for org in ["ny", "sf"] {
        store
            .create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    store
}

crate::on_both_backends!(the_budget_reads_see_what_was_sent);
async fn the_budget_reads_see_what_was_sent(b: Backend) {
    let store = ny_and_sf(&b).await;
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
            Some("k1"),
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
        .budget_check("ny", None, None, Box::new(|_| Vec::new()))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(matches!(
        store
            .budget_check("nowhere", None, None, Box::new(|_| Vec::new()))
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

/// Whether an event of (user, key, team, department) counts.
type Covers<'a> = dyn Fn(&str, Option<&str>, Option<&str>, Option<&str>) -> bool + 'a;

crate::on_both_backends!(the_budget_check_reads_every_covering_scope_of_recent_days);
/// The check as an IDE asks it: this week's and month's days, ids with
/// quotes and backslashes, the user's team and department, scopes that name
/// nothing, and asks older than the days PostgreSQL reads in its one trip.
async fn the_budget_check_reads_every_covering_scope_of_recent_days(b: Backend) {
    let store = ny_and_sf(&b).await;
    let (obrien, key, team, dept) = (r"o'brien\x", "k'1", "t'1", "R&D 'north'");
    let today = Day::from_date(Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date());
    // (event, org, user, key, team, department, cost in nanodollars, days ago)
    let sent = [
        ("e1", "ny", obrien, Some(key), Some(team), Some(dept), 7, 0),
        ("e2", "ny", obrien, None, Some(team), Some(dept), 11, 1),
        ("e3", "ny", "bob", Some(key), Some("t2"), None, 13, 3),
        (
            "e4",
            "ny",
            "bob",
            Some("k2"),
            Some("t2"),
            Some(dept),
            17,
            10,
        ),
        (
            "e5",
            "ny",
            obrien,
            Some(key),
            Some(team),
            Some(dept),
            19,
            40,
        ),
        ("e6", "sf", obrien, Some(key), Some(team), Some(dept), 23, 0),
    ];
    let events = sent
        .iter()
        .map(|(id, org, user, key, team, dept, cost, ago)| {
            let at = format!("{}T00:00:01Z", Day(today.0 - ago).to_date().unwrap());
            ev(
                id,
                &at,
                &format!("c-{id}"),
                json!({"organization_id": org, "user_id": user, "api_key_id": key,
                       "team_id": team, "department": dept,
                       "total_cost": format!("0.{cost:09}")}),
            )
        })
        .collect();
    assert_eq!(send(store.as_ref(), events).await.accepted, 6);
    // The user's current team and department, set by an administrator.
    let member = Member {
        user_id: obrien.into(),
        email: None,
        role: Role::Member,
        team_id: Some(team.into()),
        department: Some(dept.into()),
        added_by_admin: true,
    };
    store.put_member("ny", member, "test").await.unwrap();

    // Sums of the list above for `ny`, since `since` days ago.
    let expect = |since: i32, f: &Covers<'_>| {
        sent.iter()
            .filter(|(_, org, user, k, t, d, _, ago)| {
                *org == "ny" && *ago <= since && f(user, *k, *t, *d)
            })
            .map(|(.., cost, _)| i128::from(*cost))
            .sum::<i128>()
    };
    let recent = Period {
        from: Day(today.0 - 12),
        to: Day(today.0 + 1),
    };
    let long = Period {
        from: Day(today.0 - 45),
        to: Day(today.0 + 1),
    };
    let s = |v: &str| Some(v.to_owned());
    let asks = vec![
        (BudgetScope::Org, None, recent),
        (BudgetScope::User, s(obrien), recent),
        (BudgetScope::ApiKey, s(key), recent),
        (BudgetScope::Team, s(team), recent),
        (BudgetScope::Department, s(dept), recent),
        (BudgetScope::User, s("bob"), recent),
        (BudgetScope::Team, s("t2"), recent),
        (BudgetScope::ApiKey, s("nothing"), recent),
        (BudgetScope::User, None, recent),
        (BudgetScope::Org, None, long),
        (BudgetScope::User, s(obrien), long),
    ];
    let want = vec![
        expect(12, &|_, _, _, _| true),
        expect(12, &|u, _, _, _| u == obrien),
        expect(12, &|_, k, _, _| k == Some(key)),
        expect(12, &|_, _, t, _| t == Some(team)),
        expect(12, &|_, _, _, d| d == Some(dept)),
        expect(12, &|u, _, _, _| u == "bob"),
        expect(12, &|_, _, t, _| t == Some("t2")),
        0,
        0,
        expect(45, &|_, _, _, _| true),
        expect(45, &|u, _, _, _| u == obrien),
    ];
    assert_eq!(want[..7], [48, 18, 20, 18, 35, 30, 30]);
    assert_eq!(want[9..], [67, 37]);
    let planned = asks.clone();
    let (ctx, spent) = store
        .budget_check(
            "ny",
            Some(obrien),
            Some(key),
            Box::new(move |ctx| {
                assert_eq!(ctx.org.id, "ny");
                planned
            }),
        )
        .await
        .unwrap();
    assert_eq!(spent, want);
    let seen = ctx.member.expect("o'brien is a member");
    assert_eq!(seen.team_id.as_deref(), Some(team));
    assert_eq!(store.spends("ny", asks.clone()).await.unwrap(), want);
    // A caller the organisation does not know: no member, nothing spent.
    let (ctx, spent) = store
        .budget_check(
            "ny",
            Some("ghost'"),
            Some("no key"),
            Box::new(move |_| {
                vec![
                    (BudgetScope::User, Some("ghost'".to_owned()), recent),
                    (BudgetScope::ApiKey, Some("no key".to_owned()), recent),
                ]
            }),
        )
        .await
        .unwrap();
    assert!(ctx.member.is_none());
    assert_eq!(spent, [0, 0]);
    // An organisation id with a quote names no organisation.
    assert!(matches!(
        store
            .budget_check("ny' OR true --", None, None, Box::new(|_| Vec::new()))
            .await,
        Err(StoreError::NotFound(_))
    ));
}
