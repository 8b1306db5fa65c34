//! `figures_many` over several organisations on every backend: each answer
//! equals the organisation's own `figures`, and the events sent; a page's
//! members read at once come from the organisation asked for alone.

mod common;

use common::*;
use serde_json::json;
use spendlens_store::query::{Dim, Filter};

crate::on_both_backends!(several_organisations_in_one_call);
async fn several_organisations_in_one_call(b: Backend) {
    let store = b.open().await;
    for org in ["ny", "sf", "empty"] {
        store
            .create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    let sent = [("a", "ny", 2), ("b", "ny", 3), ("c", "sf", 5)];
    let events = sent
        .iter()
        .map(|(id, org, cost)| {
            ev(
                id,
                "2026-11-04T12:00:00Z",
                &format!("c-{id}"),
                json!({"organization_id": org, "total_cost": format!("0.{cost:09}")}),
            )
        })
        .collect();
    assert_eq!(send(store.as_ref(), events).await.accepted, 3);
    let p = period("2026-11-01", "2026-12-01");
    let queries: Vec<_> = ["ny", "sf", "empty", "sf"]
        .iter()
        .flat_map(|org| {
            [
                query(org, p, Filter::default(), vec![]),
                query(org, p, Filter::default(), vec![Dim::User]),
            ]
        })
        .collect();
    let many = store.figures_many(queries.clone()).await.unwrap();
    assert_eq!(many.len(), queries.len());
    for (q, got) in queries.iter().zip(&many) {
        assert_eq!(got, &store.figures(q).await.unwrap(), "{}", q.org);
    }
    let total = |i: usize| many[i].first().map_or(0, |r| r.figures.total_cost);
    assert_eq!([total(0), total(2), total(4), total(6)], [5, 5, 0, 5]);

    // Totals only (the platform's questions), and an organisation that
    // does not exist: refused as the organisation's own question is.
    let totals: Vec<_> = ["sf", "empty", "ny"]
        .iter()
        .map(|org| query(org, p, Filter::default(), vec![]))
        .collect();
    let got = store.figures_many(totals.clone()).await.unwrap();
    for (q, got) in totals.iter().zip(&got) {
        assert_eq!(got, &store.figures(q).await.unwrap(), "{}", q.org);
    }
    let mut with_stranger = totals;
    with_stranger.push(query("nowhere", p, Filter::default(), vec![]));
    assert!(matches!(
        store.figures_many(with_stranger).await,
        Err(spendlens_store::StoreError::NotFound(_))
    ));
}

crate::on_both_backends!(members_of_a_page_come_from_their_own_organisation);
async fn members_of_a_page_come_from_their_own_organisation(b: Backend) {
    let store = b.open().await;
    for org in ["ny", "sf"] {
        store
            .create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    // alice and bob in ny, carol in sf only; people are created by their events.
    let sent = [
        ("a", "ny", "alice"),
        ("b", "ny", "bob"),
        ("c", "sf", "carol"),
    ];
    let events = sent
        .iter()
        .map(|(id, org, user)| {
            ev(
                id,
                "2026-11-04T12:00:00Z",
                &format!("c-{id}"),
                json!({"organization_id": org, "user_id": user}),
            )
        })
        .collect();
    assert_eq!(send(store.as_ref(), events).await.accepted, 3);
    let ask = ["bob", "carol", "nobody", "alice"].map(String::from);
    let mut got: Vec<String> = store
        .get_members("ny", &ask)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    got.sort();
    // carol is another organisation's member: never part of ny's answer.
    assert_eq!(got, ["alice", "bob"]);
    let sf: Vec<String> = store
        .get_members("sf", &ask)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(sf, ["carol"]);
    for (user, org) in [("alice", "ny"), ("carol", "sf")] {
        let one = store.get_member(org, user).await.unwrap();
        let batch = store.get_members(org, &[user.to_owned()]).await.unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].user_id, one.user_id);
        assert_eq!(batch[0].team_id, one.team_id);
        assert_eq!(batch[0].email, one.email);
    }
    assert!(store.get_members("ny", &[]).await.unwrap().is_empty());
}

// The platform's shape: more organisations than one reader takes alone
// (SQLite splits them over two readers by id), two periods each, every
// answer equal to the organisation's own `figures` and to the events sent.
crate::on_both_backends!(hundreds_of_questions_over_two_periods);
async fn hundreds_of_questions_over_two_periods(b: Backend) {
    let store = b.open().await;
    let orgs: Vec<String> = (0..70).map(|i| format!("org-{i:02}")).collect();
    for org in &orgs {
        store
            .create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    // Organisation i: i % 5 + 1 people, each with events on days spread
    // over October and November (eight-day blocks and their ends).
    let mut events = Vec::new();
    let mut expected = std::collections::HashMap::new();
    for (i, org) in orgs.iter().enumerate() {
        for person in 0..(i % 5 + 1) {
            for day in [2, 9, 17, 30] {
                let month = if (i + person) % 2 == 0 { 10 } else { 11 };
                let cost = (i * 7 + person * 3 + day) as i128;
                let id = format!("{org}-{person}-{month}-{day}");
                let e = ev(
                    &id,
                    &format!("2026-{month:02}-{day:02}T12:00:00Z"),
                    &format!("c-{id}"),
                    json!({"organization_id": org, "user_id": format!("u{person}"),
                           "total_cost": format!("0.{cost:09}")}),
                );
                events.push(e);
                let (total, people) = expected
                    .entry((org.clone(), month))
                    .or_insert((0i128, std::collections::BTreeSet::new()));
                *total += cost;
                people.insert(person);
            }
        }
    }
    for chunk in events.chunks(500) {
        let out = send(store.as_ref(), chunk.to_vec()).await;
        assert_eq!(out.accepted, chunk.len() as u64, "{:?}", out.errors);
    }
    let periods = [
        (10, period("2026-10-01", "2026-11-01")),
        (11, period("2026-11-01", "2026-12-01")),
    ];
    let queries: Vec<_> = periods
        .iter()
        .flat_map(|(_, p)| {
            orgs.iter()
                .map(move |org| query(org, *p, Filter::default(), vec![]))
        })
        .collect();
    let many = store.figures_many(queries.clone()).await.unwrap();
    assert_eq!(many.len(), 140);
    for (n, (q, got)) in queries.iter().zip(&many).enumerate() {
        assert_eq!(got, &store.figures(q).await.unwrap(), "{}", q.org);
        let month = periods[n / orgs.len()].0;
        let (total, people) = expected
            .get(&(q.org.clone(), month))
            .map(|(t, p)| (*t, p.len() as u64))
            .unwrap_or((0, 0));
        let figures = got.first().map(|r| r.figures).unwrap_or_default();
        assert_eq!(figures.total_cost, total, "{} in month {month}", q.org);
        assert_eq!(figures.active_users, people, "{} in month {month}", q.org);
    }
}
