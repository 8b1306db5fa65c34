//! Administrative changes, run on the writer thread, each written to the
//! audit log in the same transaction.

use super::writer::WriterState;
use super::{now_us, read, resolve, sql_err};
use crate::contract::{Result, StoreError};
use crate::model::*;
use jiff::Timestamp;
use rusqlite::{params, OptionalExtension};
use spendlens_domain::time::parse_timezone;

pub(super) fn audit(
    w: &WriterState,
    actor: &str,
    org: Option<i64>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    w.conn
        .prepare_cached("INSERT INTO audit (at, actor, org, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .and_then(|mut s| s.execute(params![now_us(), actor, org, action, target, detail.to_string()]))
        .map_err(sql_err)?;
    Ok(())
}

fn org_id(w: &WriterState, org: &str) -> Result<i64> {
    w.conn
        .prepare_cached("SELECT id FROM orgs WHERE ext_id = ?1")
        .and_then(|mut s| s.query_row([org], |r| r.get(0)).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))
}

fn check_timezone(tz: &str) -> Result<()> {
    parse_timezone(tz)
        .map(|_| ())
        .map_err(|_| StoreError::Invalid(format!("timezone: unknown IANA timezone {tz:?}")))
}

pub fn create_org(w: &mut WriterState, org: NewOrg, actor: &str) -> Result<Org> {
    check_timezone(&org.timezone)?;
    let now = now_us();
    let n = w
        .conn
        .execute(
            "INSERT INTO orgs (ext_id, name, timezone, markup_ppb, webhook_url, retention_days, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (ext_id) DO NOTHING",
            params![org.id, org.name, org.timezone, org.markup.0, org.webhook_url, org.retention_days, now],
        )
        .map_err(sql_err)?;
    if n == 0 {
        return Err(StoreError::Conflict(format!(
            "organisation {} already exists",
            org.id
        )));
    }
    let id = w.conn.last_insert_rowid();
    // The first timezone covers all history before any later change.
    w.conn
        .execute(
            "INSERT INTO org_timezones (org, effective_from, timezone) VALUES (?1, ?2, ?3)",
            params![id, i64::MIN, org.timezone],
        )
        .map_err(sql_err)?;
    audit(
        w,
        actor,
        Some(id),
        "org.create",
        &org.id,
        serde_json::json!({"name": org.name, "timezone": org.timezone, "markup": org.markup.to_decimal_string()}),
    )?;
    read::get_org(&w.conn, &org.id)
}

pub fn update_org(w: &mut WriterState, org: &str, patch: OrgPatch, actor: &str) -> Result<Org> {
    let id = org_id(w, org)?;
    let mut detail = serde_json::Map::new();
    if let Some(name) = &patch.name {
        w.conn
            .execute("UPDATE orgs SET name = ?2 WHERE id = ?1", params![id, name])
            .map_err(sql_err)?;
        detail.insert("name".into(), name.clone().into());
    }
    if let Some(tz) = &patch.timezone {
        check_timezone(tz)?;
        let current: String = w
            .conn
            .query_row("SELECT timezone FROM orgs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .map_err(sql_err)?;
        if &current != tz {
            w.conn
                .execute(
                    "UPDATE orgs SET timezone = ?2 WHERE id = ?1",
                    params![id, tz],
                )
                .map_err(sql_err)?;
            w.conn
                .execute(
                    "INSERT OR REPLACE INTO org_timezones (org, effective_from, timezone) VALUES (?1, ?2, ?3)",
                    params![id, now_us(), tz],
                )
                .map_err(sql_err)?;
        }
        detail.insert("timezone".into(), tz.clone().into());
    }
    if let Some(m) = patch.markup {
        w.conn
            .execute(
                "UPDATE orgs SET markup_ppb = ?2 WHERE id = ?1",
                params![id, m.0],
            )
            .map_err(sql_err)?;
        detail.insert("markup".into(), m.to_decimal_string().into());
    }
    if let Some(url) = &patch.webhook_url {
        w.conn
            .execute(
                "UPDATE orgs SET webhook_url = ?2 WHERE id = ?1",
                params![id, url],
            )
            .map_err(sql_err)?;
        detail.insert(
            "webhook_url".into(),
            url.clone().map_or(serde_json::Value::Null, Into::into),
        );
    }
    if let Some(secret) = &patch.webhook_secret {
        w.conn
            .execute(
                "UPDATE orgs SET webhook_secret = ?2 WHERE id = ?1",
                params![id, secret],
            )
            .map_err(sql_err)?;
        // Never the secret itself in the audit log.
        detail.insert(
            "webhook_secret".into(),
            if secret.is_some() { "new" } else { "removed" }.into(),
        );
    }
    if let Some(days) = patch.retention_days {
        w.conn
            .execute(
                "UPDATE orgs SET retention_days = ?2 WHERE id = ?1",
                params![id, days],
            )
            .map_err(sql_err)?;
        detail.insert("retention_days".into(), days.into());
    }
    w.orgs.remove(org);
    audit(
        w,
        actor,
        Some(id),
        "org.update",
        org,
        serde_json::Value::Object(detail),
    )?;
    read::get_org(&w.conn, org)
}

/// Create a team, or adopt one that events created on first sight (giving it
/// its proper name and department).
pub fn create_team(w: &mut WriterState, org: &str, team: Team, actor: &str) -> Result<Team> {
    let id = org_id(w, org)?;
    let existing: Option<i64> = w
        .conn
        .query_row(
            "SELECT deleted FROM teams WHERE org = ?1 AND ext_id = ?2",
            params![id, team.team_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    if existing == Some(0) {
        let auto: bool = w
            .conn
            .query_row(
                "SELECT name = ext_id FROM teams WHERE org = ?1 AND ext_id = ?2",
                params![id, team.team_id],
                |r| r.get(0),
            )
            .map_err(sql_err)?;
        if !auto {
            return Err(StoreError::Conflict(format!(
                "team {} already exists",
                team.team_id
            )));
        }
    }
    w.conn
        .execute(
            "INSERT INTO teams (org, ext_id, name, department) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (org, ext_id) DO UPDATE SET name = excluded.name, department = excluded.department, deleted = 0",
            params![id, team.team_id, team.name, team.department],
        )
        .map_err(sql_err)?;
    w.teams.remove(&(id, team.team_id.clone()));
    audit(
        w,
        actor,
        Some(id),
        "team.create",
        &team.team_id,
        serde_json::json!({"name": team.name, "department": team.department}),
    )?;
    Ok(team)
}

pub fn put_member(w: &mut WriterState, org: &str, m: Member, actor: &str) -> Result<Member> {
    let id = org_id(w, org)?;
    if m.role == Role::PlatformAdmin || m.role == Role::Ingest {
        return Err(StoreError::Invalid(
            "role: a member's role is org_admin, team_lead or member".into(),
        ));
    }
    let user = resolve::user(w, &m.user_id, m.email.as_deref())?;
    let team = match &m.team_id {
        Some(t) => Some(resolve::team(w, id, t)?.id),
        None => None,
    };
    w.conn
        .execute(
            "INSERT INTO members (org, user, role, team, department, added_by_admin, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)
             ON CONFLICT (org, user) DO UPDATE SET role = excluded.role, team = excluded.team,
             department = excluded.department, added_by_admin = 1",
            params![id, user, m.role.as_str(), team, m.department, now_us()],
        )
        .map_err(sql_err)?;
    w.members.remove(&(id, user));
    audit(
        w,
        actor,
        Some(id),
        "member.put",
        &m.user_id,
        serde_json::json!({"role": m.role.as_str(), "team_id": m.team_id, "department": m.department}),
    )?;
    Ok(Member {
        added_by_admin: true,
        ..m
    })
}

pub fn delete_member(w: &mut WriterState, org: &str, user: &str, actor: &str) -> Result<()> {
    let id = org_id(w, org)?;
    let n = w
        .conn
        .execute("DELETE FROM members WHERE org = ?1 AND user = (SELECT id FROM users WHERE ext_id = ?2)", params![id, user])
        .map_err(sql_err)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("member {user}")));
    }
    w.conn
        .execute(
            "UPDATE tokens SET revoked_at = ?3 WHERE org = ?1 AND user_ext = ?2 AND revoked_at IS NULL",
            params![id, user, now_us()],
        )
        .map_err(sql_err)?;
    w.members.clear();
    audit(
        w,
        actor,
        Some(id),
        "member.delete",
        user,
        serde_json::json!({}),
    )
}

/// Register a provider key, or register one that events created unregistered.
pub fn create_api_key(
    w: &mut WriterState,
    org: &str,
    key: &str,
    name: &str,
    provider: Option<&str>,
    actor: &str,
) -> Result<ApiKey> {
    let id = org_id(w, org)?;
    let registered: Option<bool> = w
        .conn
        .query_row(
            "SELECT registered FROM api_keys WHERE org = ?1 AND ext_id = ?2",
            params![id, key],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql_err)?;
    if registered == Some(true) {
        return Err(StoreError::Conflict(format!(
            "API key {key} already exists"
        )));
    }
    w.conn
        .execute(
            "INSERT INTO api_keys (org, ext_id, name, provider, registered, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)
             ON CONFLICT (org, ext_id) DO UPDATE SET name = excluded.name,
             provider = coalesce(excluded.provider, provider), registered = 1, deleted = 0",
            params![id, key, name, provider, now_us()],
        )
        .map_err(sql_err)?;
    w.keys.remove(&(id, key.to_owned()));
    audit(
        w,
        actor,
        Some(id),
        "api_key.create",
        key,
        serde_json::json!({"name": name, "provider": provider}),
    )?;
    read::list_api_keys(&w.conn, org)?
        .into_iter()
        .find(|k| k.api_key_id == key)
        .ok_or_else(|| StoreError::NotFound(format!("API key {key}")))
}

pub fn create_token(w: &mut WriterState, t: NewToken, actor: &str) -> Result<TokenRecord> {
    let org = match &t.organization_id {
        Some(o) => Some(org_id(w, o)?),
        None => None,
    };
    w.conn
        .execute(
            "INSERT INTO tokens (id, secret_hash, role, org, team_ext, user_ext, name, expires_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                t.id,
                t.secret_hash,
                t.role.as_str(),
                org,
                t.team_id,
                t.user_id,
                t.name,
                t.expires_at.map(|e| e.as_microsecond()),
                now_us()
            ],
        )
        .map_err(sql_err)?;
    audit(
        w,
        actor,
        org,
        "token.create",
        &t.id,
        serde_json::json!({"role": t.role.as_str(), "user_id": t.user_id, "team_id": t.team_id, "name": t.name}),
    )?;
    read::token_by_id(&w.conn, &t.id)
}

pub fn touch_token(w: &mut WriterState, id: &str, at: Timestamp) -> Result<()> {
    w.conn
        .prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id, at.as_microsecond()]))
        .map_err(sql_err)?;
    Ok(())
}

pub fn revoke_token(w: &mut WriterState, id: &str, actor: &str) -> Result<()> {
    let org: Option<Option<i64>> = w
        .conn
        .query_row("SELECT org FROM tokens WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(sql_err)?;
    let Some(org) = org else {
        return Err(StoreError::NotFound(format!("token {id}")));
    };
    w.conn
        .execute(
            "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id, now_us()],
        )
        .map_err(sql_err)?;
    audit(w, actor, org, "token.revoke", id, serde_json::json!({}))
}
