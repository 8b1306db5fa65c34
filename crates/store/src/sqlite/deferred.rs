//! Aggregates added a few commits late while ingestion is busy.
//!
//! Each commit rewrote every page its cube cells, day rows, people's running
//! totals and blocks touched. On `medium` a commit wrote 1.4 pages per event,
//! two thirds of them those tables', and their upserts were a quarter of the
//! writer's time. While more requests wait behind a commit, it now only
//! queues its cell deltas (one row of `pending_cells`, appended) and keeps
//! them in memory; the aggregates take the gathered deltas of several
//! commits at once, each page written once.
//!
//! When the aggregates catch up (`fold`, in the same transaction as the
//! commit that triggers it, and deleting the queued rows):
//! - a commit with nothing waiting behind it, so a lone client reads what it
//!   was just told was stored;
//! - a commit when the oldest queued delta is `FOLD_EVERY` old (250 ms;
//!   `SPENDLENS_FOLD_EVERY_MS`, 0 folding every commit), or the queue holds
//!   `MAX_CELLS` cells, so under a steady load the answers lag the
//!   acknowledgements by at most about that;
//! - before any other write transaction (reprice, rebuild, erasure, packing,
//!   administration), so they see every committed event;
//! - when the writer is idle, and at open (the rows a killed server left).
//!
//! Spend per budget scope (`spend_days`) is never queued: the budget check
//! answers from every acknowledged event (API.md §5).

use super::sql_err;
use crate::aggregate::{decode_cells_into, encode_cells, CellDelta, CellKey};
use crate::contract::Result;
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a queued delta waits while ingestion keeps the writer busy.
pub const FOLD_EVERY: Duration = Duration::from_millis(250);

/// Most cells held in memory (about 150 bytes each) before a fold.
const MAX_CELLS: usize = 150_000;

/// What the queue shares with the rest of the store.
pub struct Controls {
    /// Events waiting behind the ingestion under way, kept by the server's
    /// ingest queue (`Store::ingest_waiting`).
    pub waiting: Arc<AtomicUsize>,
    /// Tests: every commit queues, and only other writes fold.
    pub hold: AtomicBool,
    /// Cells queued, for `/metrics`.
    pub queued: AtomicU64,
    /// Longest a queued delta waits, in milliseconds: `FOLD_EVERY`, or
    /// `SPENDLENS_FOLD_EVERY_MS` when set.
    pub every_ms: AtomicU64,
}

impl Controls {
    pub fn from_env() -> Controls {
        let every = std::env::var("SPENDLENS_FOLD_EVERY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(FOLD_EVERY.as_millis() as u64);
        Controls {
            waiting: Default::default(),
            hold: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            every_ms: AtomicU64::new(every),
        }
    }
}

pub struct Deferred {
    /// Committed to `pending_cells`, not yet in the aggregates.
    cells: HashMap<CellKey, CellDelta>,
    since: Option<Instant>,
    /// What the open transaction did, applied to `cells` only once it commits.
    staged: Staged,
    controls: Arc<Controls>,
}

#[derive(Default)]
enum Staged {
    #[default]
    Nothing,
    Queued(HashMap<CellKey, CellDelta>),
    Folded,
}

impl Deferred {
    pub fn new(controls: Arc<Controls>) -> Deferred {
        Deferred {
            cells: HashMap::new(),
            since: None,
            staged: Staged::Nothing,
            controls,
        }
    }

    /// Take the deltas queued in the store (at open, or after a rolled-back
    /// transaction).
    pub fn reload(&mut self, conn: &Connection) -> Result<()> {
        let mut cells = HashMap::new();
        let mut s = conn
            .prepare("SELECT cells FROM pending_cells ORDER BY id")
            .map_err(sql_err)?;
        let rows = s
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .map_err(sql_err)?;
        for blob in rows {
            let numbers = unpack(&blob.map_err(sql_err)?)?;
            decode_cells_into(&numbers, &mut cells)
                .map_err(|e| anyhow::anyhow!("pending_cells: {e}"))?;
        }
        self.since = (!cells.is_empty()).then(Instant::now);
        self.cells = cells;
        self.staged = Staged::Nothing;
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        self.controls
            .queued
            .store(self.cells.len() as u64, Ordering::Relaxed);
    }

    fn every(&self) -> Duration {
        Duration::from_millis(self.controls.every_ms.load(Ordering::Relaxed))
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Whether the idle writer should fold the queue once it is due.
    pub fn folds_when_idle(&self) -> bool {
        !self.is_empty() && !self.controls.hold.load(Ordering::Relaxed)
    }

    /// How long until the oldest queued delta is due.
    pub fn due_in(&self) -> Duration {
        let every = self.every();
        self.since
            .map_or(Duration::ZERO, |t| every.saturating_sub(t.elapsed()))
    }

    /// Whether this ingestion commit queues its deltas rather than fold:
    /// while more events wait behind it and the queue is not due.
    pub fn may_queue(&self) -> bool {
        if self.controls.hold.load(Ordering::Relaxed) {
            return true;
        }
        let every = self.every();
        self.controls.waiting.load(Ordering::Relaxed) > 0
            && !every.is_zero()
            && self.cells.len() < MAX_CELLS
            && self.since.is_none_or(|t| t.elapsed() < every)
    }

    /// Queue this transaction's deltas in `pending_cells`.
    pub fn queue(&mut self, conn: &Connection, cells: HashMap<CellKey, CellDelta>) -> Result<()> {
        if cells.is_empty() {
            return Ok(());
        }
        conn.prepare_cached("INSERT INTO pending_cells (cells) VALUES (?1)")
            .and_then(|mut s| s.execute([pack(&encode_cells(&cells))]))
            .map_err(sql_err)?;
        self.staged = Staged::Queued(cells);
        Ok(())
    }

    /// Add every queued delta and `more` to the aggregates and empty the
    /// queue, in the open transaction.
    pub fn fold(&mut self, conn: &Connection, more: &HashMap<CellKey, CellDelta>) -> Result<()> {
        if self.cells.is_empty() {
            return super::ingest::add_aggregates(conn, more);
        }
        tracing::debug!(
            queued = self.cells.len(),
            more = more.len(),
            "folding queued cell deltas"
        );
        // Merged in place: a rollback reloads the queue from the store.
        for (k, d) in more {
            self.cells.entry(*k).or_default().add(d);
        }
        self.staged = Staged::Folded;
        super::ingest::add_aggregates(conn, &self.cells)?;
        conn.execute("DELETE FROM pending_cells", [])
            .map_err(sql_err)?;
        Ok(())
    }

    /// The open transaction committed.
    pub fn committed(&mut self) {
        match std::mem::take(&mut self.staged) {
            Staged::Nothing => return,
            Staged::Folded => {
                self.cells.clear();
                self.since = None;
            }
            Staged::Queued(cells) => {
                if self.cells.is_empty() {
                    self.cells = cells;
                } else {
                    for (k, d) in cells {
                        self.cells.entry(k).or_default().add(&d);
                    }
                }
                self.since.get_or_insert_with(Instant::now);
            }
        }
        self.publish();
    }

    /// The open transaction rolled back (on `conn`): the queue is what it was.
    pub fn rolled_back(&mut self, conn: &Connection) {
        if let Staged::Folded = std::mem::take(&mut self.staged) {
            if let Err(e) = self.reload(conn) {
                tracing::error!(error = %e, "cannot reload the queued cell deltas");
                // The store still holds them; the writer's next reset reloads.
                self.cells.clear();
                self.publish();
            }
        }
    }
}

/// The numbers as zigzag LEB128 varints: most are small ids and counts, so a
/// cell takes about 40 bytes instead of 144.
fn pack(numbers: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(numbers.len() * 3);
    for &n in numbers {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    out
}

fn unpack(bytes: &[u8]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut z: u64 = 0;
    let mut shift = 0u32;
    for &b in bytes {
        if shift > 63 {
            return Err(anyhow::anyhow!("pending_cells: a number longer than 64 bits").into());
        }
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            out.push(((z >> 1) as i64) ^ -((z & 1) as i64));
            z = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(anyhow::anyhow!("pending_cells: the last number is cut short").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packed_numbers_come_back(numbers in proptest::collection::vec(any::<i64>(), 0..200)) {
            prop_assert_eq!(unpack(&pack(&numbers)).unwrap(), numbers);
        }
    }

    #[test]
    fn extremes_and_cut_rows() {
        let edge = [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1_000_000_000_000];
        assert_eq!(unpack(&pack(&edge)).unwrap(), edge);
        assert_eq!(pack(&[0, -1, 1]), vec![0, 1, 2]);
        let mut cut = pack(&[i64::MAX]);
        cut.pop();
        assert!(unpack(&cut).is_err());
        assert!(unpack(&[0xff; 11]).is_err());
    }
}
