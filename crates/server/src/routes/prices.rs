//! Prices (API.md §5): the built-in catalog with the unpriced models seen, and
//! each organisation's negotiated prices, which only a platform admin sets.

use super::admin::body;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use spendlens_domain::money::format_usd;
use spendlens_domain::prices::parse_per_mtok;
use spendlens_domain::time::{parse_timestamp, Day, Period};
use spendlens_domain::{Catalog, Price};
use spendlens_store::model::Role;
use spendlens_store::query::{Dim, FigureQuery, Filter};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/prices", get(list)).route(
        "/v1/orgs/{org}/prices/{model}",
        put(put_price).delete(delete_price),
    )
}

fn per_mtok(n: i64) -> Value {
    format_usd(n.into()).into()
}

fn price_json(p: &Price) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("input_per_mtok".into(), per_mtok(p.input));
    m.insert("output_per_mtok".into(), per_mtok(p.output));
    m.insert(
        "cached_input_per_mtok".into(),
        p.cached_input.map(per_mtok).unwrap_or(Value::Null),
    );
    m.insert(
        "cache_write_per_mtok".into(),
        p.cache_write.map(per_mtok).unwrap_or(Value::Null),
    );
    m
}

/// The catalog, plus for each organisation the caller administers its
/// negotiated prices and the models its events named that nothing prices.
async fn list(State(s): State<AppState>, who: Principal) -> ApiResult<Json<Value>> {
    let orgs: Vec<String> = match who.role {
        Role::PlatformAdmin => s
            .store
            .list_orgs()
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect(),
        Role::OrgAdmin => vec![who.org.clone().unwrap_or_default()],
        _ => return Err(ApiError::Forbidden("prices are for administrators".into())),
    };
    let catalog: Vec<Value> = Catalog::builtin()
        .entries()
        .iter()
        .map(|e| {
            let mut m = price_json(&e.price);
            m.insert("model".into(), e.model.clone().into());
            m.insert("provider".into(), e.provider.clone().into());
            m.insert("effective_from".into(), e.effective_from.to_string().into());
            Value::Object(m)
        })
        .collect();
    // All of history: the earliest accepted event is in 2000.
    let tomorrow = Day::from_date(
        jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date(),
    )
    .0 + 2;
    let all_time = Period {
        from: Day::parse("2000-01-01").map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?,
        to: Day(tomorrow),
    };
    let (mut negotiated, mut unpriced) = (Vec::new(), Vec::new());
    for org in orgs {
        for p in s.store.list_prices(&org).await? {
            let mut m = price_json(&p.price);
            m.insert("organization_id".into(), org.clone().into());
            m.insert("model".into(), p.model.into());
            m.insert("effective_from".into(), p.effective_from.to_string().into());
            negotiated.push(Value::Object(m));
        }
        let q = FigureQuery {
            org: org.clone(),
            period: all_time,
            filter: Filter::default(),
            group_by: vec![Dim::Model],
        };
        for r in s.store.figures(&q).await? {
            if r.figures.unpriced_events > 0 {
                unpriced.push(json!({"organization_id": org, "model": r.key[0], "unpriced_events": r.figures.unpriced_events}));
            }
        }
    }
    Ok(Json(
        json!({"catalog": catalog, "negotiated": negotiated, "unpriced_models": unpriced}),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBody {
    input_per_mtok: Value,
    output_per_mtok: Value,
    cached_input_per_mtok: Option<Value>,
    cache_write_per_mtok: Option<Value>,
    effective_from: String,
}

fn amount(field: &str, v: &Value) -> ApiResult<i64> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::bad(
                "invalid_field",
                format!("{field}: a decimal USD amount per million tokens"),
            ))
        }
    };
    parse_per_mtok(&text).map_err(|e| ApiError::bad("invalid_field", format!("{field}: {e}")))
}

async fn put_price(
    State(s): State<AppState>,
    who: Principal,
    Path((org, model)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    who.require_may_set_markup()?;
    let b: PriceBody = body(&raw)?;
    let price = Price {
        input: amount("input_per_mtok", &b.input_per_mtok)?,
        output: amount("output_per_mtok", &b.output_per_mtok)?,
        cached_input: b
            .cached_input_per_mtok
            .as_ref()
            .map(|v| amount("cached_input_per_mtok", v))
            .transpose()?,
        cache_write: b
            .cache_write_per_mtok
            .as_ref()
            .map(|v| amount("cache_write_per_mtok", v))
            .transpose()?,
    };
    // A date is that day's start in UTC; a timestamp is taken as given.
    let from = match Day::parse(&b.effective_from) {
        Ok(d) => d.start_in(&jiff::tz::TimeZone::UTC),
        Err(_) => parse_timestamp(&b.effective_from).map_err(|_| {
            ApiError::bad(
                "invalid_field",
                "effective_from: a date YYYY-MM-DD or an RFC 3339 timestamp",
            )
        })?,
    };
    if model.trim().is_empty() || model.chars().count() > 200 {
        return Err(ApiError::bad("invalid_field", "model: 1 to 200 characters"));
    }
    s.store
        .put_price(&org, &model, from, price, &who.token_id)
        .await?;
    let mut out = price_json(&price);
    out.insert("organization_id".into(), org.into());
    out.insert("model".into(), model.into());
    out.insert("effective_from".into(), from.to_string().into());
    Ok(Json(Value::Object(out)))
}

async fn delete_price(
    State(s): State<AppState>,
    who: Principal,
    Path((org, model)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    who.require_may_set_markup()?;
    s.store.delete_price(&org, &model, &who.token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
