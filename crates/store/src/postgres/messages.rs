//! Retained events streamed in batches for exports (sqlite/messages.rs):
//! one statement whose rows are read off the connection as they come and
//! sent on in batches, so memory stays flat however long the export (a slow
//! receiver holds the socket, and PostgreSQL waits) and the whole export is
//! one snapshot. One statement, not keyset pages: each page of a join over a
//! long range cost as much as the first (measured: 2 s a page at 200k rows).
use super::db_err;
use super::read::{event_row, EVENT_SELECT};
use super::scope::enter_org;
use crate::contract::Result;
use crate::model::*;
use crate::query::EventQuery;
use futures_util::TryStreamExt;
use sqlx::PgConnection;

/// Rows go to `tx` in batches of `batch`; a closed receiver ends the stream quietly.
pub async fn stream(
    c: &mut PgConnection,
    q: &EventQuery,
    batch: usize,
    tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>,
) -> Result<()> {
    let org = enter_org(c, &q.org).await?;
    // A scan of history: the server's own parallel setting again (acme's
    // 2,000,000 messages of `large` as CSV: 7.0 s with PostgreSQL's default
    // two workers, 9.9 s without).
    sqlx::query("SET LOCAL max_parallel_workers_per_gather TO DEFAULT")
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    // Local days are within ±1 UTC day of their instants: bound occurred_at so
    // the (org, occurred_at) index does the work, then check the day exactly.
    let lo = (i64::from(q.period.from.0) - 1) * 86_400_000_000;
    let hi = (i64::from(q.period.to.0) + 1) * 86_400_000_000;
    let mut sql = format!(
        "{EVENT_SELECT} WHERE e.org = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
         AND e.day >= $4 AND e.day < $5"
    );
    let mut values: Vec<&str> = Vec::new();
    let f = &q.filter;
    for (want, null_col, text_col) in [
        (&f.user, "e.usr = 0", "u.ext_id"),
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
                values.push(v);
                sql.push_str(&format!(" AND {text_col} = ${}", 5 + values.len()));
            }
        }
    }
    // Event ids compare byte by byte, as in SQLite, whatever the database's collation.
    let mut n = 6 + values.len();
    if q.after.is_some() {
        sql.push_str(&format!(
            " AND e.occurred_at >= ${n} AND (e.occurred_at > ${n} OR (e.occurred_at = ${n} AND e.event_id COLLATE \"C\" > ${}))",
            n + 1
        ));
        n += 2;
    }
    sql.push_str(" ORDER BY e.occurred_at, e.event_id COLLATE \"C\"");
    if q.limit.is_some() {
        sql.push_str(&format!(" LIMIT ${n}"));
    }
    let mut query = sqlx::query(&sql)
        .bind(org)
        .bind(lo)
        .bind(hi)
        .bind(i64::from(q.period.from.0))
        .bind(i64::from(q.period.to.0));
    for v in &values {
        query = query.bind(*v);
    }
    if let Some((at, id)) = &q.after {
        query = query.bind(*at).bind(id.as_str());
    }
    if let Some(l) = q.limit {
        query = query.bind(l as i64);
    }
    let batch = batch.max(1);
    let mut rows = query.fetch(&mut *c);
    let mut events = Vec::with_capacity(batch);
    while let Some(r) = rows.try_next().await.map_err(db_err)? {
        events.push(event_row(&r, &q.org).map_err(db_err)?);
        if events.len() == batch
            && tx
                .send(std::mem::replace(&mut events, Vec::with_capacity(batch)))
                .await
                .is_err()
        {
            return Ok(());
        }
    }
    if !events.is_empty() {
        let _ = tx.send(events).await;
    }
    Ok(())
}
