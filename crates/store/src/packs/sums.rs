//! Summing a question's packed cells into its groups (read.rs `figures`),
//! on two threads: a 180-day breakdown of the largest organisation of
//! `large` decodes about a million cells, which one core takes most of its
//! time over. The reader hands each pack to a queue as soon as it has
//! copied it out of its snapshot (so both threads sum the same commits);
//! a second thread starts decoding while the reader reads the rest, reads
//! the cube's unpacked cells, then takes packs from the queue too. A pack
//! whose groups for the question's shape are kept (projections.rs) is
//! handed over as those groups, and a pack summed here leaves its own.

use super::groups::{Groups, MAX_KEYS};
use super::projections::{Projected, Projections, Shape};
use crate::contract::Result;
use crate::query::Dim;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// What a summing thread is handed.
pub enum Work {
    /// A pack read from the store: (grain, bucket, seq, cells).
    Pack(u8, i64, i64, Vec<u8>),
    /// A pack's groups kept from an earlier question of the same shape.
    Kept(Arc<Projected>),
}

/// Work handed out one item at a time to whichever thread is free, as the
/// reader finds it; empty once the reader's sender is dropped.
pub struct Queue(Mutex<Receiver<Work>>);

impl Queue {
    pub fn new() -> (Sender<Work>, Queue) {
        let (tx, rx) = channel();
        (tx, Queue(Mutex::new(rx)))
    }

    fn take(&self) -> Option<Work> {
        self.0.lock().ok()?.recv().ok()
    }
}

/// What a question takes from each pack, and where packs' groups are kept.
pub struct Pick<'a> {
    pub shape: Arc<Shape>,
    pub kept: &'a Projections,
}

impl Pick<'_> {
    /// The groups of the work `queue` hands this thread.
    pub fn sum(&self, queue: &Queue) -> Result<Groups> {
        let mut groups = Groups::new(&self.shape.group_by);
        self.sum_into(&mut groups, queue)?;
        Ok(groups)
    }

    pub fn sum_into(&self, groups: &mut Groups, queue: &Queue) -> Result<()> {
        // Grouped by day, each pack's groups are its own (a day's cells are
        // in its one pack or in the cube, never both): final once summed.
        let by_day = self.shape.group_by.contains(&Dim::Day);
        let n = self.shape.group_by.len();
        let mut scratch: Option<Groups> = None;
        while let Some(work) = queue.take() {
            let (grain, bucket, seq, blob) = match work {
                Work::Kept(p) => {
                    groups.add_projected(&p)?;
                    continue;
                }
                Work::Pack(grain, bucket, seq, blob) => (grain, bucket, seq, blob),
            };
            if !self.kept.enabled() {
                add_pack(groups, &self.shape, grain, bucket, &blob)?;
                if by_day {
                    groups.seal();
                }
                continue;
            }
            let one = scratch.get_or_insert_with(|| {
                // Room for a pack's cells up front: the groups of a
                // month's pack otherwise grow the map through rehashes.
                let mut g = Groups::new(&self.shape.group_by);
                g.reserve(super::cell_count(&blob));
                g
            });
            add_pack(one, &self.shape, grain, bucket, &blob)?;
            let projected = Arc::new(one.project(n, by_day));
            groups.add_projected(&projected)?;
            self.kept.keep(seq, &self.shape, projected);
        }
        Ok(())
    }
}

/// A pack's cells that `shape` wants, added to `groups`.
pub fn add_pack(
    groups: &mut Groups,
    shape: &Shape,
    grain: u8,
    bucket: i64,
    blob: &[u8],
) -> Result<()> {
    super::decode(blob, |dims, sums| {
        if shape.wanted.iter().any(|(i, id)| dims[*i] != *id) {
            return Ok(());
        }
        let mut key = [0i64; MAX_KEYS];
        for (k, d) in key.iter_mut().zip(&shape.group_by) {
            *k = match d {
                Dim::Day | Dim::Hour => bucket,
                Dim::Week => bucket - (bucket + 3) % 7,
                Dim::Month => super::month_of(grain, bucket),
                other => super::pack_column(*other).map_or(0, |i| dims[i]),
            };
        }
        groups.add(&key, dims[super::USER], sums)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packs::groups::Order;
    use crate::query::IdRows;
    use proptest::prelude::*;

    /// (grain, bucket, seq, cells)
    type Pack = (u8, i64, i64, Vec<u8>);

    /// The queue a reader fills: each pack's kept groups when `kept` has
    /// them, else the pack.
    fn queued(packs: &[Pack], pick: &Pick) -> Queue {
        let (tx, queue) = Queue::new();
        for (grain, bucket, seq, blob) in packs {
            let work = match pick.kept.get(*seq, &pick.shape) {
                Some(p) => Work::Kept(p),
                None => Work::Pack(*grain, *bucket, *seq, blob.clone()),
            };
            tx.send(work).unwrap();
        }
        queue
    }

    fn cells() -> impl Strategy<Value = Vec<([i64; crate::packs::DIMS], crate::packs::Sums)>> {
        proptest::collection::vec(
            (
                proptest::array::uniform6(0i64..4),
                proptest::array::uniform9(-3i64..1_000_000),
            ),
            0..40,
        )
    }

    proptest! {
        /// Packs summed on two threads and joined give the groups, sums and
        /// people of a direct count, for any grouping and filter, whether
        /// no, some or all of the packs' groups were kept from before.
        #[test]
        fn halves_and_kept_groups_sum_as_the_cells(
            days in proptest::collection::vec(cells(), 2..8),
            dims in proptest::sample::subsequence(
                vec![Dim::User, Dim::Team, Dim::ApiKey, Dim::Model, Dim::Day, Dim::Week, Dim::Month],
                0..=3,
            ),
            filter in proptest::option::of((1usize..6, 0i64..4)),
        ) {
            let packs: Vec<Pack> = days
                .iter()
                .enumerate()
                .map(|(i, cells)| (1, 20_000 + i as i64, 100 + i as i64, crate::packs::encode(cells)))
                .collect();
            let shape = Arc::new(Shape {
                group_by: dims.clone(),
                wanted: filter.into_iter().collect(),
            });
            let wanted = &shape.wanted;
            let n = dims.len();
            let people = dims.contains(&Dim::User).then_some(1);
            // Independently: every kept cell's key and sums, grouped.
            let mut direct: std::collections::BTreeMap<Vec<i64>, ([i64; 9], std::collections::BTreeSet<i64>)> =
                Default::default();
            for (i, cells) in days.iter().enumerate() {
                let bucket = 20_000 + i as i64;
                for (d, sums) in cells.iter().filter(|(d, _)| wanted.iter().all(|(c, id)| d[*c] == *id)) {
                    let key = dims
                        .iter()
                        .map(|dim| match dim {
                            Dim::Day => bucket,
                            // 1970-01-05 was a Monday.
                            Dim::Week => bucket - (bucket - 4).rem_euclid(7),
                            Dim::Month => crate::packs::month_of(1, bucket),
                            Dim::User => d[0],
                            Dim::Team => d[1],
                            Dim::ApiKey => d[3],
                            _ => d[4],
                        })
                        .collect();
                    let (s, p) = direct.entry(key).or_default();
                    s.iter_mut().zip(sums).for_each(|(a, b)| *a += b);
                    p.insert(d[0]);
                }
            }
            let direct: Vec<_> = direct
                .into_iter()
                .map(|(key, (sums, p))| {
                    let mut f = crate::query::Figures::from_sums(sums);
                    f.active_users = people.unwrap_or(p.len() as u64);
                    (key, f)
                })
                .collect();
            let direct = IdRows::from_keyed(n, direct);
            // In no order, the same groups (day-keyed kept ones held apart).
            let any = |rows: IdRows| {
                let mut v: Vec<_> = rows.iter().map(|(k, f)| (k.to_vec(), *f)).collect();
                v.sort_by(|a, b| a.0.cmp(&b.0));
                IdRows::from_keyed(n, v)
            };
            let (none, some) = (Projections::new(0), Projections::new(1));
            for kept in [&none, &some, &some] {
                let pick = Pick { shape: shape.clone(), kept };
                let one = pick.sum(&queued(&packs, &pick)).unwrap().finish(n, Order::ByKey, |_, _| true);
                prop_assert_eq!(&one, &direct);
                let one = pick.sum(&queued(&packs, &pick)).unwrap().finish(n, Order::Any, |_, _| true);
                prop_assert_eq!(&any(one), &direct);
            }
            for cut in 0..=packs.len() {
                // Fresh projections of the first part only, kept ones of the rest.
                let (a, b) = packs.split_at(cut);
                let second = Pick { shape: shape.clone(), kept: &some };
                let join = || {
                    let fresh = Projections::new(1);
                    let first = Pick { shape: shape.clone(), kept: &fresh };
                    let mut joined = first.sum(&queued(a, &first)).unwrap();
                    joined.absorb(second.sum(&queued(b, &second)).unwrap()).unwrap();
                    joined
                };
                prop_assert_eq!(&join().finish(n, Order::ByKey, |_, _| true), &direct);
                prop_assert_eq!(&any(join().finish(n, Order::Any, |_, _| true)), &direct);
            }
        }
    }
}
