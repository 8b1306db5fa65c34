//! Two servers on one PostgreSQL keep the tokens they look up
//! (postgres/token_cache.rs), and neither lets a token in once it is
//! revoked: through the other server, by a member's removal, or by an
//! operator's own SQL.

mod common;

use common::*;
use spendlens_store::model::{Member, NewToken, Role};
use spendlens_store::postgres::PgStore;
use spendlens_store::Store;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Wait until `s` keeps tokens (its listener is connected).
async fn listening(s: &PgStore) {
    let start = Instant::now();
    while !s.keeps_tokens() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the token listener did not connect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long until `s` sees the token of `hash` revoked; fails past 5 s
/// (an entry is kept 10 s when no one says it changed).
async fn seen_revoked(s: &PgStore, hash: &str, by: &str) -> Duration {
    let start = Instant::now();
    loop {
        let token = s.find_token(hash).await.unwrap().expect("the token exists");
        if token.revoked_at.is_some() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "revoked {by}: the other server still lets the token in after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn token(id: &str, role: Role, user: Option<&str>) -> NewToken {
    NewToken {
        id: id.into(),
        secret_hash: format!("hash-{id}"),
        role,
        organization_id: Some("ny".into()),
        team_id: None,
        user_id: user.map(str::to_owned),
        name: Some(format!("token {id}")),
        expires_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_token_is_forgotten_when_anyone_revokes_it() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let url = b.pg.as_ref().unwrap().url.clone();
    let (one, two) = (
        PgStore::open(&url).await.unwrap(),
        PgStore::open(&url).await.unwrap(),
    );
    listening(&one).await;
    listening(&two).await;
    one.create_org(new_org("ny", "UTC", "1"), "test")
        .await
        .unwrap();
    let alice = Member {
        user_id: "alice".into(),
        email: None,
        role: Role::Member,
        team_id: None,
        department: None,
        added_by_admin: true,
    };
    one.put_member("ny", alice, "test").await.unwrap();
    for t in [
        token("t1", Role::Ingest, None),
        token("t2", Role::Ingest, None),
        token("t3", Role::Member, Some("alice")),
    ] {
        one.create_token(t, "test").await.unwrap();
    }
    for id in ["t1", "t2", "t3"] {
        let found = two.find_token(&format!("hash-{id}")).await.unwrap();
        assert!(found.is_some_and(|t| t.revoked_at.is_none()));
    }

    // The second server keeps what it found: a change no trigger reports
    // (the name, which lets no one in) does not show there yet.
    let mut sql = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE tokens SET name = 'renamed' WHERE id = 't1'")
        .execute(&mut sql)
        .await
        .unwrap();
    let kept = two.find_token("hash-t1").await.unwrap().unwrap();
    assert_eq!(kept.name.as_deref(), Some("token t1"));
    let read = one.list_tokens(Some("ny")).await.unwrap();
    assert!(read.iter().any(|t| t.name.as_deref() == Some("renamed")));

    // Revoked through the first server: refused there at once, and on the
    // second as soon as it hears.
    assert!(one.find_token("hash-t1").await.unwrap().is_some());
    one.revoke_token("t1", "test").await.unwrap();
    let here = one.find_token("hash-t1").await.unwrap().unwrap();
    assert!(here.revoked_at.is_some());
    let waited = seen_revoked(&two, "hash-t1", "through the other server").await;
    eprintln!("revocation seen by the other server after {waited:?}");

    // By an operator's SQL, outside spendlens.
    sqlx::query("UPDATE tokens SET revoked_at = 1 WHERE id = 't2'")
        .execute(&mut sql)
        .await
        .unwrap();
    seen_revoked(&two, "hash-t2", "by SQL").await;

    // By removing the member whose token it is.
    one.delete_member("ny", "alice", "test").await.unwrap();
    seen_revoked(&two, "hash-t3", "by the member's removal").await;
    assert!(one
        .find_token("hash-t3")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
}
