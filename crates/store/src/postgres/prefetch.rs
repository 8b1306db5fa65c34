//! What a transaction's events already have in the database, read up front in
//! one query per kind for the whole transaction. A batch of 1,000 events
//! names about a hundred organisations on `medium`; reading per organisation
//! and per thing named took ~1,500 round trips per transaction, and the other
//! server's transactions waited for them on the same aggregate rows.
//!
//! Pairs go in as two arrays and are looked up with `CROSS JOIN LATERAL`, so
//! each pair is one index probe whatever the planner thinks of the arrays'
//! size. Whatever is not found here is created (or found, if another server
//! just made it) by `resolve`, one at a time, as before.

use super::ctx::{Ctx, KeyInfo, MemberInfo, OrgInfo, TeamInfo};
use super::db_err;
use crate::aggregate::Groups;
use crate::contract::Result;
use crate::model::{IngestBatch, IngestScope};
use crate::rules::Conv;
use spendlens_domain::{time::parse_timezone, Catalog, Event, Markup, Price};
use sqlx::Row;
use std::collections::{BTreeSet, HashMap};

/// The organisation an event of this batch names: the token's, or the
/// event's own for a platform ingest token.
pub fn org_of<'a>(scope: &'a IngestScope, e: &'a Event) -> Option<&'a str> {
    match scope {
        IngestScope::Org(org) => Some(org),
        IngestScope::Platform => e.organization_id.as_deref(),
    }
}

/// Every organisation the batches name, into the transaction's cache.
pub async fn batch_orgs(c: &mut Ctx, batches: &[IngestBatch]) -> Result<()> {
    let mut named: Vec<String> = batches
        .iter()
        .flat_map(|b| b.events.iter().filter_map(|(_, e)| org_of(&b.scope, e)))
        .map(str::to_owned)
        .collect();
    named.sort();
    named.dedup();
    orgs(c, &named).await
}

/// Organisations by external id, with their timezones and negotiated prices,
/// into the transaction's cache. An unknown id is simply not cached.
pub async fn orgs(c: &mut Ctx, exts: &[String]) -> Result<()> {
    let wanted: Vec<&String> = exts.iter().filter(|e| !c.orgs.contains_key(*e)).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, ext_id, markup_ppb FROM orgs WHERE ext_id IN (SELECT UNNEST($1::text[]))",
    )
    .bind(&wanted)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut zones: HashMap<i64, Vec<(i64, jiff::tz::TimeZone)>> = HashMap::new();
    let zone_rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT org, effective_from, timezone FROM org_timezones WHERE org IN (SELECT UNNEST($1::bigint[]))
         ORDER BY org, effective_from",
    )
    .bind(&ids)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    for (org, from, name) in zone_rows {
        let tz =
            parse_timezone(&name).map_err(|e| anyhow::anyhow!("stored timezone {name}: {e}"))?;
        zones.entry(org).or_default().push((from, tz));
    }
    let mut prices: HashMap<i64, HashMap<String, Vec<(i64, Price)>>> = HashMap::new();
    let price_rows = sqlx::query(
        "SELECT org, model, effective_from, input, output, cached_input, cache_write
         FROM org_prices WHERE org IN (SELECT UNNEST($1::bigint[])) ORDER BY org, model, effective_from",
    )
    .bind(&ids)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    for r in price_rows {
        let price = Price {
            input: r.get(3),
            output: r.get(4),
            cached_input: r.get(5),
            cache_write: r.get(6),
        };
        prices
            .entry(r.get(0))
            .or_default()
            .entry(r.get::<String, _>(1))
            .or_default()
            .push((r.get(2), price));
    }
    for (id, ext, markup) in rows {
        let mut z = zones.remove(&id).unwrap_or_default();
        if z.is_empty() {
            z.push((i64::MIN, jiff::tz::TimeZone::UTC));
        }
        let info = OrgInfo {
            id,
            markup: Markup(markup),
            zones: z,
            prices: prices.remove(&id).unwrap_or_default(),
        };
        c.orgs.insert(ext, info);
    }
    Ok(())
}

/// Two columns of pairs, sorted and without repeats.
fn columns<A: Ord, B: Ord>(pairs: BTreeSet<(A, B)>) -> (Vec<A>, Vec<B>) {
    pairs.into_iter().unzip()
}

/// Rows of `inner` for each pair `(u.a, u.b)`: the pair, then `inner`'s
/// columns; `b_type` is the SQL type of the second column.
async fn by_pairs<B, T>(
    c: &mut Ctx,
    inner: &str,
    b_type: &str,
    (a, b): (Vec<i64>, Vec<B>),
) -> Result<Vec<T>>
where
    Vec<B>: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let sql = format!(
        "SELECT u.a, u.b, x.* FROM UNNEST($1::bigint[], $2::{b_type}[]) AS u(a, b)
         CROSS JOIN LATERAL ({inner}) x"
    );
    sqlx::query_as(&sql)
        .bind(a)
        .bind(b)
        .fetch_all(&mut *c.tx)
        .await
        .map_err(db_err)
}

/// Read what the placed events already have: idempotency keys (into `keys`),
/// conversations (into `convs`, locked in id order so that concurrent
/// transactions queue instead of deadlocking), and into the caches the
/// people, memberships, teams, provider keys, departments, models and
/// providers they name.
pub async fn placed(
    c: &mut Ctx,
    keys: &mut HashMap<(i64, String), i64>,
    convs: &mut HashMap<(i64, String), Conv>,
    placed: &[(usize, usize, &Event, OrgInfo)],
) -> Result<()> {
    if placed.is_empty() {
        return Ok(());
    }
    let catalog = Catalog::builtin();
    let (mut event_ids, mut conv_ids, mut team_exts, mut key_exts, mut dept_names) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    let (mut users, mut models, mut providers) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for (_, _, e, org) in placed {
        event_ids.insert((org.id, e.event_id.clone()));
        conv_ids.insert((org.id, e.conversation_id.clone()));
        users.insert(e.user_id.clone());
        models.insert(e.model_name.clone());
        if let Some(t) = &e.team_id {
            team_exts.insert((org.id, t.clone()));
        }
        if let Some(k) = &e.api_key_id {
            key_exts.insert((org.id, k.clone()));
        }
        if let Some(d) = &e.department {
            dept_names.insert((org.id, d.clone()));
        }
        if let Some(p) = &e.api_key_provider {
            providers.insert(p.clone());
        }
        if let Some(p) = catalog.provider_of(&e.model_name) {
            providers.insert(p.to_owned());
        }
    }

    let users: Vec<String> = users.into_iter().collect();
    // Not `ext_id = ANY($1)`: a generic plan made while the table was small
    // scans it and tests every row against the whole array (read.rs, Names).
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT id, ext_id, email FROM users WHERE ext_id IN (SELECT UNNEST($1::text[]))",
    )
    .bind(&users)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    for (id, ext, email) in rows {
        if let Some(em) = email {
            c.emails.insert(id, em);
        }
        c.users.insert(ext, id);
    }

    let found: Vec<(i64, String, i64)> = by_pairs(
        c,
        "SELECT hash FROM event_keys WHERE org = u.a AND event_id = u.b",
        "text",
        columns(event_ids),
    )
    .await?;
    for (org, id, hash) in found {
        keys.insert((org, id), hash);
    }

    let (orgs, exts) = columns(conv_ids);
    let rows = sqlx::query(
        "SELECT cv.id, cv.usr, cv.first_at, cv.first_event_id, cv.first_day, cv.first_team,
         cv.first_dept, cv.first_key, cv.first_model, cv.first_provider, cv.last_at, cv.title,
         cv.title_at, cv.ext_id, cv.org
         FROM conversations cv JOIN UNNEST($1::bigint[], $2::text[]) AS u(org, ext)
         ON cv.org = u.org AND cv.ext_id = u.ext
         ORDER BY cv.id FOR UPDATE OF cv",
    )
    .bind(&orgs)
    .bind(&exts)
    .fetch_all(&mut *c.tx)
    .await
    .map_err(db_err)?;
    for r in rows {
        let user: i64 = r.get(1);
        convs.insert(
            (r.get(14), r.get(13)),
            Conv {
                id: r.get(0),
                new: false,
                user,
                first_at: r.get(2),
                first_event_id: r.get(3),
                first_day: r.get(4),
                first_groups: Groups {
                    user,
                    team: r.get(5),
                    dept: r.get(6),
                    key: r.get(7),
                    model: r.get(8),
                    provider: r.get(9),
                },
                last_at: r.get(10),
                title: r.get(11),
                title_at: r.get(12),
                dirty: false,
            },
        );
    }

    let pairs: BTreeSet<(i64, i64)> = placed
        .iter()
        .filter_map(|(_, _, e, org)| c.users.get(&e.user_id).map(|u| (org.id, *u)))
        .collect();
    let members: Vec<(i64, i64, Option<i64>, Option<String>)> = by_pairs(
        c,
        "SELECT team, department FROM members WHERE org = u.a AND usr = u.b",
        "bigint",
        columns(pairs),
    )
    .await?;
    let mut member_teams: Vec<i64> = Vec::new();
    for (org, usr, team, department) in members {
        member_teams.extend(team);
        if let Some(d) = &department {
            dept_names.insert((org, d.clone()));
        }
        c.members
            .insert((org, usr), MemberInfo { team, department });
    }

    let mut teams: Vec<(i64, String, i64, Option<String>)> = by_pairs(
        c,
        "SELECT id, department FROM teams WHERE org = u.a AND ext_id = u.b",
        "text",
        columns(team_exts),
    )
    .await?;
    member_teams.sort_unstable();
    member_teams.dedup();
    if !member_teams.is_empty() {
        teams.extend(
            sqlx::query_as::<_, (i64, String, i64, Option<String>)>(
                "SELECT org, ext_id, id, department FROM teams WHERE id IN (SELECT UNNEST($1::bigint[]))",
            )
            .bind(&member_teams)
            .fetch_all(&mut *c.tx)
            .await
            .map_err(db_err)?,
        );
    }
    for (org, ext, id, department) in teams {
        if let Some(d) = &department {
            dept_names.insert((org, d.clone()));
        }
        c.teams.insert((org, ext), TeamInfo { id, department });
    }

    let found: Vec<(i64, String, i64, Option<String>)> = by_pairs(
        c,
        "SELECT id, provider FROM api_keys WHERE org = u.a AND ext_id = u.b",
        "text",
        columns(key_exts),
    )
    .await?;
    for (org, ext, id, provider) in found {
        providers.extend(provider.clone());
        c.keys.insert((org, ext), KeyInfo { id, provider });
    }

    let found: Vec<(i64, String, i64)> = by_pairs(
        c,
        "SELECT id FROM departments WHERE org = u.a AND name = u.b",
        "text",
        columns(dept_names),
    )
    .await?;
    for (org, name, id) in found {
        c.depts.insert((org, name), id);
    }

    for (table, names, cache) in [
        ("models", models, &mut c.models),
        ("providers", providers, &mut c.providers),
    ] {
        let names: Vec<String> = names.into_iter().collect();
        let sql = format!("SELECT name, id FROM {table} WHERE name IN (SELECT UNNEST($1::text[]))");
        let found: Vec<(String, i64)> = sqlx::query_as(&sql)
            .bind(&names)
            .fetch_all(&mut *c.tx)
            .await
            .map_err(db_err)?;
        cache.extend(found);
    }
    Ok(())
}
