//! PostgreSQL's row-level security stops a read made for one organisation
//! from seeing another's rows, even when the query forgets its own filter
//! (issue 4). The reads of the store run exactly this way (postgres/scope.rs).

mod common;

use common::*;
use serde_json::json;
use sqlx::Connection;

/// Row counts of the tables that grow with usage, as `org` (None: as the
/// owner, unconfined), with no `WHERE org = …` at all.
async fn counts(url: &str, org: Option<i64>) -> Vec<(String, i64)> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let mut tx = c.begin().await.unwrap();
    if let Some(id) = org {
        sqlx::query("SELECT set_config('spendlens.org', $1, true)")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("SET LOCAL ROLE spendlens_reader")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let mut out = Vec::new();
    for t in [
        "orgs",
        "events",
        "cube",
        "conversations",
        "event_keys",
        "org_days",
        "dim_days",
        "dim_blocks",
        "spend_days",
        "members",
        "api_keys",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        out.push((t.to_owned(), n));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_without_its_org_filter_still_reads_one_organisation() {
    let Some(b) = Backend::postgres().await else {
        return;
    };
    let url = b.pg.as_ref().unwrap().url.clone();
    let store = b.open().await;
    for org in ["ny", "sf"] {
        store
            .create_org(new_org(org, "UTC", "1.0"), "test")
            .await
            .unwrap();
    }
    let mut events = Vec::new();
    for (i, org) in ["ny", "sf", "sf"].iter().enumerate() {
        events.push(ev(
            &format!("e{i}"),
            "2026-11-20T10:00:00Z",
            &format!("c{i}"),
            json!({"organization_id": org, "api_key_id": format!("k{i}")}),
        ));
    }
    assert_eq!(send(store.as_ref(), events).await.accepted, 3);

    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let id = |ext: &'static str| {
        sqlx::query_scalar::<_, i64>("SELECT id FROM orgs WHERE ext_id = $1").bind(ext)
    };
    let ny = id("ny").fetch_one(&mut c).await.unwrap();
    let sf = id("sf").fetch_one(&mut c).await.unwrap();

    let all = counts(&url, None).await;
    let as_ny = counts(&url, Some(ny)).await;
    let as_sf = counts(&url, Some(sf)).await;
    for ((table, total), ((_, n), (_, s))) in all.iter().zip(as_ny.iter().zip(&as_sf)) {
        assert!(*n > 0, "{table}: ny sees its own rows");
        assert!(*s > 0, "{table}: sf sees its own rows");
        assert_eq!(n + s, *total, "{table}: each sees only its own rows");
    }
    // Asking for the other organisation's rows by name still returns nothing.
    let mut tx = c.begin().await.unwrap();
    sqlx::query("SELECT set_config('spendlens.org', $1, true)")
        .bind(ny.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SET LOCAL ROLE spendlens_reader")
        .execute(&mut *tx)
        .await
        .unwrap();
    let foreign: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE org = $1")
        .bind(sf)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(foreign, 0);
    // And the confined role cannot write.
    let write = sqlx::query("DELETE FROM events").execute(&mut *tx).await;
    assert!(write.is_err(), "spendlens_reader must not write");
}
