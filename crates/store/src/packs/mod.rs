//! The packed form of a bucket's cube cells, shared by both stores: one
//! blob of varints per (organisation, grain, bucket), which decodes at a
//! few nanoseconds a field where stepping through cell rows costs about a
//! microsecond a row (SQLite) or a row's transfer (PostgreSQL). Each store
//! keeps its packs exact its own way (sqlite/packs.rs, postgres/packs.rs);
//! `sums` adds a question's cells into `groups` on two threads.

pub mod groups;
pub mod people_union;
pub mod projections;
pub mod sums;

use crate::contract::{Result, StoreError};
use crate::query::{Dim, Figures};
use spendlens_domain::time::{Day, Month, Period};

/// Figures keyed by the internal ids of a question's group keys.
pub type KeyedFigures = (Vec<i64>, Figures);

/// Group columns of a cell, in the cube's key order.
pub const DIMS: usize = 6;
/// Index of each group column in a cell's `dims`.
pub const USER: usize = 0;
/// The nine sums, in `org_days::SUMS` order.
pub type Sums = [i64; 9];

/// What a pack is: the cells of one (organisation, grain, bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub org: i64,
    pub grain: u8,
    pub bucket: i64,
}

const VERSION: u8 = 1;

fn put(out: &mut Vec<u8>, v: i64) {
    // Zigzag, then LEB128: small magnitudes of either sign take one byte.
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[inline(always)]
fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[inline(always)]
fn take(blob: &[u8], at: &mut usize) -> Result<i64> {
    // Most fields (ids, counts) are one byte: that case first.
    match blob.get(*at) {
        Some(&b) if b < 0x80 => {
            *at += 1;
            Ok(unzigzag(u64::from(b)))
        }
        _ => take_long(blob, at),
    }
}

fn take_long(blob: &[u8], at: &mut usize) -> Result<i64> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        let b = *blob
            .get(*at)
            .ok_or_else(|| corrupt("a value runs past the end"))?;
        *at += 1;
        if shift == 63 && b > 1 {
            return Err(corrupt("a value is wider than 64 bits"));
        }
        z |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(unzigzag(z));
        }
        shift += 7;
    }
}

/// How many cells a pack holds, from its header (for sizing a map).
pub fn cell_count(blob: &[u8]) -> usize {
    let mut at = 1;
    take(blob, &mut at).map_or(0, |n| n.max(0) as usize)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!("corrupt cube pack: {what}"))
}

pub fn encode(cells: &[([i64; DIMS], Sums)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + cells.len() * 24);
    out.push(VERSION);
    put(&mut out, cells.len() as i64);
    for (dims, sums) in cells {
        dims.iter()
            .chain(sums.iter())
            .for_each(|v| put(&mut out, *v));
    }
    out
}

pub fn decode(blob: &[u8], mut visit: impl FnMut(&[i64; DIMS], &Sums) -> Result<()>) -> Result<()> {
    if blob.first() != Some(&VERSION) {
        return Err(corrupt("unknown version"));
    }
    let mut at = 1;
    let n = take(blob, &mut at)?;
    let (mut dims, mut sums) = ([0i64; DIMS], [0i64; 9]);
    for _ in 0..n {
        for v in dims.iter_mut().chain(sums.iter_mut()) {
            *v = take(blob, &mut at)?;
        }
        visit(&dims, &sums)?;
    }
    if at != blob.len() {
        return Err(corrupt("bytes after the last cell"));
    }
    Ok(())
}

/// Days before this one are past the late-event window: local days lie
/// within a day of UTC's, and clients resend for up to a day or two.
pub fn sealed_before(today_utc: Day) -> Day {
    Day(today_utc.0 - 3)
}

/// The day and month buckets that hold a question's cells, as non-empty
/// (grain, lo, hi) ranges: the whole months inside the period at grain 2
/// (unless it groups by day or week) and the days outside them at grain 1.
pub fn parts(period: Period, group_by: &[Dim]) -> Vec<(u8, i64, i64)> {
    let mut parts = all_parts(period, group_by);
    parts.retain(|(_, lo, hi)| lo < hi);
    parts
}

fn all_parts(period: Period, group_by: &[Dim]) -> Vec<(u8, i64, i64)> {
    let (from, to) = (period.from.0, period.to.0);
    let by_day = group_by.iter().any(|d| matches!(d, Dim::Day | Dim::Week));
    let first_month = Day(from).month();
    let first_full = if first_month.first_day().0 == from {
        first_month.0
    } else {
        first_month.0 + 1
    };
    // Months before this one end before `to`.
    let end_month = Day(to).month().0;
    if by_day || first_full >= end_month {
        return vec![(1, from.into(), to.into())];
    }
    let d0 = Month(first_full).first_day().0;
    let d1 = Month(end_month).first_day().0;
    vec![
        (2, first_full.into(), end_month.into()),
        (1, from.into(), d0.into()),
        (1, d1.into(), to.into()),
    ]
}

/// Whether a writer must take bucket `bucket` of `grain` for packed: two
/// days wider than `sealed_before`, so that a writer whose clock is up to
/// two days behind a packer's still treats what that packer packs as packed
/// (PostgreSQL's servers each pack; postgres/packs.rs).
pub fn may_be_packed(grain: u8, bucket: i64, today_utc: Day) -> bool {
    let cut = Day(today_utc.0 - 1);
    match grain {
        1 => bucket < i64::from(cut.0),
        2 => bucket < i64::from(cut.month().0),
        _ => false,
    }
}

/// The month of a cell of `grain` in `bucket` (as `read.rs` groups months).
pub fn month_of(grain: u8, bucket: i64) -> i64 {
    if grain == 2 {
        bucket
    } else {
        i64::from(Day(bucket as i32).month().0)
    }
}

/// Where a group column sits in a packed cell.
pub fn pack_column(dim: Dim) -> Option<usize> {
    match dim {
        Dim::User => Some(0),
        Dim::Team => Some(1),
        Dim::Department => Some(2),
        Dim::ApiKey => Some(3),
        Dim::Model => Some(4),
        Dim::Provider => Some(5),
        Dim::Day | Dim::Week | Dim::Month | Dim::Hour => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_come_back_as_they_went_in() {
        let cells = vec![
            ([1, 0, 0, 0, 3, 0], [0; 9]),
            (
                [i64::MAX, 1, 2, 3, 4, 5],
                [i64::MIN, i64::MAX, -1, 1, 63, -64, 64, 1 << 40, -(1 << 40)],
            ),
        ];
        let blob = encode(&cells);
        let mut back = Vec::new();
        decode(&blob, |d, s| {
            back.push((*d, *s));
            Ok(())
        })
        .unwrap();
        assert_eq!(back, cells);
        assert_eq!(encode(&[]).len(), 2);
    }

    #[test]
    fn damaged_packs_are_errors_not_figures() {
        let blob = encode(&[([1, 2, 3, 4, 5, 6], [7; 9])]);
        let ok = |_: &[i64; DIMS], _: &Sums| Ok(());
        assert!(decode(&blob[..blob.len() - 1], ok).is_err());
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decode(&longer, ok).is_err());
        assert!(decode(&[9, 0], ok).is_err());
        assert!(decode(
            &[VERSION, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            ok
        )
        .is_err());
    }
}
