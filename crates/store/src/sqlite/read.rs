//! Reads on pooled read-only connections.

use super::{sql_err, ts};
use crate::contract::{Result, StoreError};
use crate::model::*;
use crate::packs::groups::{Order, MAX_KEYS};
use crate::packs::pack_column;
use crate::packs::projections::Shape;
use crate::packs::sums::{Pick, Queue, Work};
use crate::query::{Dim, FigureQuery, GroupRow, IdGroups, IdRows};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row};
use spendlens_domain::time::{local_day, parse_timezone, Day};
use spendlens_domain::{ErrorCode, Markup};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) fn org_id(c: &Connection, org: &str) -> Result<i64> {
    c.prepare_cached("SELECT id FROM orgs WHERE ext_id = ?1")
        .and_then(|mut s| s.query_row([org], |r| r.get(0)).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))
}

fn org_row(r: &Row) -> rusqlite::Result<Org> {
    Ok(Org {
        id: r.get(0)?,
        name: r.get(1)?,
        timezone: r.get(2)?,
        markup: Markup(r.get(3)?),
        webhook_url: r.get(4)?,
        retention_days: r.get(5)?,
        created_at: ts(r.get(6)?),
        last_event_at: r.get::<_, Option<i64>>(7)?.map(ts),
    })
}

const ORG_COLS: &str =
    "ext_id, name, timezone, markup_ppb, webhook_url, retention_days, created_at, last_event_at";

pub fn get_org(c: &Connection, org: &str) -> Result<Org> {
    c.prepare_cached(&format!("SELECT {ORG_COLS} FROM orgs WHERE ext_id = ?1"))
        .and_then(|mut s| s.query_row([org], org_row).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))
}

pub fn list_orgs(c: &Connection) -> Result<Vec<Org>> {
    let mut s = c
        .prepare_cached(&format!("SELECT {ORG_COLS} FROM orgs ORDER BY ext_id"))
        .map_err(sql_err)?;
    let rows = s.query_map([], org_row).map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

pub fn list_teams(c: &Connection, org: &str) -> Result<Vec<Team>> {
    let id = org_id(c, org)?;
    let mut s =
        c.prepare_cached("SELECT ext_id, name, department FROM teams WHERE org = ?1 AND deleted = 0 ORDER BY ext_id").map_err(sql_err)?;
    let rows = s
        .query_map([id], |r| {
            Ok(Team {
                team_id: r.get(0)?,
                name: r.get(1)?,
                department: r.get(2)?,
            })
        })
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

const MEMBER_SQL: &str = "SELECT u.ext_id, u.email, m.role, t.ext_id, m.department, m.added_by_admin
    FROM members m JOIN users u ON u.id = m.user LEFT JOIN teams t ON t.id = m.team WHERE m.org = ?1";

fn member_row(r: &Row) -> rusqlite::Result<Member> {
    let role: String = r.get(2)?;
    Ok(Member {
        user_id: r.get(0)?,
        email: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        team_id: r.get(3)?,
        department: r.get(4)?,
        added_by_admin: r.get(5)?,
    })
}

pub fn get_member(c: &Connection, org: &str, user: &str) -> Result<Member> {
    let id = org_id(c, org)?;
    c.prepare_cached(&format!("{MEMBER_SQL} AND u.ext_id = ?2"))
        .and_then(|mut s| s.query_row(params![id, user], member_row).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("member {user}")))
}

pub fn get_members(c: &Connection, org: &str, users: &[String]) -> Result<Vec<Member>> {
    let id = org_id(c, org)?;
    let mut s = c
        .prepare_cached(&format!("{MEMBER_SQL} AND u.ext_id = ?2"))
        .map_err(sql_err)?;
    let mut out = Vec::with_capacity(users.len());
    for user in users {
        if let Some(m) = s
            .query_row(params![id, user], member_row)
            .optional()
            .map_err(sql_err)?
        {
            out.push(m);
        }
    }
    Ok(out)
}

pub fn list_members(c: &Connection, org: &str) -> Result<Vec<Member>> {
    let id = org_id(c, org)?;
    let mut s = c
        .prepare_cached(&format!("{MEMBER_SQL} ORDER BY u.ext_id"))
        .map_err(sql_err)?;
    let rows = s.query_map([id], member_row).map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

pub fn list_api_keys(c: &Connection, org: &str) -> Result<Vec<ApiKey>> {
    let id = org_id(c, org)?;
    let mut s = c
        .prepare_cached(
            "SELECT ext_id, name, provider, registered, created_at, last_used_at FROM api_keys
             WHERE org = ?1 AND deleted = 0 ORDER BY ext_id",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map([id], |r| {
            Ok(ApiKey {
                api_key_id: r.get(0)?,
                name: r.get(1)?,
                provider: r.get(2)?,
                registered: r.get(3)?,
                created_at: ts(r.get(4)?),
                last_used_at: r.get::<_, Option<i64>>(5)?.map(ts),
            })
        })
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

const TOKEN_SQL: &str =
    "SELECT t.id, t.role, o.ext_id, t.team_ext, t.user_ext, t.name, t.expires_at, t.created_at,
    t.last_used_at, t.revoked_at FROM tokens t LEFT JOIN orgs o ON o.id = t.org";

fn token_row(r: &Row) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(1)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        role: Role::parse(&role).unwrap_or(Role::Ingest),
        organization_id: r.get(2)?,
        team_id: r.get(3)?,
        user_id: r.get(4)?,
        name: r.get(5)?,
        expires_at: r.get::<_, Option<i64>>(6)?.map(ts),
        created_at: ts(r.get(7)?),
        last_used_at: r.get::<_, Option<i64>>(8)?.map(ts),
        revoked_at: r.get::<_, Option<i64>>(9)?.map(ts),
    })
}

pub fn find_token(c: &Connection, secret_hash: &str) -> Result<Option<TokenRecord>> {
    c.prepare_cached(&format!("{TOKEN_SQL} WHERE t.secret_hash = ?1"))
        .and_then(|mut s| s.query_row([secret_hash], token_row).optional())
        .map_err(sql_err)
}

pub fn token_by_id(c: &Connection, id: &str) -> Result<TokenRecord> {
    c.prepare_cached(&format!("{TOKEN_SQL} WHERE t.id = ?1"))
        .and_then(|mut s| s.query_row([id], token_row).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("token {id}")))
}

pub fn list_tokens(c: &Connection, org: Option<&str>) -> Result<Vec<TokenRecord>> {
    let mut s = c
        .prepare_cached(&format!(
            "{TOKEN_SQL} WHERE ?1 IS NULL OR o.ext_id = ?1 ORDER BY t.created_at"
        ))
        .map_err(sql_err)?;
    let rows = s.query_map([org], token_row).map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

pub fn audit_log(c: &Connection, org: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
    let mut s = c
        .prepare_cached(
            "SELECT a.at, a.actor, o.ext_id, a.action, a.target, a.detail FROM audit a LEFT JOIN orgs o ON o.id = a.org
             WHERE ?1 IS NULL OR o.ext_id = ?1 ORDER BY a.id DESC LIMIT ?2",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map(params![org, limit as i64], |r| {
            let detail: String = r.get(5)?;
            Ok(AuditEntry {
                at: ts(r.get(0)?),
                actor: r.get(1)?,
                organization_id: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

pub fn quarantined(c: &Connection) -> Result<Vec<QuarantinedEvent>> {
    let mut s = c
        .prepare_cached(
            "SELECT org_hint, event_id, user_ext, reason, received_at FROM quarantine ORDER BY id",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map([], |r| {
            let hint: String = r.get(0)?;
            let reason: String = r.get(3)?;
            Ok(QuarantinedEvent {
                organization_hint: (!hint.is_empty()).then_some(hint),
                event_id: r.get(1)?,
                user_id: r.get(2)?,
                reason: if reason == "ambiguous_organization" {
                    ErrorCode::AmbiguousOrganization
                } else {
                    ErrorCode::UnknownOrganization
                },
                received_at: ts(r.get(4)?),
            })
        })
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

/// The detail columns every event read selects, in the order `event_row` reads them.
pub(super) const EVENT_SELECT: &str =
    "SELECT e.event_id, e.occurred_at, e.day, u.ext_id, t.ext_id, d.name, k.ext_id, p.name, m.name, cv.ext_id,
     e.tokens_in, e.tokens_out, e.cached_in, e.cache_write_in, e.total_cost, e.actual_cost, e.cost_flags
     FROM events e JOIN users u ON u.id = e.user LEFT JOIN teams t ON t.id = e.team
     LEFT JOIN departments d ON d.id = e.dept LEFT JOIN api_keys k ON k.id = e.key
     LEFT JOIN providers p ON p.id = e.provider JOIN models m ON m.id = e.model
     JOIN conversations cv ON cv.id = e.conv";

pub(super) fn event_row(r: &Row, org: &str) -> rusqlite::Result<StoredEvent> {
    let flags: i64 = r.get(16)?;
    Ok(StoredEvent {
        organization_id: org.to_owned(),
        event_id: r.get(0)?,
        occurred_at: ts(r.get(1)?),
        day: r.get(2)?,
        user_id: r.get(3)?,
        team_id: r.get(4)?,
        department: r.get(5)?,
        api_key_id: r.get(6)?,
        provider: r.get(7)?,
        model: r.get(8)?,
        conversation_id: r.get(9)?,
        tokens_in: r.get::<_, i64>(10)? as u64,
        tokens_out: r.get::<_, i64>(11)? as u64,
        cached_tokens_in: r.get::<_, i64>(12)? as u64,
        cache_write_tokens_in: r.get::<_, i64>(13)? as u64,
        total_cost: r.get(14)?,
        actual_api_cost: r.get(15)?,
        unpriced: flags & crate::aggregate::UNPRICED != 0,
    })
}

pub fn events(c: &Connection, org: &str) -> Result<Vec<StoredEvent>> {
    let id = org_id(c, org)?;
    let mut s = c
        .prepare_cached(&format!(
            "{EVENT_SELECT} WHERE e.org = ?1 ORDER BY e.occurred_at, e.event_id"
        ))
        .map_err(sql_err)?;
    let rows = s.query_map([id], |r| event_row(r, org)).map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

/// Internal id of a filter value; `Ok(None)` when it names nothing (so the
/// filter matches no row).
fn filter_id(c: &Connection, org: i64, dim: Dim, value: &Option<String>) -> Result<Option<i64>> {
    let Some(v) = value else { return Ok(Some(0)) };
    let sql = match dim {
        Dim::User => "SELECT id FROM users WHERE ext_id = ?2 AND ?1 = ?1",
        Dim::Team => "SELECT id FROM teams WHERE org = ?1 AND ext_id = ?2",
        Dim::Department => "SELECT id FROM departments WHERE org = ?1 AND name = ?2",
        Dim::ApiKey => "SELECT id FROM api_keys WHERE org = ?1 AND ext_id = ?2",
        Dim::Model => "SELECT id FROM models WHERE name = ?2 AND ?1 = ?1",
        Dim::Provider => "SELECT id FROM providers WHERE name = ?2 AND ?1 = ?1",
        Dim::Day | Dim::Week | Dim::Month | Dim::Hour => return Ok(None),
    };
    c.prepare_cached(sql)
        .and_then(|mut s| s.query_row(params![org, v], |r| r.get(0)).optional())
        .map_err(sql_err)
}

fn column(dim: Dim) -> &'static str {
    match dim {
        Dim::User => "user",
        Dim::Team => "team",
        Dim::Department => "dept",
        Dim::ApiKey => "key",
        Dim::Model => "model",
        Dim::Provider => "provider",
        // Civil day numbers: 1970-01-01 was a Thursday, so Monday = day - (day + 3) % 7.
        Dim::Day | Dim::Hour => "bucket",
        Dim::Week => "(bucket - (bucket + 3) % 7)",
        Dim::Month => {
            "(CASE grain WHEN 2 THEN bucket ELSE \
            (CAST(strftime('%Y', bucket * 86400, 'unixepoch') AS INTEGER) - 1970) * 12 \
            + CAST(strftime('%m', bucket * 86400, 'unixepoch') AS INTEGER) - 1 END)"
        }
    }
}

/// Many questions in one snapshot. Organisations' unfiltered totals over one
/// period (the platform endpoints ask one per organisation) are read for
/// every organisation at once (`org_totals.rs`).
pub fn figures_many(c: &Connection, queries: &[FigureQuery]) -> Result<Vec<Vec<GroupRow>>> {
    use super::org_totals::{is_plain, PlainTotals};
    if queries.iter().filter(|q| is_plain(q)).count() < 2 {
        return queries.iter().map(|q| figures(c, q)).collect();
    }
    let plain = PlainTotals::read(c, queries, super::org_days::Orgs::Share(1, 0))?;
    queries
        .iter()
        .map(|q| {
            if is_plain(q) {
                plain.answer(q)
            } else {
                figures(c, q)
            }
        })
        .collect()
}

/// Figures from the cube. Whole months inside the period are read from month
/// rows, the rest from day rows, unless days or weeks are grouped.
pub fn figures(c: &Connection, q: &FigureQuery) -> Result<Vec<GroupRow>> {
    let org = org_id(c, &q.org)?;
    let rows = keyed(c, org, q, Order::ByKey)?;
    named(c, org, q, rows)
}

/// `figures`' groups by id, in no order, each id named once.
pub fn figure_ids(c: &Connection, q: &FigureQuery) -> Result<IdGroups> {
    let org = org_id(c, &q.org)?;
    let rows = keyed(c, org, q, Order::Any)?;
    let mut names = Names::for_groups(c, org, q, rows.len())?;
    IdGroups::new(rows, |at, id| names.name(c, q.group_by[at], id))
}

/// The groups of `figures` keyed by internal ids.
fn keyed(c: &Connection, org: i64, q: &FigureQuery, order: Order) -> Result<IdRows> {
    let mut wheres = vec![format!("org = {org}")];
    let f = &q.filter;
    let mut filter_ids = Vec::new();
    for (dim, val) in f.by_dim() {
        if let Some(v) = val {
            match filter_id(c, org, dim, v)? {
                Some(id) => {
                    wheres.push(format!("{} = {id}", column(dim)));
                    filter_ids.push((dim, id));
                }
                None => return Ok(IdRows::with_capacity(q.group_by.len(), 0)),
            }
        }
    }
    let (from, to) = (q.period.from.0, q.period.to.0);
    // Unfiltered totals and daily rows: one row per day with its people's bitmap.
    let unfiltered = wheres.len() == 1;
    if unfiltered && (q.group_by.is_empty() || q.group_by == [Dim::Day]) {
        let by_day = !q.group_by.is_empty();
        let days = super::org_days::figures(c, org, from, to, by_day)?;
        let mut out = IdRows::with_capacity(usize::from(by_day), days.len());
        for (day, figures) in days {
            out.push(&[i64::from(day)], figures);
        }
        return Ok(out);
    }
    // People ranked, or one person's totals: two slices of running totals;
    // else one dimension (grouped, filtered to one value, or both): its day rows.
    let (from_day, to_day) = (i64::from(from), i64::from(to));
    let keyed = if q.group_by == [Dim::User] && filter_ids.is_empty() {
        let people = super::person_cum::people(c, org, from_day, to_day)?;
        Some(people.into_iter().map(|(id, f)| (vec![id], f)).collect())
    } else if let ([], [(Dim::User, id)]) = (&q.group_by[..], &filter_ids[..]) {
        let f = super::person_cum::person(c, org, *id, from_day, to_day)?;
        Some(if f.messages == 0 {
            vec![]
        } else {
            vec![(vec![], f)]
        })
    } else {
        super::dim_days::figures(c, org, q, &filter_ids)?
    };
    if let Some(rows) = keyed {
        return Ok(IdRows::from_keyed(q.group_by.len(), rows));
    }
    let by_hour = q.group_by.contains(&Dim::Hour);
    let mut hour_zones: Option<Vec<(i64, TimeZone)>> = None;
    let seek_person = filter_ids.iter().any(|(d, _)| *d == Dim::User);
    // Each part of the range is its own SELECT of a UNION ALL, so that each
    // seeks the key: an OR of them would scan the organisation's every cell.
    // Parts of day or month buckets read the buckets' packs first (packs.rs)
    // and the cells of only the buckets without one.
    let parts = if by_hour {
        vec![]
    } else {
        crate::packs::parts(q.period, &q.group_by)
    };
    let n = q.group_by.len();
    crate::packs::groups::check_width(n)?;
    // The cells are summed here rather than by SQL's GROUP BY, whose
    // sorter and count(DISTINCT) cost more than the scan itself.
    let mut groups = crate::packs::groups::Groups::new(&q.group_by);
    let mut ranges: Vec<String> = Vec::new();
    if by_hour {
        // Hours of the period's days, each day in the zone in force when
        // it was lived: with one zone, the instants between the two day
        // starts; after a timezone change, the widest such range, and the
        // rows outside the period's days are dropped below.
        let z = zones(c, org)?;
        let starts = |d: Day| z.iter().map(move |(_, tz)| d.start_in(tz).as_second());
        let s0 = starts(Day(from)).min().unwrap_or(0);
        let s1 = starts(Day(to)).max().unwrap_or(0);
        if z.len() > 1 {
            hour_zones = Some(z);
        }
        ranges.push(format!("grain = 0 AND bucket >= {s0} AND bucket < {s1}"));
    }
    let wanted: Vec<(usize, i64)> = filter_ids
        .iter()
        .filter_map(|(d, id)| Some((pack_column(*d)?, *id)))
        .collect();
    let shape = Arc::new(Shape {
        group_by: q.group_by.clone(),
        wanted,
    });
    super::read_cache::with_projections(|kept| {
        let pick = Pick { shape, kept };
        let (tx, queue) = Queue::new();
        std::thread::scope(|scope| -> Result<()> {
            // Another thread sums packs (or their kept groups) as this one
            // finds them, then reads the cells of the buckets without a
            // pack, then sums packs too; a question of one bucket (a day, a
            // month) is not worth a thread.
            let buckets: i64 = parts.iter().map(|(_, lo, hi)| (hi - lo).max(0)).sum();
            let other = (!seek_person && buckets > 1).then(|| scope.spawn(|| pick.sum(&queue)));
            let mut unkept = Vec::new();
            for (grain, lo, hi) in parts {
                if seek_person {
                    // A person's cells are found by seeking (bucket, person)
                    // in the cube's key, one bucket at a time, instead of
                    // reading every cell of the range (or of a pack).
                    ranges.push(listed(grain, lo..hi));
                    continue;
                }
                let packs = super::packs::in_range(c, org, grain, (lo, hi))?;
                for (bucket, seq) in &packs {
                    match kept.get(*seq, &pick.shape) {
                        // Only fails once the other thread has stopped,
                        // whose error the join below returns.
                        Some(p) => drop(tx.send(Work::Kept(p))),
                        None => unkept.push((grain, *bucket, *seq)),
                    }
                }
                if packs.is_empty() {
                    ranges.push(format!(
                        "grain = {grain} AND bucket >= {lo} AND bucket < {hi}"
                    ));
                } else if (packs.len() as i64) < hi - lo {
                    let packed: std::collections::HashSet<i64> =
                        packs.iter().map(|(b, _)| *b).collect();
                    ranges.push(listed(grain, (lo..hi).filter(|b| !packed.contains(b))));
                }
            }
            for (grain, bucket, seq) in unkept {
                let blob = super::packs::cells(c, org, grain, bucket)?;
                drop(tx.send(Work::Pack(grain, bucket, seq, blob)));
            }
            drop(tx);
            cube_cells(c, q, &wheres, &ranges, &mut groups)?;
            pick.sum_into(&mut groups, &queue)?;
            if let Some(other) = other {
                let other = other
                    .join()
                    .map_err(|_| StoreError::Other(anyhow::anyhow!("a pack reader panicked")))??;
                groups.absorb(other)?;
            }
            Ok(())
        })
    })?;
    let hour_at = q.group_by.iter().position(|d| *d == Dim::Hour);
    Ok(groups.finish(n, order, |ids, sums| {
        let in_period = match (&hour_zones, hour_at) {
            (Some(z), Some(i)) => q.period.contains(hour_day(z, ids[i])),
            _ => true,
        };
        in_period && (n > 0 || sums[2] != 0)
    }))
}

/// The cube's cells of the `ranges` not read from packs, added to `groups`.
fn cube_cells(
    c: &Connection,
    q: &FigureQuery,
    wheres: &[String],
    ranges: &[String],
    groups: &mut crate::packs::groups::Groups,
) -> Result<()> {
    if ranges.is_empty() {
        return Ok(());
    }
    let n = q.group_by.len();
    let select_keys: String = q
        .group_by
        .iter()
        .map(|d| format!("{}, ", column(*d)))
        .collect();
    let wheres = wheres.join(" AND ");
    let sql = ranges
        .iter()
        .map(|range| {
            format!(
                "SELECT {select_keys} user, total_cost, actual_cost, messages, tokens_in, tokens_out,
                 cached_in, cache_write_in, unpriced, convs FROM cube WHERE {wheres} AND {range}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut s = c.prepare(&sql).map_err(sql_err)?;
    let mut rows = s.query([]).map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let mut key = [0i64; MAX_KEYS];
        for (i, k) in key.iter_mut().take(n).enumerate() {
            *k = r.get(i).map_err(sql_err)?;
        }
        let mut cell = [0i64; 9];
        for (i, v) in cell.iter_mut().enumerate() {
            *v = r.get(n + 1 + i).map_err(sql_err)?;
        }
        groups.add(&key, r.get(n).map_err(sql_err)?, &cell)?;
    }
    Ok(())
}

/// `grain = g AND bucket IN (…)`: a seek per bucket in the cube's key.
fn listed(grain: u8, buckets: impl Iterator<Item = i64>) -> String {
    let b: Vec<String> = buckets.map(|d| d.to_string()).collect();
    format!("grain = {grain} AND bucket IN ({})", b.join(", "))
}

/// Groups keyed by internal ids, with the names the answer shows.
fn named(c: &Connection, org: i64, q: &FigureQuery, rows: IdRows) -> Result<Vec<GroupRow>> {
    let mut names = Names::for_groups(c, org, q, rows.len())?;
    let mut out = Vec::with_capacity(rows.len());
    for (ids, figures) in rows.iter() {
        let mut key = Vec::with_capacity(ids.len());
        for (dim, id) in q.group_by.iter().zip(ids) {
            key.push(names.name(c, *dim, *id)?);
        }
        out.push(GroupRow {
            key,
            figures: *figures,
        });
    }
    Ok(out)
}

/// The organisation's timezones, each from an instant on (µs), ascending.
fn zones(c: &Connection, org: i64) -> Result<Vec<(i64, TimeZone)>> {
    let mut s = c
        .prepare_cached("SELECT effective_from, timezone FROM org_timezones WHERE org = ?1 ORDER BY effective_from")
        .map_err(sql_err)?;
    let rows = s
        .query_map([org], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .map_err(sql_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (from, name) = row.map_err(sql_err)?;
        let tz = parse_timezone(&name)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("stored timezone {name}: {e}")))?;
        out.push((from, tz));
    }
    if out.is_empty() {
        out.push((i64::MIN, TimeZone::UTC));
    }
    Ok(out)
}

/// The civil day of a local hour (its start in Unix seconds), in the zone
/// in force at that instant, as ingestion chose it (writer.rs `zone_at`).
/// Only the hour holding a change itself may go either way.
fn hour_day(zones: &[(i64, TimeZone)], hour: i64) -> Day {
    let at = Timestamp::from_second(hour).unwrap_or(Timestamp::UNIX_EPOCH);
    let i = zones.partition_point(|(from, _)| *from <= at.as_microsecond());
    local_day(at, &zones[i.saturating_sub(1)].1)
}

/// Internal id → external name, looked up once per id per query.
#[derive(Default)]
pub(super) struct Names {
    looked_up: foldhash::HashMap<(u8, i64), Option<String>>,
    /// The organisation's people, when read at once.
    people: Option<super::read_cache::People>,
}

impl Names {
    /// Names for `groups` groups of `q`: many people's are read at once.
    fn for_groups(c: &Connection, org: i64, q: &FigureQuery, groups: usize) -> Result<Names> {
        let mut names = Names::default();
        if q.group_by.contains(&Dim::User) && groups > 100 {
            names.prefetch_people(c, org)?;
        }
        Ok(names)
    }

    /// The organisation's members' ids, in one read instead of one per
    /// person (kept between reads of the same commits: read_cache.rs).
    fn prefetch_people(&mut self, c: &Connection, org: i64) -> Result<()> {
        let people = super::read_cache::people(org, || {
            let mut s = c
                .prepare_cached("SELECT u.id, u.ext_id FROM members m JOIN users u ON u.id = m.user WHERE m.org = ?1")
                .map_err(sql_err)?;
            let rows = s
                .query_map([org], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(sql_err)?;
            rows.collect::<rusqlite::Result<HashMap<i64, String>>>()
                .map_err(sql_err)
        })?;
        self.people = Some(people);
        Ok(())
    }

    pub(super) fn name(&mut self, c: &Connection, dim: Dim, id: i64) -> Result<Option<String>> {
        let slot = dim as u8;
        if dim == Dim::User {
            if let Some(n) = self.people.as_ref().and_then(|p| p.get(&id)) {
                return Ok(Some(n.clone()));
            }
        }
        if let Some(n) = self.looked_up.get(&(slot, id)) {
            return Ok(n.clone());
        }
        let sql = match dim {
            Dim::Day | Dim::Week | Dim::Hour | Dim::Month => {
                let name = match dim {
                    Dim::Hour => id.to_string(),
                    Dim::Month => spendlens_domain::time::Month(id as i32)
                        .first_day()
                        .to_string(),
                    _ => Day(id as i32).to_string(),
                };
                self.looked_up.insert((slot, id), Some(name.clone()));
                return Ok(Some(name));
            }
            _ if id == 0 && dim != Dim::User && dim != Dim::Model => return Ok(None),
            Dim::User => "SELECT ext_id FROM users WHERE id = ?1",
            Dim::Team => "SELECT ext_id FROM teams WHERE id = ?1",
            Dim::Department => "SELECT name FROM departments WHERE id = ?1",
            Dim::ApiKey => "SELECT ext_id FROM api_keys WHERE id = ?1",
            Dim::Model => "SELECT name FROM models WHERE id = ?1",
            Dim::Provider => "SELECT name FROM providers WHERE id = ?1",
        };
        let name: Option<String> = c
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .map_err(sql_err)?;
        self.looked_up.insert((slot, id), name.clone());
        Ok(name)
    }
}
