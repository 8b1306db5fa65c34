//! Erasure of a person in one organisation (API.md §5), the rules of
//! sqlite/erasure.rs: their id becomes a pseudonym in every row of the
//! organisation — detail, conversations, the cube, tokens, the audit log —
//! their email and conversation titles go, and every amount stays, so every
//! figure (distinct users included) and verify are unchanged.
//!
//! The organisation's row is locked first (see lifecycle.rs), so no
//! ingestion of the organisation commits halfway through: one that raced
//! this erasure counts as having come after it.

use super::admin::audit;
use super::ctx::Ctx;
use super::db_err;
use super::lifecycle::{lock_org, recompute_org_days};
use crate::contract::{Result, StoreError};
use crate::model::Erasure;
use sqlx::PgConnection;

/// Run `sql` with $1 the organisation, $2 the person's id and $3 the
/// pseudonym's; the rows it changed.
async fn exec(c: &mut PgConnection, (org, old, new): (i64, i64, i64), sql: &str) -> Result<u64> {
    sqlx::query(sql)
        .bind(org)
        .bind(old)
        .bind(new)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err)
}

pub async fn erase_user(
    c: &mut Ctx,
    org: &str,
    user: &str,
    pseudonym: &str,
    actor: &str,
) -> Result<Erasure> {
    let org_row = lock_org(&mut c.tx, org).await?;
    let old: i64 = sqlx::query_scalar("SELECT id FROM users WHERE ext_id = $1")
        .bind(user)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| StoreError::NotFound(format!("user {user}")))?;
    let in_org: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM members WHERE org = $1 AND usr = $2)
             OR EXISTS (SELECT 1 FROM conversations WHERE org = $1 AND usr = $2)
             OR EXISTS (SELECT 1 FROM cube WHERE org = $1 AND usr = $2)",
    )
    .bind(org_row)
    .bind(old)
    .fetch_one(&mut *c.tx)
    .await
    .map_err(db_err)?;
    if !in_org {
        return Err(StoreError::NotFound(format!("user {user} in {org}")));
    }
    let new: i64 =
        sqlx::query_scalar("INSERT INTO users (ext_id, email) VALUES ($1, NULL) RETURNING id")
            .bind(pseudonym)
            .fetch_one(&mut *c.tx)
            .await
            .map_err(db_err)?;
    let ids = (org_row, old, new);
    let events = exec(
        &mut c.tx,
        ids,
        "UPDATE events SET usr = $3 WHERE org = $1 AND usr = $2",
    )
    .await?;
    let conversations = exec(
        &mut c.tx,
        ids,
        "UPDATE conversations SET usr = $3, title = NULL, title_at = NULL WHERE org = $1 AND usr = $2",
    )
    .await?;
    super::packs::forget_org(&mut c.tx, org_row).await?;
    exec(
        &mut c.tx,
        ids,
        "UPDATE cube SET usr = $3 WHERE org = $1 AND usr = $2",
    )
    .await?;
    exec(
        &mut c.tx,
        ids,
        "UPDATE spend_days SET id = $3 WHERE org = $1 AND kind = 1 AND id = $2",
    )
    .await?;
    exec(
        &mut c.tx,
        ids,
        "UPDATE person_cum SET person = $3 WHERE org = $1 AND person = $2",
    )
    .await?;
    super::person_cum::renumber_org(&mut c.tx, org_row).await?;
    recompute_org_days(&mut c.tx, org_row, i64::MIN).await?;
    super::dim_days::recompute(&mut c.tx, org_row, i64::MIN).await?;
    sqlx::query("DELETE FROM members WHERE org = $1 AND usr = $2")
        .bind(org_row)
        .bind(old)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "UPDATE tokens SET user_ext = $3, revoked_at = coalesce(revoked_at, $4)
         WHERE org = $1 AND user_ext = $2",
    )
    .bind(org_row)
    .bind(user)
    .bind(pseudonym)
    .bind(super::now_us())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(old)
        .fetch_one(&mut *c.tx)
        .await
        .map_err(db_err)?;
    sqlx::query("UPDATE audit SET target = $3 WHERE org = $1 AND target = $2")
        .bind(org_row)
        .bind(user)
        .bind(pseudonym)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        sqlx::query(
            "UPDATE audit SET detail = replace(detail, $2, '(erased)')
             WHERE org = $1 AND strpos(detail, $2) > 0",
        )
        .bind(org_row)
        .bind(email)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    }
    // The email is the person's; once no other organisation knows them, it goes.
    let elsewhere: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM members WHERE usr = $1) OR EXISTS (SELECT 1 FROM cube WHERE usr = $1)",
    )
    .bind(old)
    .fetch_one(&mut *c.tx)
    .await
    .map_err(db_err)?;
    if !elsewhere {
        sqlx::query("UPDATE users SET email = NULL WHERE id = $1")
            .bind(old)
            .execute(&mut *c.tx)
            .await
            .map_err(db_err)?;
    }
    // The caches knew the person's membership and email.
    c.users.clear();
    c.members.clear();
    c.emails.clear();
    audit(
        c,
        actor,
        Some(org_row),
        "user.erase",
        pseudonym,
        serde_json::json!({"events": events, "conversations": conversations}),
    )
    .await?;
    Ok(Erasure {
        pseudonym: pseudonym.to_owned(),
        events,
        conversations,
    })
}
