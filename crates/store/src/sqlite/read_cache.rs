//! What reads keep in memory for later reads: slices of people's running
//! totals (person_cum.rs) and organisations' people's names. Exact by
//! construction: an entry is reused only by a read whose snapshot is known to
//! hold the very same commits as the read that cached it.
//!
//! The writer bumps a generation counter to odd just before each COMMIT and
//! back to even just after (`Writing`). A read notes the counter, opens its
//! snapshot, and notes it again: when both are the same even number, no
//! commit was in flight or landed in between, so the snapshot holds exactly
//! the commits up to that generation, and any slice cached under that
//! generation is what this snapshot would read. Otherwise the read bypasses
//! the cache. A write invalidates everything, which is right for a slice
//! (every later slice takes a late event's delta) and costs one re-read.

use crate::packs::projections::Projections;
use rusqlite::Connection;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One slice: (person, the nine running sums), ordered by person.
pub type Slice = Arc<Vec<(i64, [i64; 9])>>;

/// Entries kept at most per kind (a slice of the largest organisation of
/// `large`: ~400 kB).
const KEEP: usize = 64;

/// An organisation's people: internal id → external id.
pub type People = Arc<HashMap<i64, String>>;

#[derive(Default)]
pub struct ReadCache {
    generation: AtomicU64,
    /// Packs' groups by pack number: exact whatever the generation.
    projections: Projections,
    slices: Mutex<HashMap<(i64, i64), (u64, Slice)>>,
    people: Mutex<HashMap<i64, (u64, People)>>,
}

thread_local! {
    /// The current read's cache, and the generation its snapshot holds when
    /// known.
    static CURRENT: RefCell<Option<(Option<u64>, Arc<ReadCache>)>> = const { RefCell::new(None) };
}

/// Held by the writer around a COMMIT.
pub struct Writing<'a>(&'a ReadCache);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl ReadCache {
    /// Mark a commit in flight until the guard drops (after COMMIT returns,
    /// whether it succeeded or not).
    pub fn writing(&self) -> Writing<'_> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        Writing(self)
    }

    pub fn projections(&self) -> &Projections {
        &self.projections
    }

    /// Run a read on `conn`, inside the transaction `read()` opened, with the
    /// cache usable when the snapshot's generation is known.
    pub fn with_snapshot<T>(
        self: &Arc<Self>,
        conn: &Connection,
        f: impl FnOnce(&Connection) -> T,
    ) -> T {
        let before = self.generation.load(Ordering::SeqCst);
        // A deferred transaction takes its snapshot at its first read.
        let opened = conn
            .prepare_cached("SELECT 1 FROM orgs LIMIT 1")
            .and_then(|mut s| s.query_row([], |_| Ok(())))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(()),
                e => Err(e),
            })
            .is_ok();
        let after = self.generation.load(Ordering::SeqCst);
        let known = opened && before == after && before.is_multiple_of(2);
        CURRENT.with(|c| *c.borrow_mut() = Some((known.then_some(before), self.clone())));
        // Cleared even if `f` panics: the thread serves other reads after.
        let _clear = Clear;
        f(conn)
    }
}

struct Clear;

impl Drop for Clear {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// The generation of the commits the current read's snapshot holds, when
/// known: two reads whose snapshots have the same generation see the same
/// data.
pub fn generation() -> Option<u64> {
    CURRENT.with(|c| c.borrow().as_ref().and_then(|(g, _)| *g))
}

/// `f` with the store's kept projections of packs, or none outside a read.
pub fn with_projections<T>(f: impl FnOnce(&Projections) -> T) -> T {
    match CURRENT.with(|c| c.borrow().as_ref().map(|(_, cache)| cache.clone())) {
        Some(cache) => f(&cache.projections),
        None => f(&Projections::new(0)),
    }
}

/// Whether reads that noted these generations (`generation`) all saw the
/// very same commits: every generation known, and all equal.
pub fn same_snapshot(generations: &[Option<u64>]) -> bool {
    generations
        .iter()
        .all(|g| g.is_some() && *g == generations[0])
}

/// The slice of `org` at `day`: from memory when this read may use it, else
/// read by `read` (and kept for the reads of the same generation).
pub fn slice<E>(
    org: i64,
    day: i64,
    read: impl FnOnce() -> Result<Vec<(i64, [i64; 9])>, E>,
) -> Result<Slice, E> {
    cached(|c| &c.slices, (org, day), read)
}

/// The people of `org` by internal id, kept like the slices.
pub fn people<E>(
    org: i64,
    read: impl FnOnce() -> Result<HashMap<i64, String>, E>,
) -> Result<People, E> {
    cached(|c| &c.people, org, read)
}

fn cached<K: Eq + std::hash::Hash, V, E>(
    table: impl Fn(&ReadCache) -> &Mutex<HashMap<K, (u64, Arc<V>)>>,
    key: K,
    read: impl FnOnce() -> Result<V, E>,
) -> Result<Arc<V>, E> {
    let current = CURRENT.with(|c| c.borrow().clone());
    let Some((Some(generation), cache)) = current else {
        return read().map(Arc::new);
    };
    if let Ok(map) = table(&cache).lock() {
        if let Some((g, v)) = map.get(&key) {
            if *g == generation {
                return Ok(v.clone());
            }
        }
    }
    let fresh = Arc::new(read()?);
    if let Ok(mut map) = table(&cache).lock() {
        if map.len() >= KEEP {
            map.retain(|_, (g, _)| *g == generation);
        }
        if map.len() >= KEEP {
            map.clear();
        }
        map.insert(key, (generation, fresh.clone()));
    }
    Ok(fresh)
}
