//! Budgets, alerts (recorded once per budget, threshold and period by a
//! unique key), webhook deliveries, and the spend of a budget scope. Rows keep
//! the record as JSON beside the columns their keys need.
//!
//! Alert ids and delivery numbers count up per organisation as on SQLite
//! (largest + 1). Several servers may record at once, so each numbering is
//! serialised per organisation by a transaction-level advisory lock: under
//! READ COMMITTED the statements after the lock see what the previous holder
//! committed.

use super::admin::audit;
use super::ctx::Ctx;
use super::locks::{self, ALERT_IDS, DELIVERY_SEQS};
use super::{db_err, scope};
use crate::contract::{Result, StoreError};
use crate::model::*;
use serde::de::DeserializeOwned;
use spendlens_domain::time::Period;
use sqlx::PgConnection;

/// Hold, until the transaction ends, the lock of one of organisation `org`'s
/// numberings.
async fn lock_numbering(c: &mut Ctx, class: i32, org: i64) -> Result<()> {
    locks::take_one(&mut c.tx, class, locks::key_of(org)).await
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(e.into()))
}

pub(super) fn parse_all<T: DeserializeOwned>(bodies: Vec<String>) -> Result<Vec<T>> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| StoreError::Other(e.into())))
        .collect()
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A scope's spend from `spend_days` (at most one row per day of the period).
pub async fn spend(
    c: &mut PgConnection,
    org: &str,
    scope: BudgetScope,
    scope_id: Option<&str>,
    period: Period,
) -> Result<i128> {
    let spent = spends(c, org, &[(scope, scope_id.map(str::to_owned), period)]).await?;
    Ok(spent[0])
}

/// Several scopes' spend (`Store::spends`) in one statement.
pub async fn spends(c: &mut PgConnection, org: &str, asks: &[SpendAsk]) -> Result<Vec<i128>> {
    let org_row = scope::enter_org(c, org).await?;
    spends_in(c, org_row, asks).await
}

/// The spend of each ask in one statement, in the asks' order: a scope's
/// external id is looked up by its kind, and one that names nothing (or
/// none given) has spent 0.
async fn spends_in(c: &mut PgConnection, org: i64, asks: &[SpendAsk]) -> Result<Vec<i128>> {
    if asks.is_empty() {
        return Ok(Vec::new());
    }
    let mut kinds: Vec<i16> = Vec::with_capacity(asks.len());
    let mut exts: Vec<Option<String>> = Vec::with_capacity(asks.len());
    let (mut froms, mut tos): (Vec<i64>, Vec<i64>) = Default::default();
    for (scope, ext, period) in asks {
        kinds.push(match scope {
            BudgetScope::Org => 0,
            BudgetScope::User => 1,
            BudgetScope::Team => 2,
            BudgetScope::Department => 3,
            BudgetScope::ApiKey => 4,
        });
        exts.push(ext.clone());
        froms.push(i64::from(period.from.0));
        tos.push(i64::from(period.to.0));
    }
    let spent: Vec<i64> = sqlx::query_scalar(
        "SELECT COALESCE((
             SELECT SUM(s.total_cost) FROM spend_days s
             WHERE s.org = $1 AND s.kind = a.kind AND s.day >= a.lo AND s.day < a.hi
               AND s.id = CASE a.kind
                   WHEN 0 THEN 0
                   WHEN 1 THEN (SELECT u.id FROM users u WHERE u.ext_id = a.ext
                                AND EXISTS (SELECT 1 FROM members m WHERE m.org = $1 AND m.usr = u.id)
                                LIMIT 1)
                   WHEN 2 THEN (SELECT t.id FROM teams t WHERE t.org = $1 AND t.ext_id = a.ext LIMIT 1)
                   WHEN 3 THEN (SELECT d.id FROM departments d WHERE d.org = $1 AND d.name = a.ext LIMIT 1)
                   WHEN 4 THEN (SELECT k.id FROM api_keys k WHERE k.org = $1 AND k.ext_id = a.ext LIMIT 1)
               END), 0)::bigint
         FROM UNNEST($2::smallint[], $3::text[], $4::bigint[], $5::bigint[])
              WITH ORDINALITY AS a(kind, ext, lo, hi, n)
         ORDER BY a.n",
    )
    .bind(org)
    .bind(kinds)
    .bind(exts)
    .bind(froms)
    .bind(tos)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(spent.into_iter().map(i128::from).collect())
}

pub async fn put_budget(c: &mut Ctx, org: &str, budget: Budget, actor: &str) -> Result<Budget> {
    let id = scope::org_id(&mut c.tx, org).await?;
    sqlx::query(
        "INSERT INTO budgets (org, id, body) VALUES ($1, $2, $3)
         ON CONFLICT (org, id) DO UPDATE SET body = excluded.body",
    )
    .bind(id)
    .bind(&budget.id)
    .bind(to_json(&budget)?)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    audit(
        c,
        actor,
        Some(id),
        "budget.put",
        &budget.id,
        serde_json::to_value(&budget).unwrap_or_default(),
    )
    .await?;
    Ok(budget)
}

pub async fn list_budgets(c: &mut PgConnection, org: &str) -> Result<Vec<Budget>> {
    let id = scope::enter_org(c, org).await?;
    let bodies = sqlx::query_scalar("SELECT body FROM budgets WHERE org = $1 ORDER BY id")
        .bind(id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    parse_all(bodies)
}

/// Read as the connecting role: a platform-wide question, like `list_orgs`.
pub async fn orgs_with_budgets(c: &mut PgConnection) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT o.ext_id FROM orgs o WHERE EXISTS (SELECT 1 FROM budgets b WHERE b.org = o.id)
         ORDER BY o.ext_id",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)
}

pub async fn delete_budget(c: &mut Ctx, org: &str, budget: &str, actor: &str) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let n = sqlx::query("DELETE FROM budgets WHERE org = $1 AND id = $2")
        .bind(id)
        .bind(budget)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!("budget {budget}")));
    }
    audit(
        c,
        actor,
        Some(id),
        "budget.delete",
        budget,
        serde_json::json!({}),
    )
    .await
}

/// Record a crossing unless it is already recorded; its new id, or None when
/// it was (by this server or another).
pub async fn record_alert(c: &mut Ctx, org: &str, mut alert: Alert) -> Result<Option<i64>> {
    let id = scope::org_id(&mut c.tx, org).await?;
    lock_numbering(c, ALERT_IDS, id).await?;
    let next: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM alerts WHERE org = $1")
            .bind(id)
            .fetch_one(&mut *c.tx)
            .await
            .map_err(db_err)?;
    alert.id = next;
    sqlx::query_scalar(
        "INSERT INTO alerts (org, id, budget_id, threshold_ppm, period_from, body)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (org, budget_id, threshold_ppm, period_from) DO NOTHING RETURNING id",
    )
    .bind(id)
    .bind(next)
    .bind(&alert.budget_id)
    .bind(alert.threshold_ppm)
    .bind(i64::from(alert.period_from))
    .bind(to_json(&alert)?)
    .fetch_optional(&mut *c.tx)
    .await
    .map_err(db_err)
}

pub async fn list_alerts(c: &mut PgConnection, org: &str, limit: usize) -> Result<Vec<Alert>> {
    let id = scope::enter_org(c, org).await?;
    let bodies =
        sqlx::query_scalar("SELECT body FROM alerts WHERE org = $1 ORDER BY id DESC LIMIT $2")
            .bind(id)
            .bind(limit_of(limit))
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
    parse_all(bodies)
}

pub async fn record_delivery(c: &mut Ctx, org: &str, delivery: Delivery) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    lock_numbering(c, DELIVERY_SEQS, id).await?;
    sqlx::query(
        "INSERT INTO webhook_deliveries (org, seq, alert_id, body)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM webhook_deliveries WHERE org = $1), $2, $3)",
    )
    .bind(id)
    .bind(delivery.alert_id)
    .bind(to_json(&delivery)?)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub async fn list_deliveries(
    c: &mut PgConnection,
    org: &str,
    limit: usize,
) -> Result<Vec<Delivery>> {
    let id = scope::enter_org(c, org).await?;
    let bodies = sqlx::query_scalar(
        "SELECT body FROM webhook_deliveries WHERE org = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit_of(limit))
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    parse_all(bodies)
}

/// The organisation's webhook, when both its URL and its secret are set.
pub async fn webhook(c: &mut PgConnection, org: &str) -> Result<Option<Webhook>> {
    let id = scope::enter_org(c, org).await?;
    let (url, secret): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT webhook_url, webhook_secret FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *c)
            .await
            .map_err(db_err)?;
    Ok(match (url, secret) {
        (Some(url), Some(secret)) => Some(Webhook { url, secret }),
        _ => None,
    })
}
