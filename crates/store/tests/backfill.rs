//! Quarantined events are counted once their organisation can be found, and
//! never twice.

mod common;

use common::*;
use serde_json::json;
use spendlens_store::model::*;
use spendlens_store::query::{FigureQuery, Filter};

crate::on_both_backends!(backfill_places_what_can_be_placed_and_counts_it_once);
async fn backfill_places_what_can_be_placed_and_counts_it_once(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("acme", "UTC", "1"), "test")
        .await
        .unwrap();
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "q1",
                "2026-11-20T10:00:00Z",
                "c1",
                json!({"organization_id": "later"}),
            ),
            ev(
                "q2",
                "2026-11-20T11:00:00Z",
                "c2",
                json!({"user_id": "dana", "organization_id": null}),
            ),
            ev(
                "q3",
                "2026-11-20T12:00:00Z",
                "c3",
                json!({"organization_id": "never"}),
            ),
            ev(
                "q4",
                "2026-11-20T13:00:00Z",
                "c4",
                json!({"organization_id": "later"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.quarantined, 4, "{:?}", out.errors);
    let scoped = send_as(
        store.as_ref(),
        IngestScope::Org("later2".into()),
        vec![ev(
            "q5",
            "2026-11-20T14:00:00Z",
            "c5",
            json!({"organization_id": null}),
        )],
    )
    .await;
    assert_eq!(scoped.quarantined, 1);

    // Nothing can be placed yet.
    assert_eq!(
        store.backfill("test").await.unwrap(),
        BackfillOutcome {
            still_quarantined: 5,
            ..Default::default()
        }
    );

    store
        .create_org(new_org("later", "UTC", "1"), "test")
        .await
        .unwrap();
    store
        .create_org(new_org("later2", "UTC", "1"), "test")
        .await
        .unwrap();
    let dana = Member {
        user_id: "dana".into(),
        email: None,
        role: Role::Member,
        team_id: None,
        department: None,
        added_by_admin: true,
    };
    store.put_member("acme", dana, "test").await.unwrap();
    // q4 also arrives directly meanwhile: backfill must not count it again.
    assert_eq!(
        send(
            store.as_ref(),
            vec![ev(
                "q4",
                "2026-11-20T13:00:00Z",
                "c4",
                json!({"organization_id": "later"})
            )]
        )
        .await
        .accepted,
        1
    );

    let done = store.backfill("test").await.unwrap();
    assert_eq!(
        done,
        BackfillOutcome {
            accepted: 3,
            duplicates: 1,
            rejected: 0,
            still_quarantined: 1
        }
    );
    let left: Vec<String> = store
        .quarantined()
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.event_id)
        .collect();
    assert_eq!(left, vec!["q3"]);
    let messages = |org: &str| {
        let q = FigureQuery {
            org: org.into(),
            period: period("2026-11-01", "2026-12-01"),
            filter: Filter::default(),
            group_by: vec![],
        };
        let store = store.clone();
        async move {
            store
                .figures(&q)
                .await
                .unwrap()
                .first()
                .map(|r| r.figures.messages)
                .unwrap_or(0)
        }
    };
    assert_eq!(
        (
            messages("later").await,
            messages("later2").await,
            messages("acme").await
        ),
        (2, 1, 1)
    );
    // Running it again changes nothing.
    assert_eq!(
        store.backfill("test").await.unwrap(),
        BackfillOutcome {
            still_quarantined: 1,
            ..Default::default()
        }
    );
    assert_eq!(messages("later").await, 2);
    assert!(store
        .audit_log(None, 10)
        .await
        .unwrap()
        .iter()
        .any(|a| a.action == "quarantine.backfill"));
}
