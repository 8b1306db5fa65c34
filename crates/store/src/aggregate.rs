//! In-memory pre-aggregation of one write transaction, shared by the backends.
//!
//! A transaction's events are folded into cube cell deltas first, so the
//! store upserts each touched cell once instead of once per event. The cube
//! (see docs/architecture.md) keeps one row per organisation, granule bucket
//! and combination of groups; its user column is what makes distinct users
//! exact for any filter and range.

use spendlens_domain::{money::Markup, Event, Nanos, Price};
use std::collections::HashMap;

pub const GRAIN_HOUR: u8 = 0;
pub const GRAIN_DAY: u8 = 1;
pub const GRAIN_MONTH: u8 = 2;

/// Cost flags stored with each event.
pub const ACTUAL_COMPUTED: i64 = 1;
pub const TOTAL_COMPUTED: i64 = 2;
pub const UNPRICED: i64 = 4;

/// The groups an event (or a conversation's first event) counts in, as
/// internal ids; 0 is the null group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Groups {
    pub user: i64,
    pub team: i64,
    pub dept: i64,
    pub key: i64,
    pub model: i64,
    pub provider: i64,
}

impl Groups {
    /// The group's values in `query::DAY_TABLE_DIMS` order.
    pub(crate) fn day_table_values(&self) -> [i64; 6] {
        [
            self.user,
            self.team,
            self.dept,
            self.key,
            self.model,
            self.provider,
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellKey {
    pub org: i64,
    pub grain: u8,
    pub bucket: i64,
    pub groups: Groups,
}

impl CellKey {
    /// The key's nine numbers in the cube's primary-key order.
    pub fn numbers(&self) -> [i64; 9] {
        let g = self.groups;
        [
            self.org,
            i64::from(self.grain),
            self.bucket,
            g.user,
            g.team,
            g.dept,
            g.key,
            g.model,
            g.provider,
        ]
    }

    /// The inverse of `numbers`.
    pub fn from_numbers(n: &[i64; 9]) -> Result<CellKey, String> {
        Ok(CellKey {
            org: n[0],
            grain: u8::try_from(n[1]).map_err(|_| format!("grain {}", n[1]))?,
            bucket: n[2],
            groups: Groups {
                user: n[3],
                team: n[4],
                dept: n[5],
                key: n[6],
                model: n[7],
                provider: n[8],
            },
        })
    }
}

/// Numbers per cell in a queued row of deltas: the key's nine, then the sums.
pub const CELL_WIDTH: usize = 18;

/// Cells as one run of numbers (`CELL_WIDTH` per cell), for a queue of
/// deltas not yet added to the aggregates.
pub fn encode_cells(cells: &HashMap<CellKey, CellDelta>) -> Vec<i64> {
    let mut out = Vec::with_capacity(cells.len() * CELL_WIDTH);
    for (k, d) in cells {
        out.extend(k.numbers());
        out.extend(d.values());
    }
    out
}

/// Add the cells of an `encode_cells` run to `cells`.
pub fn decode_cells_into(
    row: &[i64],
    cells: &mut HashMap<CellKey, CellDelta>,
) -> Result<(), String> {
    if !row.len().is_multiple_of(CELL_WIDTH) {
        return Err(format!("a queued row of {} numbers", row.len()));
    }
    for c in row.chunks_exact(CELL_WIDTH) {
        let key = CellKey::from_numbers(c[..9].try_into().expect("nine numbers"))?;
        let sums: [i64; 9] = c[9..].try_into().expect("nine numbers");
        cells
            .entry(key)
            .or_default()
            .add(&CellDelta::from_values(sums));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CellDelta {
    pub total_cost: i64,
    pub actual_cost: i64,
    pub messages: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub cached_in: i64,
    pub cache_write_in: i64,
    pub unpriced: i64,
    pub convs: i64,
}

impl CellDelta {
    /// Add `other`'s figures to these.
    pub fn add(&mut self, other: &CellDelta) {
        let mut sums = self.values();
        for (a, b) in sums.iter_mut().zip(other.values()) {
            *a += b;
        }
        *self = CellDelta::from_values(sums);
    }

    /// The inverse of `values`.
    pub fn from_values(v: [i64; 9]) -> CellDelta {
        let [total_cost, actual_cost, messages, tokens_in, tokens_out, cached_in, cache_write_in, unpriced, convs] =
            v;
        CellDelta {
            total_cost,
            actual_cost,
            messages,
            tokens_in,
            tokens_out,
            cached_in,
            cache_write_in,
            unpriced,
            convs,
        }
    }

    /// The nine figures in the cube's column order (total_cost … convs).
    pub fn values(&self) -> [i64; 9] {
        [
            self.total_cost,
            self.actual_cost,
            self.messages,
            self.tokens_in,
            self.tokens_out,
            self.cached_in,
            self.cache_write_in,
            self.unpriced,
            self.convs,
        ]
    }
}

/// Where an event's buckets are: local hour start (Unix s), civil day, month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub hour: i64,
    pub day: i64,
    pub month: i64,
}

/// The cost of one event: (total, actual, flags). A client's figures win;
/// a missing actual is priced (negotiated price, else catalog); a missing
/// total is actual × markup. No price and no actual: 0 and UNPRICED.
pub fn costs(event: &Event, price: Option<Price>, markup: Markup) -> (Nanos, Nanos, i64) {
    let tokens = [
        event.tokens_in,
        event.cached_tokens_in,
        event.cache_write_tokens_in,
        event.tokens_out,
    ];
    costs_of(
        tokens,
        event.actual_api_cost,
        event.total_cost,
        price,
        markup,
    )
}

/// `costs` from the parts a stored event keeps: tokens (in, cached,
/// cache-write, out) and the costs its client sent. Shared with reprice.
pub fn costs_of(
    tokens: [u64; 4],
    sent_actual: Option<Nanos>,
    sent_total: Option<Nanos>,
    price: Option<Price>,
    markup: Markup,
) -> (Nanos, Nanos, i64) {
    let [tokens_in, cached, cache_write, tokens_out] = tokens;
    let mut flags = 0;
    let actual = match (sent_actual, price) {
        (Some(a), _) => a,
        (None, Some(p)) => {
            flags |= ACTUAL_COMPUTED;
            p.cost(tokens_in, cached, cache_write, tokens_out)
        }
        (None, None) => {
            flags |= ACTUAL_COMPUTED | UNPRICED;
            Nanos(0)
        }
    };
    let total = match sent_total {
        Some(t) => t,
        None => {
            flags |= TOTAL_COMPUTED;
            markup.apply(actual)
        }
    };
    (total, actual, flags)
}

#[derive(Debug, Default)]
pub struct CubeDeltas {
    pub cells: HashMap<CellKey, CellDelta>,
}

impl CubeDeltas {
    fn cell(&mut self, org: i64, grain: u8, bucket: i64, groups: Groups) -> &mut CellDelta {
        self.cells
            .entry(CellKey {
                org,
                grain,
                bucket,
                groups,
            })
            .or_default()
    }

    /// Count one message in its hour, day and month cells.
    #[allow(clippy::too_many_arguments)]
    pub fn add_message(
        &mut self,
        org: i64,
        b: Buckets,
        g: Groups,
        event: &Event,
        total: Nanos,
        actual: Nanos,
        flags: i64,
    ) {
        for (grain, bucket) in [
            (GRAIN_HOUR, b.hour),
            (GRAIN_DAY, b.day),
            (GRAIN_MONTH, b.month),
        ] {
            let c = self.cell(org, grain, bucket, g);
            c.total_cost += total.0;
            c.actual_cost += actual.0;
            c.messages += 1;
            c.tokens_in += event.tokens_in as i64;
            c.tokens_out += event.tokens_out as i64;
            c.cached_in += event.cached_tokens_in as i64;
            c.cache_write_in += event.cache_write_tokens_in as i64;
            c.unpriced += i64::from(flags & UNPRICED != 0);
        }
    }

    /// Count (+1) or uncount (−1) a conversation start in its day and month
    /// cells; hours do not carry conversations (API.md §3).
    pub fn add_conversation(&mut self, org: i64, day: i64, month: i64, g: Groups, delta: i64) {
        self.cell(org, GRAIN_DAY, day, g).convs += delta;
        self.cell(org, GRAIN_MONTH, month, g).convs += delta;
    }
}
