//! Renaming and removing teams and provider keys (API.md §5). Removal hides
//! them from administration lists; events keep counting where they counted, so
//! no figure changes. Audited like every administrative change.

use super::admin::audit;
use super::ctx::Ctx;
use super::{db_err, read, scope};
use crate::contract::{Result, StoreError};
use crate::model::{ApiKey, Team};

/// The row id of a team or key that exists and is not removed, locked so a
/// removal by another server waits for this change (or this one sees it).
async fn live(c: &mut Ctx, table: &str, org: i64, ext: &str, what: &str) -> Result<i64> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM {table} WHERE org = $1 AND ext_id = $2 AND NOT deleted FOR UPDATE"
    ))
    .bind(org)
    .bind(ext)
    .fetch_optional(&mut *c.tx)
    .await
    .map_err(db_err)?
    .ok_or_else(|| StoreError::NotFound(format!("{what} {ext}")))
}

/// Set one text column of a row when a new value is given (`table`, `column`
/// are ours, never input).
async fn set(
    c: &mut Ctx,
    table: &str,
    column: &str,
    row: i64,
    value: Option<Option<&str>>,
) -> Result<()> {
    if let Some(v) = value {
        sqlx::query(&format!("UPDATE {table} SET {column} = $2 WHERE id = $1"))
            .bind(row)
            .bind(v)
            .execute(&mut *c.tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

pub async fn update_team(
    c: &mut Ctx,
    org: &str,
    team: &str,
    name: Option<String>,
    department: Option<Option<String>>,
    actor: &str,
) -> Result<Team> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let row = live(c, "teams", id, team, "team").await?;
    set(c, "teams", "name", row, name.as_deref().map(Some)).await?;
    set(
        c,
        "teams",
        "department",
        row,
        department.as_ref().map(Option::as_deref),
    )
    .await?;
    // Defaults for future events (a member's department from the team) change.
    c.teams.remove(&(id, team.to_owned()));
    c.members.clear();
    audit(
        c,
        actor,
        Some(id),
        "team.update",
        team,
        serde_json::json!({"name": name, "department": department}),
    )
    .await?;
    read::teams_of(&mut c.tx, id)
        .await?
        .into_iter()
        .find(|t| t.team_id == team)
        .ok_or_else(|| StoreError::NotFound(format!("team {team}")))
}

pub async fn delete_team(c: &mut Ctx, org: &str, team: &str, actor: &str) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let team_id = live(c, "teams", id, team, "team").await?;
    sqlx::query("UPDATE teams SET deleted = TRUE WHERE id = $1")
        .bind(team_id)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    // Its members have no team from now on; past events keep theirs.
    let moved = sqlx::query("UPDATE members SET team = NULL WHERE org = $1 AND team = $2")
        .bind(id)
        .bind(team_id)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    c.teams.remove(&(id, team.to_owned()));
    c.members.clear();
    audit(
        c,
        actor,
        Some(id),
        "team.delete",
        team,
        serde_json::json!({"members_without_team": moved}),
    )
    .await
}

pub async fn update_api_key(
    c: &mut Ctx,
    org: &str,
    key: &str,
    name: Option<String>,
    provider: Option<Option<String>>,
    actor: &str,
) -> Result<ApiKey> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let row = live(c, "api_keys", id, key, "API key").await?;
    set(c, "api_keys", "name", row, name.as_deref().map(Some)).await?;
    set(
        c,
        "api_keys",
        "provider",
        row,
        provider.as_ref().map(Option::as_deref),
    )
    .await?;
    c.keys.remove(&(id, key.to_owned()));
    audit(
        c,
        actor,
        Some(id),
        "api_key.update",
        key,
        serde_json::json!({"name": name, "provider": provider}),
    )
    .await?;
    read::api_keys_of(&mut c.tx, id)
        .await?
        .into_iter()
        .find(|k| k.api_key_id == key)
        .ok_or_else(|| StoreError::NotFound(format!("API key {key}")))
}

pub async fn delete_api_key(c: &mut Ctx, org: &str, key: &str, actor: &str) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let row = live(c, "api_keys", id, key, "API key").await?;
    sqlx::query("UPDATE api_keys SET deleted = TRUE WHERE id = $1")
        .bind(row)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    c.keys.remove(&(id, key.to_owned()));
    audit(
        c,
        actor,
        Some(id),
        "api_key.delete",
        key,
        serde_json::json!({}),
    )
    .await
}
