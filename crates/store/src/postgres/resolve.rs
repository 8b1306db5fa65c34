//! Get-or-create of the things an event names, through the transaction's
//! caches. Another server may create the same user, team, key or membership
//! at the same moment: each creation is `ON CONFLICT DO NOTHING` followed by
//! a read, so both end with the one row.

use super::ctx::{Ctx, KeyInfo, MemberInfo, OrgInfo, TeamInfo};
use super::{db_err, now_us};
use crate::contract::Result;

pub async fn org(c: &mut Ctx, ext: &str) -> Result<Option<OrgInfo>> {
    if !c.orgs.contains_key(ext) {
        super::prefetch::orgs(c, &[ext.to_owned()]).await?;
    }
    Ok(c.orgs.get(ext).cloned())
}

/// Ids of the organisations where an admin made `user` a member (at most 2:
/// enough to tell one from several).
pub async fn admin_orgs_of(c: &mut Ctx, user: &str) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT o.ext_id FROM members m JOIN users u ON u.id = m.usr JOIN orgs o ON o.id = m.org
         WHERE u.ext_id = $1 AND m.added_by_admin LIMIT 2",
    )
    .bind(user)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)
}

pub async fn user(c: &mut Ctx, ext: &str, email: Option<&str>) -> Result<i64> {
    let id = match c.users.get(ext) {
        Some(id) => *id,
        None => {
            let mut found: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT id, email FROM users WHERE ext_id = $1")
                    .bind(ext)
                    .fetch_optional(&mut *c.tx)
                    .await
                    .map_err(db_err)?;
            if found.is_none() {
                let made: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO users (ext_id, email) VALUES ($1, $2)
                     ON CONFLICT (ext_id) DO NOTHING RETURNING id",
                )
                .bind(ext)
                .bind(email)
                .fetch_optional(&mut *c.tx)
                .await
                .map_err(db_err)?;
                found = match made {
                    Some(id) => Some((id, email.map(str::to_owned))),
                    None => sqlx::query_as("SELECT id, email FROM users WHERE ext_id = $1")
                        .bind(ext)
                        .fetch_optional(&mut *c.tx)
                        .await
                        .map_err(db_err)?,
                };
            }
            let (id, em) = found.ok_or_else(|| anyhow::anyhow!("user {ext} vanished"))?;
            if let Some(em) = em {
                c.emails.insert(id, em);
            }
            c.users.insert(ext.to_owned(), id);
            id
        }
    };
    if let Some(em) = email {
        if c.emails.get(&id).map(String::as_str) != Some(em) {
            sqlx::query("UPDATE users SET email = $2 WHERE id = $1")
                .bind(id)
                .bind(em)
                .execute(&mut *c.tx)
                .await
                .map_err(db_err)?;
            c.emails.insert(id, em.to_owned());
        }
    }
    Ok(id)
}

/// The membership of `user` in `org`, created on first sight (role member,
/// not made by an admin) with the event's team if it names one. The
/// prefetch read every membership the transaction's events name, so one
/// missing here is new: it is inserted with the others at the flush
/// (`ingest::flush`), which runs the transaction again if another server
/// made it meanwhile.
pub fn member(c: &mut Ctx, org: i64, user: i64, first_team: Option<i64>) -> MemberInfo {
    c.members
        .entry((org, user))
        .or_insert_with(|| {
            c.new_members.push((org, user, first_team));
            MemberInfo {
                team: first_team,
                department: None,
            }
        })
        .clone()
}

pub async fn team(c: &mut Ctx, org: i64, ext: &str) -> Result<TeamInfo> {
    let k = (org, ext.to_owned());
    if let Some(t) = c.teams.get(&k) {
        return Ok(t.clone());
    }
    let select = "SELECT id, department FROM teams WHERE org = $1 AND ext_id = $2";
    let mut found: Option<(i64, Option<String>)> = sqlx::query_as(select)
        .bind(org)
        .bind(ext)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
    if found.is_none() {
        let made: Option<i64> = sqlx::query_scalar(
            "INSERT INTO teams (org, ext_id, name) VALUES ($1, $2, $2)
             ON CONFLICT (org, ext_id) DO NOTHING RETURNING id",
        )
        .bind(org)
        .bind(ext)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
        found = match made {
            Some(id) => Some((id, None)),
            None => sqlx::query_as(select)
                .bind(org)
                .bind(ext)
                .fetch_optional(&mut *c.tx)
                .await
                .map_err(db_err)?,
        };
    }
    let (id, department) = found.ok_or_else(|| anyhow::anyhow!("team {ext} vanished"))?;
    let info = TeamInfo { id, department };
    c.teams.insert(k, info.clone());
    Ok(info)
}

pub async fn team_by_id(c: &mut Ctx, id: i64) -> Result<TeamInfo> {
    if let Some(t) = c.teams.values().find(|t| t.id == id) {
        return Ok(t.clone());
    }
    let department: Option<String> =
        sqlx::query_scalar("SELECT department FROM teams WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *c.tx)
            .await
            .map_err(db_err)?;
    Ok(TeamInfo { id, department })
}

pub async fn department(c: &mut Ctx, org: i64, name: &str) -> Result<i64> {
    let k = (org, name.to_owned());
    if let Some(id) = c.depts.get(&k) {
        return Ok(*id);
    }
    let id = get_or_make(
        c,
        "SELECT id FROM departments WHERE org = $1 AND name = $2",
        "INSERT INTO departments (org, name) VALUES ($1, $2) ON CONFLICT (org, name) DO NOTHING",
        Some(org),
        name,
    )
    .await?;
    c.depts.insert(k, id);
    Ok(id)
}

/// The id a select finds, after inserting the row when it finds none.
async fn get_or_make(
    c: &mut Ctx,
    select: &str,
    insert: &str,
    org: Option<i64>,
    name: &str,
) -> Result<i64> {
    async fn find(c: &mut Ctx, select: &str, org: Option<i64>, name: &str) -> Result<Option<i64>> {
        let q = sqlx::query_scalar(select);
        let q = match org {
            Some(o) => q.bind(o).bind(name),
            None => q.bind(name),
        };
        q.fetch_optional(&mut *c.tx).await.map_err(db_err)
    }
    if let Some(id) = find(c, select, org, name).await? {
        return Ok(id);
    }
    let q = sqlx::query(insert);
    let q = match org {
        Some(o) => q.bind(o).bind(name),
        None => q.bind(name),
    };
    q.execute(&mut *c.tx).await.map_err(db_err)?;
    find(c, select, org, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{name} vanished").into())
}

/// A provider key by id; an id never registered is created unregistered,
/// named by its id, with the provider the event or the catalog gives.
pub async fn api_key(c: &mut Ctx, org: i64, ext: &str, provider: Option<&str>) -> Result<KeyInfo> {
    let k = (org, ext.to_owned());
    if let Some(key) = c.keys.get(&k) {
        return Ok(key.clone());
    }
    let select = "SELECT id, provider FROM api_keys WHERE org = $1 AND ext_id = $2";
    let mut found: Option<(i64, Option<String>)> = sqlx::query_as(select)
        .bind(org)
        .bind(ext)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
    if found.is_none() {
        let made: Option<i64> = sqlx::query_scalar(
            "INSERT INTO api_keys (org, ext_id, name, provider, registered, created_at)
             VALUES ($1, $2, $2, $3, FALSE, $4) ON CONFLICT (org, ext_id) DO NOTHING RETURNING id",
        )
        .bind(org)
        .bind(ext)
        .bind(provider)
        .bind(now_us())
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
        found = match made {
            Some(id) => Some((id, provider.map(str::to_owned))),
            None => sqlx::query_as(select)
                .bind(org)
                .bind(ext)
                .fetch_optional(&mut *c.tx)
                .await
                .map_err(db_err)?,
        };
    }
    let (id, provider) = found.ok_or_else(|| anyhow::anyhow!("key {ext} vanished"))?;
    let info = KeyInfo { id, provider };
    c.keys.insert(k, info.clone());
    Ok(info)
}

pub async fn model(c: &mut Ctx, name: &str) -> Result<i64> {
    if let Some(id) = c.models.get(name) {
        return Ok(*id);
    }
    let id = get_or_make(
        c,
        "SELECT id FROM models WHERE name = $1",
        "INSERT INTO models (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        None,
        name,
    )
    .await?;
    c.models.insert(name.to_owned(), id);
    Ok(id)
}

pub async fn provider(c: &mut Ctx, name: &str) -> Result<i64> {
    if let Some(id) = c.providers.get(name) {
        return Ok(*id);
    }
    let id = get_or_make(
        c,
        "SELECT id FROM providers WHERE name = $1",
        "INSERT INTO providers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        None,
        name,
    )
    .await?;
    c.providers.insert(name.to_owned(), id);
    Ok(id)
}
