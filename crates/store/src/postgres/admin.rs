//! Administration writes: organisations, members, keys, tokens, each written
//! to the audit log in the same transaction.
//!
//! Several servers may run the same change at once; where SQLite's single
//! writer decided "already exists" by reading first, the decision here is
//! made by the insert itself (`ON CONFLICT ... WHERE`), which waits for the
//! other transaction and sees the row it committed.

use super::ctx::Ctx;
use super::{db_err, now_us, read, resolve, scope};
use crate::contract::{Result, StoreError};
use crate::model::*;
use jiff::Timestamp;
use spendlens_domain::time::parse_timezone;

/// One audit row, in the caller's write transaction.
pub(super) async fn audit(
    c: &mut Ctx,
    actor: &str,
    org: Option<i64>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, org, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_us())
    .bind(actor)
    .bind(org)
    .bind(action)
    .bind(target)
    .bind(detail.to_string())
    .execute(c.conn())
    .await
    .map_err(db_err)?;
    Ok(())
}

fn check_timezone(tz: &str) -> Result<()> {
    parse_timezone(tz)
        .map(|_| ())
        .map_err(|_| StoreError::Invalid(format!("timezone: unknown IANA timezone {tz:?}")))
}

pub async fn create_org(c: &mut Ctx, org: NewOrg, actor: &str) -> Result<Org> {
    check_timezone(&org.timezone)?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO orgs (ext_id, name, timezone, markup_ppb, webhook_url, retention_days, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ext_id) DO NOTHING RETURNING id",
    )
    .bind(&org.id)
    .bind(&org.name)
    .bind(&org.timezone)
    .bind(org.markup.0)
    .bind(org.webhook_url.as_deref())
    .bind(i64::from(org.retention_days))
    .bind(now_us())
    .fetch_optional(&mut *c.tx)
    .await
    .map_err(db_err)?;
    let Some(id) = id else {
        return Err(StoreError::Conflict(format!(
            "organisation {} already exists",
            org.id
        )));
    };
    // The first timezone covers all history before any later change.
    sqlx::query("INSERT INTO org_timezones (org, effective_from, timezone) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(i64::MIN)
        .bind(&org.timezone)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    audit(
        c,
        actor,
        Some(id),
        "org.create",
        &org.id,
        serde_json::json!({"name": org.name, "timezone": org.timezone, "markup": org.markup.to_decimal_string()}),
    )
    .await?;
    read::org_by_ext(&mut c.tx, &org.id).await
}

/// Set a text column of organisation `id` (`column` is ours, never input).
async fn set_text(c: &mut Ctx, id: i64, column: &str, value: Option<&str>) -> Result<()> {
    sqlx::query(&format!("UPDATE orgs SET {column} = $2 WHERE id = $1"))
        .bind(id)
        .bind(value)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Set an integer column of organisation `id` (`column` is ours, never input).
async fn set_int(c: &mut Ctx, id: i64, column: &str, value: i64) -> Result<()> {
    sqlx::query(&format!("UPDATE orgs SET {column} = $2 WHERE id = $1"))
        .bind(id)
        .bind(value)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn update_org(c: &mut Ctx, org: &str, patch: OrgPatch, actor: &str) -> Result<Org> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let mut detail = serde_json::Map::new();
    if let Some(name) = &patch.name {
        set_text(c, id, "name", Some(name)).await?;
        detail.insert("name".into(), name.clone().into());
    }
    if let Some(tz) = &patch.timezone {
        check_timezone(tz)?;
        // Locked, so two changes at once cannot both see the old zone.
        let current: String =
            sqlx::query_scalar("SELECT timezone FROM orgs WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_one(&mut *c.tx)
                .await
                .map_err(db_err)?;
        if &current != tz {
            set_text(c, id, "timezone", Some(tz)).await?;
            sqlx::query(
                "INSERT INTO org_timezones (org, effective_from, timezone) VALUES ($1, $2, $3)
                 ON CONFLICT (org, effective_from) DO UPDATE SET timezone = excluded.timezone",
            )
            .bind(id)
            .bind(now_us())
            .bind(tz)
            .execute(&mut *c.tx)
            .await
            .map_err(db_err)?;
        }
        detail.insert("timezone".into(), tz.clone().into());
    }
    if let Some(m) = patch.markup {
        set_int(c, id, "markup_ppb", m.0).await?;
        detail.insert("markup".into(), m.to_decimal_string().into());
    }
    if let Some(url) = &patch.webhook_url {
        set_text(c, id, "webhook_url", url.as_deref()).await?;
        detail.insert(
            "webhook_url".into(),
            url.clone().map_or(serde_json::Value::Null, Into::into),
        );
    }
    if let Some(secret) = &patch.webhook_secret {
        set_text(c, id, "webhook_secret", secret.as_deref()).await?;
        // Never the secret itself in the audit log.
        detail.insert(
            "webhook_secret".into(),
            if secret.is_some() { "new" } else { "removed" }.into(),
        );
    }
    if let Some(days) = patch.retention_days {
        set_int(c, id, "retention_days", i64::from(days)).await?;
        detail.insert("retention_days".into(), days.into());
    }
    c.orgs.remove(org);
    audit(
        c,
        actor,
        Some(id),
        "org.update",
        org,
        serde_json::Value::Object(detail),
    )
    .await?;
    read::org_by_ext(&mut c.tx, org).await
}

/// Create a team, or adopt one that events created on first sight (still
/// named by its id) or that was removed, giving it its proper name and
/// department.
pub async fn create_team(c: &mut Ctx, org: &str, team: Team, actor: &str) -> Result<Team> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let made: Option<i64> = sqlx::query_scalar(
        "INSERT INTO teams (org, ext_id, name, department) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org, ext_id) DO UPDATE SET name = excluded.name,
         department = excluded.department, deleted = FALSE
         WHERE teams.deleted OR teams.name = teams.ext_id
         RETURNING id",
    )
    .bind(id)
    .bind(&team.team_id)
    .bind(&team.name)
    .bind(team.department.as_deref())
    .fetch_optional(&mut *c.tx)
    .await
    .map_err(db_err)?;
    if made.is_none() {
        return Err(StoreError::Conflict(format!(
            "team {} already exists",
            team.team_id
        )));
    }
    c.teams.remove(&(id, team.team_id.clone()));
    audit(
        c,
        actor,
        Some(id),
        "team.create",
        &team.team_id,
        serde_json::json!({"name": team.name, "department": team.department}),
    )
    .await?;
    Ok(team)
}

pub async fn put_member(c: &mut Ctx, org: &str, m: Member, actor: &str) -> Result<Member> {
    let id = scope::org_id(&mut c.tx, org).await?;
    if m.role == Role::PlatformAdmin || m.role == Role::Ingest {
        return Err(StoreError::Invalid(
            "role: a member's role is org_admin, team_lead or member".into(),
        ));
    }
    let user = resolve::user(c, &m.user_id, m.email.as_deref()).await?;
    let team = match &m.team_id {
        Some(t) => Some(resolve::team(c, id, t).await?.id),
        None => None,
    };
    sqlx::query(
        "INSERT INTO members (org, usr, role, team, department, added_by_admin, created_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6)
         ON CONFLICT (org, usr) DO UPDATE SET role = excluded.role, team = excluded.team,
         department = excluded.department, added_by_admin = TRUE",
    )
    .bind(id)
    .bind(user)
    .bind(m.role.as_str())
    .bind(team)
    .bind(m.department.as_deref())
    .bind(now_us())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    c.members.remove(&(id, user));
    audit(
        c,
        actor,
        Some(id),
        "member.put",
        &m.user_id,
        serde_json::json!({"role": m.role.as_str(), "team_id": m.team_id, "department": m.department}),
    )
    .await?;
    Ok(Member {
        added_by_admin: true,
        ..m
    })
}

/// Remove a membership and revoke the person's tokens for the organisation.
pub async fn delete_member(c: &mut Ctx, org: &str, user: &str, actor: &str) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let n = sqlx::query(
        "DELETE FROM members WHERE org = $1 AND usr = (SELECT id FROM users WHERE ext_id = $2)",
    )
    .bind(id)
    .bind(user)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?
    .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("member {user}")));
    }
    sqlx::query(
        "UPDATE tokens SET revoked_at = $3 WHERE org = $1 AND user_ext = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user)
    .bind(now_us())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    c.members.clear();
    audit(
        c,
        actor,
        Some(id),
        "member.delete",
        user,
        serde_json::json!({}),
    )
    .await
}

/// Register a provider key, or register one that events created unregistered.
pub async fn create_api_key(
    c: &mut Ctx,
    org: &str,
    key: &str,
    name: &str,
    provider: Option<&str>,
    actor: &str,
) -> Result<ApiKey> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let made: Option<i64> = sqlx::query_scalar(
        "INSERT INTO api_keys (org, ext_id, name, provider, registered, created_at)
         VALUES ($1, $2, $3, $4, TRUE, $5)
         ON CONFLICT (org, ext_id) DO UPDATE SET name = excluded.name,
         provider = coalesce(excluded.provider, api_keys.provider), registered = TRUE, deleted = FALSE
         WHERE NOT api_keys.registered
         RETURNING id",
    )
    .bind(id)
    .bind(key)
    .bind(name)
    .bind(provider)
    .bind(now_us())
    .fetch_optional(&mut *c.tx)
    .await
    .map_err(db_err)?;
    if made.is_none() {
        return Err(StoreError::Conflict(format!(
            "API key {key} already exists"
        )));
    }
    c.keys.remove(&(id, key.to_owned()));
    audit(
        c,
        actor,
        Some(id),
        "api_key.create",
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

pub async fn create_token(c: &mut Ctx, t: NewToken, actor: &str) -> Result<TokenRecord> {
    let org = match &t.organization_id {
        Some(o) => Some(scope::org_id(&mut c.tx, o).await?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO tokens (id, secret_hash, role, org, team_ext, user_ext, name, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.id)
    .bind(&t.secret_hash)
    .bind(t.role.as_str())
    .bind(org)
    .bind(t.team_id.as_deref())
    .bind(t.user_id.as_deref())
    .bind(t.name.as_deref())
    .bind(t.expires_at.map(|e| e.as_microsecond()))
    .bind(now_us())
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    audit(
        c,
        actor,
        org,
        "token.create",
        &t.id,
        serde_json::json!({"role": t.role.as_str(), "user_id": t.user_id, "team_id": t.team_id, "name": t.name}),
    )
    .await?;
    read::token_by_id(&mut c.tx, &t.id).await
}

pub async fn touch_token(c: &mut Ctx, id: &str, at: Timestamp) -> Result<()> {
    sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at.as_microsecond())
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub async fn revoke_token(c: &mut Ctx, id: &str, actor: &str) -> Result<()> {
    let org: Option<Option<i64>> = sqlx::query_scalar("SELECT org FROM tokens WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c.tx)
        .await
        .map_err(db_err)?;
    let Some(org) = org else {
        return Err(StoreError::NotFound(format!("token {id}")));
    };
    sqlx::query("UPDATE tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1")
        .bind(id)
        .bind(now_us())
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?;
    audit(c, actor, org, "token.revoke", id, serde_json::json!({})).await
}
