//! Summing a question's packed cells into its groups (read.rs `figures`),
//! on two threads: a 180-day breakdown of the largest organisation of
//! `large` decodes about a million cells, which one core takes most of its
//! time over. The reader hands each pack to a queue as soon as it has
//! copied it out of its snapshot (so both threads sum the same commits);
//! a second thread starts decoding while the reader reads the rest, reads
//! the cube's unpacked cells, then takes packs from the queue too.

use super::groups::{Groups, MAX_KEYS};
use crate::contract::Result;
use crate::query::Dim;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

/// (grain, bucket, pack)
pub type Pack = (u8, i64, Vec<u8>);

/// Packs handed out one at a time to whichever thread is free, as the
/// reader reads them; empty once the reader's sender is dropped.
pub struct Queue(Mutex<Receiver<Pack>>);

impl Queue {
    pub fn new() -> (Sender<Pack>, Queue) {
        let (tx, rx) = channel();
        (tx, Queue(Mutex::new(rx)))
    }

    fn take(&self) -> Option<Pack> {
        self.0.lock().ok()?.recv().ok()
    }
}

/// What a question takes from each cell.
pub struct Pick<'a> {
    pub group_by: &'a [Dim],
    /// (pack column, id) every cell must have: the question's filters.
    pub wanted: &'a [(usize, i64)],
}

impl Pick<'_> {
    /// The groups of the packs `queue` hands this thread.
    pub fn sum(&self, queue: &Queue) -> Result<Groups> {
        let mut groups = Groups::new(self.group_by);
        self.sum_into(&mut groups, queue)?;
        Ok(groups)
    }

    pub fn sum_into(&self, groups: &mut Groups, queue: &Queue) -> Result<()> {
        // Grouped by day, each pack's groups are its own (packs.rs: a day's
        // cells are in its one pack or in the cube, never both).
        let by_day = self.group_by.contains(&Dim::Day);
        let mut first = true;
        while let Some((grain, bucket, blob)) = queue.take() {
            if std::mem::take(&mut first) {
                // Room for a pack's cells up front: the groups of a long
                // range otherwise grow the map through a dozen rehashes.
                groups.reserve(super::cell_count(&blob));
            }
            super::decode(&blob, |dims, sums| {
                if self.wanted.iter().any(|(i, id)| dims[*i] != *id) {
                    return Ok(());
                }
                let mut key = [0i64; MAX_KEYS];
                for (k, d) in key.iter_mut().zip(self.group_by) {
                    *k = match d {
                        Dim::Day | Dim::Hour => bucket,
                        Dim::Week => bucket - (bucket + 3) % 7,
                        Dim::Month => super::month_of(grain, bucket),
                        other => super::pack_column(*other).map_or(0, |i| dims[i]),
                    };
                }
                groups.add(&key, dims[super::USER], sums)
            })?;
            if by_day {
                groups.seal();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn queued(packs: &[Pack]) -> Queue {
        let (tx, queue) = Queue::new();
        packs.iter().for_each(|p| tx.send(p.clone()).unwrap());
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
        /// people that one thread gives, for any grouping and filter.
        #[test]
        fn two_halves_sum_as_one(
            days in proptest::collection::vec(cells(), 2..8),
            dims in proptest::sample::subsequence(
                vec![Dim::User, Dim::Team, Dim::ApiKey, Dim::Model, Dim::Day, Dim::Month],
                1..=3,
            ),
            filter in proptest::option::of((1usize..6, 0i64..4)),
        ) {
            let packs: Vec<Pack> = days
                .iter()
                .enumerate()
                .map(|(i, cells)| (1, 20_000 + i as i64, crate::packs::encode(cells)))
                .collect();
            let wanted: Vec<(usize, i64)> = filter.into_iter().collect();
            let pick = Pick {
                group_by: &dims,
                wanted: &wanted,
            };
            let n = dims.len();
            let people = dims.contains(&Dim::User).then_some(1);
            let one = pick.sum(&queued(&packs)).unwrap().finish(n, |_, _| true);
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
            prop_assert_eq!(&one, &direct);
            for cut in 0..=packs.len() {
                let (a, b) = packs.split_at(cut);
                let mut joined = pick.sum(&queued(a)).unwrap();
                joined.absorb(pick.sum(&queued(b)).unwrap()).unwrap();
                prop_assert_eq!(&joined.finish(n, |_, _| true), &one);
            }
        }
    }
}
