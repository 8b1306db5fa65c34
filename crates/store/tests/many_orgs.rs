//! `figures_many` over several organisations on every backend: each answer
//! equals the organisation's own `figures`, and the events sent.

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
}
