//! The groups of a cube question, summed in memory (read.rs `figures`).
//! Questions group by at most three dimensions but one (the focus page's
//! six), so their keys are three ids: a 180-day breakdown of the largest
//! organisation of `large` holds 124,000 groups, and keys of all ten ids
//! made a third of what it hashed, moved and held.

use super::dim_days::KeyedFigures;
use crate::query::Figures;
use roaring::RoaringBitmap;

/// Ids a key holds when the question groups by at most this many dimensions.
const FEW: usize = 3;
/// Group keys a cube question may have: every dimension once.
pub const MAX_KEYS: usize = 10;

/// A group's nine sums and its people.
type Group = ([i64; 9], RoaringBitmap);

pub enum Groups {
    Few(foldhash::HashMap<[i64; FEW], Group>),
    All(foldhash::HashMap<[i64; MAX_KEYS], Group>),
}

impl Groups {
    /// Groups keyed by the first `n` ids.
    pub fn new(n: usize) -> Self {
        if n <= FEW {
            Groups::Few(Default::default())
        } else {
            Groups::All(Default::default())
        }
    }

    /// The group of `key` (ids past the question's `n` are zero).
    pub fn entry(&mut self, key: &[i64; MAX_KEYS]) -> &mut Group {
        match self {
            Groups::Few(m) => m.entry(std::array::from_fn(|i| key[i])).or_default(),
            Groups::All(m) => m.entry(*key).or_default(),
        }
    }

    /// The groups `keep` accepts (given a key's ids and sums), ordered by key,
    /// each with its first `n` ids; `people` says how many people a group
    /// has when its bitmap is not kept (1 when grouped by person).
    pub fn finish(
        self,
        n: usize,
        people: Option<u64>,
        keep: impl Fn(&[i64], &[i64; 9]) -> bool,
    ) -> Vec<KeyedFigures> {
        match self {
            Groups::Few(m) => sorted(m, n, people, keep),
            Groups::All(m) => sorted(m, n, people, keep),
        }
    }
}

/// Drained into (key, sums, people) with each bitmap counted and dropped
/// as it goes, then ordered by key: the same order on every backend.
fn sorted<const K: usize>(
    groups: foldhash::HashMap<[i64; K], Group>,
    n: usize,
    people: Option<u64>,
    keep: impl Fn(&[i64], &[i64; 9]) -> bool,
) -> Vec<KeyedFigures> {
    let mut drained: Vec<([i64; K], [i64; 9], u64)> = groups
        .into_iter()
        .filter(|(ids, (sums, _))| keep(&ids[..], sums))
        .map(|(ids, (sums, bitmap))| (ids, sums, people.unwrap_or_else(|| bitmap.len())))
        .collect();
    drained.sort_unstable_by(|a, b| a.0[..n].cmp(&b.0[..n]));
    drained
        .into_iter()
        .map(|(ids, sums, people)| {
            let mut figures = Figures::from_sums(sums);
            figures.active_users = people;
            (ids[..n].to_vec(), figures)
        })
        .collect()
}
