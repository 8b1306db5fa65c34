//! Idempotency keys, (organisation, event_id) → hash of the canonical payload,
//! kept forever.
//!
//! A B-tree keyed by random event ids takes one write to a random page per new
//! key, which measured as a third of the writer's time on `medium`. So new keys
//! are appended to `event_keys_log` and held in memory; once enough have
//! gathered they are merged into `event_keys` in key order, one write per page
//! touched instead of one per key. A lookup asks memory first, then the table.

use super::sql_err;
use crate::contract::Result;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Keys held in memory before a merge (about 100 bytes each).
const MERGE_AT: usize = 200_000;

#[derive(Default)]
pub struct RecentKeys {
    /// (org, event_id) → (hash, rowid in event_keys_log)
    map: HashMap<(i64, Box<str>), (i64, i64)>,
}

impl RecentKeys {
    /// What the log holds (after open, or after a rolled-back transaction).
    pub fn load(conn: &Connection) -> Result<RecentKeys> {
        let mut map = HashMap::new();
        let mut s = conn
            .prepare("SELECT id, org, event_id, hash FROM event_keys_log")
            .map_err(sql_err)?;
        let rows = s
            .query_map([], |r| {
                Ok((
                    (r.get::<_, i64>(1)?, r.get::<_, String>(2)?.into_boxed_str()),
                    (r.get(3)?, r.get(0)?),
                ))
            })
            .map_err(sql_err)?;
        for row in rows {
            let (k, v) = row.map_err(sql_err)?;
            map.insert(k, v);
        }
        Ok(RecentKeys { map })
    }

    /// The stored hash for this key, if it was ever accepted.
    pub fn find(&self, conn: &Connection, org: i64, event_id: &str) -> Result<Option<i64>> {
        if let Some((hash, _)) = self.map.get(&(org, Box::from(event_id))) {
            return Ok(Some(*hash));
        }
        conn.prepare_cached("SELECT hash FROM event_keys WHERE org = ?1 AND event_id = ?2")
            .and_then(|mut s| s.query_row(params![org, event_id], |r| r.get(0)).optional())
            .map_err(sql_err)
    }

    /// Record a new key (the caller has checked `find`).
    pub fn insert(&mut self, conn: &Connection, org: i64, event_id: &str, hash: i64) -> Result<()> {
        conn.prepare_cached("INSERT INTO event_keys_log (org, event_id, hash) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![org, event_id, hash]))
            .map_err(sql_err)?;
        self.map
            .insert((org, Box::from(event_id)), (hash, conn.last_insert_rowid()));
        Ok(())
    }

    /// Forget a key recorded earlier in the same transaction.
    pub fn remove(&mut self, conn: &Connection, org: i64, event_id: &str) -> Result<()> {
        if let Some((_, rowid)) = self.map.remove(&(org, Box::from(event_id))) {
            conn.prepare_cached("DELETE FROM event_keys_log WHERE id = ?1")
                .and_then(|mut s| s.execute([rowid]))
                .map_err(sql_err)?;
        }
        Ok(())
    }

    /// After a commit: merge into event_keys once enough keys have gathered.
    pub fn maybe_merge(&mut self, conn: &Connection) -> Result<()> {
        if self.map.len() < MERGE_AT {
            return Ok(());
        }
        self.merge(conn)
    }

    /// Move every logged key into event_keys, in key order, in one transaction.
    pub fn merge(&mut self, conn: &Connection) -> Result<()> {
        let started = std::time::Instant::now();
        let n = self.map.len();
        conn.execute_batch(
            // `OR IGNORE`, not `ON CONFLICT DO NOTHING`: an upsert may still
            // abort on another constraint, so SQLite keeps a statement
            // journal of every page it changes: hundreds of MB on the heap
            // for a merge into `large`'s keys. With OR IGNORE nothing can
            // abort halfway (an error rolls the whole transaction back).
            "BEGIN IMMEDIATE;
             INSERT OR IGNORE INTO event_keys (org, event_id, hash)
                 SELECT org, event_id, hash FROM event_keys_log ORDER BY org, event_id;
             DELETE FROM event_keys_log;
             COMMIT;",
        )
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            sql_err(e)
        })?;
        self.map.clear();
        tracing::debug!(
            keys = n,
            ms = started.elapsed().as_millis() as u64,
            "merged idempotency keys"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::migrate::run(&mut c).unwrap();
        c
    }

    fn count(c: &Connection, table: &str) -> i64 {
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn keys_are_found_before_and_after_a_merge_and_after_a_restart() {
        let c = db();
        let mut keys = RecentKeys::load(&c).unwrap();
        for i in 0..1000 {
            keys.insert(&c, i % 3, &format!("e{i}"), i).unwrap();
        }
        assert_eq!(keys.find(&c, 1, "e1").unwrap(), Some(1));
        assert_eq!(
            keys.find(&c, 0, "e1").unwrap(),
            None,
            "keys are per organisation"
        );
        keys.merge(&c).unwrap();
        assert_eq!(
            (count(&c, "event_keys"), count(&c, "event_keys_log")),
            (1000, 0)
        );
        assert_eq!(keys.find(&c, 1, "e1").unwrap(), Some(1));
        assert_eq!(keys.find(&c, 2, "e998").unwrap(), Some(998));
        keys.insert(&c, 0, "late", 7).unwrap();
        // A new writer (restart) sees both the merged and the logged keys.
        let again = RecentKeys::load(&c).unwrap();
        assert_eq!(again.find(&c, 0, "late").unwrap(), Some(7));
        assert_eq!(again.find(&c, 0, "e0").unwrap(), Some(0));
        assert_eq!(again.find(&c, 0, "never").unwrap(), None);
    }

    #[test]
    fn a_removed_key_is_gone_from_memory_and_log() {
        let c = db();
        let mut keys = RecentKeys::default();
        keys.insert(&c, 1, "x", 5).unwrap();
        keys.insert(&c, 1, "y", 6).unwrap();
        keys.remove(&c, 1, "x").unwrap();
        assert_eq!(keys.find(&c, 1, "x").unwrap(), None);
        assert_eq!(
            RecentKeys::load(&c).unwrap().find(&c, 1, "x").unwrap(),
            None
        );
        assert_eq!(
            RecentKeys::load(&c).unwrap().find(&c, 1, "y").unwrap(),
            Some(6)
        );
    }

    #[test]
    fn a_rolled_back_insert_is_forgotten_on_reload() {
        let c = db();
        c.execute_batch("BEGIN").unwrap();
        let mut keys = RecentKeys::default();
        keys.insert(&c, 1, "gone", 1).unwrap();
        c.execute_batch("ROLLBACK").unwrap();
        let keys = RecentKeys::load(&c).unwrap();
        assert_eq!(keys.find(&c, 1, "gone").unwrap(), None);
    }
}
