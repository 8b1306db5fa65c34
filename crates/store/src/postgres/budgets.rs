//! Budgets, alerts (recorded once per budget, threshold and period by a
//! unique key), webhook deliveries, and the spend of a budget scope.
use super::ctx::Ctx;
use crate::contract::Result;
use crate::model::*;
use spendlens_domain::time::Period;
use sqlx::PgConnection;

pub async fn spend(c: &mut PgConnection, org: &str, scope: BudgetScope, scope_id: Option<&str>, period: Period) -> Result<i128> { todo!() }
pub async fn put_budget(c: &mut Ctx, org: &str, budget: Budget, actor: &str) -> Result<Budget> { todo!() }
pub async fn list_budgets(c: &mut PgConnection, org: &str) -> Result<Vec<Budget>> { todo!() }
pub async fn delete_budget(c: &mut Ctx, org: &str, id: &str, actor: &str) -> Result<()> { todo!() }
pub async fn record_alert(c: &mut Ctx, org: &str, alert: Alert) -> Result<Option<i64>> { todo!() }
pub async fn list_alerts(c: &mut PgConnection, org: &str, limit: usize) -> Result<Vec<Alert>> { todo!() }
pub async fn record_delivery(c: &mut Ctx, org: &str, delivery: Delivery) -> Result<()> { todo!() }
pub async fn list_deliveries(c: &mut PgConnection, org: &str, limit: usize) -> Result<Vec<Delivery>> { todo!() }
pub async fn webhook(c: &mut PgConnection, org: &str) -> Result<Option<Webhook>> { todo!() }
