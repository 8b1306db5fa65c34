//! Each pack's groups for a question's shape, kept in memory for the next
//! question of that shape: BENCH.md's "in-process index of hot aggregates".
//! A 180-day breakdown of the largest organisation of `large` decodes about
//! a million cells into 69,000–124,000 groups; the same packs seen through
//! the same grouping hold a few hundred to a few thousand groups each, so
//! the next asking adds those instead of decoding the cells again.
//!
//! Exact by construction: a kept projection is found by the pack's `seq`,
//! which each store gives every pack it writes and never gives again
//! (SQLite: a counter in the pack's transaction; PostgreSQL: a sequence).
//! A pack is never changed in place, only replaced (with a new `seq`) or
//! deleted, so a reader that lists a bucket's pack with a `seq` in its
//! snapshot reads through the projection exactly the cells that snapshot
//! holds. Only sealed buckets are packed, so what arrives now is in the
//! cube's cells, which every question still reads itself: nothing here
//! delays an event.

use crate::query::Dim;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use std::sync::Arc;

/// What a question asks of every pack: its groups, and its filters as
/// (pack column, id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shape {
    pub group_by: Vec<Dim>,
    pub wanted: Vec<(usize, i64)>,
}

/// The people of each group of one pack.
pub enum People {
    /// Not counted: the key holds the person.
    Unneeded,
    /// Counted: the key holds the day, so no other pack adds to the group.
    Counted(Vec<u64>),
    /// The people themselves, ascending, group `i` at `ids[ends[i-1]..ends[i]]`:
    /// other packs' people in the same group are the same or not.
    Listed { ends: Vec<u32>, ids: Vec<u32> },
}

/// The groups of one pack for one shape.
pub struct Projected {
    /// Ids per key (the question's group-by count).
    pub n: usize,
    /// Whether the groups are final (the key holds the day).
    pub sealed: bool,
    /// `n` ids per group.
    pub keys: Vec<i64>,
    pub sums: Vec<[i64; 9]>,
    pub people: People,
}

impl Projected {
    /// Group `i`'s people when counted (sealed), else 1: grouped by person.
    pub fn counted(&self, i: usize) -> u64 {
        match &self.people {
            People::Counted(c) => c[i],
            _ => 1,
        }
    }

    /// The ids of group `i`'s key.
    pub fn key(&self, i: usize) -> &[i64] {
        &self.keys[i * self.n..(i + 1) * self.n]
    }

    /// The people of group `i`, when listed.
    pub fn listed(&self, i: usize) -> Option<&[u32]> {
        match &self.people {
            People::Listed { ends, ids } => {
                let from = if i == 0 { 0 } else { ends[i - 1] as usize };
                Some(&ids[from..ends[i] as usize])
            }
            _ => None,
        }
    }

    /// Bytes held, roughly: what the cache's budget counts.
    fn bytes(&self) -> u64 {
        let people = match &self.people {
            People::Unneeded => 0,
            People::Counted(c) => c.len() * 8,
            People::Listed { ends, ids } => (ends.len() + ids.len()) * 4,
        };
        (std::mem::size_of::<Self>() + self.keys.len() * 8 + self.sums.len() * 72 + people) as u64
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    seq: i64,
    shape: Arc<Shape>,
}

#[derive(Clone)]
struct Bytes;

impl Weighter<Key, Arc<Projected>> for Bytes {
    fn weight(&self, _: &Key, p: &Arc<Projected>) -> u64 {
        p.bytes()
    }
}

/// Projections kept, by pack and shape, within a byte budget (least
/// recently used first out, as quick_cache's CLOCK-Pro approximates it).
pub struct Projections(Option<Cache<Key, Arc<Projected>, Bytes>>);

/// `SPENDLENS_PACK_CACHE_MB` (default 64; 0 keeps nothing). The questions
/// of the benchmark on `large` keep 31 MB.
pub fn budget_from_env() -> u64 {
    std::env::var("SPENDLENS_PACK_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

impl Default for Projections {
    fn default() -> Self {
        Projections::from_env()
    }
}

impl Projections {
    pub fn new(megabytes: u64) -> Projections {
        let bytes = megabytes << 20;
        // quick_cache sizes its table by the items it expects: a pack's
        // projection is tens of kB.
        Projections(
            (bytes > 0)
                .then(|| Cache::with_weighter((bytes / 16_384).max(64) as usize, bytes, Bytes)),
        )
    }

    pub fn from_env() -> Projections {
        Projections::new(budget_from_env())
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    pub fn get(&self, seq: i64, shape: &Arc<Shape>) -> Option<Arc<Projected>> {
        self.0.as_ref()?.get(&Key {
            seq,
            shape: shape.clone(),
        })
    }

    pub fn keep(&self, seq: i64, shape: &Arc<Shape>, p: Arc<Projected>) {
        if let Some(cache) = &self.0 {
            cache.insert(
                Key {
                    seq,
                    shape: shape.clone(),
                },
                p,
            );
        }
    }

    /// (projections kept, bytes) for `/metrics`.
    pub fn held(&self) -> (u64, u64) {
        self.0
            .as_ref()
            .map_or((0, 0), |c| (c.len() as u64, c.weight()))
    }
}
