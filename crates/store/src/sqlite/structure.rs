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

fn live(w: &WriterState, table: &str, org: i64, ext: &str, what: &str) -> Result<()> {
    let found: Option<i64> = w
        .conn
        .query_row(
            &format!("SELECT id FROM {table} WHERE org = ?1 AND ext_id = ?2 AND deleted = 0"),
            params![org, ext],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    found
        .map(|_| ())
        .ok_or_else(|| StoreError::NotFound(format!("{what} {ext}")))
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
    live(w, "teams", id, team, "team")?;
    if let Some(n) = &name {
        w.conn
            .execute(
                "UPDATE teams SET name = ?3 WHERE org = ?1 AND ext_id = ?2",
                params![id, team, n],
            )
            .map_err(sql_err)?;
    }
    if let Some(d) = &department {
        w.conn
            .execute(
                "UPDATE teams SET department = ?3 WHERE org = ?1 AND ext_id = ?2",
                params![id, team, d],
            )
            .map_err(sql_err)?;
    }
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
    live(w, "teams", id, team, "team")?;
    let team_id: i64 = w
        .conn
        .query_row(
            "SELECT id FROM teams WHERE org = ?1 AND ext_id = ?2",
            params![id, team],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
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
    live(w, "api_keys", id, key, "API key")?;
    if let Some(n) = &name {
        w.conn
            .execute(
                "UPDATE api_keys SET name = ?3 WHERE org = ?1 AND ext_id = ?2",
                params![id, key, n],
            )
            .map_err(sql_err)?;
    }
    if let Some(p) = &provider {
        w.conn
            .execute(
                "UPDATE api_keys SET provider = ?3 WHERE org = ?1 AND ext_id = ?2",
                params![id, key, p],
            )
            .map_err(sql_err)?;
    }
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
    live(w, "api_keys", id, key, "API key")?;
    w.conn
        .execute(
            "UPDATE api_keys SET deleted = 1 WHERE org = ?1 AND ext_id = ?2",
            params![id, key],
        )
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
