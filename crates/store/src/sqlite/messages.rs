//! Reading event detail in time order, in pages or as one long stream.

use super::read::Names;
use super::sql_err;
use crate::contract::{Result, StoreError};
use crate::model::StoredEvent;
use crate::query::{Dim, EventQuery};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row};

/// Rows go to `emit` in batches; it returns false to stop (the reader hung up).
pub fn stream(
    c: &Connection,
    q: &EventQuery,
    batch: usize,
    mut emit: impl FnMut(Vec<StoredEvent>) -> bool,
) -> Result<()> {
    let statement = Statement::new(c, q)?;
    let (lo, hi) = bounds(q);
    statement.read(c, &mut Names::default(), (lo, hi), batch, &mut emit)?;
    Ok(())
}

/// The `occurred_at` bounds that hold every event of `q`'s days: local days
/// are within ±1 UTC day of their instants, so the (org, occurred_at) index
/// does the work and the day is then checked exactly.
pub(super) fn bounds(q: &EventQuery) -> (i64, i64) {
    (
        (i64::from(q.period.from.0) - 1) * 86_400_000_000,
        (i64::from(q.period.to.0) + 1) * 86_400_000_000,
    )
}

/// The query of `q`, its `occurred_at` bounds left as parameters ?2 and ?3,
/// so that one prepared statement reads any slice of time.
pub(super) struct Statement {
    sql: String,
    args: Vec<Sql>,
    org: String,
}

impl Statement {
    pub(super) fn new(c: &Connection, q: &EventQuery) -> Result<Statement> {
        let org: i64 = c
            .prepare_cached("SELECT id FROM orgs WHERE ext_id = ?1")
            .and_then(|mut s| s.query_row([&q.org], |r| r.get(0)).optional())
            .map_err(sql_err)?
            .ok_or_else(|| StoreError::NotFound(format!("organisation {}", q.org)))?;
        // Names come from a per-download memory of each id's name rather than
        // six joins per row, which took half of a 2,000,000-row download's reading.
        let mut sql = String::from(
            "SELECT e.event_id, e.occurred_at, e.day, e.user, e.team, e.dept, e.key, e.provider, e.model,
             cv.ext_id, e.tokens_in, e.tokens_out, e.cached_in, e.cache_write_in, e.total_cost,
             e.actual_cost, e.cost_flags
             FROM events e JOIN conversations cv ON cv.id = e.conv
             WHERE e.org = ?1 AND e.occurred_at >= ?2 AND e.occurred_at < ?3 AND e.day >= ?4 AND e.day < ?5"
        );
        // ?2 and ?3, the slice of time, are set by `read`.
        let mut args: Vec<Sql> = vec![
            org.into(),
            Sql::Null,
            Sql::Null,
            i64::from(q.period.from.0).into(),
            i64::from(q.period.to.0).into(),
        ];
        let f = &q.filter;
        // A named value is its id (no id: the subquery is NULL and nothing matches).
        for (want, column, id_of) in [
            (&f.user, "e.user", "SELECT id FROM users WHERE ext_id = ?"),
            (
                &f.team,
                "e.team",
                "SELECT id FROM teams WHERE org = ?1 AND ext_id = ?",
            ),
            (
                &f.department,
                "e.dept",
                "SELECT id FROM departments WHERE org = ?1 AND name = ?",
            ),
            (
                &f.api_key,
                "e.key",
                "SELECT id FROM api_keys WHERE org = ?1 AND ext_id = ?",
            ),
            (&f.model, "e.model", "SELECT id FROM models WHERE name = ?"),
            (
                &f.provider,
                "e.provider",
                "SELECT id FROM providers WHERE name = ?",
            ),
        ] {
            match want {
                None => {}
                Some(None) => sql.push_str(&format!(" AND {column} = 0")),
                Some(Some(v)) => {
                    args.push(v.clone().into());
                    sql.push_str(&format!(" AND {column} = ({id_of}{})", args.len()));
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
        // A page needs ties in event_id order from SQL, for LIMIT to cut in
        // the right place. A download takes the (org, occurred_at) index's
        // order and puts ties in order itself (`read`): the SQL sort of each
        // run of equal instants put every row through SQLite's sorter.
        match q.limit {
            Some(limit) => sql.push_str(&format!(
                " ORDER BY e.occurred_at, e.event_id LIMIT {limit}"
            )),
            None => sql.push_str(" ORDER BY e.occurred_at"),
        }
        Ok(Statement {
            sql,
            args,
            org: q.org.clone(),
        })
    }

    /// The events of `[lo, hi)` in order, to `emit` in batches of at most
    /// `batch` (the last one at the end of the slice). False when `emit`
    /// asked to stop.
    pub(super) fn read(
        &self,
        c: &Connection,
        names: &mut Names,
        (lo, hi): (i64, i64),
        batch: usize,
        emit: &mut impl FnMut(Vec<StoredEvent>) -> bool,
    ) -> Result<bool> {
        let mut s = c.prepare_cached(&self.sql).map_err(sql_err)?;
        let mut args = self.args.clone();
        args[1] = lo.into();
        args[2] = hi.into();
        let mut rows = s.query(rusqlite::params_from_iter(args)).map_err(sql_err)?;
        let mut out: Vec<StoredEvent> = Vec::with_capacity(batch);
        while let Some(r) = rows.next().map_err(sql_err)? {
            let e = named_row(c, names, r, &self.org)?;
            // A batch ends between two instants, never inside a run of ties.
            if out.len() >= batch && out.last().is_some_and(|l| l.occurred_at != e.occurred_at) {
                ties_in_order(&mut out);
                if !emit(std::mem::replace(&mut out, Vec::with_capacity(batch))) {
                    return Ok(false);
                }
            }
            out.push(e);
        }
        ties_in_order(&mut out);
        Ok(out.is_empty() || emit(out))
    }
}

/// Rows in `occurred_at` order get their ties in `event_id` order: the
/// stable sort finds the input already in runs, so this costs one pass.
fn ties_in_order(rows: &mut [StoredEvent]) {
    rows.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
}

/// A row of the download's query as an event, its ids named.
fn named_row(c: &Connection, names: &mut Names, r: &Row, org: &str) -> Result<StoredEvent> {
    let id = |i: usize| r.get::<_, i64>(i).map_err(sql_err);
    let mut name = |dim: Dim, i: usize| -> Result<Option<String>> { names.name(c, dim, id(i)?) };
    let (user, team, department, api_key, provider, model) = (
        name(Dim::User, 3)?,
        name(Dim::Team, 4)?,
        name(Dim::Department, 5)?,
        name(Dim::ApiKey, 6)?,
        name(Dim::Provider, 7)?,
        name(Dim::Model, 8)?,
    );
    let flags: i64 = id(16)?;
    let count = |i: usize| id(i).map(|n| n as u64);
    Ok(StoredEvent {
        organization_id: org.to_owned(),
        event_id: r.get(0).map_err(sql_err)?,
        occurred_at: super::ts(id(1)?),
        day: r.get(2).map_err(sql_err)?,
        user_id: user.unwrap_or_default(),
        team_id: team,
        department,
        api_key_id: api_key,
        provider,
        model: model.unwrap_or_default(),
        conversation_id: r.get(9).map_err(sql_err)?,
        tokens_in: count(10)?,
        tokens_out: count(11)?,
        cached_tokens_in: count(12)?,
        cache_write_tokens_in: count(13)?,
        total_cost: id(14)?,
        actual_api_cost: id(15)?,
        unpriced: flags & crate::aggregate::UNPRICED != 0,
    })
}
