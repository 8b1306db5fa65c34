//! The generated world: organisations, their people, teams and keys, and how
//! many events each organisation has on each day. Built from the spec alone,
//! so `setup` and `events` agree without sharing state.

use crate::names;
use crate::roster;
use crate::Spec;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub const NONE: u16 = u16::MAX;
pub const PROVIDERS: [&str; 3] = ["openai", "anthropic", "google"];
const MS_PER_DAY: i64 = 86_400_000;
/// Zipf exponents of organisation sizes and of users' activity.
const ORG_ZIPF: f64 = 1.0;
const USER_ZIPF: f64 = 0.8;

pub struct World {
    pub orgs: Vec<Org>,
    pub users: Vec<User>,
    pub days: u32,
    /// The first local day of the range.
    pub first_day: Date,
    /// No event is later than this (anchor date 10:00 UTC), in ms.
    pub cap_ms: i64,
}

pub struct Org {
    pub id: String,
    pub name: String,
    pub tz_name: String,
    pub tz: TimeZone,
    pub markup: String,
    /// The markup in hundredths (1.25 → 125).
    pub markup_pct: u64,
    pub teams: Vec<Team>,
    pub keys: Vec<Key>,
    pub key_cum: Vec<f64>,
    /// Models usable with each provider: (model index, cumulative weight).
    pub models: [Vec<(u16, f64)>; 3],
    pub user_start: u32,
    pub user_count: u32,
    pub user_cum: Vec<f64>,
    /// Index of the org_admin among the org's users.
    pub admin: u32,
    pub events: u64,
    /// Events on each local day of the range.
    pub day_events: Vec<u32>,
    /// UTC ms of local midnight starting each day of the range, plus one.
    pub midnights: Vec<i64>,
}

pub struct Team {
    pub id: String,
    pub name: String,
    pub department: String,
    pub lead: Option<u32>,
}

pub struct Key {
    pub id: String,
    pub name: String,
    /// Index into PROVIDERS.
    pub provider: u8,
}

pub struct User {
    pub id: String,
    pub email: String,
    pub team: u16,
    /// The member's own department (set only for some people without a team).
    pub department: Option<String>,
    /// Days of the range on which the person works (joined late, left early).
    pub first_day: u32,
    pub last_day: u32,
    pub pref_key: u16,
    pub pref_model: [u16; 3],
}

impl User {
    /// The department events default to: the member's, else the team's.
    pub fn effective_department<'a>(&'a self, org: &'a Org) -> Option<&'a str> {
        self.department.as_deref().or_else(|| {
            org.teams
                .get(self.team as usize)
                .map(|t| t.department.as_str())
        })
    }
}

/// Share each of `weights` of `total`, exactly (largest remainder, ties by index).
pub fn apportion(total: u64, weights: &[f64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        let mut v = vec![0; weights.len()];
        if let Some(first) = v.first_mut() {
            *first = total;
        }
        return v;
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let given: u64 = out.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order
        .iter()
        .cycle()
        .take(total.saturating_sub(given) as usize)
    {
        out[i] += 1;
    }
    out
}

/// Like `apportion`, but every share gets at least `min`, or as much of it as the total allows.
fn apportion_min(total: u64, weights: &[f64], min: u64) -> Vec<u64> {
    let n = (weights.len() as u64).max(1);
    let min = min.min(total / n);
    let mut out = apportion(total - min * n, weights);
    out.iter_mut().for_each(|x| *x += min);
    out
}

pub fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// Index drawn from cumulative weights.
pub fn pick(cum: &[f64], rng: &mut SmallRng) -> usize {
    let total = cum.last().copied().unwrap_or(0.0);
    let x = rng.gen::<f64>() * total;
    cum.partition_point(|&c| c <= x)
        .min(cum.len().saturating_sub(1))
}

pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn org_identity(i: usize) -> (String, String) {
    if let Some((id, name)) = names::ORGS.get(i) {
        return (id.to_string(), name.to_string());
    }
    let j = i - names::ORGS.len();
    let (na, nb) = (names::ORG_WORDS_A.len(), names::ORG_WORDS_B.len());
    let a = names::ORG_WORDS_A[j % na];
    let b = names::ORG_WORDS_B[(j / na + j) % nb];
    let round = j / (na * nb);
    let name = if round == 0 {
        format!("{a} {b}")
    } else {
        format!("{a} {b} {}", round + 1)
    };
    (slug(&name), name)
}

fn has_transition(tz: &TimeZone, from: Timestamp, to: Timestamp) -> bool {
    tz.following(from)
        .next()
        .is_some_and(|t| t.timestamp() < to)
}

/// Timezone of organisation `i`: New York for Acme, DST zones whose change falls
/// in the range for the 2nd and 4th, Kolkata (+05:30) for the 3rd, UTC for the 5th.
fn timezones(n: usize, from: Timestamp, to: Timestamp) -> Vec<String> {
    let mut dst: Vec<&str> = names::DST_ZONES.to_vec();
    dst.sort_by_key(|z| !TimeZone::get(z).is_ok_and(|tz| has_transition(&tz, from, to)));
    (0..n)
        .map(|i| match i {
            0 => "America/New_York",
            1 => dst[0],
            2 => "Asia/Kolkata",
            3 => dst[1],
            4 => "UTC",
            _ => names::OTHER_ZONES[(i - 5) % names::OTHER_ZONES.len()],
        })
        .map(str::to_string)
        .collect()
}

/// Relative activity by local hour: night, morning ramp, lunch dip, evening tail.
pub const HOURLY: [f64; 24] = [
    0.04, 0.02, 0.02, 0.02, 0.03, 0.05, 0.12, 0.35, 0.75, 1.0, 1.0, 0.95, 0.65, 0.85, 1.0, 1.0,
    0.9, 0.7, 0.45, 0.3, 0.25, 0.2, 0.12, 0.07,
];

/// Fraction of a day's activity before `secs` seconds after local midnight.
pub fn rhythm_cdf(secs: f64) -> f64 {
    let total: f64 = HOURLY.iter().sum();
    let mut acc = 0.0;
    for (h, w) in HOURLY.iter().enumerate() {
        let start = h as f64 * 3600.0;
        if secs <= start {
            break;
        }
        acc += w * ((secs - start).min(3600.0) / 3600.0);
    }
    acc / total
}

/// Seconds after local midnight with cumulative activity fraction `u`.
pub fn rhythm_inverse(u: f64) -> f64 {
    let total: f64 = HOURLY.iter().sum();
    let mut target = u.clamp(0.0, 1.0) * total;
    for (h, w) in HOURLY.iter().enumerate() {
        if target <= *w {
            return (h as f64 + target / w) * 3600.0;
        }
        target -= w;
    }
    86_399.999
}

impl World {
    pub fn new(spec: &Spec) -> World {
        let mut rng = SmallRng::seed_from_u64(spec.seed ^ 0x005e_ed0f_0a9a_u64);
        let days = spec.days.max(1);
        let n_orgs = spec.orgs.max(1) as usize;
        let first_day = spec
            .anchor
            .checked_sub((days as i64 - 1).days())
            .unwrap_or(spec.anchor);
        let utc_ms = |d: Date| {
            d.to_zoned(TimeZone::UTC)
                .map_or(0, |z| z.timestamp().as_millisecond())
        };
        let cap_ms = utc_ms(spec.anchor) + 10 * 3_600_000;
        let range = (
            Timestamp::from_millisecond(utc_ms(first_day) - MS_PER_DAY)
                .unwrap_or(Timestamp::UNIX_EPOCH),
            Timestamp::from_millisecond(cap_ms).unwrap_or(Timestamp::UNIX_EPOCH),
        );

        // Events per organisation: the largest first, the rest Zipf-like.
        let largest = spec.largest_org_events.min(spec.events);
        let mut org_events = vec![largest];
        let rest: Vec<f64> = (1..n_orgs)
            .map(|r| 1.0 / ((r + 1) as f64).powf(ORG_ZIPF))
            .collect();
        org_events.extend(apportion(spec.events - largest, &rest));
        if n_orgs == 1 {
            org_events[0] = spec.events;
        }
        let weights_of = |f: fn(f64) -> f64| -> Vec<f64> {
            org_events[1..].iter().map(|&e| f(e as f64 + 1.0)).collect()
        };
        let users_total = u64::from(spec.users.max(n_orgs as u32));
        let largest_users =
            u64::from(spec.largest_org_users).clamp(1, users_total - (n_orgs as u64 - 1));
        let mut org_users = vec![largest_users];
        org_users.extend(apportion_min(
            users_total - largest_users,
            &weights_of(|e| e),
            3,
        ));
        let keys_total = u64::from(spec.keys);
        let largest_keys = u64::from(spec.largest_org_keys).min(keys_total);
        let mut org_keys = vec![largest_keys];
        let min_keys = if keys_total - largest_keys >= 2 * (n_orgs as u64 - 1) {
            2
        } else {
            1
        };
        org_keys.extend(apportion_min(
            keys_total - largest_keys,
            &weights_of(f64::sqrt),
            min_keys,
        ));
        if n_orgs == 1 {
            org_users[0] = users_total;
            org_keys[0] = keys_total;
        }

        let zones = timezones(n_orgs, range.0, range.1);
        let mut orgs = Vec::with_capacity(n_orgs);
        let mut users = Vec::with_capacity(users_total as usize);
        for i in 0..n_orgs {
            let (id, name) = org_identity(i);
            let tz_name = zones[i].clone();
            let tz = TimeZone::get(&tz_name).unwrap_or(TimeZone::UTC);
            let markup = if i == 0 {
                "1.25"
            } else {
                names::MARKUPS[rng.gen_range(0..names::MARKUPS.len())]
            };
            let markup_pct = markup.replace('.', "").parse().unwrap_or(100);
            let midnights: Vec<i64> = (0..=days)
                .map(|d| {
                    let date = first_day
                        .checked_add((d as i64).days())
                        .unwrap_or(first_day);
                    date.to_zoned(tz.clone())
                        .map_or(0, |z| z.timestamp().as_millisecond())
                })
                .collect();
            let mut org = Org {
                id,
                name,
                tz_name,
                tz,
                markup: markup.to_string(),
                markup_pct,
                teams: Vec::new(),
                keys: Vec::new(),
                key_cum: Vec::new(),
                models: Default::default(),
                user_start: users.len() as u32,
                user_count: org_users[i] as u32,
                user_cum: cumulative(
                    (0..org_users[i]).map(|r| 1.0 / ((r + 1) as f64).powf(USER_ZIPF)),
                ),
                admin: 0,
                events: org_events[i],
                day_events: Vec::new(),
                midnights,
            };
            org.day_events = day_events(&org, first_day, days, cap_ms, &mut rng);
            roster::add_keys(&mut org, org_keys[i] as usize, spec.models, &mut rng);
            roster::add_teams(&mut org, i, &mut rng);
            roster::add_users(&mut org, i as u32, days, &mut users, &mut rng);
            orgs.push(org);
        }
        World {
            orgs,
            users,
            days,
            first_day,
            cap_ms,
        }
    }
}

/// Split an organisation's events over its days: weekends at 30% of a weekday,
/// a per-organisation trend, day-to-day noise, and the anchor day cut at 10:00 UTC.
fn day_events(org: &Org, first_day: Date, days: u32, cap_ms: i64, rng: &mut SmallRng) -> Vec<u32> {
    let trend = rng.gen_range(-0.2..0.6);
    let weights: Vec<f64> = (0..days)
        .map(|d| {
            let date = first_day
                .checked_add((d as i64).days())
                .unwrap_or(first_day);
            let weekend = matches!(
                date.weekday(),
                jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
            );
            let mut w = if weekend { 0.3 } else { 1.0 };
            w *= 1.0 + trend * f64::from(d) / f64::from(days);
            w *= rng.gen_range(0.85..1.15);
            if d + 1 == days {
                let secs = (cap_ms - org.midnights[d as usize]) as f64 / 1000.0;
                w *= rhythm_cdf(secs);
            }
            w
        })
        .collect();
    apportion(org.events, &weights)
        .into_iter()
        .map(|x| x as u32)
        .collect()
}
