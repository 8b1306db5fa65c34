//! `GET /v1/orgs/{org}/focus`: an organisation's costs in the columns of the
//! FinOps Open Cost and Usage Specification (FOCUS 1.1), so FinOps tools can
//! take LLM spend in beside their cloud bills. One row per local day, team,
//! department, provider key, model and provider; CSV by default.
//!
//! What the organisation is charged (`total_cost`) is its bill: BilledCost,
//! EffectiveCost, ContractedCost and ListCost all carry it, since spendlens
//! has no separate list price for what it charges. What the providers billed
//! (`actual_api_cost`) is in the extension column `x_ProviderCost`.

use super::export::{self, Format};
use super::params::{Params, Query};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use spendlens_domain::money::format_usd;
use spendlens_domain::time::{parse_timezone, Day};
use spendlens_store::query::{Dim, FigureQuery, Filter};
use std::collections::HashMap;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/orgs/{org}/focus", get(focus))
}

pub const COLUMNS: &[&str] = &[
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingCategory",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_ProviderCost",
    "x_InputTokens",
    "x_CachedInputTokens",
    "x_CacheWriteInputTokens",
    "x_OutputTokens",
    "x_Messages",
    "x_UnpricedEvents",
];

const GROUPS: [Dim; 6] = [
    Dim::Day,
    Dim::Team,
    Dim::Department,
    Dim::ApiKey,
    Dim::Model,
    Dim::Provider,
];

async fn focus(
    State(s): State<AppState>,
    who: Principal,
    Path(org): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    who.require_org_admin(&org)?;
    let info = s.store.get_org(&org).await?;
    let tz = parse_timezone(&info.timezone).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut p = Params::new(raw);
    let period = p.period(&info.timezone)?;
    let format = match p.take("format") {
        Some(f) => Format::parse(&f)?,
        None => Format::Csv,
    };
    p.finish()?;
    let rows = s
        .store
        .figures(&FigureQuery {
            org: org.clone(),
            period,
            filter: Filter::default(),
            group_by: GROUPS.to_vec(),
        })
        .await?;
    let keys: HashMap<String, String> = s
        .store
        .list_api_keys(&org)
        .await?
        .into_iter()
        .map(|k| (k.api_key_id, k.name))
        .collect();
    let teams = super::lists::team_names(&s, &org).await?;
    let instant = |day: Day| day.start_in(&tz).to_string();
    let mut out: Vec<Map<String, Value>> = Vec::with_capacity(rows.len());
    for r in rows {
        let [day, team, dept, key, model, provider] = &r.key[..] else {
            continue;
        };
        let Some(day) = day.as_deref().and_then(|d| Day::parse(d).ok()) else {
            continue;
        };
        let f = &r.figures;
        let billed = format_usd(f.total_cost);
        let model = model.clone().unwrap_or_default();
        let provider = provider.clone().unwrap_or_else(|| "unknown".into());
        let month = day.month();
        let mut tags = Map::new();
        if let Some(d) = dept {
            tags.insert("department".into(), json!(d));
        }
        if let Some(t) = team {
            tags.insert("team".into(), json!(t));
        }
        let row = json!({
            "BilledCost": billed,
            "BillingAccountId": org,
            "BillingAccountName": info.name,
            "BillingCurrency": "USD",
            "BillingPeriodStart": instant(month.first_day()),
            "BillingPeriodEnd": instant(month.end()),
            "ChargeCategory": "Usage",
            "ChargeClass": null,
            "ChargeDescription": format!(
                "{} input and {} output tokens of {model} in {} calls",
                f.tokens_in, f.tokens_out, f.messages
            ),
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodStart": instant(day),
            "ChargePeriodEnd": instant(Day(day.0 + 1)),
            "ConsumedQuantity": f.tokens_in + f.tokens_out,
            "ConsumedUnit": "Tokens",
            "ContractedCost": billed,
            "EffectiveCost": billed,
            "InvoiceIssuerName": "spendlens",
            "ListCost": billed,
            "PricingCategory": "Standard",
            "ProviderName": provider,
            "PublisherName": provider,
            "RegionId": null,
            "RegionName": null,
            "ResourceId": key,
            "ResourceName": key.as_ref().map(|k| keys.get(k).cloned().unwrap_or_else(|| k.clone())).unwrap_or_else(|| "Unknown key".into()),
            "ResourceType": "LLM API key",
            "ServiceCategory": "AI and Machine Learning",
            "ServiceName": format!("{provider} API"),
            "SkuId": model,
            "SubAccountId": team,
            "SubAccountName": team.as_ref().map(|t| teams.get(t).cloned().unwrap_or_else(|| t.clone())),
            "Tags": Value::Object(tags).to_string(),
            "x_ProviderCost": format_usd(f.actual_api_cost),
            "x_InputTokens": f.tokens_in,
            "x_CachedInputTokens": f.cached_tokens_in,
            "x_CacheWriteInputTokens": f.cache_write_tokens_in,
            "x_OutputTokens": f.tokens_out,
            "x_Messages": f.messages,
            "x_UnpricedEvents": f.unpriced_events,
        });
        if let Value::Object(m) = row {
            out.push(m);
        }
    }
    out.sort_by(|a, b| {
        let k = |m: &Map<String, Value>| {
            [
                "ChargePeriodStart",
                "SubAccountId",
                "ResourceId",
                "SkuId",
                "ProviderName",
            ]
            .map(|c| m.get(c).and_then(Value::as_str).unwrap_or("").to_owned())
        };
        k(a).cmp(&k(b))
    });
    let name = export::file_name(
        &org,
        "focus",
        &period.from.to_string(),
        &period.to.to_string(),
        format,
    );
    Ok(export::download(format, &name, COLUMNS, &out))
}
