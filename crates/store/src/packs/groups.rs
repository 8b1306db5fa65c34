//! The groups of a cube question, summed in memory (read.rs `figures`).
//! Questions group by at most three dimensions but one (the focus page's
//! six), so their keys are three ids: a 180-day breakdown of the largest
//! organisation of `large` holds 124,000 groups, and keys of all ten ids
//! made a third of what it hashed, moved and held.
//!
//! When the key holds the bucket (grouped by day), a bucket's groups are
//! final once its cells are summed: they are sealed (people counted, moved
//! out of the map) bucket by bucket, so the map stays the size of one day's
//! groups instead of growing, rehashing and missing the cache through all
//! 124,000.
//!
//! When the key holds the person and no time (user × model: 69,000 groups
//! over 180 days), each person's few groups are a short list of their own,
//! found once per run of the person's cells (a pack holds them in a row),
//! instead of one large map missing the cache at every cell.

use super::people_union::PeopleUnion;
use super::projections::{People, Projected};
use crate::contract::{Result, StoreError};
use crate::query::{Dim, Figures, IdRows};
use std::sync::Arc;

/// Ids a key holds when the question groups by at most this many dimensions.
const FEW: usize = 3;
/// Group keys a cube question may have: every dimension once.
pub const MAX_KEYS: usize = 10;

/// An error for a question grouped by more keys than a group holds.
pub fn check_width(n: usize) -> Result<()> {
    if n > MAX_KEYS {
        return Err(StoreError::Other(anyhow::anyhow!(
            "at most {MAX_KEYS} group keys, {n} asked"
        )));
    }
    Ok(())
}

/// A group's nine sums and its people. Most groups of a long breakdown
/// hold a handful of people, which a plain list holds without the
/// allocations of a bitmap per group.
type Group = ([i64; 9], PeopleUnion);

/// Groups keyed by `K` ids: those still summed, and those sealed.
#[derive(Default)]
pub struct Keyed<const K: usize> {
    open: foldhash::HashMap<[i64; K], Group>,
    /// (key, sums, people) of groups no cell is left for.
    sealed: Vec<([i64; K], [i64; 9], u64)>,
    /// Kept packs' groups that are final as they are (keyed by day): held,
    /// not copied into `sealed` (124,000 groups of 104 bytes over 180 days,
    /// grown a doubling at a time).
    kept_sealed: Vec<Arc<Projected>>,
}

/// Groups of a question keyed by person and no time, person by person.
#[derive(Default)]
pub struct ByPerson {
    /// Person → index in `lists`.
    slot: foldhash::HashMap<i64, u32>,
    /// The person of the last cell and their index.
    last: Option<(i64, u32)>,
    lists: Vec<Vec<([i64; FEW], [i64; 9])>>,
    /// Where the person is in a key.
    user_at: usize,
}

pub enum Groups {
    Few(Keyed<FEW>, bool),
    All(Keyed<MAX_KEYS>, bool),
    Person(ByPerson),
}

/// `sums += cell`, or an error as SQL's sum() gives, never a wrapped figure.
fn add_sums(sums: &mut [i64; 9], cell: &[i64; 9]) -> Result<()> {
    let mut overflow = false;
    for (v, d) in sums.iter_mut().zip(cell) {
        let (sum, o) = v.overflowing_add(*d);
        (*v, overflow) = (sum, overflow | o);
    }
    if overflow {
        return Err(StoreError::Other(anyhow::anyhow!("integer overflow")));
    }
    Ok(())
}

impl<const K: usize> Keyed<K> {
    fn add(&mut self, key: [i64; K], person: Option<i64>, cell: &[i64; 9]) -> Result<()> {
        let (sums, people) = self.open.entry(key).or_default();
        add_sums(sums, cell)?;
        if let Some(p) = person {
            people.insert(p as u32);
        }
        Ok(())
    }

    /// The open groups, people counted, moved to `sealed`; the map keeps
    /// its room for the next bucket.
    fn seal(&mut self, count_people: bool) {
        self.sealed
            .extend(self.open.drain().map(|(key, (sums, people))| {
                (key, sums, if count_people { people.into_len() } else { 1 })
            }));
    }

    fn absorb(&mut self, other: Keyed<K>) -> Result<()> {
        self.sealed.extend(other.sealed);
        self.kept_sealed.extend(other.kept_sealed);
        // The larger map takes the smaller's groups.
        let mut from = other.open;
        if from.len() > self.open.len() {
            std::mem::swap(&mut from, &mut self.open);
        }
        for (key, (sums, people)) in from {
            let (s, p) = self.open.entry(key).or_default();
            add_sums(s, &sums)?;
            p.absorb(people);
        }
        Ok(())
    }

    /// This pack's groups (`sealed`: final, the key holds the day), the map
    /// left empty with its room.
    fn project(&mut self, n: usize, count_people: bool, sealed: bool) -> Projected {
        let size = self.open.len() + self.sealed.len();
        let (mut keys, mut sums) = (Vec::with_capacity(size * n), Vec::with_capacity(size));
        let people = if sealed {
            self.seal(count_people);
            let mut counts = Vec::with_capacity(size);
            for (key, s, p) in self.sealed.drain(..) {
                keys.extend_from_slice(&key[..n]);
                sums.push(s);
                counts.push(p);
            }
            if count_people {
                People::Counted(counts)
            } else {
                People::Unneeded
            }
        } else {
            let (mut ends, mut ids) = (Vec::new(), Vec::new());
            for (key, (s, p)) in self.open.drain() {
                keys.extend_from_slice(&key[..n]);
                sums.push(s);
                if count_people {
                    ids.extend(p.into_members());
                    ends.push(ids.len() as u32);
                }
            }
            if count_people {
                People::Listed { ends, ids }
            } else {
                People::Unneeded
            }
        };
        Projected {
            n,
            sealed,
            keys,
            sums,
            people,
        }
    }

    fn add_projected(&mut self, p: &Arc<Projected>, count_people: bool) -> Result<()> {
        if p.sealed {
            self.kept_sealed.push(p.clone());
            return Ok(());
        }
        for (i, sums) in p.sums.iter().enumerate() {
            let mut key = [0i64; K];
            key[..p.n].copy_from_slice(p.key(i));
            let (s, people) = self.open.entry(key).or_default();
            add_sums(s, sums)?;
            if count_people {
                if let Some(listed) = p.listed(i) {
                    people.extend(listed);
                }
            }
        }
        Ok(())
    }

    fn finish(
        mut self,
        n: usize,
        count_people: bool,
        order: Order,
        keep: impl Fn(&[i64], &[i64; 9]) -> bool,
    ) -> IdRows {
        self.seal(count_people);
        if order == Order::ByKey {
            for p in std::mem::take(&mut self.kept_sealed) {
                for i in 0..p.sums.len() {
                    let mut key = [0i64; K];
                    key[..p.n].copy_from_slice(p.key(i));
                    self.sealed.push((key, p.sums[i], p.counted(i)));
                }
            }
            return ordered(self.sealed, n, order, keep);
        }
        let kept: usize = self.kept_sealed.iter().map(|p| p.sums.len()).sum();
        let mut out = ordered(self.sealed, n, order, &keep);
        out.reserve(kept);
        for p in &self.kept_sealed {
            for (i, sums) in p.sums.iter().enumerate() {
                if keep(p.key(i), sums) {
                    let mut figures = Figures::from_sums(*sums);
                    figures.active_users = p.counted(i);
                    out.push(p.key(i), figures);
                }
            }
        }
        out
    }
}

/// In which order a question's groups are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// By their ids: the same order on every backend.
    ByKey,
    /// As found: for an asker that orders them itself.
    Any,
}

/// The groups `keep` accepts, in `order` by their first `n` ids.
fn ordered<const K: usize>(
    mut all: Vec<([i64; K], [i64; 9], u64)>,
    n: usize,
    order: Order,
    keep: impl Fn(&[i64], &[i64; 9]) -> bool,
) -> IdRows {
    all.retain(|(ids, sums, _)| keep(&ids[..], sums));
    let mut out = IdRows::with_capacity(n, all.len());
    let mut push = |(ids, sums, people): &([i64; K], [i64; 9], u64)| {
        let mut figures = Figures::from_sums(*sums);
        figures.active_users = *people;
        out.push(&ids[..], figures);
    };
    if order == Order::Any {
        all.iter().for_each(push);
        return out;
    }
    // Keys and positions sorted, not the groups themselves: a long
    // breakdown's 124,000 groups of 104 bytes each made the sort a tenth
    // of its time, and collecting them in place shrank the list by a copy.
    // Ids past `n` are zero, so whole keys order as their first `n` ids.
    let mut by_key: Vec<([i64; K], u32)> = all
        .iter()
        .enumerate()
        .map(|(i, (ids, _, _))| (*ids, i as u32))
        .collect();
    by_key.sort_unstable();
    by_key.iter().for_each(|(_, at)| push(&all[*at as usize]));
    out
}

impl ByPerson {
    fn add(&mut self, key: [i64; FEW], person: i64, cell: &[i64; 9]) -> Result<()> {
        let at = match self.last {
            Some((p, at)) if p == person => at,
            _ => {
                let next = self.lists.len() as u32;
                let at = *self.slot.entry(person).or_insert(next);
                if at == next {
                    self.lists.push(Vec::new());
                }
                self.last = Some((person, at));
                at
            }
        };
        let list = &mut self.lists[at as usize];
        match list.iter_mut().find(|(k, _)| *k == key) {
            Some((_, sums)) => add_sums(sums, cell),
            None => {
                list.push((key, *cell));
                Ok(())
            }
        }
    }

    fn absorb(&mut self, mut other: ByPerson) -> Result<()> {
        for (person, at) in std::mem::take(&mut other.slot) {
            for (key, sums) in std::mem::take(&mut other.lists[at as usize]) {
                self.add(key, person, &sums)?;
            }
        }
        Ok(())
    }

    fn project(&mut self, n: usize) -> Projected {
        self.slot.clear();
        self.last = None;
        let (mut keys, mut sums) = (Vec::new(), Vec::new());
        for (key, s) in self.lists.drain(..).flatten() {
            keys.extend_from_slice(&key[..n]);
            sums.push(s);
        }
        Projected {
            n,
            sealed: false,
            keys,
            sums,
            people: People::Unneeded,
        }
    }

    fn add_projected(&mut self, p: &Projected) -> Result<()> {
        for (i, sums) in p.sums.iter().enumerate() {
            let mut key = [0i64; FEW];
            key[..p.n].copy_from_slice(p.key(i));
            self.add(key, key[self.user_at], sums)?;
        }
        Ok(())
    }

    fn finish(self, n: usize, order: Order, keep: impl Fn(&[i64], &[i64; 9]) -> bool) -> IdRows {
        if order == Order::Any {
            // Straight from the lists: a copy of 69,000 groups fewer.
            let mut out = IdRows::with_capacity(n, self.lists.iter().map(Vec::len).sum());
            for (key, sums) in self.lists.iter().flatten() {
                if keep(&key[..], sums) {
                    let mut figures = Figures::from_sums(*sums);
                    figures.active_users = 1;
                    out.push(&key[..], figures);
                }
            }
            return out;
        }
        let all = self
            .lists
            .into_iter()
            .flatten()
            .map(|(key, sums)| (key, sums, 1))
            .collect();
        ordered(all, n, order, keep)
    }
}

impl Groups {
    /// Groups keyed by the ids of `group_by`. A group keyed by person has
    /// that one person: no people to count.
    pub fn new(group_by: &[Dim]) -> Self {
        let by_person = group_by.contains(&Dim::User);
        let timeless = !group_by
            .iter()
            .any(|d| matches!(d, Dim::Day | Dim::Week | Dim::Month | Dim::Hour));
        match group_by.len() {
            n if n <= FEW && by_person && timeless => Groups::Person(ByPerson {
                user_at: group_by.iter().position(|d| *d == Dim::User).unwrap_or(0),
                ..ByPerson::default()
            }),
            n if n <= FEW => Groups::Few(Keyed::default(), !by_person),
            _ => Groups::All(Keyed::default(), !by_person),
        }
    }

    /// Add a cell of `person` to the group of `key` (ids past the
    /// question's `n` are zero).
    pub fn add(&mut self, key: &[i64; MAX_KEYS], person: i64, cell: &[i64; 9]) -> Result<()> {
        match self {
            Groups::Few(g, count) => g.add(
                std::array::from_fn(|i| key[i]),
                count.then_some(person),
                cell,
            ),
            Groups::All(g, count) => g.add(*key, count.then_some(person), cell),
            Groups::Person(g) => g.add(std::array::from_fn(|i| key[i]), person, cell),
        }
    }

    /// Room for `more` groups without growing the map.
    pub fn reserve(&mut self, more: usize) {
        match self {
            Groups::Few(g, _) => g.open.reserve(more),
            Groups::All(g, _) => g.open.reserve(more),
            Groups::Person(_) => {}
        }
    }

    /// No cell added from now on falls in a group added so far: true when
    /// the key holds the bucket and the bucket's cells are all added.
    pub fn seal(&mut self) {
        match self {
            Groups::Few(g, count) => g.seal(*count),
            Groups::All(g, count) => g.seal(*count),
            Groups::Person(_) => {}
        }
    }

    /// The groups summed so far, as one pack's projection (`sealed`: the
    /// key holds the day); `self` is left empty, its room kept.
    pub fn project(&mut self, n: usize, sealed: bool) -> Projected {
        match self {
            Groups::Few(g, count) => g.project(n, *count, sealed),
            Groups::All(g, count) => g.project(n, *count, sealed),
            Groups::Person(g) => g.project(n),
        }
    }

    /// A pack's projection's groups added, as its cells would be.
    pub fn add_projected(&mut self, p: &Arc<Projected>) -> Result<()> {
        match self {
            Groups::Few(g, count) => g.add_projected(p, *count),
            Groups::All(g, count) => g.add_projected(p, *count),
            Groups::Person(g) => g.add_projected(p),
        }
    }

    /// The groups of `other` (another part of the same question's cells)
    /// too; its sealed groups are of buckets this one has not summed.
    pub fn absorb(&mut self, other: Groups) -> Result<()> {
        match (self, other) {
            (Groups::Few(a, _), Groups::Few(b, _)) => a.absorb(b),
            (Groups::All(a, _), Groups::All(b, _)) => a.absorb(b),
            (Groups::Person(a), Groups::Person(b)) => a.absorb(b),
            _ => Err(StoreError::Other(anyhow::anyhow!(
                "groups of different widths cannot be joined"
            ))),
        }
    }

    /// The groups `keep` accepts (given a key's ids and sums), in `order`,
    /// each with its first `n` ids.
    pub fn finish(
        self,
        n: usize,
        order: Order,
        keep: impl Fn(&[i64], &[i64; 9]) -> bool,
    ) -> IdRows {
        match self {
            Groups::Few(g, count) => g.finish(n, count, order, keep),
            Groups::All(g, count) => g.finish(n, count, order, keep),
            Groups::Person(g) => g.finish(n, order, keep),
        }
    }
}
