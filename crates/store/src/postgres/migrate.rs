//! Migrations, embedded in the binary and applied in order at open and by
//! `spendlens migrate`. An advisory lock lets several servers start at once.

use super::{db_err, now_us};
use crate::contract::Result;
use sqlx::PgPool;

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_row_security",
        include_str!("migrations/0002_row_security.sql"),
    ),
    (
        "0003_dim_days",
        include_str!("migrations/0003_dim_days.sql"),
    ),
    (
        "0004_pending_cells",
        include_str!("migrations/0004_pending_cells.sql"),
    ),
    (
        "0005_conversations_recent",
        include_str!("migrations/0005_conversations_recent.sql"),
    ),
    (
        "0006_cube_by_user",
        include_str!("migrations/0006_cube_by_user.sql"),
    ),
    (
        "0007_person_cum",
        include_str!("migrations/0007_person_cum.sql"),
    ),
    (
        "0008_cube_packs",
        include_str!("migrations/0008_cube_packs.sql"),
    ),
    (
        "0009_org_blocks",
        include_str!("migrations/0009_org_blocks.sql"),
    ),
    (
        "0010_pack_seq",
        include_str!("migrations/0010_pack_seq.sql"),
    ),
    (
        "0011_slice_rev",
        include_str!("migrations/0011_slice_rev.sql"),
    ),
    (
        "0012_token_notify",
        include_str!("migrations/0012_token_notify.sql"),
    ),
    (
        "0013_budget_check",
        include_str!("migrations/0013_budget_check.sql"),
    ),
];

/// Any number; the same in every spendlens process.
const LOCK: i64 = 0x5e4d_1e45;

pub async fn run(pool: &PgPool) -> Result<()> {
    let mut c = pool.acquire().await.map_err(db_err)?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    let mut out = apply(&mut c).await;
    if out.is_ok() {
        // Under the lock, so that one server fills while the others wait.
        out = fill_new_tables(pool).await;
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *c)
        .await;
    out
}

/// The aggregate tables a store from before them lacks: the day rows first,
/// as the running totals are summed from them.
async fn fill_new_tables(pool: &PgPool) -> Result<()> {
    if super::org_days::blocks_need_fill(pool).await? {
        fill_each_org(pool, "organisations' eight-day blocks", |c, org| {
            Box::pin(super::org_days::recompute_blocks(c, org, i64::MIN))
        })
        .await?;
    }
    if super::dim_days::needs_fill(pool).await? {
        fill_each_org(pool, "per-dimension day totals", |c, org| {
            Box::pin(super::dim_days::recompute(c, org, i64::MIN))
        })
        .await?;
    }
    if super::person_cum::needs_fill(pool).await? {
        fill_each_org(pool, "people's running totals", |c, org| {
            Box::pin(super::person_cum::recompute(c, org, i64::MIN))
        })
        .await?;
    }
    Ok(())
}

/// Fill an aggregate table new to this store, one organisation at a time
/// under its row lock, with progress in the log.
async fn fill_each_org<F>(pool: &PgPool, what: &str, fill: F) -> Result<()>
where
    F: for<'c> Fn(
        &'c mut sqlx::PgConnection,
        i64,
    ) -> futures_util::future::BoxFuture<'c, Result<()>>,
{
    tracing::info!("filling the {what}");
    let orgs: Vec<i64> = sqlx::query_scalar("SELECT id FROM orgs ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    for (i, org) in orgs.iter().enumerate() {
        let mut tx = pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE")
            .bind(org)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        fill(&mut tx, *org).await?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(done = i + 1, of = orgs.len(), "{what}");
    }
    Ok(())
}

async fn apply(c: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    for (name, sql) in MIGRATIONS {
        let done: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)")
                .bind(name)
                .fetch_one(&mut *c)
                .await
                .map_err(db_err)?;
        if done {
            continue;
        }
        let mut tx = sqlx::Connection::begin(&mut *c).await.map_err(db_err)?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(db_err)?;
        sqlx::query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)")
            .bind(name)
            .bind(now_us())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        tracing::info!(migration = name, backend = "postgres", "applied migration");
    }
    Ok(())
}

/// Names of the migrations this binary knows, for `spendlens migrate` output.
pub fn known() -> Vec<&'static str> {
    MIGRATIONS.iter().map(|(n, _)| *n).collect()
}
