//! Packed cube buckets (migration 0009). A breakdown over a long range used
//! to step through every day and month cell of the range, one SQLite row
//! each (~1 µs a row: 700 ms for the largest organisation of `large` over
//! 180 days). A pack holds all the cells of one organisation's day or month
//! as one blob of varints, which decodes at a few nanoseconds a field.
//!
//! Exact by construction: the cube's triggers delete a bucket's pack in the
//! same transaction as any change to its cells, so a reader finds either a
//! pack equal to the cells of its snapshot or no pack (and reads the cells).
//! The writer packs buckets only once they are past the late-event window
//! (`sealed_before`), so packs are rarely thrown away; when a late event
//! does land in a packed bucket, the next scan packs it again.

use super::sql_err;
use crate::contract::Result;
use crate::packs::{encode, sealed_before, Bucket, DIMS};
use rusqlite::{params, Connection};
use spendlens_domain::time::{Day, Month};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The packs of `org` at `grain` with buckets in `[lo, hi)`, as (bucket,
/// seq), without their cells.
pub fn in_range(
    c: &Connection,
    org: i64,
    grain: u8,
    (lo, hi): (i64, i64),
) -> Result<Vec<(i64, i64)>> {
    let mut s = c
        .prepare_cached(
            "SELECT bucket, seq FROM cube_packs WHERE org = ?1 AND grain = ?2 AND bucket >= ?3 AND bucket < ?4",
        )
        .map_err(sql_err)?;
    let rows = s
        .query_map(params![org, grain, lo, hi], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql_err)?;
    rows.collect::<rusqlite::Result<_>>().map_err(sql_err)
}

/// The cells of one pack `in_range` found (in the same snapshot).
pub fn cells(c: &Connection, org: i64, grain: u8, bucket: i64) -> Result<Vec<u8>> {
    c.prepare_cached("SELECT cells FROM cube_packs WHERE org = ?1 AND grain = ?2 AND bucket = ?3")
        .and_then(|mut s| s.query_row(params![org, grain, bucket], |r| r.get(0)))
        .map_err(sql_err)
}

/// Sealed buckets with cells but no pack: each organisation's days before
/// `cut`, and its months that ended before it.
pub fn unpacked(c: &Connection, cut: Day) -> Result<Vec<Bucket>> {
    let mut have = HashSet::new();
    {
        let mut s = c
            .prepare_cached("SELECT org, grain, bucket FROM cube_packs")
            .map_err(sql_err)?;
        let mut rows = s.query([]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            have.insert(Bucket {
                org: r.get(0).map_err(sql_err)?,
                grain: r.get(1).map_err(sql_err)?,
                bucket: r.get(2).map_err(sql_err)?,
            });
        }
    }
    let month_cut = i64::from(cut.month().0);
    let mut want = Vec::new();
    let mut s = c
        .prepare_cached("SELECT org, day FROM org_days WHERE day < ?1 ORDER BY org, day")
        .map_err(sql_err)?;
    let mut rows = s.query([cut.0]).map_err(sql_err)?;
    let mut last_month = None;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let (org, day): (i64, i32) = (r.get(0).map_err(sql_err)?, r.get(1).map_err(sql_err)?);
        let month = i64::from(Day(day).month().0);
        let mut consider = |b: Bucket| {
            if !have.contains(&b) {
                want.push(b);
            }
        };
        consider(Bucket {
            org,
            grain: 1,
            bucket: i64::from(day),
        });
        if month < month_cut && last_month != Some((org, month)) {
            last_month = Some((org, month));
            consider(Bucket {
                org,
                grain: 2,
                bucket: month,
            });
        }
    }
    Ok(want)
}

/// Pack one bucket from its cells (replacing any pack it had).
pub fn pack(c: &Connection, b: Bucket) -> Result<usize> {
    let mut cells = Vec::new();
    {
        let mut s = c
            .prepare_cached(&format!(
                "SELECT user, team, dept, key, model, provider, {} FROM cube
                 WHERE org = ?1 AND grain = ?2 AND bucket = ?3",
                super::org_days::SUMS
            ))
            .map_err(sql_err)?;
        let mut rows = s
            .query(params![b.org, b.grain, b.bucket])
            .map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let (mut dims, mut sums) = ([0i64; DIMS], [0i64; 9]);
            for (i, v) in dims.iter_mut().chain(sums.iter_mut()).enumerate() {
                *v = r.get(i).map_err(sql_err)?;
            }
            cells.push((dims, sums));
        }
    }
    // A number never given before (migration 0010): readers keep a pack's
    // groups by it.
    let seq: i64 = c
        .prepare_cached("UPDATE pack_seq SET n = n + 1 WHERE id = 1 RETURNING n")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(sql_err)?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO cube_packs (org, grain, bucket, seq, cells) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![b.org, b.grain, b.bucket, seq, encode(&cells)]))
    .map_err(sql_err)?;
    Ok(cells.len())
}

/// The writer's packing work: what is left to pack, and when it last looked.
pub struct Packer {
    queue: Vec<Bucket>,
    scanned: Option<Instant>,
    stepped: Option<Instant>,
    /// Written to (or time passed) since the last scan.
    dirty: bool,
    /// Only `finish_upkeep` packs (tests that need the cells read).
    paused: bool,
    /// Buckets known to wait, plus one while a scan is owed: for `/metrics`
    /// and `bench`, which waits for 0 before timing reads.
    backlog: Arc<AtomicU64>,
}

impl Default for Packer {
    fn default() -> Self {
        Packer {
            queue: Vec::new(),
            scanned: None,
            stepped: None,
            dirty: true,
            paused: false,
            backlog: Arc::new(AtomicU64::new(1)),
        }
    }
}

/// A scan reads every organisation's day list (~25 ms for `large`): after
/// writes, at most this often while idle, and this often while busy.
const IDLE_SCAN_EVERY: Duration = Duration::from_secs(5);
const BUSY_SCAN_EVERY: Duration = Duration::from_secs(30);
/// Without writes, days still seal as time passes.
const QUIET_SCAN_EVERY: Duration = Duration::from_secs(60);
/// The writer is idle after this long without a job.
pub const IDLE_AFTER: Duration = Duration::from_millis(100);
/// How long one packing transaction may hold the writer while events wait.
pub const STEP_FOR: Duration = Duration::from_millis(40);
/// Under steady ingestion, one packing transaction at most this often.
const BUSY_EVERY: Duration = Duration::from_secs(30);

impl Packer {
    pub fn backlog(&self) -> Arc<AtomicU64> {
        self.backlog.clone()
    }

    fn publish(&self) {
        let owed = u64::from(self.dirty || self.scanned.is_none());
        self.backlog
            .store(self.queue.len() as u64 + owed, Ordering::Relaxed);
    }

    fn scan_allowed(&self, idle: bool) -> bool {
        let every = if idle {
            IDLE_SCAN_EVERY
        } else {
            BUSY_SCAN_EVERY
        };
        self.scanned
            .is_none_or(|t| self.dirty && t.elapsed() >= every)
    }

    /// Work is waiting that a writer may do now.
    pub fn has_work(&self, idle: bool) -> bool {
        !self.paused && (!self.queue.is_empty() || self.scan_allowed(idle))
    }

    pub fn pause(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// How long an idle writer with nothing to pack may wait for a job.
    pub fn wait_for(&self) -> Duration {
        match self.scanned {
            Some(t) if self.dirty => IDLE_SCAN_EVERY.saturating_sub(t.elapsed()),
            Some(_) => QUIET_SCAN_EVERY,
            None => Duration::ZERO,
        }
    }

    /// The store was written to, or `wait_for` passed without a job.
    pub fn wrote(&mut self) {
        self.dirty = true;
        self.publish();
    }

    /// A busy writer packs a little now and then, so a store that never
    /// idles still gets packed.
    pub fn due_while_busy(&self) -> bool {
        self.has_work(false) && self.stepped.is_none_or(|t| t.elapsed() >= BUSY_EVERY)
    }

    /// After a failed (rolled-back) step: forget the queue and scan again
    /// when next allowed, not at once.
    pub fn retry_later(&mut self) {
        self.queue.clear();
        self.scanned = Some(Instant::now());
        self.dirty = true;
        self.publish();
    }

    pub fn rescan_now(&mut self) {
        self.queue.clear();
        self.scanned = None;
        self.publish();
    }

    /// Inside the writer's transaction: scan when allowed, then pack from
    /// the queue for up to `budget` (all of it when None). Returns buckets
    /// packed.
    pub fn step(
        &mut self,
        c: &Connection,
        today_utc: Day,
        budget: Option<Duration>,
    ) -> Result<usize> {
        let started = Instant::now();
        self.stepped = Some(started);
        if self.queue.is_empty() && self.scan_allowed(true) {
            self.scanned = Some(started);
            self.dirty = false;
            self.queue = unpacked(c, sealed_before(today_utc))?;
            // Popped from the end: recent history, the most asked, is
            // packed first (a month counts from its first day).
            self.queue.sort_unstable_by_key(|b| {
                let day = match b.grain {
                    2 => i64::from(Month(b.bucket as i32).first_day().0),
                    _ => b.bucket,
                };
                (day, b.org, b.grain)
            });
        }
        let mut done = 0;
        while let Some(b) = self.queue.pop() {
            pack(c, b)?;
            done += 1;
            if budget.is_some_and(|d| started.elapsed() >= d) {
                break;
            }
        }
        // Counted as done before the COMMIT: a failed one rescans.
        self.publish();
        Ok(done)
    }
}
