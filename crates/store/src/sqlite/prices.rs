//! Negotiated prices per organisation and model (API.md §5). They price
//! events ingested from the change on; costs already stored stay until a
//! reprice.

use super::admin::audit;
use super::read::org_id;
use super::writer::WriterState;
use super::{sql_err, ts};
use crate::contract::{Result, StoreError};
use crate::model::NegotiatedPrice;
use jiff::Timestamp;
use rusqlite::{params, Connection};
use spendlens_domain::Price;

pub fn put(
    w: &mut WriterState,
    org: &str,
    model: &str,
    from: Timestamp,
    p: Price,
    actor: &str,
) -> Result<()> {
    let id = org_id(&w.conn, org)?;
    w.conn
        .prepare_cached(
            "INSERT INTO org_prices (org, model, effective_from, input, output, cached_input, cache_write)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (org, model, effective_from) DO UPDATE SET input = ?4, output = ?5, cached_input = ?6, cache_write = ?7",
        )
        .and_then(|mut s| s.execute(params![id, model, from.as_microsecond(), p.input, p.output, p.cached_input, p.cache_write]))
        .map_err(sql_err)?;
    // The writer's view of the organisation (prices included) is rebuilt on next use.
    w.orgs.remove(org);
    let detail = serde_json::json!({"effective_from": from.to_string(), "input": p.input, "output": p.output, "cached_input": p.cached_input, "cache_write": p.cache_write});
    audit(w, actor, Some(id), "price.put", model, detail)
}

pub fn delete(w: &mut WriterState, org: &str, model: &str, actor: &str) -> Result<()> {
    let id = org_id(&w.conn, org)?;
    let n = w
        .conn
        .execute(
            "DELETE FROM org_prices WHERE org = ?1 AND model = ?2",
            params![id, model],
        )
        .map_err(sql_err)?;
    if n == 0 {
        return Err(StoreError::NotFound(format!(
            "negotiated price for {model}"
        )));
    }
    w.orgs.remove(org);
    audit(
        w,
        actor,
        Some(id),
        "price.delete",
        model,
        serde_json::json!({}),
    )
}

pub fn list(c: &Connection, org: &str) -> Result<Vec<NegotiatedPrice>> {
    let id = org_id(c, org)?;
    let mut s = c
        .prepare_cached("SELECT model, effective_from, input, output, cached_input, cache_write FROM org_prices WHERE org = ?1 ORDER BY model, effective_from")
        .map_err(sql_err)?;
    let rows = s
        .query_map([id], |r| {
            Ok(NegotiatedPrice {
                model: r.get(0)?,
                effective_from: ts(r.get(1)?),
                price: Price {
                    input: r.get(2)?,
                    output: r.get(3)?,
                    cached_input: r.get(4)?,
                    cache_write: r.get(5)?,
                },
            })
        })
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}
