//! `GET /v1/budget-check`: may this user or key make a call now? Every hard
//! limit covering it — the user's, the key's, the organisation's, and those of
//! the user's current team and department — is compared with the spend the
//! store holds at this moment (never a cache), crossed at ≥.

use super::status::{period_of, reached, today, State};
use serde_json::{json, Value};
use spendlens_store::model::{Budget, BudgetContext, BudgetScope, SpendPlan};
use spendlens_store::{Store, StoreError};

pub async fn blocking(
    store: &dyn Store,
    org: &str,
    user: Option<&str>,
    key: Option<&str>,
) -> Result<Vec<Value>, StoreError> {
    // One trip to the store (context, then every covering spend, in one
    // read): each trip is a hop to the blocking pool or the database, which
    // under load costs more than the read itself.
    let (user_owned, key_owned) = (user.map(str::to_owned), key.map(str::to_owned));
    let plan: SpendPlan = Box::new(move |ctx| {
        let today = today(&ctx.org);
        covering(ctx, user_owned.as_deref(), key_owned.as_deref())
            .map(|b| (b.scope, b.scope_id.clone(), period_of(b.period, today)))
            .collect()
    });
    let (ctx, spent) = store.budget_check(org, user, key, plan).await?;
    let covering: Vec<&Budget> = covering(&ctx, user, key).collect();
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

/// The hard limits covering `user` and `key`: theirs, the organisation's, and
/// those of the user's current team and department.
fn covering<'a>(
    ctx: &'a BudgetContext,
    user: Option<&'a str>,
    key: Option<&'a str>,
) -> impl Iterator<Item = &'a Budget> {
    let team = ctx.member.as_ref().and_then(|m| m.team_id.as_deref());
    let department = ctx.member.as_ref().and_then(|m| m.department.as_deref());
    ctx.budgets
        .iter()
        .filter(|b| b.hard_limit)
        .filter(move |b| {
            let id = b.scope_id.as_deref();
            match b.scope {
                BudgetScope::Org => true,
                BudgetScope::User => id.is_some() && id == user,
                BudgetScope::ApiKey => id.is_some() && id == key,
                BudgetScope::Team => id.is_some() && id == team,
                BudgetScope::Department => id.is_some() && id == department,
            }
        })
}
