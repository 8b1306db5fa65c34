//! Erasure (API.md §5) on every backend: the person's id is replaced by a
//! pseudonym in every row of the organisation, their email and titles go,
//! and every figure — distinct people included — stays what it was.

mod common;

use common::*;
use serde_json::json;
use spendlens_store::query::{Dim, Filter};

crate::on_both_backends!(an_erased_person_keeps_every_figure_and_loses_their_identity);
async fn an_erased_person_keeps_every_figure_and_loses_their_identity(b: Backend) {
    let store = b.open().await;
    for org in ["ny", "sf"] {
        store
            .create_org(new_org(org, "America/New_York", "1.2"), "test")
            .await
            .unwrap();
    }
    let mut events = Vec::new();
    for (i, (user, org)) in [
        ("alice", "ny"),
        ("alice", "ny"),
        ("bob", "ny"),
        ("alice", "sf"),
    ]
    .iter()
    .enumerate()
    {
        events.push(ev(
            &format!("e{i}"),
            &format!("2026-11-1{i}T15:00:00Z"),
            &format!("conv-{user}-{i}"),
            json!({"organization_id": org, "user_id": user, "user_email": format!("{user}@example.com"),
                   "conversation_title": format!("{user}'s plan"), "api_key_id": "k1"}),
        ));
    }
    assert_eq!(send(store.as_ref(), events).await.accepted, 4);
    let p = period("2026-11-01", "2026-12-01");
    let groupings = [
        vec![],
        vec![Dim::Day],
        vec![Dim::ApiKey],
        vec![Dim::Model, Dim::Day],
    ];
    let mut before = Vec::new();
    for g in &groupings {
        before.push(
            store
                .figures(&query("ny", p, Filter::default(), g.clone()))
                .await
                .unwrap(),
        );
    }
    let by_user = store
        .figures(&query("ny", p, Filter::default(), vec![Dim::User]))
        .await
        .unwrap();

    let erased = store
        .erase_user("ny", "alice", "erased-0001", "test")
        .await
        .unwrap();
    assert_eq!((erased.events, erased.conversations), (2, 2), "{erased:?}");

    for (g, want) in groupings.iter().zip(&before) {
        let got = store
            .figures(&query("ny", p, Filter::default(), g.clone()))
            .await
            .unwrap();
        assert_eq!(&got, want, "{g:?}");
    }
    // The person's row is the pseudonym's now, with the same figures.
    let mut renamed = store
        .figures(&query("ny", p, Filter::default(), vec![Dim::User]))
        .await
        .unwrap();
    renamed.sort_by(|a, b| a.key.cmp(&b.key));
    let mut expected: Vec<_> = by_user
        .into_iter()
        .map(|mut r| {
            if r.key == [Some("alice".to_owned())] {
                r.key = vec![Some("erased-0001".to_owned())];
            }
            r
        })
        .collect();
    expected.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(renamed, expected);
    // Nothing of theirs is left in the organisation's detail or membership.
    let stored = store.events("ny").await.unwrap();
    assert!(stored.iter().all(|e| e.user_id != "alice"));
    assert_eq!(
        stored.iter().filter(|e| e.user_id == "erased-0001").count(),
        2
    );
    // They leave the organisation: no membership under either id.
    assert!(store.get_member("ny", "alice").await.is_err());
    assert!(store.get_member("ny", "erased-0001").await.is_err());
    assert!(store
        .list_members("ny")
        .await
        .unwrap()
        .iter()
        .all(|m| m.email.as_deref() != Some("alice@example.com")));
    let convs = store
        .user_conversations("ny", "erased-0001", p)
        .await
        .unwrap();
    assert_eq!(convs.len(), 2);
    assert!(convs.iter().all(|c| c.title.is_none()), "{convs:?}");
    assert_eq!(store.verify("ny", day("2026-11-01")).await.unwrap(), vec![]);
    // The other organisation keeps its own alice.
    assert!(store
        .events("sf")
        .await
        .unwrap()
        .iter()
        .all(|e| e.user_id == "alice"));
}
