//! `Store::budget_check` in one round trip. An IDE asks it before every LLM
//! call, and while ingestion keeps PostgreSQL's cores busy each round trip
//! waits for a turn: with a transaction begun, the organisation entered,
//! its budgets and member read, then the spends (four trips), it took
//! 3.9–4.3 ms at p95 on `large` where one trip took 0.8–1.4.
//!
//! So the check is one call of the function `spendlens_budget_check`
//! (migration 0013), in a statement of its own: it enters the
//! organisation's scope as scope.rs does, then reads, as the scoped role,
//! the organisation, its budgets, the member and the daily spend rows of
//! every scope the check can cover (the organisation, the user, the key,
//! the member's team and department) since a day no budget period starts
//! before. The asks of the plan are then summed from those rows in memory.
//! An ask the rows cannot answer (another scope, an older day) is read
//! after, in a second trip (`budgets::spends`) and so a later snapshot;
//! the server's plan never makes one (budget periods start within a month).
//!
//! A function rather than the statements sent as text (PostgreSQL planned
//! them on every call: 1.1 ms, for a read of 0.14) or prepared with
//! `PREPARE` (session state a pooler in transaction mode loses): its plan is
//! made once per connection and kept, with nothing to set up first.

use super::budgets::{parse_all, spends};
use super::db_err;
use super::read::{member_from, org_from, MemberTuple, OrgTuple, ORG_COLS};
use crate::contract::{Result, StoreError};
use crate::model::*;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

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
    let row = sqlx::query("SELECT * FROM spendlens_budget_check($1, $2, $3, $4)")
        .bind(org)
        .bind(user)
        .bind(key)
        .bind(from)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_err)?
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
        // In a transaction of its own, for the scope `spends` enters.
        let mut tx = sqlx::Connection::begin(&mut *c).await.map_err(db_err)?;
        let read = spends(&mut tx, org, &asks).await?;
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
