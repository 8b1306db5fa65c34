//! `Store::budget_check` in one round trip. An IDE asks it before every LLM
//! call, and while ingestion keeps PostgreSQL's cores busy each round trip
//! waits for a turn: with a transaction begun, the organisation entered,
//! its budgets and member read, then the spends (four trips), it took
//! 3.9–4.3 ms at p95 on `large` where one trip took 0.8–1.4.
//!
//! So the check is one simple-query message of two statements, which
//! PostgreSQL runs as one implicit transaction: the first enters the
//! organisation's scope (scope.rs), the second reads, as the scoped role,
//! the organisation, its budgets, the member and the daily spend rows of
//! every scope the check can cover (the organisation, the user, the key,
//! the member's team and department) since a day no budget period starts
//! before. The asks of the plan are then summed from those rows in memory.
//! An ask the rows cannot answer (another scope, an older day) is read
//! after, in a second trip (`budgets::spends_in`).
//!
//! The read is a statement each connection prepares once (`PREPARE`, on the
//! first check that finds it missing), run with its generic plan: planning
//! it took 1.1 ms (row security on eight tables) and running it 0.14, so
//! sent as text, or prepared and given PostgreSQL's first five custom
//! plans on each of a pool's connections, the check was slower when idle
//! than the five trips it replaced. A simple query takes no parameters: the
//! external ids go in as literals (`literal`), which is exact because the
//! connection always has `standard_conforming_strings` on (mod.rs), so a
//! quote doubled is the only escape.

use super::budgets::{parse_all, spends_in};
use super::db_err;
use super::read::{member_from, org_from, MemberTuple, OrgTuple, MEMBER_SQL, ORG_COLS};
use super::scope::ENTER;
use crate::contract::{Result, StoreError};
use crate::model::*;
use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{Either, PgConnection, Row};

/// Days before today (UTC) the spend rows start: a month, the longest
/// budget period, begins at most 31 local days before today, and a local
/// day is within one of the UTC day.
const WINDOW_DAYS: i64 = 33;

pub async fn check(
    c: &mut PgConnection,
    org: &str,
    user: Option<&str>,
    key: Option<&str>,
    plan: SpendPlan,
) -> Result<(BudgetContext, Vec<i128>)> {
    let from = jiff::Timestamp::now().as_second().div_euclid(86_400) - WINDOW_DAYS;
    let message = format!(
        "SELECT {ENTER}, set_config('plan_cache_mode', 'force_generic_plan', true)
         FROM orgs WHERE ext_id = {};
         EXECUTE {PREPARED}({}, {}, {from})",
        literal(Some(org))?,
        literal(user)?,
        literal(key)?
    );
    // The rows of the read: each statement's results end with its
    // command's completion (`Either::Left`). A connection that has not
    // prepared the read yet fails it, its message rolled back whole, and
    // sends it again behind the PREPARE.
    let mut prepare: Option<String> = None;
    let mut rows: Vec<PgRow> = loop {
        let sent = match &prepare {
            Some(p) => format!("{p}; {message}"),
            None => message.clone(),
        };
        let wanted = if prepare.is_some() { 2 } else { 1 };
        let (mut done, mut rows, mut failed) = (0, Vec::new(), None);
        let mut results = sqlx::raw_sql(&sent).fetch_many(&mut *c);
        loop {
            match results.try_next().await {
                Ok(Some(Either::Left(_))) => done += 1,
                Ok(Some(Either::Right(row))) if done == wanted => rows.push(row),
                Ok(Some(Either::Right(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        drop(results);
        match failed {
            None => break rows,
            Some(e) if prepare.is_none() && is_unprepared(&e) => {
                prepare = Some(format!(
                    "PREPARE {PREPARED}(text, text, bigint) AS {}",
                    read_sql()
                ));
            }
            Some(e) => return Err(db_err(e)),
        }
    };
    let row = rows
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("organisation {org}")))?;
    let (ctx, days) = parse(&row)?;
    let asks = plan(&ctx);
    let scopes = Prefetched {
        user,
        key,
        team: ctx.member.as_ref().and_then(|m| m.team_id.as_deref()),
        department: ctx.member.as_ref().and_then(|m| m.department.as_deref()),
        from,
    };
    let mut spent: Vec<i128> = Vec::with_capacity(asks.len());
    let mut later: Vec<(usize, SpendAsk)> = Vec::new();
    for (i, ask) in asks.into_iter().enumerate() {
        match scopes.kind_of(&ask) {
            Some(kind) => spent.push(
                days.iter()
                    .filter(|(k, day, _)| {
                        *k == kind
                            && *day >= i64::from(ask.2.from.0)
                            && *day < i64::from(ask.2.to.0)
                    })
                    .map(|(.., cost)| i128::from(*cost))
                    .sum(),
            ),
            None => {
                spent.push(0);
                later.push((i, ask));
            }
        }
    }
    if !later.is_empty() {
        let asks: Vec<SpendAsk> = later.iter().map(|(_, a)| a.clone()).collect();
        let mut tx = sqlx::Connection::begin(&mut *c).await.map_err(db_err)?;
        let id = super::scope::enter_org(&mut tx, org).await?;
        let read = spends_in(&mut tx, id, &asks).await?;
        for ((i, _), s) in later.iter().zip(read) {
            spent[*i] = s;
        }
    }
    Ok((ctx, spent))
}

/// What the one trip read spend rows for, by `spend_days.kind`.
struct Prefetched<'a> {
    user: Option<&'a str>,
    key: Option<&'a str>,
    team: Option<&'a str>,
    department: Option<&'a str>,
    from: i64,
}

impl Prefetched<'_> {
    /// The kind of the rows that answer `ask`, if the trip read them.
    fn kind_of(&self, (scope, ext, period): &SpendAsk) -> Option<i16> {
        if i64::from(period.from.0) < self.from {
            return None;
        }
        let same = |read: Option<&str>| ext.is_some() && ext.as_deref() == read;
        match scope {
            BudgetScope::Org => Some(0),
            BudgetScope::User if same(self.user) => Some(1),
            BudgetScope::Team if same(self.team) => Some(2),
            BudgetScope::Department if same(self.department) => Some(3),
            BudgetScope::ApiKey if same(self.key) => Some(4),
            _ => None,
        }
    }
}

/// The name of the prepared read on each connection.
const PREPARED: &str = "spendlens_budget_check";

/// Whether the connection has not prepared the read yet (SQLSTATE 26000).
fn is_unprepared(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("26000"))
}

/// The read, as the organisation's scope entered before it: $1 the user,
/// $2 the key (external ids), $3 the first day of the spend rows.
fn read_sql() -> String {
    let org_cols: Vec<String> = ORG_COLS
        .split(',')
        .map(|c| format!("o.{}", c.trim()))
        .collect();
    let member = MEMBER_SQL.replace("$1", "o.id");
    // The kinds are those of spend_days (ingestion writes them; budgets.rs
    // reads them by the same numbers).
    format!(
        "SELECT {}, ARRAY(SELECT body FROM budgets WHERE org = o.id ORDER BY id),
                mm.*, sp.kinds, sp.days, sp.costs
         FROM orgs o
         LEFT JOIN LATERAL ({member} AND u.ext_id = $1) mm ON true
         LEFT JOIN LATERAL (
             SELECT array_agg(s.kind) AS kinds, array_agg(s.day) AS days,
                    array_agg(s.total_cost) AS costs
             FROM (VALUES
                 (0::smallint, 0::bigint),
                 (1, (SELECT u.id FROM users u WHERE u.ext_id = $1
                      AND EXISTS (SELECT 1 FROM members m WHERE m.org = o.id AND m.usr = u.id)
                      LIMIT 1)),
                 (2, (SELECT t.id FROM teams t WHERE t.org = o.id AND t.ext_id = mm.team_ext LIMIT 1)),
                 (3, (SELECT d.id FROM departments d WHERE d.org = o.id AND d.name = mm.department LIMIT 1)),
                 (4, (SELECT k.id FROM api_keys k WHERE k.org = o.id AND k.ext_id = $2 LIMIT 1))
             ) AS w(kind, id)
             JOIN spend_days s ON s.org = o.id AND s.kind = w.kind AND s.id = w.id AND s.day >= $3
         ) sp ON true
         WHERE o.id = NULLIF(current_setting('spendlens.org', true), '')::bigint",
        org_cols.join(", ")
    )
}

/// `s` as an SQL string literal (NULL for None). With
/// standard_conforming_strings on, a backslash is an ordinary character and
/// a doubled quote the only escape; PostgreSQL's text cannot hold NUL.
fn literal(s: Option<&str>) -> Result<String> {
    match s {
        None => Ok("NULL".into()),
        Some(s) if s.contains('\0') => Err(StoreError::Invalid(
            "an identifier cannot contain the NUL character".into(),
        )),
        Some(s) => Ok(format!("'{}'", s.replace('\'', "''"))),
    }
}

/// Spend rows as (kind, day, total cost).
type Days = Vec<(i16, i64, i64)>;

fn parse(row: &PgRow) -> Result<(BudgetContext, Days)> {
    let org_width = ORG_COLS.split(',').count();
    let cols: OrgTuple = sqlx::FromRow::from_row(row).map_err(db_err)?;
    let budgets = parse_all(row.try_get(org_width).map_err(db_err)?)?;
    // The member's six columns follow the budgets; all null when there is none.
    let m = org_width + 1;
    let member = match row.try_get::<Option<String>, _>(m).map_err(db_err)? {
        None => None,
        Some(user_id) => {
            let cols: MemberTuple = (
                user_id,
                row.try_get(m + 1).map_err(db_err)?,
                row.try_get(m + 2).map_err(db_err)?,
                row.try_get(m + 3).map_err(db_err)?,
                row.try_get(m + 4).map_err(db_err)?,
                row.try_get(m + 5).map_err(db_err)?,
            );
            Some(member_from(cols))
        }
    };
    let s = m + 6;
    let kinds: Option<Vec<i16>> = row.try_get(s).map_err(db_err)?;
    let days: Option<Vec<i64>> = row.try_get(s + 1).map_err(db_err)?;
    let costs: Option<Vec<i64>> = row.try_get(s + 2).map_err(db_err)?;
    let rows = kinds
        .unwrap_or_default()
        .into_iter()
        .zip(days.unwrap_or_default())
        .zip(costs.unwrap_or_default())
        .map(|((k, d), c)| (k, d, c))
        .collect();
    let ctx = BudgetContext {
        org: org_from(cols)?,
        budgets,
        member,
    };
    Ok((ctx, rows))
}

#[cfg(test)]
mod tests {
    use super::literal;

    #[test]
    fn literals_double_quotes_and_refuse_nul() {
        assert_eq!(literal(None).unwrap(), "NULL");
        assert_eq!(literal(Some("o'brien")).unwrap(), "'o''brien'");
        assert_eq!(literal(Some(r"a\'b")).unwrap(), r"'a\''b'");
        assert!(literal(Some("a\0b")).is_err());
    }
}
