//! Reading event detail in time order, in pages or as one long stream.

use super::read::{event_row, EVENT_SELECT};
use super::sql_err;
use crate::contract::{Result, StoreError};
use crate::model::StoredEvent;
use crate::query::EventQuery;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension};

/// Rows go to `emit` in batches; it returns false to stop (the reader hung up).
pub fn stream(
    c: &Connection,
    q: &EventQuery,
    batch: usize,
    mut emit: impl FnMut(Vec<StoredEvent>) -> bool,
) -> Result<()> {
    let org: i64 = c
        .prepare_cached("SELECT id FROM orgs WHERE ext_id = ?1")
        .and_then(|mut s| s.query_row([&q.org], |r| r.get(0)).optional())
        .map_err(sql_err)?
        .ok_or_else(|| StoreError::NotFound(format!("organisation {}", q.org)))?;
    // Local days are within ±1 UTC day of their instants: bound occurred_at so
    // the (org, occurred_at) index does the work, then check the day exactly.
    let lo = (i64::from(q.period.from.0) - 1) * 86_400_000_000;
    let hi = (i64::from(q.period.to.0) + 1) * 86_400_000_000;
    let mut sql = format!("{EVENT_SELECT} WHERE e.org = ?1 AND e.occurred_at >= ?2 AND e.occurred_at < ?3 AND e.day >= ?4 AND e.day < ?5");
    let mut args: Vec<Sql> = vec![
        org.into(),
        lo.into(),
        hi.into(),
        i64::from(q.period.from.0).into(),
        i64::from(q.period.to.0).into(),
    ];
    let f = &q.filter;
    for (want, null_col, text_col) in [
        (&f.user, "e.user = 0", "u.ext_id"),
        (&f.team, "e.team = 0", "t.ext_id"),
        (&f.department, "e.dept = 0", "d.name"),
        (&f.api_key, "e.key = 0", "k.ext_id"),
        (&f.model, "e.model = 0", "m.name"),
        (&f.provider, "e.provider = 0", "p.name"),
    ] {
        match want {
            None => {}
            Some(None) => sql.push_str(&format!(" AND {null_col}")),
            Some(Some(v)) => {
                args.push(v.clone().into());
                sql.push_str(&format!(" AND {text_col} = ?{}", args.len()));
            }
        }
    }
    if let Some((at, id)) = &q.after {
        args.push((*at).into());
        let n = args.len();
        args.push(id.clone().into());
        sql.push_str(&format!(
            " AND (e.occurred_at > ?{n} OR (e.occurred_at = ?{n} AND e.event_id > ?{}))",
            n + 1
        ));
    }
    sql.push_str(" ORDER BY e.occurred_at, e.event_id");
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let mut s = c.prepare(&sql).map_err(sql_err)?;
    let mut rows = s.query(rusqlite::params_from_iter(args)).map_err(sql_err)?;
    let mut out = Vec::with_capacity(batch);
    while let Some(r) = rows.next().map_err(sql_err)? {
        let e = event_row(r, &q.org).map_err(sql_err)?;
        out.push(e);
        if out.len() == batch && !emit(std::mem::replace(&mut out, Vec::with_capacity(batch))) {
            return Ok(());
        }
    }
    if !out.is_empty() {
        emit(out);
    }
    Ok(())
}
