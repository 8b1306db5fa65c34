//! Negotiated prices per organisation and model (API.md §5). They price
//! events ingested from the change on; costs already stored stay until a
//! reprice.

use super::admin::audit;
use super::ctx::Ctx;
use super::{db_err, scope, ts};
use crate::contract::{Result, StoreError};
use crate::model::NegotiatedPrice;
use jiff::Timestamp;
use spendlens_domain::Price;
use sqlx::PgConnection;

pub async fn put(
    c: &mut Ctx,
    org: &str,
    model: &str,
    from: Timestamp,
    p: Price,
    actor: &str,
) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    sqlx::query(
        "INSERT INTO org_prices (org, model, effective_from, input, output, cached_input, cache_write)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (org, model, effective_from) DO UPDATE SET input = excluded.input,
         output = excluded.output, cached_input = excluded.cached_input, cache_write = excluded.cache_write",
    )
    .bind(id)
    .bind(model)
    .bind(from.as_microsecond())
    .bind(p.input)
    .bind(p.output)
    .bind(p.cached_input)
    .bind(p.cache_write)
    .execute(&mut *c.tx)
    .await
    .map_err(db_err)?;
    // The transaction's view of the organisation (prices included) is read again on next use.
    c.orgs.remove(org);
    let detail = serde_json::json!({"effective_from": from.to_string(), "input": p.input, "output": p.output, "cached_input": p.cached_input, "cache_write": p.cache_write});
    audit(c, actor, Some(id), "price.put", model, detail).await
}

pub async fn delete(c: &mut Ctx, org: &str, model: &str, actor: &str) -> Result<()> {
    let id = scope::org_id(&mut c.tx, org).await?;
    let n = sqlx::query("DELETE FROM org_prices WHERE org = $1 AND model = $2")
        .bind(id)
        .bind(model)
        .execute(&mut *c.tx)
        .await
        .map_err(db_err)?
        .rows_affected();
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "negotiated price for {model}"
        )));
    }
    c.orgs.remove(org);
    audit(
        c,
        actor,
        Some(id),
        "price.delete",
        model,
        serde_json::json!({}),
    )
    .await
}

/// model, effective_from, input, output, cached_input, cache_write
type PriceRow = (String, i64, i64, i64, Option<i64>, Option<i64>);

pub async fn list(c: &mut PgConnection, org: &str) -> Result<Vec<NegotiatedPrice>> {
    let id = scope::enter_org(c, org).await?;
    let rows: Vec<PriceRow> = sqlx::query_as(
        "SELECT model, effective_from, input, output, cached_input, cache_write FROM org_prices
         WHERE org = $1 ORDER BY model, effective_from",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(
            |(model, from, input, output, cached_input, cache_write)| NegotiatedPrice {
                model,
                effective_from: ts(from),
                price: Price {
                    input,
                    output,
                    cached_input,
                    cache_write,
                },
            },
        )
        .collect())
}
