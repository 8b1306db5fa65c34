//! `spendlens copy`: an embedded store copied into PostgreSQL answers every
//! question as the original does — figures of every group-by and period
//! (including days whose detail retention deleted), detail, structure,
//! tokens, budgets and alerts — and both go on the same way after new events.

mod common;

use common::suite::*;
use common::*;
use jiff::Timestamp;
use spendlens_datagen::{events, setup, Spec};
use spendlens_store::model::*;
use spendlens_store::query::Filter;
use spendlens_store::Store;

/// Every answer alike; `since_copy`: new rows made after the copy carry
/// their own creation times, so keys and audit entries are compared by id.
async fn same_answers(a: &dyn Store, b: &dyn Store, orgs: &[String], since_copy: bool) -> usize {
    assert_eq!(a.list_orgs().await.unwrap(), b.list_orgs().await.unwrap());
    assert_eq!(
        a.list_tokens(None).await.unwrap(),
        b.list_tokens(None).await.unwrap()
    );
    assert_eq!(
        a.quarantined().await.unwrap(),
        b.quarantined().await.unwrap()
    );
    let mut figures = 0;
    for org in orgs {
        assert_eq!(
            a.list_teams(org).await.unwrap(),
            b.list_teams(org).await.unwrap()
        );
        assert_eq!(
            a.list_members(org).await.unwrap(),
            b.list_members(org).await.unwrap()
        );
        let keys = |k: Vec<ApiKey>| {
            k.into_iter()
                .map(|k| {
                    (
                        k.api_key_id,
                        k.name,
                        k.provider,
                        k.registered,
                        k.last_used_at,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(a.list_api_keys(org).await.unwrap()),
            keys(b.list_api_keys(org).await.unwrap())
        );
        if !since_copy {
            assert_eq!(
                a.list_api_keys(org).await.unwrap(),
                b.list_api_keys(org).await.unwrap()
            );
        }
        assert_eq!(
            a.list_budgets(org).await.unwrap(),
            b.list_budgets(org).await.unwrap()
        );
        assert_eq!(
            a.list_alerts(org, 100).await.unwrap(),
            b.list_alerts(org, 100).await.unwrap()
        );
        assert_eq!(
            a.audit_log(Some(org), 1000).await.unwrap(),
            b.audit_log(Some(org), 1000).await.unwrap()
        );
        assert_eq!(a.events(org).await.unwrap(), b.events(org).await.unwrap());
        for p in [
            period("2026-08-01", "2026-12-01"),
            period("2026-10-01", "2026-11-01"),
            period("2026-11-10", "2026-11-16"),
        ] {
            for g in group_bys() {
                let q = query(org, p, Filter::default(), g);
                // Rows come in no promised order: compare them sorted by key.
                let (mut x, mut y) = (a.figures(&q).await.unwrap(), b.figures(&q).await.unwrap());
                x.sort_by(|r, s| r.key.cmp(&s.key));
                y.sort_by(|r, s| r.key.cmp(&s.key));
                assert_eq!(x, y, "{org} {p:?} {:?}", q.group_by);
                figures += x.len();
            }
        }
        let m = a.list_members(org).await.unwrap();
        let user = &m[0].user_id;
        let p = period("2026-08-01", "2026-12-01");
        assert_eq!(
            a.user_conversations(org, user, p).await.unwrap(),
            b.user_conversations(org, user, p).await.unwrap()
        );
    }
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_store_answers_every_question_as_the_original() {
    let Some(pg) = spendlens_store::postgres::testing::create().await else {
        return;
    };
    let anchor = jiff::civil::date(2026, 11, 15);
    let mut spec = Spec::custom(6_000, 4, anchor);
    spec.days = 75;
    let setup = setup(&spec);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let orgs: Vec<String> = setup.orgs.iter().map(|o| o.id.clone()).collect();
    let now = now_after(anchor);
    let sent = parse_all(events(&spec), now);
    {
        let store = open(dir.path());
        create_setup(store.as_ref(), &setup).await;
        let calls = batches(&sent, 500, Routing::Mixed, now);
        let out = ingest(store.as_ref(), &calls).await;
        assert!(out.accepted > 5_000, "{out:?}");
        // Detail of the first month goes: its figures must survive the copy.
        let cutoff: Timestamp = "2026-09-15T00:00:00Z".parse().unwrap();
        let gone = store
            .retention_step(&orgs[0], cutoff, 1_000_000)
            .await
            .unwrap();
        assert!(gone.events_deleted > 100, "{gone:?}");
        let budget = Budget {
            id: "b1".into(),
            scope: BudgetScope::Org,
            scope_id: None,
            period: BudgetPeriod::Monthly,
            amount: 1_000,
            thresholds_ppm: vec![500_000, 1_000_000],
            hard_limit: true,
            created_at: Timestamp::now(),
        };
        store.put_budget(&orgs[0], budget, "test").await.unwrap();
        store
            .create_token(
                NewToken {
                    id: "tok1".into(),
                    secret_hash: "h".repeat(64),
                    role: Role::OrgAdmin,
                    organization_id: Some(orgs[0].clone()),
                    team_id: None,
                    user_id: None,
                    name: Some("copy".into()),
                    expires_at: None,
                },
                "test",
            )
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let copied = spendlens_store::copy::sqlite_to_postgres(&path, &pg.url, |t, done, total| {
        assert!(done <= total, "{t}: {done} of {total}");
        seen.push(t.to_owned());
    })
    .await
    .unwrap();
    let rows = |t: &str| copied.iter().find(|(n, _)| n == t).unwrap().1;
    assert!(rows("cube") > 0 && rows("events") > 0 && rows("event_keys") >= rows("events"));
    assert!(
        seen.contains(&"org_days".to_owned()),
        "progress is reported"
    );

    let original = open(dir.path());
    let copy = spendlens_store::open(&pg.url, spendlens_store::Durability::Process)
        .await
        .unwrap();
    let n = same_answers(original.as_ref(), copy.as_ref(), &orgs, false).await;
    assert!(n > 1_000, "{n} figure rows compared");
    assert_eq!(
        copy.verify(&orgs[1], day("2026-09-01")).await.unwrap(),
        vec![]
    );

    // A second copy into the same database is refused: it is not empty.
    drop(original);
    let again = spendlens_store::copy::sqlite_to_postgres(&path, &pg.url, |_, _, _| {}).await;
    assert!(
        matches!(again, Err(spendlens_store::StoreError::Conflict(_))),
        "{again:?}"
    );
    let original = open(dir.path());

    // Both go on alike: new ids continue after the copied ones; replays of
    // copied events are still duplicates.
    let late = vec![
        ev(
            "new-1",
            "2026-11-14T10:00:00Z",
            "brand-new-conv",
            serde_json::json!({"organization_id": orgs[0], "user_id": "new-person"}),
        ),
        ev(
            "new-2",
            "2026-11-14T11:00:00Z",
            "brand-new-conv",
            serde_json::json!({"organization_id": orgs[0], "user_id": "new-person", "api_key_id": "new-key"}),
        ),
    ];
    let replay: Vec<_> = sent.iter().take(200).map(|s| s.event.clone()).collect();
    for store in [&original, &copy] {
        let out = send(store.as_ref(), late.clone()).await;
        assert_eq!(out.accepted, 2, "{out:?}");
        let out = send(store.as_ref(), replay.clone()).await;
        assert_eq!((out.accepted, out.duplicates), (0, 200), "{out:?}");
    }
    same_answers(original.as_ref(), copy.as_ref(), &orgs, true).await;
}
