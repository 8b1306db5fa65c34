//! Budgets, alerts and webhook deliveries on SQLite. Rows keep the record as
//! JSON beside the columns their keys need; the alerts' unique key records each
//! crossing once.

use super::admin::audit;
use super::read::org_id;
use super::sql_err;
use super::writer::WriterState;
use crate::contract::{not_found_as_none, Result, StoreError};
use crate::model::{Alert, Budget, BudgetContext, Delivery, Webhook};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(e.into()))
}

fn rows<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(sql_err)?;
    let bodies = stmt
        .query_map(args, |r| r.get::<_, String>(0))
        .map_err(sql_err)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(sql_err)?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Other(e.into())))
        .collect()
}

pub fn put_budget(w: &mut WriterState, org: &str, budget: Budget, actor: &str) -> Result<Budget> {
    let id = org_id(&w.conn, org)?;
    w.conn
        .execute(
            "INSERT INTO budgets (org, id, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (org, id) DO UPDATE SET body = excluded.body",
            params![id, budget.id, to_json(&budget)?],
        )
        .map_err(sql_err)?;
    audit(
        w,
        actor,
        Some(id),
        "budget.put",
        &budget.id,
        serde_json::to_value(&budget).unwrap_or_default(),
    )?;
    Ok(budget)
}

pub fn list_budgets(c: &Connection, org: &str) -> Result<Vec<Budget>> {
    let id = org_id(c, org)?;
    rows(
        c,
        "SELECT body FROM budgets WHERE org = ?1 ORDER BY id",
        [id],
    )
}

pub fn orgs_with_budgets(c: &Connection) -> Result<Vec<String>> {
    let mut st = c
        .prepare_cached(
            "SELECT o.ext_id FROM orgs o WHERE EXISTS (SELECT 1 FROM budgets b WHERE b.org = o.id)
             ORDER BY o.ext_id",
        )
        .map_err(sql_err)?;
    let ids = st.query_map([], |r| r.get(0)).map_err(sql_err)?;
    ids.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

pub fn delete_budget(w: &mut WriterState, org: &str, budget: &str, actor: &str) -> Result<()> {
    let id = org_id(&w.conn, org)?;
    let n = w
        .conn
        .execute(
            "DELETE FROM budgets WHERE org = ?1 AND id = ?2",
            params![id, budget],
        )
        .map_err(sql_err)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("budget {budget}")));
    }
    audit(
        w,
        actor,
        Some(id),
        "budget.delete",
        budget,
        serde_json::json!({}),
    )
}

pub fn record_alert(w: &mut WriterState, org: &str, mut alert: Alert) -> Result<Option<i64>> {
    let id = org_id(&w.conn, org)?;
    let next: i64 = w
        .conn
        .query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM alerts WHERE org = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    alert.id = next;
    let inserted = w
        .conn
        .execute(
            "INSERT INTO alerts (org, id, budget_id, threshold_ppm, period_from, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (org, budget_id, threshold_ppm, period_from) DO NOTHING",
            params![
                id,
                next,
                alert.budget_id,
                alert.threshold_ppm,
                alert.period_from,
                to_json(&alert)?
            ],
        )
        .map_err(sql_err)?;
    Ok((inserted == 1).then_some(next))
}

pub fn list_alerts(c: &Connection, org: &str, limit: usize) -> Result<Vec<Alert>> {
    let id = org_id(c, org)?;
    rows(
        c,
        "SELECT body FROM alerts WHERE org = ?1 ORDER BY id DESC LIMIT ?2",
        params![id, limit as i64],
    )
}

pub fn record_delivery(w: &mut WriterState, org: &str, delivery: Delivery) -> Result<()> {
    let id = org_id(&w.conn, org)?;
    w.conn
        .execute(
            "INSERT INTO webhook_deliveries (org, seq, alert_id, body)
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM webhook_deliveries WHERE org = ?1), ?2, ?3)",
            params![id, delivery.alert_id, to_json(&delivery)?],
        )
        .map_err(sql_err)?;
    Ok(())
}

pub fn list_deliveries(c: &Connection, org: &str, limit: usize) -> Result<Vec<Delivery>> {
    let id = org_id(c, org)?;
    rows(
        c,
        "SELECT body FROM webhook_deliveries WHERE org = ?1 ORDER BY seq DESC LIMIT ?2",
        params![id, limit as i64],
    )
}

pub fn webhook(c: &Connection, org: &str) -> Result<Option<Webhook>> {
    let found: Option<(Option<String>, Option<String>)> = c
        .query_row(
            "SELECT webhook_url, webhook_secret FROM orgs WHERE ext_id = ?1",
            [org],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql_err)?;
    match found {
        None => Err(StoreError::NotFound(format!("organisation {org}"))),
        Some((Some(url), Some(secret))) => Ok(Some(Webhook { url, secret })),
        Some(_) => Ok(None),
    }
}

/// A scope's spend from `spend_days` (at most one row per day of the period).
pub fn spend(
    c: &Connection,
    org: &str,
    scope: crate::model::BudgetScope,
    scope_id: Option<&str>,
    period: spendlens_domain::time::Period,
) -> Result<i128> {
    use crate::model::BudgetScope::*;
    let org_row = org_id(c, org)?;
    let (kind, lookup): (i64, Option<&str>) = match scope {
        Org => (0, None),
        User => (
            1,
            Some("SELECT id FROM users WHERE ext_id = ?2 AND EXISTS (SELECT 1 FROM members WHERE org = ?1 AND user = users.id)"),
        ),
        Team => (2, Some("SELECT id FROM teams WHERE org = ?1 AND ext_id = ?2")),
        Department => (3, Some("SELECT id FROM departments WHERE org = ?1 AND name = ?2")),
        ApiKey => (4, Some("SELECT id FROM api_keys WHERE org = ?1 AND ext_id = ?2")),
    };
    let id: i64 = match (lookup, scope_id) {
        (None, _) => 0,
        (Some(_), None) => return Ok(0),
        (Some(sql), Some(ext)) => match c
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(params![org_row, ext], |r| r.get(0)).optional())
            .map_err(sql_err)?
        {
            Some(id) => id,
            None => return Ok(0),
        },
    };
    c.prepare_cached(
        "SELECT COALESCE(SUM(total_cost), 0) FROM spend_days
         WHERE org = ?1 AND kind = ?2 AND id = ?3 AND day >= ?4 AND day < ?5",
    )
    .and_then(|mut s| {
        s.query_row(
            params![org_row, kind, id, period.from.0, period.to.0],
            |r| r.get::<_, i64>(0),
        )
    })
    .map(i128::from)
    .map_err(sql_err)
}

/// The organisation, its budgets and `user`'s membership (`Store::budget_context`).
pub fn context(c: &Connection, org: &str, user: Option<&str>) -> Result<BudgetContext> {
    Ok(BudgetContext {
        org: super::read::get_org(c, org)?,
        budgets: list_budgets(c, org)?,
        member: match user {
            Some(u) => not_found_as_none(super::read::get_member(c, org, u))?,
            None => None,
        },
    })
}
