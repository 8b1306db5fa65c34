//! Arrival order: events in time order, except the late ones (held back until
//! the stream has moved up to 2 days past them) and the retries (sent again a
//! few hundred lines later). Every buffer is bounded by about two days of events.

use crate::gen::{Ev, Gen};
use crate::world::World;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// An event waiting in a heap until `at` (a time or a line number).
struct Held {
    at: i64,
    ev: Ev,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.ev.seq).cmp(&(other.at, other.ev.seq))
    }
}

pub struct Stream {
    pub world: World,
    gen: Gen,
    next_day: u32,
    /// Generated, sorted, not yet safe to send (a later day may still add earlier events).
    pending: Vec<Ev>,
    ready: VecDeque<Ev>,
    late: BinaryHeap<Reverse<Held>>,
    retries: BinaryHeap<Reverse<Held>>,
    lines: u64,
}

impl Stream {
    pub fn new(world: World, seed: u64) -> Stream {
        Stream {
            world,
            gen: Gen::new(seed),
            next_day: 0,
            pending: Vec::new(),
            ready: VecDeque::new(),
            late: BinaryHeap::new(),
            retries: BinaryHeap::new(),
            lines: 0,
        }
    }

    /// Generate the next day; move what no later day can precede to `ready`.
    fn fill(&mut self) {
        let d = self.next_day;
        self.gen.day(&self.world, d, &mut self.pending);
        self.next_day += 1;
        self.pending.sort_unstable_by_key(|e| (e.ts, e.seq));
        let watermark = if self.next_day >= self.world.days {
            i64::MAX
        } else {
            let next = self.next_day as usize;
            self.world
                .orgs
                .iter()
                .map(|o| o.midnights[next])
                .min()
                .unwrap_or(i64::MAX)
        };
        let n = self.pending.partition_point(|e| e.ts < watermark);
        self.ready.extend(self.pending.drain(..n));
    }

    /// Events held in memory (generated but not yet sent, or waiting to be re-sent).
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.ready.len() + self.late.len() + self.retries.len()
    }

    fn sent(&mut self, ev: Ev) -> Ev {
        self.lines += 1;
        if ev.dup_after > 0 {
            let at = (self.lines + u64::from(ev.dup_after)) as i64;
            self.retries.push(Reverse(Held { at, ev }));
        }
        ev
    }
}

impl Iterator for Stream {
    type Item = Ev;

    fn next(&mut self) -> Option<Ev> {
        loop {
            if let Some(Reverse(h)) = self.retries.peek() {
                if h.at <= self.lines as i64 {
                    let ev = self.retries.pop().map(|Reverse(h)| h.ev)?;
                    self.lines += 1;
                    return Some(ev);
                }
            }
            let Some(front) = self.ready.front().copied() else {
                if self.next_day < self.world.days {
                    self.fill();
                    continue;
                }
                if let Some(Reverse(h)) = self.late.pop() {
                    return Some(self.sent(h.ev));
                }
                let ev = self.retries.pop().map(|Reverse(h)| h.ev)?;
                self.lines += 1;
                return Some(ev);
            };
            if let Some(Reverse(h)) = self.late.peek() {
                if h.at <= front.ts {
                    let ev = self.late.pop().map(|Reverse(h)| h.ev)?;
                    return Some(self.sent(ev));
                }
            }
            self.ready.pop_front();
            if front.late_ms > 0 {
                self.late.push(Reverse(Held {
                    at: front.ts + i64::from(front.late_ms),
                    ev: front,
                }));
                continue;
            }
            return Some(self.sent(front));
        }
    }
}
