//! One organisation-day of events at a time: conversations of one person, their
//! messages a few minutes apart, tokens growing with the conversation.

use crate::models::{self, FINETUNE_IDX, LOCAL_IDX};
use crate::world::{self, Org, World, NONE};
use jiff::ToSpan;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Probabilities of the edge cases, per event.
pub const P_DUPLICATE: f64 = 0.03;
pub const P_NO_KEY: f64 = 0.01;
pub const P_LATE: f64 = 0.005;
pub const P_SENDS_COST: f64 = 0.20;
pub const P_CACHED: f64 = 0.30;
/// Among events sending a cost: the share that also send total_cost, and the
/// share whose cost is a few nanodollars.
pub const P_SENDS_TOTAL: f64 = 0.30;
pub const P_TINY_COST: f64 = 0.01;
/// Among events without a key: the share run on a self-hosted model.
pub const P_LOCAL: f64 = 0.10;
const MEAN_CONVERSATION: f64 = 5.0;
const MAX_CONVERSATION: usize = 40;
const MAX_LATE_MS: u32 = 2 * 86_400_000;

pub mod flag {
    pub const TEAM: u16 = 1;
    pub const DEPT: u16 = 1 << 1;
    pub const PROVIDER: u16 = 1 << 2;
    pub const EMAIL: u16 = 1 << 3;
    pub const CACHED: u16 = 1 << 4;
    pub const WRITE: u16 = 1 << 5;
    pub const ACTUAL: u16 = 1 << 6;
    pub const ACTUAL_STR: u16 = 1 << 7;
    pub const ACTUAL_PAD: u16 = 1 << 8;
    pub const TOTAL: u16 = 1 << 9;
    pub const TOTAL_STR: u16 = 1 << 10;
    pub const TOTAL_PAD: u16 = 1 << 11;
}

/// One event, compact: strings are looked up in the world when written.
#[derive(Debug, Clone, Copy)]
pub struct Ev {
    /// occurred_at, ms since the Unix epoch.
    pub ts: i64,
    /// Generation order: unique, breaks ties.
    pub seq: u64,
    pub id: u128,
    pub conv: u128,
    pub user: u32,
    pub org: u32,
    pub model: u16,
    pub key: u16,
    pub title: u16,
    pub flags: u16,
    pub tokens_in: u32,
    pub tokens_out: u32,
    pub cached: u32,
    pub cache_write: u32,
    pub actual: u64,
    pub total: u64,
    /// > 0: sent this long after its place in time order.
    pub late_ms: u32,
    /// > 0: sent again this many lines later.
    pub dup_after: u16,
}

pub struct Gen {
    rng: SmallRng,
    seq: u64,
    /// Per organisation: events a conversation running past the end of its
    /// day's count took from the next day (so conversations keep their length).
    borrowed: Vec<u32>,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: SmallRng::seed_from_u64(seed ^ 0xe7e7_5eed_1234_abcd),
            seq: 0,
            borrowed: Vec::new(),
        }
    }

    /// Append the events of local day `d` of every organisation.
    pub fn day(&mut self, w: &World, d: u32, out: &mut Vec<Ev>) {
        for o in 0..w.orgs.len() {
            self.org_day(w, o, d, out);
        }
    }

    fn normal(&mut self) -> f64 {
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.gen();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    fn conversation_len(&mut self) -> usize {
        let p = 1.0 / MEAN_CONVERSATION;
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        (1 + (u.ln() / (1.0 - p).ln()) as usize).min(MAX_CONVERSATION)
    }

    /// A person of the organisation, by Zipf-like activity, working on day `d`.
    fn user(&mut self, w: &World, org: &Org, d: u32) -> u32 {
        for _ in 0..32 {
            let u = org.user_start + world::pick(&org.user_cum, &mut self.rng) as u32;
            let p = &w.users[u as usize];
            if p.first_day <= d && d <= p.last_day {
                return u;
            }
        }
        org.user_start
    }

    /// UTC ms of `ms` after local midnight of day `d`.
    fn local_to_utc(w: &World, org: &Org, d: u32, ms: i64) -> i64 {
        let (start, end) = (org.midnights[d as usize], org.midnights[d as usize + 1]);
        if end - start == 86_400_000 {
            return start + ms;
        }
        // A day with a DST change: let the timezone place the wall-clock time.
        let date = w
            .first_day
            .checked_add((d as i64).days())
            .unwrap_or(w.first_day);
        let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        let dt = date.at(h as i8, m as i8, s as i8, (milli * 1_000_000) as i32);
        org.tz
            .to_timestamp(dt)
            .map_or(start + ms, |t| t.as_millisecond())
    }

    fn org_day(&mut self, w: &World, o: usize, d: u32, out: &mut Vec<Ev>) {
        let org = &w.orgs[o];
        if self.borrowed.len() < w.orgs.len() {
            self.borrowed.resize(w.orgs.len(), 0);
        }
        let last_day = d + 1 == w.days;
        let mut left = org.day_events[d as usize] as i64 - i64::from(self.borrowed[o]);
        let next_day = if last_day {
            0
        } else {
            i64::from(org.day_events[d as usize + 1])
        };
        let day_start = org.midnights[d as usize];
        let u_max = if last_day {
            world::rhythm_cdf((w.cap_ms - day_start) as f64 / 1000.0)
        } else {
            1.0
        };
        let mut times = [0i64; MAX_CONVERSATION];
        while left > 0 {
            // Borrow at most the next day's events; none on the last day.
            let n = self.conversation_len().min((left + next_day) as usize);
            left -= n as i64;
            // Message times: a start in the day's rhythm, then a few minutes apart.
            let tod = world::rhythm_inverse(self.rng.gen::<f64>() * u_max);
            let mut t = Self::local_to_utc(w, org, d, (tod * 1000.0) as i64);
            let mut span = 0;
            for slot in times.iter_mut().take(n) {
                *slot = span;
                let pause = if self.rng.gen_bool(0.05) {
                    self.rng.gen_range(600_000..3_600_000)
                } else {
                    0
                };
                span += 4_000 + (self.lognormal(70_000.0, 0.9) as i64) + pause;
            }
            let last_offset = times[n - 1];
            if t + last_offset > w.cap_ms {
                t = (w.cap_ms - last_offset - self.rng.gen_range(0..1_800_000)).max(day_start);
            }
            for slot in times.iter_mut().take(n) {
                *slot = (t + *slot).min(w.cap_ms);
            }
            self.conversation(w, o, d, &times[..n], out);
        }
        self.borrowed[o] = (-left) as u32;
    }

    fn conversation(&mut self, w: &World, o: usize, d: u32, times: &[i64], out: &mut Vec<Ev>) {
        let org = &w.orgs[o];
        let user_idx = self.user(w, org, d);
        let user = &w.users[user_idx as usize];
        let rng = &mut self.rng;
        let key = if org.keys.is_empty() {
            NONE
        } else if rng.gen_bool(0.8) && user.pref_key != NONE {
            user.pref_key
        } else {
            world::pick(&org.key_cum, rng) as u16
        };
        let provider = org
            .keys
            .get(key as usize)
            .map_or(0, |k| k.provider as usize);
        let pick_model = |rng: &mut SmallRng| {
            let ms = &org.models[provider];
            let x = rng.gen::<f64>() * ms.last().map_or(0.0, |m| m.1);
            ms[ms.partition_point(|m| m.1 <= x).min(ms.len() - 1)].0
        };
        let mut model = if o == 0 && provider == 0 && rng.gen_bool(0.01) {
            FINETUNE_IDX
        } else if rng.gen_bool(0.7) {
            user.pref_model[provider]
        } else {
            pick_model(rng)
        };
        let conv: u128 = rng.gen();
        let title = if rng.gen_bool(0.95) {
            rng.gen_range(0..crate::names::TITLES.len()) as u16
        } else {
            NONE
        };
        let context = self.lognormal(4_500.0, 0.8);
        let growth = self.lognormal(1_000.0, 0.5);
        let has_dept = user.effective_department(org).is_some();
        for (k, &ts) in times.iter().enumerate() {
            if model != FINETUNE_IDX && self.rng.gen_bool(0.08) {
                model = pick_model(&mut self.rng);
            }
            let no_key = self.rng.gen_bool(P_NO_KEY) || key == NONE;
            let this_model = if no_key && self.rng.gen_bool(P_LOCAL) {
                LOCAL_IDX
            } else {
                model
            };
            let m = models::model(this_model);
            let noise = self.lognormal(1.0, 0.25);
            let mut tokens_in = ((context + k as f64 * growth) * noise).max(200.0) as u32;
            if tokens_in > 30_000 {
                // A full context window: spread near the top rather than pile at it.
                tokens_in = self.rng.gen_range(20_000..=30_000);
            }
            let reasoning =
                matches!(m.name.as_bytes().first(), Some(b'o')) || m.name.starts_with("gpt-5");
            let out_median = if reasoning { 700.0 } else { 350.0 };
            let tokens_out = self.lognormal(out_median, 0.8).clamp(20.0, 4_000.0) as u32;
            let rng = &mut self.rng;
            let mut flags = 0;
            let mut cached = 0;
            let mut cache_write = 0;
            if rng.gen_bool(P_CACHED) {
                cached = (f64::from(tokens_in) * rng.gen_range(0.3..0.95)) as u32;
                flags |= flag::CACHED;
            }
            if m.provider == "anthropic" && rng.gen_bool(0.35) {
                cache_write = (f64::from(tokens_in - cached) * rng.gen_range(0.05..0.5)) as u32;
                flags |= flag::WRITE;
            }
            if user.team != NONE && rng.gen_bool(0.92) {
                flags |= flag::TEAM;
            }
            if has_dept && rng.gen_bool(0.3) {
                flags |= flag::DEPT;
            }
            if this_model == LOCAL_IDX || rng.gen_bool(0.5) {
                flags |= flag::PROVIDER;
            }
            if rng.gen_bool(0.97) {
                flags |= flag::EMAIL;
            }
            let (mut actual, mut total) = (0, 0);
            if this_model != LOCAL_IDX && rng.gen_bool(P_SENDS_COST) {
                actual = if rng.gen_bool(P_TINY_COST) {
                    if rng.gen_bool(0.5) {
                        1
                    } else {
                        rng.gen_range(2..1000)
                    }
                } else {
                    models::list_cost_nanos(m, tokens_in, cached, cache_write, tokens_out).max(1)
                };
                flags |= flag::ACTUAL | form(rng, flag::ACTUAL_STR, flag::ACTUAL_PAD);
                if rng.gen_bool(P_SENDS_TOTAL) {
                    total = (actual * org.markup_pct + 50) / 100;
                    flags |= flag::TOTAL | form(rng, flag::TOTAL_STR, flag::TOTAL_PAD);
                }
            }
            let late_ms = if rng.gen_bool(P_LATE) {
                rng.gen_range(600_000..=MAX_LATE_MS)
            } else {
                0
            };
            let dup_after = if rng.gen_bool(P_DUPLICATE) {
                rng.gen_range(1..=400)
            } else {
                0
            };
            self.seq += 1;
            out.push(Ev {
                ts,
                seq: self.seq,
                id: rng.gen(),
                conv,
                user: user_idx,
                org: o as u32,
                model: this_model,
                key: if no_key { NONE } else { key },
                title: if k == 0 { title } else { NONE },
                flags,
                tokens_in,
                tokens_out,
                cached,
                cache_write,
                actual,
                total,
                late_ms,
                dup_after,
            });
        }
    }
}

/// A cost is sent as a JSON number or a string; strings sometimes padded to 9 decimals.
fn form(rng: &mut SmallRng, string: u16, padded: u16) -> u16 {
    match rng.gen_range(0..4) {
        0 | 1 => 0,
        2 => string,
        _ => string | padded,
    }
}
