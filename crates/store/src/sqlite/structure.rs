//! Renaming and removing teams and provider keys (API.md §5). Removal hides
//! them from administration lists; events keep counting where they counted, so
//! no figure changes. Audited like every administrative change.

use super::admin::audit;
use super::read::org_id;
use super::writer::WriterState;
use super::{read, sql_err};
use crate::contract::{Result, StoreError};
use crate::model::{ApiKey, Team};
use rusqlite::{params, OptionalExtension};

/// The row id of a team or key that exists and is not removed.
fn live(w: &WriterState, table: &str, org: i64, ext: &str, what: &str) -> Result<i64> {
    w.conn
        .query_row(
            &format!("SELECT id FROM {table} WHERE org = ?1 AND ext_id = ?2 AND deleted = 0"),
            params![org, ext],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("{what} {ext}")))
}

/// Set one column of a row when a new value is given (`table`, `column` are ours, never input).
fn set(
    w: &WriterState,
    table: &str,
    column: &str,
    row: i64,
    value: Option<&dyn rusqlite::ToSql>,
) -> Result<()> {
    if let Some(v) = value {
        w.conn
            .execute(
                &format!("UPDATE {table} SET {column} = ?2 WHERE id = ?1"),
                params![row, v],
            )
            .map_err(sql_err)?;
    }
    Ok(())
}

pub fn update_team(
    w: &mut WriterState,
    org: &str,
    team: &str,
    name: Option<String>,
    department: Option<Option<String>>,
    actor: &str,
) -> Result<Team> {
    let id = org_id(&w.conn, org)?;
    let row = live(w, "teams", id, team, "team")?;
    set(
        w,
        "teams",
        "name",
        row,
        name.as_ref().map(|n| n as &dyn rusqlite::ToSql),
    )?;
    set(
        w,
        "teams",
        "department",
        row,
        department.as_ref().map(|d| d as &dyn rusqlite::ToSql),
    )?;
    // Defaults for future events (a member's department from the team) change.
    w.teams.remove(&(id, team.to_owned()));
    w.members.clear();
    audit(
        w,
        actor,
        Some(id),
        "team.update",
        team,
        serde_json::json!({"name": name, "department": department}),
    )?;
    read::list_teams(&w.conn, org)?
        .into_iter()
        .find(|t| t.team_id == team)
        .ok_or_else(|| StoreError::NotFound(format!("team {team}")))
}

pub fn delete_team(w: &mut WriterState, org: &str, team: &str, actor: &str) -> Result<()> {
    let id = org_id(&w.conn, org)?;
    let team_id = live(w, "teams", id, team, "team")?;
    w.conn
        .execute("UPDATE teams SET deleted = 1 WHERE id = ?1", [team_id])
        .map_err(sql_err)?;
    // Its members have no team from now on; past events keep theirs.
    let moved = w
        .conn
        .execute(
            "UPDATE members SET team = NULL WHERE org = ?1 AND team = ?2",
            params![id, team_id],
        )
        .map_err(sql_err)?;
    w.teams.remove(&(id, team.to_owned()));
    w.members.clear();
    audit(
        w,
        actor,
        Some(id),
        "team.delete",
        team,
        serde_json::json!({"members_without_team": moved}),
    )
}

pub fn update_api_key(
    w: &mut WriterState,
    org: &str,
    key: &str,
    name: Option<String>,
    provider: Option<Option<String>>,
    actor: &str,
) -> Result<ApiKey> {
    let id = org_id(&w.conn, org)?;
    let row = live(w, "api_keys", id, key, "API key")?;
    set(
        w,
        "api_keys",
        "name",
        row,
        name.as_ref().map(|n| n as &dyn rusqlite::ToSql),
    )?;
    set(
        w,
        "api_keys",
        "provider",
        row,
        provider.as_ref().map(|p| p as &dyn rusqlite::ToSql),
    )?;
    w.keys.remove(&(id, key.to_owned()));
    audit(
        w,
        actor,
        Some(id),
        "api_key.update",
        key,
        serde_json::json!({"name": name, "provider": provider}),
    )?;
    read::list_api_keys(&w.conn, org)?
        .into_iter()
        .find(|k| k.api_key_id == key)
        .ok_or_else(|| StoreError::NotFound(format!("API key {key}")))
}

pub fn delete_api_key(w: &mut WriterState, org: &str, key: &str, actor: &str) -> Result<()> {
    let id = org_id(&w.conn, org)?;
    let row = live(w, "api_keys", id, key, "API key")?;
    w.conn
        .execute("UPDATE api_keys SET deleted = 1 WHERE id = ?1", [row])
        .map_err(sql_err)?;
    w.keys.remove(&(id, key.to_owned()));
    audit(
        w,
        actor,
        Some(id),
        "api_key.delete",
        key,
        serde_json::json!({}),
    )
}
