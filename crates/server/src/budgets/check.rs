//! `GET /v1/budget-check`: may this user or key make a call now? Every hard
//! limit covering it — the user's, the key's, the organisation's, and those of
//! the user's current team and department — is compared with the spend the
//! store holds at this moment (never a cache), crossed at ≥.

use super::status::{period_of, reached, today, State};
use serde_json::{json, Value};
use spendlens_store::model::BudgetScope;
use spendlens_store::{Store, StoreError};

pub async fn blocking(
    store: &dyn Store,
    org: &str,
    user: Option<&str>,
    key: Option<&str>,
) -> Result<Vec<Value>, StoreError> {
    // Two reads in all (context, then every covering spend at once): each
    // read is a hop to the blocking pool or the database, which under load
    // costs more than the read itself.
    let ctx = store.budget_context(org, user).await?;
    let team = ctx.member.as_ref().and_then(|m| m.team_id.as_deref());
    let department = ctx.member.as_ref().and_then(|m| m.department.as_deref());
    let today = today(&ctx.org);
    let covering: Vec<_> = ctx
        .budgets
        .iter()
        .filter(|b| b.hard_limit)
        .filter(|b| {
            let id = b.scope_id.as_deref();
            match b.scope {
                BudgetScope::Org => true,
                BudgetScope::User => id.is_some() && id == user,
                BudgetScope::ApiKey => id.is_some() && id == key,
                BudgetScope::Team => id.is_some() && id == team,
                BudgetScope::Department => id.is_some() && id == department,
            }
        })
        .collect();
    if covering.is_empty() {
        return Ok(Vec::new());
    }
    let asks = covering
        .iter()
        .map(|b| (b.scope, b.scope_id.clone(), period_of(b.period, today)))
        .collect();
    let spent = store.spends(&ctx.org.id, asks).await?;
    Ok(covering
        .iter()
        .zip(spent)
        .filter(|(b, spent)| reached(*spent, b.amount, 1_000_000))
        .map(|(b, _)| {
            json!({"id": b.id, "scope": b.scope, "scope_id": b.scope_id,
                "state": State::Exceeded.as_str()})
        })
        .collect())
}
