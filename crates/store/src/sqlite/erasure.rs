//! Erasure of a person in one organisation (API.md §5): their id becomes a
//! pseudonym in every row of the organisation — detail, conversations, the
//! cube, tokens, the audit log — their email and conversation titles go, and
//! every amount stays, so every figure (distinct users included) and verify
//! are unchanged.

use super::admin::audit;
use super::read::org_id;
use super::sql_err;
use super::writer::WriterState;
use crate::contract::{Result, StoreError};
use crate::model::Erasure;
use rusqlite::{params, OptionalExtension};

pub fn erase_user(
    w: &mut WriterState,
    org: &str,
    user: &str,
    pseudonym: &str,
    actor: &str,
) -> Result<Erasure> {
    let org_row = org_id(&w.conn, org)?;
    let old: i64 = w
        .conn
        .query_row("SELECT id FROM users WHERE ext_id = ?1", [user], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("user {user}")))?;
    let in_org: bool = w
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM members WHERE org = ?1 AND user = ?2)
                 OR EXISTS (SELECT 1 FROM conversations WHERE org = ?1 AND user = ?2)
                 OR EXISTS (SELECT 1 FROM cube WHERE org = ?1 AND user = ?2)",
            params![org_row, old],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if !in_org {
        return Err(StoreError::NotFound(format!("user {user} in {org}")));
    }
    w.conn
        .execute(
            "INSERT INTO users (ext_id, email) VALUES (?1, NULL)",
            [pseudonym],
        )
        .map_err(sql_err)?;
    let new = w.conn.last_insert_rowid();
    let exec = |sql: &str| -> Result<usize> {
        w.conn
            .execute(sql, params![org_row, old, new])
            .map_err(sql_err)
    };
    let events = exec("UPDATE events SET user = ?3 WHERE org = ?1 AND user = ?2")?;
    let conversations = exec("UPDATE conversations SET user = ?3, title = NULL, title_at = NULL WHERE org = ?1 AND user = ?2")?;
    exec("UPDATE cube SET user = ?3 WHERE org = ?1 AND user = ?2")?;
    exec("UPDATE spend_days SET id = ?3 WHERE org = ?1 AND kind = 1 AND id = ?2")?;
    super::org_days::recompute(&w.conn, Some(org_row), i64::MIN)?;
    super::dim_days::recompute(&w.conn, Some(org_row), i64::MIN)?;
    super::person_cum::recompute(&w.conn, Some(org_row), i64::MIN)?;
    w.conn
        .execute(
            "DELETE FROM members WHERE org = ?1 AND user = ?2",
            params![org_row, old],
        )
        .map_err(sql_err)?;
    w.conn
        .execute(
            "UPDATE tokens SET user_ext = ?3, revoked_at = coalesce(revoked_at, ?4) WHERE org = ?1 AND user_ext = ?2",
            params![org_row, user, pseudonym, super::now_us()],
        )
        .map_err(sql_err)?;
    let email: Option<String> = w
        .conn
        .query_row("SELECT email FROM users WHERE id = ?1", [old], |r| r.get(0))
        .map_err(sql_err)?;
    w.conn
        .execute(
            "UPDATE audit SET target = ?3 WHERE org = ?1 AND target = ?2",
            params![org_row, user, pseudonym],
        )
        .map_err(sql_err)?;
    if let Some(email) = email.filter(|e| !e.is_empty()) {
        w.conn
            .execute(
                "UPDATE audit SET detail = replace(detail, ?2, '(erased)') WHERE org = ?1 AND instr(detail, ?2) > 0",
                params![org_row, email],
            )
            .map_err(sql_err)?;
    }
    // The email is the person's; once no other organisation knows them, it goes.
    let elsewhere: bool = w
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM members WHERE user = ?1) OR EXISTS (SELECT 1 FROM cube WHERE user = ?1)",
            [old],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if !elsewhere {
        w.conn
            .execute("UPDATE users SET email = NULL WHERE id = ?1", [old])
            .map_err(sql_err)?;
    }
    w.clear();
    audit(
        w,
        actor,
        Some(org_row),
        "user.erase",
        pseudonym,
        serde_json::json!({"events": events, "conversations": conversations}),
    )?;
    Ok(Erasure {
        pseudonym: pseudonym.to_owned(),
        events: events as u64,
        conversations: conversations as u64,
    })
}
