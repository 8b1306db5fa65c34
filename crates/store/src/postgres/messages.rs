//! Retained events streamed in batches for exports (sqlite/messages.rs).
//!
//! The events are read through a cursor in time order, as the internal ids
//! they are stored with. A join in the cursor's query would cost more:
//! PostgreSQL hashes the names, which loses the time order, so it sorted the
//! whole range before the first row left it, spilling to disk, while the
//! server waited (`medium`, acme's 294,619 messages: 600 ms of PostgreSQL
//! with two workers, against 330 ms for the ordered scan alone).
//!
//! Each fetched chunk's names (people, teams, keys, models, conversations…)
//! are looked up in one statement on a second connection that shares the
//! cursor's snapshot (`pg_export_snapshot`), and kept for the chunks after.
//! The two connections work side by side: PostgreSQL reads the next chunk
//! while the server decodes and names this one.
//!
//! Memory stays flat: two chunks at a time, a slow receiver holds the
//! socket, and the conversations' names are forgotten past a bound.
use super::db_err;
use super::read::{cube_column, filter_ids};
use super::scope::enter_org;
use crate::contract::Result;
use crate::model::*;
use crate::query::EventQuery;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::hash_map::{Entry, HashMap};
use tokio::sync::mpsc;

/// Rows fetched from the cursor at a time.
const CHUNK: usize = 2_500;

/// Conversations' names kept between chunks; past it they are looked up
/// again (a conversation's messages are close in time, so this is rare).
const CONVERSATIONS_KEPT: usize = 20_000;

/// Rows go to `tx` in batches of `batch`; a closed receiver ends the stream
/// quietly. `c` is in a read transaction; `pool` lends an export its second
/// connection (a page, `q.limit` set, is named on `c`).
pub async fn stream(
    c: &mut PgConnection,
    pool: &PgPool,
    q: &EventQuery,
    batch: usize,
    tx: mpsc::Sender<Vec<StoredEvent>>,
) -> Result<()> {
    stream_sized(c, pool, q, batch, (CHUNK, CONVERSATIONS_KEPT), tx).await
}

/// `stream`, fetching `chunk` rows at a time and keeping up to `kept`
/// conversations' names (small in tests, to cross both bounds).
async fn stream_sized(
    c: &mut PgConnection,
    pool: &PgPool,
    q: &EventQuery,
    batch: usize,
    (chunk, kept): (usize, usize),
    tx: mpsc::Sender<Vec<StoredEvent>>,
) -> Result<()> {
    let org = enter_org(c, &q.org).await?;
    let Some(sql) = cursor_sql(c, org, q).await? else {
        return Ok(());
    };
    let mut declare = sqlx::query(&sql);
    if let Some((at, id)) = &q.after {
        declare = declare.bind(*at).bind(id.as_str());
    }
    declare.execute(&mut *c).await.map_err(db_err)?;
    let mut namer = Namer::new(org, &q.org, batch, kept, tx);
    if q.limit.is_some() {
        // A page (at most a hundred rows or so): one fetch, named here.
        let rows = fetch(c, "ALL").await?;
        if namer.take(c, rows).await? {
            namer.finish().await;
        }
        return Ok(());
    }
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
    let mut names_tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(db_err)?;
    // The snapshot's name comes from PostgreSQL (hex digits and dashes).
    sqlx::query(&format!(
        "SET TRANSACTION SNAPSHOT '{}'",
        snapshot.replace('\'', "''")
    ))
    .execute(&mut *names_tx)
    .await
    .map_err(db_err)?;
    enter_org(&mut names_tx, &q.org).await?;

    let (chunks_tx, mut chunks) = mpsc::channel::<Vec<PgRow>>(1);
    let fetcher = async move {
        let count = chunk.to_string();
        loop {
            let rows = fetch(c, &count).await?;
            let fetched = rows.len();
            // A closed channel: the namer stopped (its receiver went).
            if fetched > 0 && chunks_tx.send(rows).await.is_err() {
                return Ok(());
            }
            if fetched < chunk {
                return Ok::<(), crate::contract::StoreError>(());
            }
        }
    };
    let naming = async {
        while let Some(rows) = chunks.recv().await {
            if !namer.take(&mut names_tx, rows).await? {
                return Ok(());
            }
        }
        namer.finish().await;
        Ok(())
    };
    // When the namer stops, its receiver goes and the fetcher stops too.
    tokio::try_join!(fetcher, naming)?;
    Ok(())
}

/// The next `count` rows (a number, or `ALL`) of the cursor.
async fn fetch(c: &mut PgConnection, count: &str) -> Result<Vec<PgRow>> {
    sqlx::query(&format!("FETCH {count} FROM export"))
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)
}

/// Names fetched rows and sends them on in batches.
struct Namer<'q> {
    names: Names,
    org: i64,
    org_ext: &'q str,
    events: Vec<StoredEvent>,
    batch: usize,
    kept: usize,
    tx: mpsc::Sender<Vec<StoredEvent>>,
}

impl<'q> Namer<'q> {
    fn new(
        org: i64,
        org_ext: &'q str,
        batch: usize,
        kept: usize,
        tx: mpsc::Sender<Vec<StoredEvent>>,
    ) -> Self {
        let batch = batch.max(1);
        Namer {
            names: Names::default(),
            org,
            org_ext,
            events: Vec::with_capacity(batch),
            batch,
            kept,
            tx,
        }
    }

    /// Name `rows`, looking up on `c` what is not known yet, and send every
    /// full batch; false once the receiver went.
    async fn take(&mut self, c: &mut PgConnection, rows: Vec<PgRow>) -> Result<bool> {
        let raws = rows
            .iter()
            .map(Raw::of)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(db_err)?;
        drop(rows);
        if self.names.convs.len() > self.kept {
            self.names.convs.clear();
        }
        self.names.learn(c, self.org, &raws).await?;
        for raw in raws {
            // Users, models and conversations are never missing; if one
            // were, the event is left out, as an inner join would.
            let Some(e) = self.names.event(raw, self.org_ext) else {
                continue;
            };
            self.events.push(e);
            if self.events.len() == self.batch {
                let full = std::mem::replace(&mut self.events, Vec::with_capacity(self.batch));
                if self.tx.send(full).await.is_err() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Send the last, partial batch.
    async fn finish(self) {
        if !self.events.is_empty() {
            let _ = self.tx.send(self.events).await;
        }
    }
}

/// The cursor's declaration for `q` in organisation `org` (internal id);
/// None when a filter names nothing. Only integers (internal ids, days) are
/// written into the SQL; keyset paging binds $1 and $2.
async fn cursor_sql(c: &mut PgConnection, org: i64, q: &EventQuery) -> Result<Option<String>> {
    // Local days are within ±1 UTC day of their instants: bound occurred_at so
    // the (org, occurred_at) index does the work, then check the day exactly.
    let (from, to) = (i64::from(q.period.from.0), i64::from(q.period.to.0));
    let mut sql = format!(
        "DECLARE export NO SCROLL CURSOR FOR
         SELECT event_id, occurred_at, day, usr, team, dept, key, provider, model, conv,
                tokens_in, tokens_out, cached_in, cache_write_in, total_cost, actual_cost, cost_flags
         FROM events WHERE org = {org} AND occurred_at >= {} AND occurred_at < {}
         AND day >= {from} AND day < {to}",
        (from - 1) * 86_400_000_000,
        (to + 1) * 86_400_000_000
    );
    let Some(fixed) = filter_ids(c, org, &q.filter).await? else {
        return Ok(None);
    };
    for (dim, id) in fixed {
        sql.push_str(&format!(" AND {} = {id}", cube_column(dim)));
    }
    // Event ids compare byte by byte, as in SQLite, whatever the database's collation.
    if q.after.is_some() {
        sql.push_str(
            " AND occurred_at >= $1 AND (occurred_at > $1 OR (occurred_at = $1 AND event_id COLLATE \"C\" > $2))",
        );
    }
    sql.push_str(" ORDER BY occurred_at, event_id COLLATE \"C\"");
    if let Some(l) = q.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    Ok(Some(sql))
}

/// One event as stored: names as internal ids.
struct Raw {
    event_id: String,
    occurred_at: i64,
    day: i64,
    /// user, team, department, key, provider, model (at `USER`…`MODEL`).
    ids: [i64; 6],
    conv: i64,
    counts: [i64; 4],
    total_cost: i64,
    actual_cost: i64,
    flags: i64,
}

impl Raw {
    /// Unchecked: the cursor's columns are the table's bigint and text
    /// columns, and checking each value's type was a tenth of the export's
    /// time in the server.
    fn of(r: &PgRow) -> std::result::Result<Raw, sqlx::Error> {
        Ok(Raw {
            event_id: r.try_get_unchecked(0)?,
            occurred_at: r.try_get_unchecked(1)?,
            day: r.try_get_unchecked(2)?,
            ids: [
                r.try_get_unchecked(3)?,
                r.try_get_unchecked(4)?,
                r.try_get_unchecked(5)?,
                r.try_get_unchecked(6)?,
                r.try_get_unchecked(7)?,
                r.try_get_unchecked(8)?,
            ],
            conv: r.try_get_unchecked(9)?,
            counts: [
                r.try_get_unchecked(10)?,
                r.try_get_unchecked(11)?,
                r.try_get_unchecked(12)?,
                r.try_get_unchecked(13)?,
            ],
            total_cost: r.try_get_unchecked(14)?,
            actual_cost: r.try_get_unchecked(15)?,
            flags: r.try_get_unchecked(16)?,
        })
    }
}

/// Positions in `Raw::ids` and `Names::dims`, and the tag the lookup
/// statement gives each table's rows (conversations are 6).
const USER: usize = 0;
const TEAM: usize = 1;
const DEPT: usize = 2;
const KEY: usize = 3;
const PROVIDER: usize = 4;
const MODEL: usize = 5;
const CONV: usize = 6;

/// Names of internal ids, as far as the chunks so far needed them; an id
/// looked up and not found is kept as None (0, "none", is never looked up).
#[derive(Default)]
struct Names {
    dims: [HashMap<i64, Option<String>>; 6],
    convs: HashMap<i64, Option<String>>,
}

impl Names {
    /// Look up, in one statement, every name of `raws` not known yet.
    async fn learn(&mut self, c: &mut PgConnection, org: i64, raws: &[Raw]) -> Result<()> {
        // Each id is asked once: marked unknown (None) as it is first seen,
        // so one not found stays None and is not asked again.
        let mut asks: [Vec<i64>; 7] = Default::default();
        for r in raws {
            for (k, id) in r.ids.iter().enumerate() {
                if *id != 0 {
                    if let Entry::Vacant(v) = self.dims[k].entry(*id) {
                        v.insert(None);
                        asks[k].push(*id);
                    }
                }
            }
            if let Entry::Vacant(v) = self.convs.entry(r.conv) {
                v.insert(None);
                asks[CONV].push(r.conv);
            }
        }
        if asks.iter().all(Vec::is_empty) {
            return Ok(());
        }
        let [users, teams, depts, keys, providers, models, convs] = &asks;
        let found: Vec<(i32, i64, String)> = sqlx::query_as(
            "SELECT 0, id, ext_id FROM users WHERE id = ANY($1)
             UNION ALL SELECT 1, id, ext_id FROM teams WHERE id = ANY($2)
             UNION ALL SELECT 2, id, name FROM departments WHERE id = ANY($3)
             UNION ALL SELECT 3, id, ext_id FROM api_keys WHERE id = ANY($4)
             UNION ALL SELECT 4, id, name FROM providers WHERE id = ANY($5)
             UNION ALL SELECT 5, id, name FROM models WHERE id = ANY($6)
             UNION ALL SELECT 6, id, ext_id FROM conversations WHERE org = $7 AND id = ANY($8)",
        )
        .bind(users)
        .bind(teams)
        .bind(depts)
        .bind(keys)
        .bind(providers)
        .bind(models)
        .bind(org)
        .bind(convs)
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
        for (k, id, name) in found {
            let map = match usize::try_from(k) {
                Ok(CONV) => &mut self.convs,
                Ok(k) if k < CONV => &mut self.dims[k],
                _ => continue,
            };
            map.insert(id, Some(name));
        }
        Ok(())
    }

    fn name(&self, k: usize, id: i64) -> Option<String> {
        self.dims[k].get(&id).cloned().flatten()
    }

    fn event(&self, r: Raw, org: &str) -> Option<StoredEvent> {
        Some(StoredEvent {
            organization_id: org.to_owned(),
            event_id: r.event_id,
            occurred_at: super::ts(r.occurred_at),
            day: r.day as i32,
            user_id: self.name(USER, r.ids[USER])?,
            team_id: self.name(TEAM, r.ids[TEAM]),
            department: self.name(DEPT, r.ids[DEPT]),
            api_key_id: self.name(KEY, r.ids[KEY]),
            provider: self.name(PROVIDER, r.ids[PROVIDER]),
            model: self.name(MODEL, r.ids[MODEL])?,
            conversation_id: self.convs.get(&r.conv).cloned().flatten()?,
            tokens_in: r.counts[0] as u64,
            tokens_out: r.counts[1] as u64,
            cached_tokens_in: r.counts[2] as u64,
            cache_write_tokens_in: r.counts[3] as u64,
            total_cost: r.total_cost,
            actual_api_cost: r.actual_cost,
            unpriced: r.flags & crate::aggregate::UNPRICED != 0,
        })
    }
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
