//! Savings recommendations, each with an estimated saving per 30 days in USD
//! and how it was estimated. Every rule reads the aggregates of the last 30
//! days (per person and model, per key), never the detail, so they keep
//! working after retention. Prices are the built-in catalog's.

use serde_json::{json, Value};
use spendlens_domain::money::{display_usd, format_usd};
use spendlens_domain::prices::snapshot_base;
use spendlens_domain::time::{Day, Period};
use spendlens_domain::Catalog;
use spendlens_store::model::Org;
use spendlens_store::query::{Dim, FigureQuery, Figures, Filter};
use spendlens_store::{Store, StoreError};
use std::collections::HashMap;

/// A premium model and the same provider's cheaper one that does small jobs.
const CHEAPER: &[(&str, &str)] = &[
    ("gpt-5.1", "gpt-5-mini"),
    ("gpt-5", "gpt-5-mini"),
    ("gpt-4.5-preview", "gpt-4.1-mini"),
    ("gpt-4.1", "gpt-4.1-mini"),
    ("gpt-4o", "gpt-4o-mini"),
    ("gpt-4-turbo", "gpt-4o-mini"),
    ("gpt-4", "gpt-4o-mini"),
    ("o1", "o4-mini"),
    ("o1-pro", "o4-mini"),
    ("o3", "o4-mini"),
    ("o3-pro", "o4-mini"),
    ("claude-opus-4-5", "claude-sonnet-4-5"),
    ("claude-opus-4-1", "claude-sonnet-4-5"),
    ("claude-opus-4", "claude-sonnet-4"),
    ("claude-3-opus", "claude-3-5-sonnet"),
    ("claude-sonnet-4-5", "claude-haiku-4-5"),
    ("claude-sonnet-4", "claude-haiku-4-5"),
    ("claude-3-7-sonnet", "claude-3-5-haiku"),
    ("claude-3-5-sonnet", "claude-3-5-haiku"),
    ("gemini-3-pro-preview", "gemini-2.5-flash"),
    ("gemini-2.5-pro", "gemini-2.5-flash"),
    ("gemini-1.5-pro", "gemini-1.5-flash"),
];

/// Calls averaging at most this many output tokens are "small".
pub const SMALL_OUTPUT: u64 = 400;
/// Fewer calls than this in 30 days and a pattern is not worth a rule.
pub const MIN_CALLS: u64 = 20;
/// Prompts this long on average are worth caching.
pub const LONG_PROMPT: u64 = 2_000;
/// Below this share of cached input, caching is "low".
pub const LOW_CACHE_SHARE: f64 = 0.10;
/// A person spending this many times the organisation's average is flagged.
pub const HEAVY_FACTOR: i128 = 3;
/// Savings under a dollar are not shown.
const MIN_SAVING: i128 = 1_000_000_000;

pub fn cheaper_model(model: &str) -> Option<&'static str> {
    let base = snapshot_base(model).unwrap_or(model);
    CHEAPER.iter().find(|(m, _)| *m == base).map(|(_, c)| *c)
}

/// The cost the catalog gives for these tokens on `model` now (nanodollars).
fn catalog_cost(model: &str, f: &Figures) -> Option<i128> {
    let entry = Catalog::builtin().lookup(model, jiff::Timestamp::now())?;
    let cost = entry.price.cost(
        f.tokens_in,
        f.cached_tokens_in,
        f.cache_write_tokens_in,
        f.tokens_out,
    );
    Some(i128::from(cost.0))
}

/// `part` of what the organisation was charged, in proportion to provider cost.
fn charged_share(f: &Figures, provider_part: i128) -> i128 {
    if f.actual_api_cost <= 0 {
        return 0;
    }
    f.total_cost * provider_part / f.actual_api_cost
}

async fn figures(
    store: &dyn Store,
    org: &str,
    period: Period,
    filter: Filter,
    group_by: Vec<Dim>,
) -> Result<Vec<(Vec<Option<String>>, Figures)>, StoreError> {
    Ok(store
        .figures(&FigureQuery {
            org: org.to_owned(),
            period,
            filter,
            group_by,
        })
        .await?
        .into_iter()
        .map(|r| (r.key, r.figures))
        .collect())
}

/// Recommendations for the organisation, or only those about `user`.
pub async fn recommend(
    store: &dyn Store,
    org: &Org,
    user: Option<&str>,
) -> Result<Vec<Value>, StoreError> {
    let today = crate::budgets::status::today(org);
    let period = Period {
        from: Day(today.0 - 29),
        to: Day(today.0 + 1),
    };
    let mut out = Vec::new();
    // About one person: only their (person, model) rows; the average then
    // needs everyone's totals, which the one-dimension list answers cheaply.
    let only = Filter {
        user: user.map(|u| Some(u.to_owned())),
        ..Filter::default()
    };
    let by_user_model = figures(store, &org.id, period, only, vec![Dim::User, Dim::Model]).await?;
    let by_user = match user {
        Some(_) => figures(store, &org.id, period, Filter::default(), vec![Dim::User]).await?,
        None => Vec::new(),
    };
    for (key, f) in &by_user_model {
        let (Some(who), Some(model)) = (key[0].as_deref(), key[1].as_deref()) else {
            continue;
        };
        if user.is_some_and(|u| u != who) || f.messages < MIN_CALLS {
            continue;
        }
        let avg_out = f.tokens_out / f.messages.max(1);
        if let Some(alternative) = cheaper_model(model).filter(|_| avg_out <= SMALL_OUTPUT) {
            if let Some(alt) = catalog_cost(alternative, f) {
                let saving = charged_share(f, (f.actual_api_cost - alt).max(0));
                if saving >= MIN_SAVING {
                    out.push(json!({
                        "kind": "cheaper_model",
                        "user_id": who,
                        "model": model,
                        "alternative": alternative,
                        "monthly_saving": format_usd(saving),
                        "explanation": format!(
                            "{who} made {} calls to {model} averaging {avg_out} output tokens in the last 30 days. At catalog prices the same tokens on {alternative} cost {} instead of {} of provider cost; small outputs like these rarely need the larger model.",
                            f.messages, display_usd(alt), display_usd(f.actual_api_cost)
                        ),
                    }));
                }
            }
        }
        let avg_in = f.tokens_in / f.messages.max(1);
        let cached_share = f.cached_tokens_in as f64 / f.tokens_in.max(1) as f64;
        if avg_in >= LONG_PROMPT && cached_share < LOW_CACHE_SHARE {
            if let Some(entry) = Catalog::builtin().lookup(model, jiff::Timestamp::now()) {
                let p = entry.price;
                let discount = i128::from(p.input - p.cached_input.unwrap_or(p.input));
                let uncached =
                    i128::from(f.tokens_in - f.cached_tokens_in - f.cache_write_tokens_in);
                // If half of the uncached input were read from the cache.
                let provider_saving = uncached / 2 * discount / 1_000_000;
                let saving = charged_share(f, provider_saving);
                if discount > 0 && saving >= MIN_SAVING {
                    out.push(json!({
                        "kind": "prompt_caching",
                        "user_id": who,
                        "model": model,
                        "monthly_saving": format_usd(saving),
                        "explanation": format!(
                            "{who}'s {} calls to {model} send {avg_in} input tokens on average, {:.0}% of them from the provider's cache. Reusing a stable prompt prefix so that half the input is cached would save about {} (cached input costs {} instead of {} per million tokens).",
                            f.messages, cached_share * 100.0, display_usd(saving),
                            display_usd(p.cached_input.unwrap_or(p.input).into()), display_usd(p.input.into())
                        ),
                    }));
                }
            }
        }
    }
    // heavy_users sums per person, so everyone's (person, model) rows serve too.
    let everyone = if user.is_some() {
        &by_user
    } else {
        &by_user_model
    };
    heavy_users(everyone, user, &mut out);
    if user.is_none() {
        admin_rules(store, org, period, &mut out).await?;
    }
    out.sort_by_key(|r| {
        std::cmp::Reverse(
            spendlens_domain::Nanos::parse_usd(
                r["monthly_saving"].as_str().unwrap_or("0"),
                1_000_000_000,
            )
            .map_or(0, |n| n.0),
        )
    });
    Ok(out)
}

fn heavy_users(
    per_person_rows: &[(Vec<Option<String>>, Figures)],
    user: Option<&str>,
    out: &mut Vec<Value>,
) {
    let mut per_user: HashMap<&str, i128> = HashMap::new();
    for (key, f) in per_person_rows {
        if let Some(u) = key[0].as_deref() {
            *per_user.entry(u).or_default() += f.total_cost;
        }
    }
    let active = per_user.len() as i128;
    if active < 5 {
        return; // an average of a handful says little (and would reveal it)
    }
    let avg = per_user.values().sum::<i128>() / active;
    let mut heavy: Vec<(&str, i128)> = per_user
        .into_iter()
        .filter(|(u, cost)| user.is_none_or(|x| x == *u) && *cost >= HEAVY_FACTOR * avg && avg > 0)
        .collect();
    heavy.sort();
    for (who, cost) in heavy {
        let saving = cost - 2 * avg;
        if saving < MIN_SAVING {
            continue;
        }
        out.push(json!({
            "kind": "heavy_user",
            "user_id": who,
            "monthly_saving": format_usd(saving),
            "explanation": format!(
                "{who} spent {} in the last 30 days, {:.1}× the organisation's average of {} per active person. Bringing it to twice the average would save {}; look at their models and conversations first.",
                display_usd(cost), cost as f64 / avg as f64, display_usd(avg), display_usd(saving)
            ),
        }));
    }
}

/// Rules about provider keys, for administrators.
async fn admin_rules(
    store: &dyn Store,
    org: &Org,
    period: Period,
    out: &mut Vec<Value>,
) -> Result<(), StoreError> {
    let used: HashMap<Option<String>, Figures> =
        figures(store, &org.id, period, Filter::default(), vec![Dim::ApiKey])
            .await?
            .into_iter()
            .map(|(k, f)| (k[0].clone(), f))
            .collect();
    for key in store.list_api_keys(&org.id).await? {
        if key.registered && !used.contains_key(&Some(key.api_key_id.clone())) {
            out.push(json!({
                "kind": "idle_key",
                "api_key_id": key.api_key_id,
                "monthly_saving": "0.000000000",
                "explanation": format!(
                    "The provider key {} ({}) carried no calls in the last 30 days. Revoke it at the provider if it is not needed: an unused key is a risk, not a saving.",
                    key.name, key.api_key_id
                ),
            }));
        }
    }
    let total: i128 = used.values().map(|f| f.total_cost).sum();
    if let Some(unknown) = used.get(&None).filter(|f| f.total_cost > 0 && total > 0) {
        out.push(json!({
            "kind": "unattributed_spend",
            "monthly_saving": "0.000000000",
            "explanation": format!(
                "{} ({:.1}%) of the last 30 days' spend came without an api_key_id, so no key, budget or provider account can be held to it. Have clients send api_key_id with every event.",
                display_usd(unknown.total_cost), unknown.total_cost as f64 * 100.0 / total as f64
            ),
        }));
    }
    Ok(())
}
