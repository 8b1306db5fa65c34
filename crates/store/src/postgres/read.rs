//! Reads: organisations and their structure, tokens, audit, quarantine, and
//! the figures of API.md §3 from the cube.
use crate::contract::Result;
use crate::model::*;
use crate::packs::groups::Order;
use crate::query::{FigureQuery, GroupRow, IdGroups, IdRows};
use sqlx::PgConnection;
use std::collections::HashMap;

// --- Organisations, structure, tokens, audit, quarantine -------------------
//
// The `*_of` and `*_by_*` helpers read without entering an organisation's
// scope, so the write transactions of admin.rs and structure.rs can answer
// with what they just wrote (a write transaction must not switch role).

pub(super) type OrgTuple = (
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

pub(super) const ORG_COLS: &str =
    "ext_id, name, timezone, markup_ppb, webhook_url, retention_days, created_at, last_event_at";

pub(super) fn org_from(r: OrgTuple) -> Result<Org> {
    let (id, name, timezone, markup, webhook_url, retention, created_at, last_event_at) = r;
    let retention_days = u32::try_from(retention).map_err(|_| {
        crate::contract::StoreError::Other(anyhow::anyhow!(
            "organisation {id}: stored retention_days {retention} out of range"
        ))
    })?;
    Ok(Org {
        id,
        name,
        timezone,
        markup: spendlens_domain::Markup(markup),
        webhook_url,
        retention_days,
        created_at: super::ts(created_at),
        last_event_at: last_event_at.map(super::ts),
    })
}

/// An organisation by external id, as the connecting role.
pub(super) async fn org_by_ext(c: &mut PgConnection, org: &str) -> Result<Org> {
    let row: Option<OrgTuple> =
        sqlx::query_as(&format!("SELECT {ORG_COLS} FROM orgs WHERE ext_id = $1"))
            .bind(org)
            .fetch_optional(&mut *c)
            .await
            .map_err(super::db_err)?;
    let row =
        row.ok_or_else(|| crate::contract::StoreError::NotFound(format!("organisation {org}")))?;
    org_from(row)
}

/// The live teams of organisation `org` (internal id).
pub(super) async fn teams_of(c: &mut PgConnection, org: i64) -> Result<Vec<Team>> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT ext_id, name, department FROM teams WHERE org = $1 AND NOT deleted ORDER BY ext_id",
    )
    .bind(org)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    Ok(rows
        .into_iter()
        .map(|(team_id, name, department)| Team {
            team_id,
            name,
            department,
        })
        .collect())
}

type KeyTuple = (String, String, Option<String>, bool, i64, Option<i64>);

/// The live provider keys of organisation `org` (internal id).
pub(super) async fn api_keys_of(c: &mut PgConnection, org: i64) -> Result<Vec<ApiKey>> {
    let rows: Vec<KeyTuple> = sqlx::query_as(
        "SELECT ext_id, name, provider, registered, created_at, last_used_at FROM api_keys
         WHERE org = $1 AND NOT deleted ORDER BY ext_id",
    )
    .bind(org)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    Ok(rows
        .into_iter()
        .map(
            |(api_key_id, name, provider, registered, created_at, last_used_at)| ApiKey {
                api_key_id,
                name,
                provider,
                registered,
                created_at: super::ts(created_at),
                last_used_at: last_used_at.map(super::ts),
            },
        )
        .collect())
}

const MEMBER_SQL: &str = "SELECT u.ext_id, u.email, m.role, t.ext_id, m.department, m.added_by_admin
    FROM members m JOIN users u ON u.id = m.usr LEFT JOIN teams t ON t.id = m.team WHERE m.org = $1";

pub(super) type MemberTuple = (
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    bool,
);

pub(super) fn member_from(r: MemberTuple) -> Member {
    let (user_id, email, role, team_id, department, added_by_admin) = r;
    Member {
        user_id,
        email,
        role: Role::parse(&role).unwrap_or(Role::Member),
        team_id,
        department,
        added_by_admin,
    }
}

const TOKEN_SQL: &str =
    "SELECT t.id, t.role, o.ext_id, t.team_ext, t.user_ext, t.name, t.expires_at, t.created_at,
    t.last_used_at, t.revoked_at FROM tokens t LEFT JOIN orgs o ON o.id = t.org";

type TokenTuple = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn token_from(r: TokenTuple) -> TokenRecord {
    let (id, role, org, team_id, user_id, name, expires_at, created_at, last_used_at, revoked_at) =
        r;
    TokenRecord {
        id,
        role: Role::parse(&role).unwrap_or(Role::Ingest),
        organization_id: org,
        team_id,
        user_id,
        name,
        expires_at: expires_at.map(super::ts),
        created_at: super::ts(created_at),
        last_used_at: last_used_at.map(super::ts),
        revoked_at: revoked_at.map(super::ts),
    }
}

pub(super) async fn token_by_id(c: &mut PgConnection, id: &str) -> Result<TokenRecord> {
    let row: Option<TokenTuple> = sqlx::query_as(&format!("{TOKEN_SQL} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(super::db_err)?;
    row.map(token_from)
        .ok_or_else(|| crate::contract::StoreError::NotFound(format!("token {id}")))
}

pub async fn get_org(c: &mut PgConnection, org: &str) -> Result<Org> {
    super::scope::enter_org(c, org).await?;
    org_by_ext(c, org).await
}
pub async fn list_orgs(c: &mut PgConnection) -> Result<Vec<Org>> {
    let rows: Vec<OrgTuple> =
        sqlx::query_as(&format!("SELECT {ORG_COLS} FROM orgs ORDER BY ext_id"))
            .fetch_all(&mut *c)
            .await
            .map_err(super::db_err)?;
    rows.into_iter().map(org_from).collect()
}
pub async fn list_teams(c: &mut PgConnection, org: &str) -> Result<Vec<Team>> {
    let id = super::scope::enter_org(c, org).await?;
    teams_of(c, id).await
}
pub async fn get_member(c: &mut PgConnection, org: &str, user: &str) -> Result<Member> {
    let id = super::scope::enter_org(c, org).await?;
    let row: Option<MemberTuple> = sqlx::query_as(&format!("{MEMBER_SQL} AND u.ext_id = $2"))
        .bind(id)
        .bind(user)
        .fetch_optional(&mut *c)
        .await
        .map_err(super::db_err)?;
    row.map(member_from)
        .ok_or_else(|| crate::contract::StoreError::NotFound(format!("member {user}")))
}
pub async fn get_members(c: &mut PgConnection, org: &str, users: &[String]) -> Result<Vec<Member>> {
    let id = super::scope::enter_org(c, org).await?;
    let rows: Vec<MemberTuple> = sqlx::query_as(&format!(
        "{MEMBER_SQL} AND u.ext_id IN (SELECT UNNEST($2::text[]))"
    ))
    .bind(id)
    .bind(users)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    Ok(rows.into_iter().map(member_from).collect())
}
pub async fn list_members(c: &mut PgConnection, org: &str) -> Result<Vec<Member>> {
    let id = super::scope::enter_org(c, org).await?;
    let rows: Vec<MemberTuple> = sqlx::query_as(&format!("{MEMBER_SQL} ORDER BY u.ext_id"))
        .bind(id)
        .fetch_all(&mut *c)
        .await
        .map_err(super::db_err)?;
    Ok(rows.into_iter().map(member_from).collect())
}
pub async fn list_api_keys(c: &mut PgConnection, org: &str) -> Result<Vec<ApiKey>> {
    let id = super::scope::enter_org(c, org).await?;
    api_keys_of(c, id).await
}
pub async fn find_token(c: &mut PgConnection, secret_hash: &str) -> Result<Option<TokenRecord>> {
    let row: Option<TokenTuple> = sqlx::query_as(&format!("{TOKEN_SQL} WHERE t.secret_hash = $1"))
        .bind(secret_hash)
        .fetch_optional(&mut *c)
        .await
        .map_err(super::db_err)?;
    Ok(row.map(token_from))
}
pub async fn list_tokens(c: &mut PgConnection, org: Option<&str>) -> Result<Vec<TokenRecord>> {
    let rows: Vec<TokenTuple> = sqlx::query_as(&format!(
        "{TOKEN_SQL} WHERE $1::text IS NULL OR o.ext_id = $1 ORDER BY t.created_at"
    ))
    .bind(org)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    Ok(rows.into_iter().map(token_from).collect())
}
pub async fn audit_log(
    c: &mut PgConnection,
    org: Option<&str>,
    limit: usize,
) -> Result<Vec<AuditEntry>> {
    let rows: Vec<(i64, String, Option<String>, String, String, String)> = sqlx::query_as(
        "SELECT a.at, a.actor, o.ext_id, a.action, a.target, a.detail FROM audit a LEFT JOIN orgs o ON o.id = a.org
         WHERE $1::text IS NULL OR o.ext_id = $1 ORDER BY a.id DESC LIMIT $2",
    )
    .bind(org)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    Ok(rows
        .into_iter()
        .map(|(at, actor, org, action, target, detail)| AuditEntry {
            at: super::ts(at),
            actor,
            organization_id: org,
            action,
            target,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}
pub async fn quarantined(c: &mut PgConnection) -> Result<Vec<QuarantinedEvent>> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT org_hint, event_id, user_ext, reason, received_at FROM quarantine ORDER BY id",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    Ok(rows
        .into_iter()
        .map(
            |(hint, event_id, user_id, reason, received_at)| QuarantinedEvent {
                organization_hint: (!hint.is_empty()).then_some(hint),
                event_id,
                user_id,
                reason: if reason == "ambiguous_organization" {
                    spendlens_domain::ErrorCode::AmbiguousOrganization
                } else {
                    spendlens_domain::ErrorCode::UnknownOrganization
                },
                received_at: super::ts(received_at),
            },
        )
        .collect())
}
pub async fn events(c: &mut PgConnection, org: &str) -> Result<Vec<StoredEvent>> {
    let id = super::scope::enter_org(c, org).await?;
    let rows = sqlx::query(&format!(
        "{EVENT_SELECT} WHERE e.org = $1 ORDER BY e.occurred_at, e.event_id COLLATE \"C\""
    ))
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    rows.iter()
        .map(|r| event_row(r, org))
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(super::db_err)
}

/// Unfiltered totals of any organisations (the platform endpoints), from
/// `org_days` and `org_blocks` (one read per distinct range), as `figures`
/// answers each. A platform-wide read, like `list_orgs`: it runs as the
/// connecting role, not one organisation's.
pub async fn totals_many(c: &mut PgConnection, qs: &[FigureQuery]) -> Result<Vec<Vec<GroupRow>>> {
    let exts: Vec<&str> = qs.iter().map(|q| q.org.as_str()).collect();
    let ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT ext_id, id FROM orgs WHERE ext_id IN (SELECT UNNEST($1::text[]))",
    )
    .bind(&exts)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?
    .into_iter()
    .collect();
    let mut asks = Vec::with_capacity(qs.len());
    for q in qs {
        let org = ids.get(&q.org).ok_or_else(|| {
            crate::contract::StoreError::NotFound(format!("organisation {}", q.org))
        })?;
        asks.push((*org, q.period.from.0, q.period.to.0));
    }
    Ok(super::org_days::totals_many(c, &asks)
        .await?
        .into_iter()
        .map(|f| {
            f.map(|figures| GroupRow {
                key: vec![],
                figures,
            })
            .into_iter()
            .collect()
        })
        .collect())
}

/// Figures from the cube: whole months inside the period from month rows,
/// the rest from day rows, unless days or weeks are grouped. Unfiltered
/// totals and daily series come from org_days, and questions about one
/// dimension from dim_days, people from their running totals (person_cum).
pub async fn figures(
    c: &mut PgConnection,
    q: &FigureQuery,
    memory: &Memory,
) -> Result<Vec<GroupRow>> {
    let rows = match found(c, q, memory, Order::ByKey).await? {
        Found::Named(rows) => return Ok(rows),
        Found::Keyed(rows) => rows,
    };
    let names = names_of(c, q, &rows, memory).await?;
    Ok(rows
        .iter()
        .map(|(k, figures)| GroupRow {
            key: q
                .group_by
                .iter()
                .zip(k)
                .map(|(dim, id)| names.name(*dim, *id))
                .collect(),
            figures: *figures,
        })
        .collect())
}

/// `figures`' groups by id, in no order, each id named once.
pub async fn figure_ids(
    c: &mut PgConnection,
    q: &FigureQuery,
    memory: &Memory,
) -> Result<IdGroups> {
    let n = q.group_by.len();
    let rows = match found(c, q, memory, Order::Any).await? {
        Found::Named(rows) => return Ok(IdGroups::from_named(rows, n)),
        Found::Keyed(rows) => rows,
    };
    let names = names_of(c, q, &rows, memory).await?;
    IdGroups::new(rows, |at, id| {
        Ok::<_, crate::contract::StoreError>(names.name(q.group_by[at], id))
    })
}

/// The names of every id the groups hold, each distinct id looked up once.
async fn names_of<'m>(
    c: &mut PgConnection,
    q: &FigureQuery,
    rows: &IdRows,
    memory: &'m Memory,
) -> Result<Names<'m>> {
    let mut names = Names::with(&memory.user_names);
    for (i, dim) in q.group_by.iter().enumerate() {
        let mut ids: Vec<i64> = rows.iter().map(|(k, _)| k[i]).collect();
        ids.sort_unstable();
        ids.dedup();
        names.load(c, *dim, ids).await?;
    }
    Ok(names)
}

/// A question's groups: by internal id where the answer was summed from
/// aggregates in memory, else named by SQL.
enum Found {
    Named(Vec<GroupRow>),
    Keyed(IdRows),
}

async fn found(
    c: &mut PgConnection,
    q: &FigureQuery,
    memory: &Memory,
    order: Order,
) -> Result<Found> {
    let user_names = &memory.user_names;
    use crate::query::{Dim, Figures};
    use spendlens_domain::time::Day;
    use sqlx::Row;
    let org = super::scope::enter_org(c, &q.org).await?;
    // Only integers (internal ids, days, seconds) are written into the SQL.
    let Some(fixed) = filter_ids(c, org, &q.filter).await? else {
        return Ok(Found::Named(Vec::new()));
    };
    let mut wheres = vec![format!("org = {org}")];
    wheres.extend(
        fixed
            .iter()
            .map(|(dim, id)| format!("{} = {id}", cube_column(*dim))),
    );
    let (from, to) = (q.period.from.0, q.period.to.0);
    // Unfiltered totals and daily rows: one row per day with its people's bitmap.
    let unfiltered = wheres.len() == 1;
    if unfiltered && (q.group_by.is_empty() || q.group_by == [Dim::Day]) {
        let by_day = !q.group_by.is_empty();
        let days = super::org_days::figures(c, org, from, to, by_day).await?;
        let mut out = IdRows::with_capacity(usize::from(by_day), days.len());
        for (day, figures) in days {
            out.push(&[i64::from(day)], figures);
        }
        return Ok(Found::Keyed(out));
    }
    // People ranked, or one person's totals: two slices of running totals;
    // else one dimension (grouped, filtered or both): its own day rows.
    let (from_day, to_day) = (i64::from(from), i64::from(to));
    let keyed = if q.group_by == [Dim::User] && fixed.is_empty() {
        let people = super::person_cum::people(c, &memory.slices, org, from_day, to_day).await?;
        Some(people.into_iter().map(|(id, f)| (vec![id], f)).collect())
    } else if let ([], [(Dim::User, id)]) = (&q.group_by[..], &fixed[..]) {
        let one = super::person_cum::one_person(c, org, *id, from_day, to_day).await?;
        Some(one.into_iter().map(|(_, f)| (vec![], f)).collect())
    } else {
        super::dim_days::figures(c, org, q, &fixed).await?
    };
    // Else the cube's day and month buckets: packed ones decoded here, the
    // rest's cells read (postgres/packs.rs), unless by the hour (never
    // packed) or about one person (whose cells an index finds).
    let keyed = match keyed.map(|rows| IdRows::from_keyed(q.group_by.len(), rows)) {
        None if !q.group_by.contains(&Dim::Hour) && !fixed.iter().any(|(d, _)| *d == Dim::User) => {
            Some(packed(c, org, q, &wheres, &fixed, &memory.projections, order).await?)
        }
        other => other,
    };
    if let Some(rows) = keyed {
        return Ok(Found::Keyed(rows));
    }
    let by_hour = q.group_by.contains(&Dim::Hour);
    let mut hour_zones: Option<Vec<(i64, jiff::tz::TimeZone)>> = None;
    let range = if by_hour {
        // Hours of the period's days, each day in the zone in force when
        // it was lived: with one zone, the instants between the two day
        // starts; after a timezone change, the widest such range, and the
        // rows outside the period's days are dropped below.
        let z = zones(c, org).await?;
        let starts = |d: Day| z.iter().map(move |(_, tz)| d.start_in(tz).as_second());
        let s0 = starts(Day(from)).min().unwrap_or(0);
        let s1 = starts(Day(to)).max().unwrap_or(0);
        if z.len() > 1 {
            hour_zones = Some(z);
        }
        format!("(grain = 0 AND bucket >= {s0} AND bucket < {s1})")
    } else {
        format!(
            "({})",
            super::packs::in_parts(&crate::packs::parts(q.period, &q.group_by))
        )
    };
    wheres.push(range);
    let keys: Vec<&str> = q.group_by.iter().map(|d| cube_column(*d)).collect();
    let select_keys = keys.iter().map(|k| format!("{k}, ")).collect::<String>();
    let group = if keys.is_empty() {
        String::new()
    } else {
        // The same explicit order as the SQLite backend's (group keys as
        // asked), so both answer row for row alike.
        format!("GROUP BY {0} ORDER BY {0}", keys.join(", "))
    };
    // Grouped by person, each group is one person: counting them distinct
    // would sort every group's cells for nothing (a fifth of the people list).
    let people = if q.group_by.contains(&Dim::User) || fixed.iter().any(|(d, _)| *d == Dim::User) {
        "1::bigint"
    } else {
        "count(DISTINCT usr)"
    };
    let sql = format!(
        "SELECT {select_keys} SUM(total_cost)::bigint, SUM(actual_cost)::bigint, SUM(messages)::bigint,
         SUM(tokens_in)::bigint, SUM(tokens_out)::bigint, SUM(cached_in)::bigint,
         SUM(cache_write_in)::bigint, SUM(unpriced)::bigint, SUM(convs)::bigint, {people}
         FROM cube WHERE {} {group}",
        wheres.join(" AND ")
    );
    // The text changes with every organisation and period: not worth a
    // prepared statement in the connection's cache.
    let rows = sqlx::query(&sql)
        .persistent(false)
        .fetch_all(&mut *c)
        .await
        .map_err(super::db_err)?;
    let n = keys.len();
    let mut names = Names::with(user_names);
    for (i, dim) in q.group_by.iter().enumerate() {
        let ids = rows
            .iter()
            .map(|r| r.try_get::<i64, _>(i))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(super::db_err)?;
        names.load(c, *dim, ids).await?;
    }
    let hour_at = q.group_by.iter().position(|d| *d == Dim::Hour);
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let messages: Option<i64> = r.try_get(n + 2).map_err(super::db_err)?;
        if messages.unwrap_or(0) == 0 && n == 0 {
            break;
        }
        if let (Some(z), Some(i)) = (&hour_zones, hour_at) {
            let hour: i64 = r.try_get(i).map_err(super::db_err)?;
            if !q.period.contains(hour_day(z, hour)) {
                continue;
            }
        }
        let mut key = Vec::with_capacity(n);
        for (i, dim) in q.group_by.iter().enumerate() {
            let id: i64 = r.try_get(i).map_err(super::db_err)?;
            key.push(names.name(*dim, id));
        }
        let people: Option<i64> = r.try_get(n + 9).map_err(super::db_err)?;
        out.push(GroupRow {
            key,
            figures: Figures {
                active_users: people.unwrap_or(0) as u64,
                ..Figures::from_sums(super::dim_days::sums_at(r, n)?)
            },
        });
    }
    Ok(Found::Named(out))
}

/// A question's groups from the cube's packs and unpacked cells.
async fn packed(
    c: &mut PgConnection,
    org: i64,
    q: &FigureQuery,
    wheres: &[String],
    fixed: &[(crate::query::Dim, i64)],
    kept: &std::sync::Arc<crate::packs::projections::Projections>,
    order: Order,
) -> Result<IdRows> {
    let n = q.group_by.len();
    crate::packs::groups::check_width(n)?;
    let parts = crate::packs::parts(q.period, &q.group_by);
    if parts.is_empty() {
        return Ok(IdRows::with_capacity(n, 0));
    }
    let wanted = fixed
        .iter()
        .filter_map(|(d, id)| Some((crate::packs::pack_column(*d)?, *id)))
        .collect();
    let cell_where = wheres.join(" AND ");
    let groups =
        super::packs::groups_of(c, org, &q.group_by, &parts, &cell_where, wanted, kept).await?;
    Ok(groups.finish(n, order, |_, sums| n > 0 || sums[2] != 0))
}

// --- Event detail and figures ------------------------------------------------
//
// Event ids and other text are ordered `COLLATE "C"`, byte by byte as SQLite
// does, whatever the database's collation.

/// The detail columns every event read selects, in the order `event_row` reads them.
pub(super) const EVENT_SELECT: &str =
    "SELECT e.event_id, e.occurred_at, e.day, u.ext_id, t.ext_id, d.name, k.ext_id, p.name, m.name, cv.ext_id,
     e.tokens_in, e.tokens_out, e.cached_in, e.cache_write_in, e.total_cost, e.actual_cost, e.cost_flags
     FROM events e JOIN users u ON u.id = e.usr LEFT JOIN teams t ON t.id = e.team
     LEFT JOIN departments d ON d.id = e.dept LEFT JOIN api_keys k ON k.id = e.key
     LEFT JOIN providers p ON p.id = e.provider JOIN models m ON m.id = e.model
     JOIN conversations cv ON cv.org = e.org AND cv.id = e.conv";

pub(super) fn event_row(
    r: &sqlx::postgres::PgRow,
    org: &str,
) -> std::result::Result<StoredEvent, sqlx::Error> {
    use sqlx::Row;
    let flags: i64 = r.try_get(16)?;
    let day: i64 = r.try_get(2)?;
    Ok(StoredEvent {
        organization_id: org.to_owned(),
        event_id: r.try_get(0)?,
        occurred_at: super::ts(r.try_get(1)?),
        day: day as i32,
        user_id: r.try_get(3)?,
        team_id: r.try_get(4)?,
        department: r.try_get(5)?,
        api_key_id: r.try_get(6)?,
        provider: r.try_get(7)?,
        model: r.try_get(8)?,
        conversation_id: r.try_get(9)?,
        tokens_in: r.try_get::<i64, _>(10)? as u64,
        tokens_out: r.try_get::<i64, _>(11)? as u64,
        cached_tokens_in: r.try_get::<i64, _>(12)? as u64,
        cache_write_tokens_in: r.try_get::<i64, _>(13)? as u64,
        total_cost: r.try_get(14)?,
        actual_api_cost: r.try_get(15)?,
        unpriced: flags & crate::aggregate::UNPRICED != 0,
    })
}

/// The internal id each filtered dimension of `f` names (0 for "none"), or
/// None when one names nothing (so the filter matches no row). The cube and
/// the events table share the columns `cube_column` names.
pub(super) async fn filter_ids(
    c: &mut PgConnection,
    org: i64,
    f: &crate::query::Filter,
) -> Result<Option<Vec<(crate::query::Dim, i64)>>> {
    let mut fixed = Vec::new();
    for (dim, val) in f.by_dim() {
        if let Some(v) = val {
            match filter_id(c, org, dim, v).await? {
                Some(id) => fixed.push((dim, id)),
                None => return Ok(None),
            }
        }
    }
    Ok(Some(fixed))
}

/// Internal id of a filter value; `Ok(None)` when it names nothing (so the
/// filter matches no row).
async fn filter_id(
    c: &mut PgConnection,
    org: i64,
    dim: crate::query::Dim,
    value: &Option<String>,
) -> Result<Option<i64>> {
    use crate::query::Dim;
    let Some(v) = value else { return Ok(Some(0)) };
    // $1 the value, $2 the organisation for the dimensions it owns.
    let (sql, of_org) = match dim {
        Dim::User => ("SELECT id FROM users WHERE ext_id = $1", false),
        Dim::Team => ("SELECT id FROM teams WHERE ext_id = $1 AND org = $2", true),
        Dim::Department => (
            "SELECT id FROM departments WHERE name = $1 AND org = $2",
            true,
        ),
        Dim::ApiKey => (
            "SELECT id FROM api_keys WHERE ext_id = $1 AND org = $2",
            true,
        ),
        Dim::Model => ("SELECT id FROM models WHERE name = $1", false),
        Dim::Provider => ("SELECT id FROM providers WHERE name = $1", false),
        Dim::Day | Dim::Week | Dim::Month | Dim::Hour => return Ok(None),
    };
    let mut q = sqlx::query_scalar(sql).bind(v.as_str());
    if of_org {
        q = q.bind(org);
    }
    q.fetch_optional(&mut *c).await.map_err(super::db_err)
}

/// The cube's expression of a dimension.
pub(super) fn cube_column(dim: crate::query::Dim) -> &'static str {
    use crate::query::Dim;
    match dim {
        Dim::User => "usr",
        Dim::Team => "team",
        Dim::Department => "dept",
        Dim::ApiKey => "key",
        Dim::Model => "model",
        Dim::Provider => "provider",
        // Civil day numbers: 1970-01-01 was a Thursday, so Monday = day - (day + 3) % 7.
        Dim::Day | Dim::Hour => "bucket",
        Dim::Week => "(bucket - (bucket + 3) % 7)",
        // Month rows hold months since 1970-01; a day row's is computed from its date.
        Dim::Month => concat!(
            "(CASE grain WHEN 2 THEN bucket ELSE ",
            bucket_month!(),
            " END)"
        ),
    }
}

/// The organisation's timezones, each from an instant on (µs), ascending.
async fn zones(c: &mut PgConnection, org: i64) -> Result<Vec<(i64, jiff::tz::TimeZone)>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT effective_from, timezone FROM org_timezones WHERE org = $1 ORDER BY effective_from",
    )
    .bind(org)
    .fetch_all(&mut *c)
    .await
    .map_err(super::db_err)?;
    let mut out = Vec::with_capacity(rows.len().max(1));
    for (from, name) in rows {
        let tz = spendlens_domain::time::parse_timezone(&name).map_err(|e| {
            crate::contract::StoreError::Other(anyhow::anyhow!("stored timezone {name}: {e}"))
        })?;
        out.push((from, tz));
    }
    if out.is_empty() {
        out.push((i64::MIN, jiff::tz::TimeZone::UTC));
    }
    Ok(out)
}

/// The civil day of a local hour (its start in Unix seconds), in the zone
/// in force at that instant, as ingestion chose it (sqlite/writer.rs `zone_at`).
/// Only the hour holding a change itself may go either way.
fn hour_day(zones: &[(i64, jiff::tz::TimeZone)], hour: i64) -> spendlens_domain::time::Day {
    let at = jiff::Timestamp::from_second(hour).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let i = zones.partition_point(|(from, _)| *from <= at.as_microsecond());
    spendlens_domain::time::local_day(at, &zones[i.saturating_sub(1)].1)
}

/// What a server keeps in memory between reads: people's names, and packs'
/// groups by pack number (packs/projections.rs).
#[derive(Default)]
pub struct Memory {
    pub user_names: UserNames,
    pub slices: super::person_cum::Slices,
    pub projections: std::sync::Arc<crate::packs::projections::Projections>,
}

/// People's external ids by internal id, kept for the store's life: a
/// person's row is never renamed (an erasure makes a new one), so a name once
/// read stays true. A people list of 5,000 looked them all up on every
/// request (4.5 ms of `large`'s 180-day list). Cleared when it grows past
/// `USER_NAMES_MAX`.
#[derive(Default)]
pub struct UserNames(std::sync::RwLock<std::collections::HashMap<i64, String>>);

const USER_NAMES_MAX: usize = 1_000_000;

/// Internal id → external name, each dimension's ids looked up in one query.
struct Names<'a> {
    found: std::collections::HashMap<(u8, i64), String>,
    users: &'a UserNames,
}

impl<'a> Names<'a> {
    fn with(users: &'a UserNames) -> Names<'a> {
        Names {
            found: Default::default(),
            users,
        }
    }

    async fn load(
        &mut self,
        c: &mut PgConnection,
        dim: crate::query::Dim,
        mut ids: Vec<i64>,
    ) -> Result<()> {
        use crate::query::Dim;
        if dim == Dim::User {
            let known = self.users.0.read().unwrap_or_else(|e| e.into_inner());
            ids.retain(|id| match known.get(id) {
                Some(name) => {
                    self.found.insert((dim as u8, *id), name.clone());
                    false
                }
                None => true,
            });
        }
        if ids.is_empty() {
            return Ok(());
        }
        let sql = match dim {
            Dim::Day | Dim::Week | Dim::Month | Dim::Hour => return Ok(()),
            Dim::User => "SELECT id, ext_id FROM users WHERE id IN (SELECT UNNEST($1::bigint[]))",
            Dim::Team => "SELECT id, ext_id FROM teams WHERE id IN (SELECT UNNEST($1::bigint[]))",
            Dim::Department => {
                "SELECT id, name FROM departments WHERE id IN (SELECT UNNEST($1::bigint[]))"
            }
            Dim::ApiKey => {
                "SELECT id, ext_id FROM api_keys WHERE id IN (SELECT UNNEST($1::bigint[]))"
            }
            Dim::Model => "SELECT id, name FROM models WHERE id IN (SELECT UNNEST($1::bigint[]))",
            Dim::Provider => {
                "SELECT id, name FROM providers WHERE id IN (SELECT UNNEST($1::bigint[]))"
            }
        };
        ids.sort_unstable();
        ids.dedup();
        // `id = ANY($1)` would do: but a prepared statement's generic plan
        // may scan the table and test each row against the whole array
        // (PostgreSQL hashes only constant arrays), which grows as
        // people × ids. A join on the unnested array probes the index.
        let found: Vec<(i64, String)> = sqlx::query_as(sql)
            .bind(ids)
            .fetch_all(&mut *c)
            .await
            .map_err(super::db_err)?;
        if dim == Dim::User {
            let mut known = self.users.0.write().unwrap_or_else(|e| e.into_inner());
            if known.len() + found.len() > USER_NAMES_MAX {
                known.clear();
            }
            known.extend(found.iter().cloned());
        }
        self.found
            .extend(found.into_iter().map(|(id, name)| ((dim as u8, id), name)));
        Ok(())
    }

    /// Id 0 is the null group of the dimensions that have one; an id that
    /// names nothing reads as the null group too.
    fn name(&self, dim: crate::query::Dim, id: i64) -> Option<String> {
        use crate::query::Dim;
        use spendlens_domain::time::{Day, Month};
        match dim {
            Dim::Day | Dim::Week => Some(Day(id as i32).to_string()),
            Dim::Hour => Some(id.to_string()),
            Dim::Month => Some(Month(id as i32).first_day().to_string()),
            _ if id == 0 && dim != Dim::User && dim != Dim::Model => None,
            _ => self.found.get(&(dim as u8, id)).cloned(),
        }
    }
}
