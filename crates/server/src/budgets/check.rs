//! `GET /v1/budget-check`: may this user or key make a call now? Every hard
//! limit covering it — the user's, the key's, the organisation's, and those of
//! the user's current team and department — is compared with the spend the
//! store holds at this moment (never a cache), crossed at ≥.

use super::status::{period_of, reached, spent, today, State};
use serde_json::{json, Value};
use spendlens_store::model::{BudgetScope, Org};
use spendlens_store::{Store, StoreError};

pub async fn blocking(
    store: &dyn Store,
    org: &Org,
    user: Option<&str>,
    key: Option<&str>,
) -> Result<Vec<Value>, StoreError> {
    let hard: Vec<_> = store
        .list_budgets(&org.id)
        .await?
        .into_iter()
        .filter(|b| b.hard_limit)
        .collect();
    if hard.is_empty() {
        return Ok(Vec::new());
    }
    let member = match user {
        Some(u) => match store.get_member(&org.id, u).await {
            Ok(m) => Some(m),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let team = member.as_ref().and_then(|m| m.team_id.as_deref());
    let department = member.as_ref().and_then(|m| m.department.as_deref());
    let today = today(org);
    let mut out = Vec::new();
    for b in &hard {
        let id = b.scope_id.as_deref();
        let covers = match b.scope {
            BudgetScope::Org => true,
            BudgetScope::User => id.is_some() && id == user,
            BudgetScope::ApiKey => id.is_some() && id == key,
            BudgetScope::Team => id.is_some() && id == team,
            BudgetScope::Department => id.is_some() && id == department,
        };
        if !covers {
            continue;
        }
        let spent = spent(store, &org.id, b, period_of(b.period, today)).await?;
        if reached(spent, b.amount, 1_000_000) {
            out.push(json!({"id": b.id, "scope": b.scope, "scope_id": b.scope_id,
                "state": State::Exceeded.as_str()}));
        }
    }
    Ok(out)
}
