//! Counting the people of many bitmaps at once (a range's days and blocks,
//! or many organisations). Roaring's `|=` rebuilds an array container on
//! every union, so folding thirty bitmaps of a few hundred people each into
//! one copied the growing union thirty times: a third of the organisation
//! page's time over 180 days on `large`. Here a union stays a plain list
//! while it is small; past `FEW` people, each 65,536 ids share one plain bitset
//! (8 KiB) that every further bitmap's people are set into. A question's
//! groups with that many people are few (its values, not its days), so the
//! memory stays small.

use roaring::RoaringBitmap;

const WORDS: usize = 1 << 10;
const FEW: u64 = 256;

#[derive(Default)]
pub struct PeopleUnion {
    /// The people while they are few (then empty): appended as they come,
    /// duplicates and all, and made a set only when the list outgrows
    /// `2 * FEW` or is counted. Roaring's `|=` of small bitmaps allocated
    /// a new array per union: an eighth of the platform endpoints' time.
    few: Vec<u32>,
    /// (ids >> 16, their bitset): few, as ids are dense from 1.
    chunks: Vec<(u32, Box<[u64; WORDS]>)>,
}

impl PeopleUnion {
    fn index(&mut self, high: u32) -> usize {
        match self.chunks.iter().position(|(h, _)| *h == high) {
            Some(i) => i,
            None => {
                self.chunks.push((high, Box::new([0; WORDS])));
                self.chunks.len() - 1
            }
        }
    }

    fn set(&mut self, at: usize, person: u32) {
        let low = (person & 0xFFFF) as usize;
        self.chunks[at].1[low >> 6] |= 1 << (low & 63);
    }

    pub fn insert(&mut self, person: u32) {
        if self.chunks.is_empty() {
            self.few.push(person);
            self.compact_if_long();
            return;
        }
        let at = self.index(person >> 16);
        self.set(at, person);
    }

    pub fn add(&mut self, people: &RoaringBitmap) {
        if self.chunks.is_empty() {
            self.few.extend(people);
            self.compact_if_long();
            return;
        }
        self.set_all(people.iter());
    }

    /// Past `2 * FEW` entries, make the list a set; if the set still holds
    /// more than `FEW` people, move them into the bitsets.
    fn compact_if_long(&mut self) {
        if self.few.len() as u64 <= 2 * FEW {
            return;
        }
        self.few.sort_unstable();
        self.few.dedup();
        if self.few.len() as u64 > FEW {
            let few = std::mem::take(&mut self.few);
            self.set_all(few.into_iter());
        }
    }

    fn set_all(&mut self, people: impl Iterator<Item = u32>) {
        // Ids mostly come in order: a chunk is found once per run of its ids.
        let (mut high, mut at) = (u32::MAX, 0);
        for person in people {
            if person >> 16 != high {
                high = person >> 16;
                at = self.index(high);
            }
            self.set(at, person);
        }
    }

    /// Everyone of `other` too (another reader's part of the same group).
    pub fn absorb(&mut self, other: PeopleUnion) {
        if self.chunks.is_empty() && other.chunks.is_empty() {
            self.few.extend(other.few);
            self.compact_if_long();
            return;
        }
        if self.chunks.is_empty() {
            // Keep the side with bitsets, and set the plain list into it.
            let few = std::mem::replace(self, other).few;
            self.set_all(few.into_iter());
            return;
        }
        self.set_all(other.few.into_iter());
        for (high, words) in other.chunks {
            let at = self.index(high);
            for (w, o) in self.chunks[at].1.iter_mut().zip(words.iter()) {
                *w |= o;
            }
        }
    }

    /// Everyone of a stored people bitmap (roaring's portable form, as the
    /// day tables keep it): read straight from its bytes, or, in a form
    /// `add_serialized` does not read, deserialised (nobody when damaged).
    pub fn add_stored(&mut self, blob: &[u8]) {
        if !self.add_serialized(blob) {
            self.add(&RoaringBitmap::deserialize_from(blob).unwrap_or_default());
        }
    }

    /// Everyone of a bitmap in roaring's portable form without run
    /// containers (what `org_days::bits` writes), read straight from its
    /// bytes: deserialising it first made a bitmap (a vector per container)
    /// and stepped its iterator, half of a 180-day models list's time on
    /// `large`. Returns false, adding no one, for bytes in another form or
    /// not as long as their header says.
    fn add_serialized(&mut self, blob: &[u8]) -> bool {
        let Some(portable) = Portable::of(blob) else {
            return false;
        };
        if self.chunks.is_empty()
            && !portable.dense
            && self.few.len() + portable.people <= 2 * FEW as usize
        {
            for (high, data) in portable.containers() {
                let values = data.chunks_exact(2);
                self.few.extend(
                    values.map(|v| high << 16 | u32::from(u16::from_le_bytes([v[0], v[1]]))),
                );
            }
            return true;
        }
        if self.chunks.is_empty() {
            let few = std::mem::take(&mut self.few);
            self.set_all(few.into_iter());
        }
        for (high, data) in portable.containers() {
            let at = self.index(high);
            let words = &mut self.chunks[at].1;
            if data.len() == WORDS * 8 {
                for (w, b) in words.iter_mut().zip(data.chunks_exact(8)) {
                    *w |= u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                }
            } else {
                for v in data.chunks_exact(2) {
                    let low = usize::from(u16::from_le_bytes([v[0], v[1]]));
                    words[low >> 6] |= 1 << (low & 63);
                }
            }
        }
        true
    }

    /// Everyone of a sorted list of people too (a kept projection's group).
    pub fn extend(&mut self, people: &[u32]) {
        if self.chunks.is_empty() {
            self.few.extend_from_slice(people);
            self.compact_if_long();
            return;
        }
        self.set_all(people.iter().copied());
    }

    /// The people, ascending, each once.
    pub fn into_members(self) -> Vec<u32> {
        let mut out = self.few;
        out.sort_unstable();
        out.dedup();
        for (high, words) in &self.chunks {
            for (i, w) in words.iter().enumerate() {
                let mut w = *w;
                while w != 0 {
                    let bit = w.trailing_zeros();
                    out.push((high << 16) | (i as u32) << 6 | bit);
                    w &= w - 1;
                }
            }
        }
        // Chunks were made in the order their ids first came.
        if self.chunks.len() > 1 {
            out.sort_unstable();
        }
        out
    }

    pub fn len(&self) -> u64 {
        self.counted(&mut self.few.clone())
    }

    /// `len`, without copying the list of a union no longer needed.
    pub fn into_len(mut self) -> u64 {
        let mut few = std::mem::take(&mut self.few);
        self.counted(&mut few)
    }

    fn counted(&self, few: &mut Vec<u32>) -> u64 {
        few.sort_unstable();
        few.dedup();
        few.len() as u64
            + self
                .chunks
                .iter()
                .flat_map(|(_, words)| words.iter())
                .map(|w| u64::from(w.count_ones()))
                .sum::<u64>()
    }
}

/// A serialized bitmap's header, checked against its length.
struct Portable<'a> {
    blob: &'a [u8],
    count: usize,
    /// People in all its containers.
    people: usize,
    /// Whether a container is a bitset (more than 4,096 people).
    dense: bool,
}

/// roaring's cookie for the form without run containers.
const NO_RUNS: u32 = 12346;
/// Most people a container holds as a sorted array.
const ARRAY_MOST: usize = 4096;

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Portable<'a> {
    /// The header: cookie, count, (key, people - 1) per container, an
    /// offset per container, then each container's array or bitset.
    fn of(blob: &'a [u8]) -> Option<Portable<'a>> {
        if u32_at(blob, 0)? != NO_RUNS {
            return None;
        }
        let count = u32_at(blob, 4)? as usize;
        let mut end = 8usize.checked_add(count.checked_mul(8)?)?;
        let (mut people, mut dense) = (0, false);
        for i in 0..count {
            let n = u16_at(blob, 8 + 4 * i + 2)? + 1;
            people += n;
            dense |= n > ARRAY_MOST;
            end += if n > ARRAY_MOST { WORDS * 8 } else { n * 2 };
        }
        (end == blob.len()).then_some(Portable {
            blob,
            count,
            people,
            dense,
        })
    }

    /// (ids >> 16, the container's bytes) of each container.
    fn containers(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        let mut at = 8 + 8 * self.count;
        (0..self.count).map(move |i| {
            // In bounds: `of` checked every length.
            let high = u16_at(self.blob, 8 + 4 * i).unwrap_or(0) as u32;
            let n = u16_at(self.blob, 8 + 4 * i + 2).unwrap_or(0) + 1;
            let len = if n > ARRAY_MOST { WORDS * 8 } else { n * 2 };
            let data = &self.blob[at..at + len];
            at += len;
            (high, data)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_person_once_across_chunks() {
        let a: RoaringBitmap = [1, 2, 70_000, 4_000_000_000].into_iter().collect();
        let b: RoaringBitmap = (0..5_000).chain([70_000, 70_001]).collect();
        let mut u = PeopleUnion::default();
        assert_eq!(u.len(), 0);
        u.add(&a);
        u.insert(2);
        assert_eq!(u.len(), 4, "still small");
        u.add(&b);
        u.insert(2);
        u.insert(131_072);
        assert_eq!(u.len(), (&a | &b).len() + 1);
        assert_eq!(u.len(), 5_000 + 4);
        // Inserts alone grow past the small union too.
        let mut one_by_one = PeopleUnion::default();
        for p in (0..3 * FEW as u32).chain(0..10) {
            one_by_one.insert(p * 3);
        }
        assert_eq!(one_by_one.len(), 3 * FEW);
    }

    proptest::proptest! {
        /// Any mix of bitmaps and single people, small and large, repeated
        /// or not, counts as roaring's own union does.
        #[test]
        fn counts_as_roaring_unions_do(
            parts in proptest::collection::vec(
                (proptest::collection::vec(0u32..200_000, 0..700), proptest::bool::ANY),
                0..12,
            )
        ) {
            let (mut u, mut expected) = (PeopleUnion::default(), RoaringBitmap::new());
            for (people, one_by_one) in &parts {
                let bitmap: RoaringBitmap = people.iter().copied().collect();
                if *one_by_one {
                    people.iter().for_each(|p| u.insert(*p));
                } else {
                    u.add(&bitmap);
                }
                expected |= &bitmap;
                proptest::prop_assert_eq!(u.len(), expected.len());
            }
        }

        /// Two unions of the halves of the same parts, absorbed, count as
        /// the union of all the parts, whichever side grew bitsets.
        #[test]
        fn absorbed_halves_count_as_the_whole(
            left in proptest::collection::vec(0u32..140_000, 0..1_500),
            right in proptest::collection::vec(0u32..140_000, 0..1_500),
        ) {
            let (mut a, mut b) = (PeopleUnion::default(), PeopleUnion::default());
            left.iter().for_each(|p| a.insert(*p));
            right.iter().for_each(|p| b.insert(*p));
            a.absorb(b);
            let expected: RoaringBitmap = left.iter().chain(&right).copied().collect();
            proptest::prop_assert_eq!(a.len(), expected.len());
            proptest::prop_assert_eq!(a.into_len(), expected.len());
        }

        /// Bitmaps added from their bytes count as added deserialised,
        /// sparse and dense (a container past 4,096 people is a bitset),
        /// into a small or a large union; bytes in another form add no one.
        #[test]
        fn serialized_bitmaps_add_as_bitmaps_do(
            parts in proptest::collection::vec(
                (proptest::collection::vec(0u32..200_000, 0..600), 0u32..3),
                0..8,
            )
        ) {
            let (mut u, mut expected) = (PeopleUnion::default(), RoaringBitmap::new());
            for (people, dense) in &parts {
                let mut bitmap: RoaringBitmap = people.iter().copied().collect();
                if *dense > 0 {
                    bitmap.insert_range(65_536 * dense..65_536 * dense + 5_000);
                }
                let mut blob = Vec::new();
                bitmap.serialize_into(&mut blob).unwrap();
                proptest::prop_assert!(u.add_serialized(&blob));
                expected |= &bitmap;
                proptest::prop_assert_eq!(u.len(), expected.len());
                proptest::prop_assert!(!u.add_serialized(&blob[..blob.len().saturating_sub(1)]));
            }
            proptest::prop_assert_eq!(u.into_members(), expected.iter().collect::<Vec<_>>());
        }

        /// A union's members, extended into another union (as a kept
        /// projection's groups are), are the people of both, ascending.
        #[test]
        fn members_come_back_sorted_and_extend_unions(
            left in proptest::collection::vec(0u32..140_000, 0..1_500),
            right in proptest::collection::vec(0u32..140_000, 0..1_500),
        ) {
            let (mut a, mut b) = (PeopleUnion::default(), PeopleUnion::default());
            left.iter().for_each(|p| a.insert(*p));
            right.iter().for_each(|p| b.insert(*p));
            let of_b: RoaringBitmap = right.iter().copied().collect();
            let members = b.into_members();
            proptest::prop_assert_eq!(&members, &of_b.iter().collect::<Vec<_>>());
            a.extend(&members);
            let expected: RoaringBitmap = left.iter().chain(&right).copied().collect();
            proptest::prop_assert_eq!(a.into_members(), expected.iter().collect::<Vec<_>>());
        }
    }
}
