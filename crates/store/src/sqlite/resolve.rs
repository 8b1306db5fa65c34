//! Get-or-create of the things an event names, through the writer's caches.
//! Users, teams, departments, keys, models and providers are created on first
//! sight (API.md §5); organisations never are.

use super::writer::{KeyInfo, MemberInfo, OrgInfo, TeamInfo, WriterState};
use super::{now_us, sql_err};
use crate::contract::Result;
use rusqlite::{params, OptionalExtension};
use spendlens_domain::{time::parse_timezone, Markup, Price};
use std::collections::HashMap;

pub fn org(w: &mut WriterState, ext: &str) -> Result<Option<OrgInfo>> {
    if let Some(o) = w.orgs.get(ext) {
        return Ok(Some(o.clone()));
    }
    let row: Option<(i64, i64)> = w
        .conn
        .prepare_cached("SELECT id, markup_ppb FROM orgs WHERE ext_id = ?1")
        .and_then(|mut s| {
            s.query_row([ext], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql_err)?;
    let Some((id, markup)) = row else {
        return Ok(None);
    };
    let mut zones = Vec::new();
    {
        let mut s = w
            .conn
            .prepare_cached("SELECT effective_from, timezone FROM org_timezones WHERE org = ?1 ORDER BY effective_from")
            .map_err(sql_err)?;
        let rows = s
            .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(sql_err)?;
        for row in rows {
            let (from, name) = row.map_err(sql_err)?;
            let tz = parse_timezone(&name)
                .map_err(|e| anyhow::anyhow!("stored timezone {name}: {e}"))?;
            zones.push((from, tz));
        }
    }
    if zones.is_empty() {
        zones.push((i64::MIN, jiff::tz::TimeZone::UTC));
    }
    let mut prices: HashMap<String, Vec<(i64, Price)>> = HashMap::new();
    {
        let mut s = w
            .conn
            .prepare_cached(
                "SELECT model, effective_from, input, output, cached_input, cache_write FROM org_prices
                 WHERE org = ?1 ORDER BY model, effective_from",
            )
            .map_err(sql_err)?;
        let rows = s
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    Price {
                        input: r.get(2)?,
                        output: r.get(3)?,
                        cached_input: r.get(4)?,
                        cache_write: r.get(5)?,
                    },
                ))
            })
            .map_err(sql_err)?;
        for row in rows {
            let (model, from, price) = row.map_err(sql_err)?;
            prices.entry(model).or_default().push((from, price));
        }
    }
    let info = OrgInfo {
        id,
        markup: Markup(markup),
        zones,
        prices,
    };
    w.orgs.insert(ext.to_owned(), info.clone());
    Ok(Some(info))
}

/// Ids of the organisations where an admin made `user` a member (at most 2:
/// enough to tell one from several).
pub fn admin_orgs_of(w: &mut WriterState, user: &str) -> Result<Vec<String>> {
    let mut s = w
        .conn
        .prepare_cached(
            "SELECT o.ext_id FROM members m JOIN users u ON u.id = m.user JOIN orgs o ON o.id = m.org
             WHERE u.ext_id = ?1 AND m.added_by_admin = 1 LIMIT 2",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map([user], |r| r.get::<_, String>(0))
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_err)
}

pub fn user(w: &mut WriterState, ext: &str, email: Option<&str>) -> Result<i64> {
    let id = match w.users.get(ext) {
        Some(id) => *id,
        None => {
            let found: Option<(i64, Option<String>)> = w
                .conn
                .prepare_cached("SELECT id, email FROM users WHERE ext_id = ?1")
                .and_then(|mut s| {
                    s.query_row([ext], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(sql_err)?;
            let id = match found {
                Some((id, em)) => {
                    if let Some(em) = em {
                        w.emails.insert(id, em);
                    }
                    id
                }
                None => {
                    w.conn
                        .prepare_cached("INSERT INTO users (ext_id, email) VALUES (?1, ?2)")
                        .and_then(|mut s| s.execute(params![ext, email]))
                        .map_err(sql_err)?;
                    let id = w.conn.last_insert_rowid();
                    if let Some(em) = email {
                        w.emails.insert(id, em.to_owned());
                    }
                    id
                }
            };
            w.users.insert(ext.to_owned(), id);
            id
        }
    };
    if let Some(em) = email {
        if w.emails.get(&id).map(String::as_str) != Some(em) {
            w.conn
                .prepare_cached("UPDATE users SET email = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, em]))
                .map_err(sql_err)?;
            w.emails.insert(id, em.to_owned());
        }
    }
    Ok(id)
}

/// The membership of `user` in `org`, created on first sight (role member,
/// not made by an admin) with the event's team if it names one.
pub fn member(
    w: &mut WriterState,
    org: i64,
    user: i64,
    first_team: Option<i64>,
) -> Result<MemberInfo> {
    if let Some(m) = w.members.get(&(org, user)) {
        return Ok(m.clone());
    }
    let found: Option<(Option<i64>, Option<String>)> = w
        .conn
        .prepare_cached("SELECT team, department FROM members WHERE org = ?1 AND user = ?2")
        .and_then(|mut s| {
            s.query_row(params![org, user], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql_err)?;
    let info = match found {
        Some((team, department)) => MemberInfo { team, department },
        None => {
            w.conn
                .prepare_cached(
                    "INSERT INTO members (org, user, role, team, department, added_by_admin, created_at)
                     VALUES (?1, ?2, 'member', ?3, NULL, 0, ?4)",
                )
                .and_then(|mut s| s.execute(params![org, user, first_team, now_us()]))
                .map_err(sql_err)?;
            MemberInfo {
                team: first_team,
                department: None,
            }
        }
    };
    w.members.insert((org, user), info.clone());
    Ok(info)
}

pub fn team(w: &mut WriterState, org: i64, ext: &str) -> Result<TeamInfo> {
    let k = (org, ext.to_owned());
    if let Some(t) = w.teams.get(&k) {
        return Ok(t.clone());
    }
    let found: Option<(i64, Option<String>)> = w
        .conn
        .prepare_cached("SELECT id, department FROM teams WHERE org = ?1 AND ext_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![org, ext], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql_err)?;
    let info = match found {
        Some((id, department)) => TeamInfo { id, department },
        None => {
            w.conn
                .prepare_cached("INSERT INTO teams (org, ext_id, name) VALUES (?1, ?2, ?2)")
                .and_then(|mut s| s.execute(params![org, ext]))
                .map_err(sql_err)?;
            TeamInfo {
                id: w.conn.last_insert_rowid(),
                department: None,
            }
        }
    };
    w.teams.insert(k, info.clone());
    Ok(info)
}

pub fn team_by_id(w: &mut WriterState, id: i64) -> Result<TeamInfo> {
    if let Some(t) = w.teams.values().find(|t| t.id == id) {
        return Ok(t.clone());
    }
    let department: Option<String> = w
        .conn
        .prepare_cached("SELECT department FROM teams WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)))
        .map_err(sql_err)?;
    Ok(TeamInfo { id, department })
}

pub fn department(w: &mut WriterState, org: i64, name: &str) -> Result<i64> {
    let k = (org, name.to_owned());
    if let Some(id) = w.depts.get(&k) {
        return Ok(*id);
    }
    w.conn
        .prepare_cached("INSERT INTO departments (org, name) VALUES (?1, ?2) ON CONFLICT (org, name) DO NOTHING")
        .and_then(|mut s| s.execute(params![org, name]))
        .map_err(sql_err)?;
    let id: i64 = w
        .conn
        .prepare_cached("SELECT id FROM departments WHERE org = ?1 AND name = ?2")
        .and_then(|mut s| s.query_row(params![org, name], |r| r.get(0)))
        .map_err(sql_err)?;
    w.depts.insert(k, id);
    Ok(id)
}

/// A provider key by id; an id never registered is created unregistered,
/// named by its id, with the provider the event or the catalog gives.
pub fn api_key(
    w: &mut WriterState,
    org: i64,
    ext: &str,
    provider: Option<&str>,
) -> Result<KeyInfo> {
    let k = (org, ext.to_owned());
    if let Some(key) = w.keys.get(&k) {
        return Ok(key.clone());
    }
    let found: Option<(i64, Option<String>)> = w
        .conn
        .prepare_cached("SELECT id, provider FROM api_keys WHERE org = ?1 AND ext_id = ?2")
        .and_then(|mut s| {
            s.query_row(params![org, ext], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sql_err)?;
    let info = match found {
        Some((id, provider)) => KeyInfo { id, provider },
        None => {
            w.conn
                .prepare_cached(
                    "INSERT INTO api_keys (org, ext_id, name, provider, registered, created_at) VALUES (?1, ?2, ?2, ?3, 0, ?4)",
                )
                .and_then(|mut s| s.execute(params![org, ext, provider, now_us()]))
                .map_err(sql_err)?;
            KeyInfo {
                id: w.conn.last_insert_rowid(),
                provider: provider.map(str::to_owned),
            }
        }
    };
    w.keys.insert(k, info.clone());
    Ok(info)
}

fn named(w: &mut WriterState, table: &'static str, name: &str) -> Result<i64> {
    let cache = if table == "models" {
        &w.models
    } else {
        &w.providers
    };
    if let Some(id) = cache.get(name) {
        return Ok(*id);
    }
    let (ins, sel) = if table == "models" {
        (
            "INSERT INTO models (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            "SELECT id FROM models WHERE name = ?1",
        )
    } else {
        (
            "INSERT INTO providers (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
            "SELECT id FROM providers WHERE name = ?1",
        )
    };
    w.conn
        .prepare_cached(ins)
        .and_then(|mut s| s.execute([name]))
        .map_err(sql_err)?;
    let id: i64 = w
        .conn
        .prepare_cached(sel)
        .and_then(|mut s| s.query_row([name], |r| r.get(0)))
        .map_err(sql_err)?;
    let cache = if table == "models" {
        &mut w.models
    } else {
        &mut w.providers
    };
    cache.insert(name.to_owned(), id);
    Ok(id)
}

pub fn model(w: &mut WriterState, name: &str) -> Result<i64> {
    named(w, "models", name)
}

pub fn provider(w: &mut WriterState, name: &str) -> Result<i64> {
    named(w, "providers", name)
}
