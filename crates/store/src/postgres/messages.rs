//! Retained events streamed in batches for exports (sqlite/messages.rs).
//! Each batch is one keyset page — (occurred_at, event_id) after the last
//! row sent, LIMIT the batch — so memory stays flat however long the export,
//! and all pages read one snapshot, as SQLite's single statement does.
use super::db_err;
use super::read::{event_row, EVENT_SELECT};
use super::scope::enter_org;
use crate::contract::Result;
use crate::model::*;
use crate::query::EventQuery;
use sqlx::{PgConnection, Row};

/// Rows go to `tx` in batches of `batch`; a closed receiver ends the stream quietly.
pub async fn stream(
    c: &mut PgConnection,
    q: &EventQuery,
    batch: usize,
    tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>,
) -> Result<()> {
    // Before any query of the transaction: otherwise each page would see the
    // events committed since the previous one.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    let org = enter_org(c, &q.org).await?;
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
    let n = 6 + values.len();
    let first = format!("{sql} ORDER BY e.occurred_at, e.event_id COLLATE \"C\" LIMIT ${n}");
    let next = format!(
        "{sql} AND e.occurred_at >= ${n} AND (e.occurred_at > ${n} OR (e.occurred_at = ${n} AND e.event_id COLLATE \"C\" > ${}))
         ORDER BY e.occurred_at, e.event_id COLLATE \"C\" LIMIT ${}",
        n + 1,
        n + 2
    );
    let batch = batch.max(1);
    let mut after = q.after.clone();
    let mut left = q.limit;
    loop {
        let want = left.map_or(batch, |l| l.min(batch));
        if want == 0 {
            return Ok(());
        }
        let mut page = sqlx::query(if after.is_some() { &next } else { &first })
            .bind(org)
            .bind(lo)
            .bind(hi)
            .bind(i64::from(q.period.from.0))
            .bind(i64::from(q.period.to.0));
        for v in &values {
            page = page.bind(*v);
        }
        if let Some((at, id)) = &after {
            page = page.bind(*at).bind(id.as_str());
        }
        let rows = page
            .bind(want as i64)
            .fetch_all(&mut *c)
            .await
            .map_err(db_err)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some((
            last.try_get(1).map_err(db_err)?,
            last.try_get(0).map_err(db_err)?,
        ));
        let events = rows
            .iter()
            .map(|r| event_row(r, &q.org))
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err)?;
        drop(rows);
        let full = events.len() == want;
        if let Some(l) = &mut left {
            *l -= events.len();
        }
        if tx.send(events).await.is_err() || !full {
            return Ok(());
        }
    }
}
