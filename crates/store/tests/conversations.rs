//! Conversations: counted by their first event, moved by late events, owned
//! by their first user, listed with whole titles and model names.

mod common;

use common::*;
use jiff::Timestamp;
use serde_json::json;
use spendlens_store::model::*;
use spendlens_store::query::{Dim, FigureQuery, Filter};
use std::collections::BTreeMap;

use common::suite::*;

crate::on_both_backends!(late_events_move_conversation_starts);
async fn late_events_move_conversation_starts(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "America/New_York", "1.25"), "test")
        .await
        .unwrap();
    let st = store.as_ref();
    let q = |from: &str, to: &str, f: Filter, group_by: Vec<Dim>| {
        query("ny", period(from, to), f, group_by)
    };
    let figures = |q: FigureQuery| async move { by_first_key(st.figures(&q).await.unwrap()) };
    let all = Filter::default;

    // c1 starts at 04:30Z on 2 Nov = 23:30 EST on 1 Nov, with key-late;
    // c2 at noon on 31 Oct; c3 on 1 Nov, where a later event changes nothing.
    let out = send(
        st,
        vec![
            ev(
                "b",
                "2026-11-02T04:30:00Z",
                "c1",
                json!({"api_key_id": "key-late", "team_id": "t-late"}),
            ),
            ev("z", "2026-10-31T12:00:00Z", "c2", json!({})),
            ev(
                "m",
                "2026-11-01T15:00:00Z",
                "c3",
                json!({"model_name": "gpt-4o-mini"}),
            ),
            ev(
                "n",
                "2026-11-01T16:00:00Z",
                "c3",
                json!({"model_name": "claude-sonnet-4-5"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 4, "{:?}", out.errors);
    let days = figures(q("2026-10-30", "2026-11-03", all(), vec![Dim::Day])).await;
    assert_eq!(
        days,
        BTreeMap::from([(s("2026-10-31"), (1, 1)), (s("2026-11-01"), (3, 2))])
    );
    check_org(
        &store,
        "ny",
        "America/New_York",
        &[
            period("2026-10-01", "2026-12-01"),
            period("2026-10-30", "2026-11-03"),
        ],
    )
    .await;

    // A late event earlier than c1's start, on 31 Oct local (03:59Z on 1 Nov),
    // with another key and team: c1 now starts on 31 Oct — in October's
    // month row — with that key and team. A tie at c2's start with a smaller
    // event_id takes c2's start (and its model). A late event after c3's
    // start moves nothing.
    let out = send(
        st,
        vec![
            ev(
                "a",
                "2026-11-01T03:59:00Z",
                "c1",
                json!({"api_key_id": "key-early", "team_id": "t-early"}),
            ),
            ev(
                "y",
                "2026-10-31T12:00:00Z",
                "c2",
                json!({"model_name": "gpt-4o-mini"}),
            ),
            ev(
                "l",
                "2026-11-01T15:30:00Z",
                "c3",
                json!({"api_key_id": "key-late"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 3, "{:?}", out.errors);
    let days = figures(q("2026-10-30", "2026-11-03", all(), vec![Dim::Day])).await;
    assert_eq!(
        days,
        BTreeMap::from([(s("2026-10-31"), (3, 2)), (s("2026-11-01"), (4, 1))])
    );
    let months = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::Month])).await;
    assert_eq!(
        months,
        BTreeMap::from([(s("2026-10-01"), (3, 2)), (s("2026-11-01"), (4, 1))])
    );
    let keys = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::ApiKey])).await;
    assert_eq!(
        keys,
        BTreeMap::from([
            (None, (4, 2)),
            (s("key-early"), (1, 1)),
            (s("key-late"), (2, 0))
        ])
    );
    let teams = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::Team])).await;
    // alice's membership was made on first sight of "b", with its team: her
    // events without a team count in t-late.
    assert_eq!(
        teams,
        BTreeMap::from([(s("t-early"), (1, 1)), (s("t-late"), (6, 2))])
    );
    // With a filter: the conversations whose first event matches it.
    let late_key = Filter {
        api_key: Some(s("key-late")),
        ..all()
    };
    let only = st
        .figures(&q("2026-10-01", "2026-12-01", late_key, vec![]))
        .await
        .unwrap();
    assert_eq!(
        (only[0].figures.messages, only[0].figures.conversations),
        (2, 0),
        "no conversation starts with key-late any more"
    );
    let models = figures(q("2026-10-01", "2026-12-01", all(), vec![Dim::Model])).await;
    assert_eq!(
        models,
        BTreeMap::from([
            (s("claude-sonnet-4-5"), (1, 0)),
            (s("gpt-4o"), (4, 1)),
            (s("gpt-4o-mini"), (2, 2)),
        ])
    );
    check_org(
        &store,
        "ny",
        "America/New_York",
        &[
            period("2026-10-01", "2026-12-01"),
            period("2026-10-30", "2026-11-03"),
            period("2026-11-01", "2026-11-02"),
        ],
    )
    .await;

    // In one batch: a conversation created and moved twice in the same
    // transaction, across a month boundary, counts once where it starts.
    let out = send(
        st,
        vec![
            ev(
                "q3",
                "2026-12-01T12:00:00Z",
                "c4",
                json!({"api_key_id": "key-late"}),
            ),
            ev(
                "q2",
                "2026-11-30T12:00:00Z",
                "c4",
                json!({"api_key_id": "key-early"}),
            ),
            ev("q1", "2026-11-29T12:00:00Z", "c4", json!({})),
            ev(
                "q4",
                "2026-11-29T12:00:00Z",
                "c4",
                json!({"model_name": "o3"}),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 4, "{:?}", out.errors);
    let days = figures(q("2026-11-28", "2026-12-02", all(), vec![Dim::Day])).await;
    assert_eq!(
        days,
        BTreeMap::from([
            (s("2026-11-29"), (2, 1)),
            (s("2026-11-30"), (1, 0)),
            (s("2026-12-01"), (1, 0))
        ])
    );
    // The detail agrees: the conversation starts at q1.
    let detail = st.conversation("ny", "c4").await.unwrap();
    assert_eq!(
        detail.started_at,
        "2026-11-29T12:00:00Z".parse::<Timestamp>().unwrap()
    );
    check_org(
        &store,
        "ny",
        "America/New_York",
        &[
            period("2026-10-01", "2027-01-01"),
            period("2026-11-15", "2026-12-15"),
        ],
    )
    .await;
}

crate::on_both_backends!(a_conversation_belongs_to_its_first_user);
async fn a_conversation_belongs_to_its_first_user(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let at = "2026-11-10T10:00:00Z";
    let out = send(
        store.as_ref(),
        vec![
            ev("a", at, "c1", json!({})),
            ev("b", at, "c1", json!({"user_id": "mallory"})),
        ],
    )
    .await;
    assert_eq!((out.accepted, out.rejected), (1, 1));
    assert_eq!(
        codes(&out),
        vec![("b".to_string(), "conversation_owner_mismatch")]
    );
    // Stored whole or not at all: a rejected event changes no one's email.
    let mallory = Member {
        user_id: "mallory".into(),
        email: Some("mallory@example.com".into()),
        role: Role::Member,
        team_id: None,
        department: None,
        added_by_admin: true,
    };
    store.put_member("ny", mallory, "test").await.unwrap();
    let out = send(
        store.as_ref(),
        vec![ev(
            "b",
            at,
            "c1",
            json!({"user_id": "mallory", "user_email": "evil@example.com"}),
        )],
    )
    .await;
    assert_eq!(
        codes(&out),
        vec![("b".to_string(), "conversation_owner_mismatch")]
    );
    let m = store.get_member("ny", "mallory").await.unwrap();
    assert_eq!(m.email.as_deref(), Some("mallory@example.com"));
    // Rejected, not remembered: the same id may come again, rightly this time.
    let out = send(
        store.as_ref(),
        vec![ev("b", at, "c2", json!({"user_id": "mallory"}))],
    )
    .await;
    assert_eq!(out.accepted, 1, "{:?}", out.errors);
    check_org(&store, "ny", "UTC", &[period("2026-11-01", "2026-12-01")]).await;
}

crate::on_both_backends!(conversation_lists_keep_titles_and_model_names_whole);
async fn conversation_lists_keep_titles_and_model_names_whole(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let model =
        |m: &str, title: Option<&str>| json!({"model_name": m, "conversation_title": title});
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "e1",
                "2026-11-10T10:00:00Z",
                "c1",
                model("ft:gpt-4o:acme,v2", Some("A")),
            ),
            ev(
                "e3",
                "2026-11-10T12:00:00Z",
                "c1",
                model("gpt-4o", Some("C")),
            ),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2);
    // Late events: an older title does not replace the latest one; an event
    // without a title changes nothing.
    let out = send(
        store.as_ref(),
        vec![
            ev(
                "e2",
                "2026-11-10T11:00:00Z",
                "c1",
                model("gpt-4o", Some("B")),
            ),
            ev("e0", "2026-11-09T10:00:00Z", "c1", model("o3", None)),
        ],
    )
    .await;
    assert_eq!(out.accepted, 2);
    let p = period("2026-11-10", "2026-11-11");
    let got = store.user_conversations("ny", "alice", p).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].title.as_deref(), Some("C"));
    assert_eq!(
        got[0].models,
        vec!["ft:gpt-4o:acme,v2".to_string(), "gpt-4o".to_string()]
    );
    assert_eq!(
        got[0].started_at,
        "2026-11-09T10:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(got[0].messages, 3, "the period's part only");
    let raw = store.events("ny").await.unwrap();
    check_conversations(store.as_ref(), "ny", &raw, "alice", p).await;
    let detail = store.conversation("ny", "c1").await.unwrap();
    assert_eq!(detail.title.as_deref(), Some("C"));
    assert_eq!(detail.messages.len(), 4);
}

crate::on_both_backends!(pages_of_a_persons_conversations_walk_the_whole_list);
async fn pages_of_a_persons_conversations_walk_the_whole_list(b: Backend) {
    let store = b.open().await;
    store
        .create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    // alice's conversations: three end at the same instant (ties are ordered
    // by id), one ends after the period with an event inside it, one lies
    // wholly before it; bob's are not hers.
    let sent = [
        ("e1", "2026-11-03T10:00:00Z", "k-b"),
        ("e2", "2026-11-03T10:00:00Z", "k-a"),
        ("e3", "2026-11-03T10:00:00Z", "k-c"),
        ("e4", "2026-11-05T09:00:00Z", "late"),
        ("e5", "2026-12-02T09:00:00Z", "late"),
        ("e6", "2026-10-20T09:00:00Z", "before"),
        ("e7", "2026-11-04T08:00:00Z", "mid"),
        ("e8", "2026-11-02T08:00:00Z", "early"),
        ("e9", "2026-11-02T11:00:00Z", "early"),
    ];
    let mut events: Vec<_> = sent
        .iter()
        .map(|(id, at, conv)| ev(id, at, conv, json!({})))
        .collect();
    events.push(ev(
        "b1",
        "2026-11-04T08:00:00Z",
        "bobs",
        json!({"user_id": "bob"}),
    ));
    // More than a backend reads at once: twelve more ties, and ten
    // conversations just after the period that a walk meets before any of
    // hers in it and must pass over.
    for i in 0..12 {
        events.push(ev(
            &format!("t{i}"),
            "2026-11-10T10:00:00Z",
            &format!("tie{i:02}"),
            json!({}),
        ));
    }
    for i in 0..10 {
        events.push(ev(
            &format!("a{i}"),
            "2026-12-01T12:00:00Z",
            &format!("after{i}"),
            json!({}),
        ));
    }
    assert_eq!(send(store.as_ref(), events).await.accepted, 32);
    let p = period("2026-11-01", "2026-12-01");
    let all = store.user_conversations("ny", "alice", p).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.conversation_id.as_str()).collect();
    let ties: Vec<String> = (0..12).map(|i| format!("tie{i:02}")).collect();
    let mut expected = vec!["late"];
    expected.extend(ties.iter().map(String::as_str));
    expected.extend(["mid", "k-a", "k-b", "k-c", "early"]);
    assert_eq!(ids, expected);
    // The late conversation counts only its event inside the period.
    assert_eq!((all[0].messages, all[17].messages), (1, 2));
    for size in [1, 2, 4, 7, 10, 50] {
        let (mut walked, mut after) = (Vec::new(), None);
        loop {
            let page = store
                .user_conversations_page("ny", "alice", p, after.clone(), size)
                .await
                .unwrap();
            assert!(page.len() <= size);
            let Some(last) = page.last() else { break };
            after = Some((
                last.last_event_at.as_microsecond(),
                last.conversation_id.clone(),
            ));
            walked.extend(page);
        }
        assert_eq!(walked, all, "pages of {size}");
    }
    assert!(store
        .user_conversations_page("ny", "nobody", p, None, 5)
        .await
        .unwrap()
        .is_empty());
}
