//! Idempotency and quarantine: a changed event under a known id, and events
//! no organisation takes, are kept apart and counted once or nowhere.

mod common;

use common::*;
use jiff::Timestamp;
use serde_json::json;
use spendlens_domain::ErrorCode;
use spendlens_store::model::*;
use spendlens_store::query::{Dim, Filter};
use std::collections::BTreeMap;

use common::suite::*;

crate::on_both_backends!(
    a_changed_event_under_a_known_id_is_a_conflicting_duplicate_and_counts_once
);
async fn a_changed_event_under_a_known_id_is_a_conflicting_duplicate_and_counts_once(b: Backend) {
    let mut store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    store
        .create_org(new_org("la", "UTC", "1"), "test")
        .await
        .unwrap();
    let at = "2026-11-10T10:00:00Z";
    let first = ev("x", at, "c1", json!({"tokens_in": 100}));
    assert_eq!(send(store.as_ref(), vec![first.clone()]).await.accepted, 1);

    // Another batch: the same id with other tokens is a duplicate_conflict.
    let out = send(
        store.as_ref(),
        vec![ev("x", at, "c1", json!({"tokens_in": 101}))],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates, out.rejected), (0, 1, 0));
    assert_eq!(out.errors.len(), 1);
    let e = &out.errors[0];
    assert_eq!(
        (e.code.as_str(), e.field, e.event_id.as_deref(), e.index),
        ("duplicate_conflict", Some("event_id"), Some("x"), 0)
    );
    assert_eq!(ErrorCode::DuplicateConflict.as_str(), "duplicate_conflict");

    // The same payload spelled differently is a plain repeat (no error):
    // cost as a number, the instant with an offset, organisation left out
    // under an org-scoped token.
    let respelled = serde_json::json!({
        "event_id": "x", "occurred_at": "2026-11-10T05:00:00-05:00", "user_id": "alice",
        "conversation_id": "c1", "model_name": "gpt-4o", "tokens_in": 100, "tokens_out": 5,
        "actual_api_cost": 0.000000003,
    });
    let respelled = spendlens_domain::Event::parse(&respelled, parse_now()).unwrap();
    let out = send_as(
        store.as_ref(),
        IngestScope::Org("ny".into()),
        vec![respelled],
    )
    .await;
    assert_eq!(
        (out.accepted, out.duplicates, out.errors.len()),
        (0, 1, 0),
        "{:?}",
        out.errors
    );

    // In one batch: the first stays, the second conflicts (index 1), and a
    // third plain copy is a plain duplicate.
    let out = send(
        store.as_ref(),
        vec![
            ev("y", at, "c2", json!({"tokens_out": 1})),
            ev("y", at, "c2", json!({"tokens_out": 2})),
            ev("y", at, "c2", json!({"tokens_out": 1})),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates), (1, 2));
    assert_eq!(
        out.errors
            .iter()
            .map(|e| (e.index, e.code.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "duplicate_conflict")]
    );
    // The same id in another organisation is another event.
    let out = send(
        store.as_ref(),
        vec![ev(
            "x",
            at,
            "c1",
            json!({"organization_id": "la", "tokens_in": 7}),
        )],
    )
    .await;
    assert_eq!(out.accepted, 1, "{:?}", out.errors);

    // Two groups of one batch in one call: the second sees the first.
    let call = vec![
        IngestBatch {
            scope: IngestScope::Platform,
            events: vec![(0, ev("w", at, "c3", json!({})))],
            received_at: Timestamp::now(),
        },
        IngestBatch {
            scope: IngestScope::Org("ny".into()),
            events: vec![(0, ev("w", at, "c3", json!({"tokens_in": 11})))],
            received_at: Timestamp::now(),
        },
    ];
    let outs = store.ingest(call).await.unwrap();
    assert_eq!(
        (outs[0].accepted, outs[1].accepted, outs[1].duplicates),
        (1, 0, 1)
    );
    assert_eq!(
        codes(&outs[1]),
        vec![("w".to_string(), "duplicate_conflict")]
    );

    // After a restart the keys are still known.
    drop(store);
    store = b.open().await;
    let out = send(
        store.as_ref(),
        vec![ev("x", at, "c1", json!({"tokens_in": 102})), first.clone()],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates), (0, 2));
    assert_eq!(codes(&out), vec![("x".to_string(), "duplicate_conflict")]);

    // Each counted once, with the first payload.
    let rows = store
        .figures(&query(
            "ny",
            period("2026-11-01", "2026-12-01"),
            Filter::default(),
            vec![],
        ))
        .await
        .unwrap();
    let f = rows[0].figures;
    assert_eq!(
        (f.messages, f.tokens_in, f.tokens_out, f.conversations),
        (3, 100 + 10 + 10, 5 + 1 + 5, 3)
    );
    let raw = store.events("ny").await.unwrap();
    assert_eq!(
        raw.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        vec!["w", "x", "y"]
    );
    check_org(&store, "ny", "UTC", &[period("2026-11-01", "2026-12-01")]).await;
    check_org(&store, "la", "UTC", &[period("2026-11-01", "2026-12-01")]).await;
}

crate::on_both_backends!(events_no_organisation_takes_are_quarantined_and_counted_nowhere);
async fn events_no_organisation_takes_are_quarantined_and_counted_nowhere(b: Backend) {
    let store = b.open().await;
    let st = store.as_ref();
    for org in ["ny", "la"] {
        st.create_org(new_org(org, "UTC", "1"), "test")
            .await
            .unwrap();
    }
    let member = |user: &str| Member {
        user_id: user.into(),
        email: None,
        role: Role::Member,
        team_id: None,
        department: None,
        added_by_admin: true,
    };
    st.put_member("ny", member("carol"), "test").await.unwrap();
    st.put_member("ny", member("bob"), "test").await.unwrap();
    st.put_member("la", member("bob"), "test").await.unwrap();
    let at = "2026-11-10T10:00:00Z";
    let anon = |id: &str, user: &str| {
        ev(
            id,
            at,
            &format!("c-{id}"),
            json!({"organization_id": null, "user_id": user}),
        )
    };
    // dave gets a membership in la on first sight (not made by an admin):
    // it does not place his events.
    assert_eq!(
        send(
            st,
            vec![ev(
                "d0",
                at,
                "c-d0",
                json!({"organization_id": "la", "user_id": "dave"})
            )]
        )
        .await
        .accepted,
        1
    );
    st.put_member("ny", member("dave"), "test").await.unwrap();

    let out = send(
        st,
        vec![
            ev("g1", at, "c-g1", json!({"organization_id": "ghost"})),
            anon("n1", "nobody"),
            anon("b1", "bob"),
            anon("c1", "carol"),
            anon("d1", "dave"),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.quarantined, out.rejected), (2, 3, 0));
    assert_eq!(
        codes(&out),
        vec![
            ("g1".to_string(), "unknown_organization"),
            ("n1".to_string(), "unknown_organization"),
            ("b1".to_string(), "ambiguous_organization"),
        ]
    );
    // An org-scoped token of an organisation that does not exist.
    let out = send_as(
        st,
        IngestScope::Org("gone".into()),
        vec![anon("o1", "alice")],
    )
    .await;
    assert_eq!(
        (out.quarantined, codes(&out)),
        (1, vec![("o1".to_string(), "unknown_organization")])
    );
    // An org-scoped token naming another organisation is rejected.
    let out = send_as(
        st,
        IngestScope::Org("ny".into()),
        vec![ev("m1", at, "c-m1", json!({"organization_id": "la"}))],
    )
    .await;
    assert_eq!(
        (out.rejected, codes(&out)),
        (1, vec![("m1".to_string(), "organization_mismatch")])
    );

    // Replays of quarantined events are duplicates; a changed one conflicts.
    let out = send(
        st,
        vec![
            ev("g1", at, "c-g1", json!({"organization_id": "ghost"})),
            ev(
                "g1",
                at,
                "c-g1",
                json!({"organization_id": "ghost", "tokens_in": 99}),
            ),
        ],
    )
    .await;
    assert_eq!((out.quarantined, out.duplicates), (0, 2));
    assert_eq!(codes(&out), vec![("g1".to_string(), "duplicate_conflict")]);

    let q = st.quarantined().await.unwrap();
    let listed: Vec<_> = q
        .iter()
        .map(|e| {
            (
                e.event_id.as_str(),
                e.organization_hint.as_deref(),
                e.user_id.as_str(),
                e.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("g1", Some("ghost"), "alice", "unknown_organization"),
            ("n1", None, "nobody", "unknown_organization"),
            ("b1", None, "bob", "ambiguous_organization"),
            ("o1", Some("gone"), "alice", "unknown_organization"),
        ]
    );
    // Counted nowhere: ny has carol's and dave's events, la dave's first one.
    let whole = period("2026-11-01", "2026-12-01");
    let users = |org: &str| {
        let q = query(org, whole, Filter::default(), vec![Dim::User]);
        async move { by_first_key(st.figures(&q).await.unwrap()) }
    };
    assert_eq!(
        users("ny").await,
        BTreeMap::from([(s("carol"), (1, 1)), (s("dave"), (1, 1))])
    );
    assert_eq!(users("la").await, BTreeMap::from([(s("dave"), (1, 1))]));
    check_org(&store, "ny", "UTC", &[whole]).await;
}

crate::on_both_backends!(a_refused_event_leaves_its_id_free_for_the_next_one);
async fn a_refused_event_leaves_its_id_free_for_the_next_one(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let at = "2026-11-10T10:00:00Z";
    // Conversation c1 is alice's; bob's event "k" in it is refused, so the
    // id "k" stays unused: an event "k" of alice's in the same batch, with
    // other content, is accepted, and its own content is what a later
    // repeat is compared with.
    let bob = json!({"user_id": "bob", "tokens_in": 7});
    let alice = json!({"user_id": "alice", "tokens_in": 9});
    assert_eq!(
        send(store.as_ref(), vec![ev("a", at, "c1", json!({}))])
            .await
            .accepted,
        1
    );
    let out = send(
        store.as_ref(),
        vec![
            ev("k", at, "c1", bob.clone()),
            ev("k", at, "c1", alice.clone()),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates, out.rejected), (1, 0, 1));
    assert_eq!(out.errors[0].code.as_str(), "conversation_owner_mismatch");
    let out = send(store.as_ref(), vec![ev("k", at, "c1", alice)]).await;
    assert_eq!((out.accepted, out.duplicates, out.errors.len()), (0, 1, 0));
    let out = send(store.as_ref(), vec![ev("k", at, "c1", bob)]).await;
    assert_eq!((out.accepted, out.duplicates), (0, 1));
    assert_eq!(out.errors[0].code.as_str(), "duplicate_conflict");

    // A refused event alone leaves its id free too.
    let out = send(
        store.as_ref(),
        vec![ev("r", at, "c1", json!({"user_id": "carol"}))],
    )
    .await;
    assert_eq!((out.accepted, out.rejected), (0, 1));
    let out = send(
        store.as_ref(),
        vec![ev("r", at, "c9", json!({"user_id": "carol"}))],
    )
    .await;
    assert_eq!((out.accepted, out.duplicates, out.rejected), (1, 0, 0));
}
