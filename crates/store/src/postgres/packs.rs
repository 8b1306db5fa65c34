//! Packed cube buckets on PostgreSQL (migration 0008): the embedded store's
//! packs (packs/mod.rs), kept exact with several servers writing.
//!
//! Every change to a bucket's cells goes through `cells::add_cells`, which
//! calls `forget` before it writes: shared advisory locks on the buckets it
//! touches that may be packed, then the DELETE of their packs, in its
//! transaction. A packer takes the bucket's lock exclusively (never waiting:
//! a bucket being written is packed at the next scan) and reads the cells in
//! a statement begun after it has the lock, so it sees every write committed
//! before, and no write can commit between its read and its pack's commit.
//! Erasure renames people in every cell of an organisation: it takes the
//! organisation's lock exclusively (`forget_org`), which a packer holds
//! shared. A reader reads packs and cells in one repeatable-read snapshot:
//! each bucket is either packed, its pack equal to its cells, or not.

use super::db_err;
use super::locks;
use crate::contract::{Result, StoreError};
use crate::packs::groups::{Groups, MAX_KEYS};
use crate::packs::projections::{Projections, Shape};
use crate::packs::sums::{Pick, Queue, Work};
use crate::packs::{encode, may_be_packed, sealed_before, Bucket, DIMS};
use futures_util::TryStreamExt;
use spendlens_domain::time::{local_day, Day, Month};
use sqlx::{PgConnection, PgPool, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The lock key of a bucket's pack: buckets that share one merely wait
/// for each other.
fn bucket_key(org: i64, grain: u8, bucket: i64) -> i32 {
    locks::key_of(
        org.wrapping_mul(1_000_003)
            .wrapping_add(i64::from(grain) << 40)
            .wrapping_add(bucket),
    )
}

fn today_utc() -> Day {
    local_day(jiff::Timestamp::now(), &jiff::tz::TimeZone::UTC)
}

/// Set when this process writes to a bucket older than a recent scan looks
/// at (a backfill, a replay, a load of history): the packer's next scan
/// then looks at every day, and its backlog shows a scan owed until then.
/// Each server's packer sees its own writes, and every server packs. A
/// process holds one such flag for all its stores (tests open several):
/// at worst a store scans wholly once more than it needed.
static OLD_WRITES: AtomicBool = AtomicBool::new(false);

/// The first day a recent scan looks at: the days sealed since the scan
/// before, with a week to spare.
fn recent_since(today: Day) -> i64 {
    i64::from(sealed_before(today).0) - 8
}

/// Whether bucket `bucket` of `grain` is older than a recent scan sees.
fn before_recent(grain: u8, bucket: i64, today: Day) -> bool {
    let since = recent_since(today);
    match grain {
        1 => bucket < since,
        _ => bucket < i64::from(Day(since as i32).month().0),
    }
}

/// Before cells of `buckets` change in this transaction: wait for any packer
/// packing one of them, then drop their packs.
pub(super) async fn forget(
    c: &mut PgConnection,
    buckets: impl Iterator<Item = (i64, u8, i64)>,
) -> Result<()> {
    let today = today_utc();
    let touched: BTreeSet<(i64, u8, i64)> = buckets
        .filter(|(_, grain, bucket)| may_be_packed(*grain, *bucket, today))
        .collect();
    if touched.is_empty() {
        return Ok(());
    }
    if touched.iter().any(|(_, g, b)| before_recent(*g, *b, today)) {
        OLD_WRITES.store(true, Ordering::Relaxed);
    }
    let keys: BTreeMap<i32, bool> = touched
        .iter()
        .map(|(o, g, b)| (bucket_key(*o, *g, *b), false))
        .collect();
    locks::take(c, locks::PACK_BUCKETS, &keys).await?;
    // A statement of its own: its snapshot is taken once the locks are held,
    // so it sees a pack committed while this transaction waited.
    let (mut orgs, mut grains, mut bs) = (vec![], vec![], vec![]);
    for (o, g, b) in touched {
        orgs.push(o);
        grains.push(i16::from(g));
        bs.push(b);
    }
    sqlx::query(
        "DELETE FROM cube_packs WHERE (org, grain, bucket) IN
         (SELECT * FROM UNNEST($1::bigint[], $2::smallint[], $3::bigint[]))",
    )
    .bind(orgs)
    .bind(grains)
    .bind(bs)
    .execute(&mut *c)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Before every cell of organisation `org` may change (erasure): wait for
/// its packers, keep new ones out until the commit, drop its packs.
pub(super) async fn forget_org(c: &mut PgConnection, org: i64) -> Result<()> {
    locks::take_one(c, locks::PACK_ORGS, locks::key_of(org)).await?;
    sqlx::query("DELETE FROM cube_packs WHERE org = $1")
        .bind(org)
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Sealed buckets with cells but no pack, newest last: each organisation's
/// days before `sealed_before(today)` from day `since` on, and their months
/// that ended before.
async fn unpacked(pool: &PgPool, today: Day, since: i64) -> Result<Vec<Bucket>> {
    let cut = sealed_before(today);
    let rows: Vec<(i64, i16, i64)> = sqlx::query_as(concat!(
        "WITH d AS (SELECT org, day AS bucket FROM org_days WHERE day < $1 AND day >= $3),
         m AS (SELECT DISTINCT org, ",
        bucket_month!(),
        " AS month FROM d)
         SELECT org, 1::smallint, bucket FROM d WHERE NOT EXISTS
           (SELECT 1 FROM cube_packs p WHERE p.org = d.org AND p.grain = 1 AND p.bucket = d.bucket)
         UNION ALL
         SELECT org, 2::smallint, month FROM m WHERE month < $2 AND NOT EXISTS
           (SELECT 1 FROM cube_packs p WHERE p.org = m.org AND p.grain = 2 AND p.bucket = m.month)"
    ))
    .bind(i64::from(cut.0))
    .bind(i64::from(cut.month().0))
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut out: Vec<Bucket> = rows
        .into_iter()
        .map(|(org, grain, bucket)| Bucket {
            org,
            grain: grain as u8,
            bucket,
        })
        .collect();
    // Popped from the end: recent history, the most asked, first.
    out.sort_unstable_by_key(|b| {
        let day = match b.grain {
            2 => i64::from(Month(b.bucket as i32).first_day().0),
            _ => b.bucket,
        };
        (day, b.org, b.grain)
    });
    Ok(out)
}

/// Pack bucket `b` from its cells, unless another packer or a writer holds
/// it (it is then left for the next scan) or it is packed already. Returns
/// whether this call packed it.
async fn pack(pool: &PgPool, b: Bucket) -> Result<bool> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let free: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock_shared($1, $2) AND pg_try_advisory_xact_lock($3, $4)
                AND NOT EXISTS (SELECT 1 FROM cube_packs WHERE org = $5 AND grain = $6 AND bucket = $7)",
    )
    .bind(locks::PACK_ORGS)
    .bind(locks::key_of(b.org))
    .bind(locks::PACK_BUCKETS)
    .bind(bucket_key(b.org, b.grain, b.bucket))
    .bind(b.org)
    .bind(i16::from(b.grain))
    .bind(b.bucket)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err)?;
    if !free {
        return Ok(false);
    }
    let mut cells = Vec::new();
    {
        let sql = format!(
            "SELECT usr, team, dept, key, model, provider, {} FROM cube
             WHERE org = $1 AND grain = $2 AND bucket = $3",
            super::dim_days::SUMS
        );
        let mut rows = sqlx::query(&sql)
            .bind(b.org)
            .bind(i16::from(b.grain))
            .bind(b.bucket)
            .fetch(&mut *tx);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let mut dims = [0i64; DIMS];
            for (i, v) in dims.iter_mut().enumerate() {
                *v = r.try_get(i).map_err(db_err)?;
            }
            cells.push((dims, super::dim_days::sums_at(&r, DIMS)?));
        }
    }
    sqlx::query(
        "INSERT INTO cube_packs (org, grain, bucket, cells) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org, grain, bucket) DO UPDATE SET cells = excluded.cells, seq = excluded.seq",
    )
    .bind(b.org)
    .bind(i16::from(b.grain))
    .bind(b.bucket)
    .bind(encode(&cells))
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(true)
}

/// Buckets this packer packed and found unpacked again since: written to
/// while sealed (a backfill, a replay of old events). Each is left for six
/// scans (a minute), doubled each time it comes back up to 180 scans, so a
/// stream of old events does not have its buckets packed again at every
/// scan.
struct Repacks {
    packed: HashMap<Bucket, (Instant, Duration)>,
    first: Duration,
}

impl Repacks {
    fn new(scan_every: Duration) -> Repacks {
        Repacks {
            packed: HashMap::new(),
            first: scan_every * 6,
        }
    }

    /// Whether `b` may be packed now.
    fn due(&self, b: &Bucket) -> bool {
        self.packed
            .get(b)
            .is_none_or(|(at, wait)| at.elapsed() >= *wait)
    }

    fn packed(&mut self, b: Bucket) {
        let wait = match self.packed.get(&b) {
            Some((_, w)) => (*w * 2).min(self.first * 30),
            None => self.first,
        };
        self.packed.insert(b, (Instant::now(), wait));
    }

    /// Forget buckets left alone for twice their wait.
    fn expire(&mut self) {
        self.packed.retain(|_, (at, wait)| at.elapsed() < *wait * 2);
    }
}

/// One scan and the packing of what it found, except what `repacks` (when
/// given) says to leave for now; `backlog` counts down. Returns (found,
/// packed here).
async fn pack_all(
    pool: &PgPool,
    backlog: &AtomicU64,
    mut repacks: Option<&mut Repacks>,
    since: i64,
) -> Result<(usize, usize)> {
    let mut queue = unpacked(pool, today_utc(), since).await?;
    if let Some(r) = repacks.as_deref_mut() {
        r.expire();
        queue.retain(|b| r.due(b));
    }
    let found = queue.len();
    backlog.store(found as u64, Ordering::Relaxed);
    let mut packed = 0;
    while let Some(b) = queue.pop() {
        if pack(pool, b).await? {
            packed += 1;
            if let Some(r) = repacks.as_deref_mut() {
                r.packed(b);
            }
        }
        backlog.store(queue.len() as u64, Ordering::Relaxed);
    }
    Ok((found, packed))
}

/// A scan costs a pass over every organisation's day list (~90,000 rows on
/// `large`): this often, unless `SPENDLENS_PACK_SCAN_MS` says otherwise
/// (tests scan all the time, to pack while servers write).
fn scan_every() -> Duration {
    std::env::var("SPENDLENS_PACK_SCAN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// Each server's packer, stopped when the store goes.
pub(super) struct Packer {
    backlog: Arc<AtomicU64>,
    paused: Arc<AtomicBool>,
    task: tokio::task::AbortHandle,
}

impl Drop for Packer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Packer {
    pub fn start(pool: PgPool) -> Packer {
        // Owed a scan until the first one ends.
        let backlog = Arc::new(AtomicU64::new(1));
        let paused = Arc::new(AtomicBool::new(false));
        let (b, p) = (backlog.clone(), paused.clone());
        let every = scan_every();
        let task = tokio::spawn(async move {
            let mut repacks = Repacks::new(every);
            let mut whole: Option<Instant> = None;
            loop {
                if p.load(Ordering::Relaxed) {
                    tokio::time::sleep(every).await;
                    continue;
                }
                // Every day of every organisation (126 ms of the database's
                // time on `large`) after this server wrote old days, and now
                // and then for another's; in between, the days sealed since.
                let old = OLD_WRITES.load(Ordering::Relaxed);
                if old {
                    // Owed until the scan counts what it found: the backlog
                    // never reads 0 in between.
                    b.store(1, Ordering::Relaxed);
                    OLD_WRITES.store(false, Ordering::Relaxed);
                }
                let since = if old || whole.is_none_or(|t| t.elapsed() >= every * 30) {
                    whole = Some(Instant::now());
                    i64::MIN
                } else {
                    recent_since(today_utc())
                };
                match pack_all(&pool, &b, Some(&mut repacks), since).await {
                    Ok((found, packed)) if found > 0 => {
                        tracing::debug!(found, packed, "cube buckets packed")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "packing cube buckets failed; retried at the next scan")
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
        Packer {
            backlog,
            paused,
            task: task.abort_handle(),
        }
    }

    /// Stop (or restart) packing in the background; `finish` still packs.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed) + u64::from(OLD_WRITES.load(Ordering::Relaxed))
    }
}

/// Pack every sealed bucket now (tests, `bench`): scans until one finds
/// nothing, waiting a little when another packer or a writer holds what is
/// left. Returns the buckets this call packed.
pub(super) async fn finish(pool: &PgPool) -> Result<usize> {
    let idle = AtomicU64::new(0);
    let mut total = 0;
    for _ in 0..1000 {
        let (found, packed) = pack_all(pool, &idle, None, i64::MIN).await?;
        total += packed;
        if found == 0 {
            return Ok(total);
        }
        if packed == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Err(StoreError::Unavailable(
        "cube buckets stayed locked while packing".into(),
    ))
}

/// SQL: the cube's rows (or packs) in any of `parts` (grain, lo, hi), FALSE
/// when there are none. Only integers are written in.
pub(super) fn in_parts(parts: &[(u8, i64, i64)]) -> String {
    if parts.is_empty() {
        return "FALSE".into();
    }
    parts
        .iter()
        .map(|(g, lo, hi)| format!("(grain = {g} AND bucket >= {lo} AND bucket < {hi})"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The groups of a question's day and month `parts` (grain, lo, hi): packs
/// summed on two threads as they arrive (or their groups, kept from an
/// earlier question of the same shape), and the cells of the buckets
/// without one. `cell_where` confines the cells (organisation, filters);
/// `wanted` is the same filter as (pack column, id).
pub(super) async fn groups_of(
    c: &mut PgConnection,
    org: i64,
    group_by: &[crate::query::Dim],
    parts: &[(u8, i64, i64)],
    cell_where: &str,
    wanted: Vec<(usize, i64)>,
    kept: &Arc<Projections>,
) -> Result<Groups> {
    let (tx, queue) = Queue::new();
    let shape = Arc::new(Shape {
        group_by: group_by.to_vec(),
        wanted,
    });
    let pick_shape = shape.clone();
    let pick_kept = kept.clone();
    let summing = tokio::task::spawn_blocking(move || -> Result<Groups> {
        let pick = Pick {
            shape: pick_shape,
            kept: &pick_kept,
        };
        std::thread::scope(|scope| {
            let other = scope.spawn(|| pick.sum(&queue));
            let mut groups = pick.sum(&queue)?;
            let other = other
                .join()
                .map_err(|_| StoreError::Other(anyhow::anyhow!("a pack reader panicked")))??;
            groups.absorb(other)?;
            Ok(groups)
        })
    });
    let mut packed: HashSet<(u8, i64)> = HashSet::new();
    let mut unkept: Vec<i64> = Vec::new();
    {
        let sql = format!(
            "SELECT grain, bucket, seq FROM cube_packs WHERE org = {org} AND ({})",
            in_parts(parts)
        );
        let mut rows = sqlx::query(&sql).persistent(false).fetch(&mut *c);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let grain = r.try_get::<i16, _>(0).map_err(db_err)? as u8;
            let bucket: i64 = r.try_get(1).map_err(db_err)?;
            let seq: i64 = r.try_get(2).map_err(db_err)?;
            packed.insert((grain, bucket));
            match kept.get(seq, &shape) {
                // Only fails once the summing threads have stopped, whose
                // error the join below returns.
                Some(p) => drop(tx.send(Work::Kept(p))),
                None => unkept.push(seq),
            }
        }
    }
    if !unkept.is_empty() {
        // The same snapshot: the packs listed above, cells and all.
        let sql = format!(
            "SELECT grain, bucket, seq, cells FROM cube_packs
             WHERE org = {org} AND ({}) AND seq = ANY($1)",
            in_parts(parts)
        );
        let mut rows = sqlx::query(&sql)
            .bind(&unkept)
            .persistent(false)
            .fetch(&mut *c);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let grain = r.try_get::<i16, _>(0).map_err(db_err)? as u8;
            let work = Work::Pack(
                grain,
                r.try_get(1).map_err(db_err)?,
                r.try_get(2).map_err(db_err)?,
                r.try_get(3).map_err(db_err)?,
            );
            drop(tx.send(work));
        }
    }
    drop(tx);
    let mut rest = Groups::new(group_by);
    let unpacked: Vec<String> = parts
        .iter()
        .filter_map(|(g, lo, hi)| {
            let left: Vec<String> = (*lo..*hi)
                .filter(|b| !packed.contains(&(*g, *b)))
                .map(|b| b.to_string())
                .collect();
            (!left.is_empty()).then(|| format!("(grain = {g} AND bucket IN ({}))", left.join(", ")))
        })
        .collect();
    if !unpacked.is_empty() {
        let n = group_by.len();
        let columns: String = group_by
            .iter()
            .map(|d| format!("{}, ", super::read::cube_column(*d)))
            .collect();
        let sql = format!(
            "SELECT {columns} usr, {} FROM cube WHERE {cell_where} AND ({})",
            super::dim_days::SUMS,
            unpacked.join(" OR ")
        );
        let mut rows = sqlx::query(&sql).persistent(false).fetch(&mut *c);
        while let Some(r) = rows.try_next().await.map_err(db_err)? {
            let mut key = [0i64; MAX_KEYS];
            for (i, k) in key.iter_mut().take(n).enumerate() {
                *k = r.try_get(i).map_err(db_err)?;
            }
            let person: i64 = r.try_get(n).map_err(db_err)?;
            rest.add(&key, person, &super::dim_days::sums_at(&r, n + 1)?)?;
        }
    }
    let mut groups = summing
        .await
        .map_err(|e| StoreError::Other(anyhow::anyhow!("summing packs: {e}")))??;
    groups.absorb(rest)?;
    Ok(groups)
}
