//! Writes one event as a JSON object, directly into a byte buffer. The output
//! depends only on the event, so a retry is byte-identical to its original.

use crate::gen::{flag, Ev};
use crate::models;
use crate::world::{World, NONE, PROVIDERS};

/// A pre-rendered `,"field":"value"`.
type Frag = Box<[u8]>;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Every string field pre-rendered as `,"field":"value"`, so writing an event
/// is a series of copies.
pub struct Fragments {
    orgs: Vec<Box<[u8]>>,
    user_ids: Vec<Box<[u8]>>,
    emails: Vec<Box<[u8]>>,
    /// The person's team and default department (empty when they have none).
    teams: Vec<Box<[u8]>>,
    departments: Vec<Box<[u8]>>,
    /// Per organisation, per key: api_key_id and api_key_provider.
    keys: Vec<Vec<(Frag, Frag)>>,
    /// Per model index: model_name and the provider it implies.
    models: Vec<(Frag, Frag)>,
    titles: Vec<Box<[u8]>>,
}

fn field(name: &str, value: &str) -> Box<[u8]> {
    let mut out = format!(",\"{name}\":").into_bytes();
    string(value, &mut out);
    out.into_boxed_slice()
}

impl Fragments {
    pub fn new(w: &World) -> Fragments {
        let mut f = Fragments {
            orgs: w
                .orgs
                .iter()
                .map(|o| field("organization_id", &o.id))
                .collect(),
            user_ids: Vec::with_capacity(w.users.len()),
            emails: Vec::with_capacity(w.users.len()),
            teams: Vec::with_capacity(w.users.len()),
            departments: Vec::with_capacity(w.users.len()),
            keys: w
                .orgs
                .iter()
                .map(|o| {
                    o.keys
                        .iter()
                        .map(|k| {
                            (
                                field("api_key_id", &k.id),
                                field("api_key_provider", PROVIDERS[k.provider as usize]),
                            )
                        })
                        .collect()
                })
                .collect(),
            models: (0..=models::LOCAL_IDX)
                .map(|i| {
                    let m = models::model(i);
                    (
                        field("model_name", m.name),
                        field("api_key_provider", m.provider),
                    )
                })
                .collect(),
            titles: crate::names::TITLES
                .iter()
                .map(|t| field("conversation_title", t))
                .collect(),
        };
        for org in &w.orgs {
            let start = org.user_start as usize;
            for user in &w.users[start..start + org.user_count as usize] {
                f.user_ids.push(field("user_id", &user.id));
                f.emails.push(field("user_email", &user.email));
                f.teams.push(
                    org.teams
                        .get(user.team as usize)
                        .map_or(Box::default(), |t| field("team_id", &t.id)),
                );
                f.departments.push(
                    user.effective_department(org)
                        .map_or(Box::default(), |d| field("department", d)),
                );
            }
        }
        f
    }
}

/// Append `e` as one JSON object (no newline).
pub fn write_event(f: &Fragments, e: &Ev, out: &mut Vec<u8>) {
    out.reserve(1024);
    let user = e.user as usize;
    let mut head = *b"{\"event_id\":\"________-____-____-____-____________\",\"occurred_at\":\"____-__-__T__:__:__.___Z\"";
    uuid(e.id, &mut head[13..49]);
    timestamp_into(e.ts, &mut head[66..90]);
    out.extend_from_slice(&head);
    out.extend_from_slice(&f.orgs[e.org as usize]);
    out.extend_from_slice(&f.user_ids[user]);
    if e.flags & flag::EMAIL != 0 {
        out.extend_from_slice(&f.emails[user]);
    }
    if e.flags & flag::TEAM != 0 {
        out.extend_from_slice(&f.teams[user]);
    }
    if e.flags & flag::DEPT != 0 {
        out.extend_from_slice(&f.departments[user]);
    }
    let (model, model_provider) = &f.models[e.model as usize];
    let key = (e.key != NONE)
        .then(|| f.keys[e.org as usize].get(e.key as usize))
        .flatten();
    if let Some((id, _)) = key {
        out.extend_from_slice(id);
    }
    if e.flags & flag::PROVIDER != 0 {
        out.extend_from_slice(key.map_or(model_provider, |k| &k.1));
    }
    let mut conv = *b",\"conversation_id\":\"________-____-____-____-____________\"";
    uuid(e.conv, &mut conv[20..56]);
    out.extend_from_slice(&conv);
    if e.title != NONE {
        out.extend_from_slice(&f.titles[e.title as usize]);
    }
    out.extend_from_slice(model);
    out.extend_from_slice(b",\"tokens_in\":");
    integer(u64::from(e.tokens_in), out);
    out.extend_from_slice(b",\"tokens_out\":");
    integer(u64::from(e.tokens_out), out);
    if e.flags & flag::CACHED != 0 {
        out.extend_from_slice(b",\"cached_tokens_in\":");
        integer(u64::from(e.cached), out);
    }
    if e.flags & flag::WRITE != 0 {
        out.extend_from_slice(b",\"cache_write_tokens_in\":");
        integer(u64::from(e.cache_write), out);
    }
    if e.flags & flag::ACTUAL != 0 {
        out.extend_from_slice(b",\"actual_api_cost\":");
        money(
            e.actual,
            e.flags & flag::ACTUAL_STR != 0,
            e.flags & flag::ACTUAL_PAD != 0,
            out,
        );
    }
    if e.flags & flag::TOTAL != 0 {
        out.extend_from_slice(b",\"total_cost\":");
        money(
            e.total,
            e.flags & flag::TOTAL_STR != 0,
            e.flags & flag::TOTAL_PAD != 0,
            out,
        );
    }
    out.push(b'}');
}

/// A JSON string; the world's strings rarely need escaping, so check first.
fn string(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(serde_json::Value::from(s).to_string().as_bytes());
    }
}

/// A version-4 UUID (lower-case, hyphenated, 36 bytes) from 128 random bits.
fn uuid(bits: u128, out: &mut [u8]) {
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    for (byte, at) in bits.to_be_bytes().into_iter().zip(AT) {
        out[at] = HEX[usize::from(byte >> 4)];
        out[at + 1] = HEX[usize::from(byte & 0xf)];
    }
    for at in [8, 13, 18, 23] {
        out[at] = b'-';
    }
}

fn integer(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Exactly `width` digits, zero-padded (n < 10^width).
fn digits(mut n: u64, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Nanodollars as USD: a JSON number or string, trailing zeros trimmed unless padded.
fn money(nanos: u64, as_string: bool, padded: bool, out: &mut Vec<u8>) {
    if as_string {
        out.push(b'"');
    }
    integer(nanos / 1_000_000_000, out);
    let frac = nanos % 1_000_000_000;
    if frac != 0 || padded {
        out.push(b'.');
        let start = out.len();
        digits(frac, 9, out);
        if !padded {
            while out.len() > start + 1 && out.last() == Some(&b'0') {
                out.pop();
            }
        }
    }
    if as_string {
        out.push(b'"');
    }
}

/// RFC 3339 in UTC with milliseconds (24 bytes): `2026-11-28T14:03:22.123Z`.
pub fn timestamp_into(ms: i64, out: &mut [u8]) {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let parts = [
        (y as u64, 0, 4),
        (m, 5, 2),
        (d, 8, 2),
        ((in_day / 3_600_000) as u64, 11, 2),
        ((in_day / 60_000 % 60) as u64, 14, 2),
        ((in_day / 1000 % 60) as u64, 17, 2),
        ((in_day % 1000) as u64, 20, 3),
    ];
    for (mut n, at, width) in parts {
        for slot in out[at..at + width].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = c;
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u64, u64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn timestamps_match_jiff() {
        for ms in [
            0i64,
            951_782_400_123,
            1_764_288_000_000,
            1_798_761_599_999,
            4_102_444_800_000,
        ] {
            let expected = jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let mut buf = [0u8; 24];
            timestamp_into(ms, &mut buf);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), expected);
        }
    }

    #[test]
    fn money_forms() {
        assert_eq!(s(|o| money(1, false, false, o)), "0.000000001");
        assert_eq!(s(|o| money(1, true, false, o)), "\"0.000000001\"");
        assert_eq!(s(|o| money(12_500_000, false, false, o)), "0.0125");
        assert_eq!(s(|o| money(12_500_000, true, true, o)), "\"0.012500000\"");
        assert_eq!(s(|o| money(3_000_000_000, false, false, o)), "3");
        assert_eq!(
            s(|o| money(3_000_000_000, true, true, o)),
            "\"3.000000000\""
        );
    }

    #[test]
    fn uuids_are_version_4() {
        let mut buf = [0u8; 36];
        uuid(u128::MAX, &mut buf);
        assert_eq!(&buf, b"ffffffff-ffff-4fff-bfff-ffffffffffff");
        uuid(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef, &mut buf);
        assert_eq!(&buf, b"01234567-89ab-4def-8123-456789abcdef");
    }

    #[test]
    fn strings_escape_when_needed() {
        assert_eq!(s(|o| string("Architecture Q&A", o)), "\"Architecture Q&A\"");
        assert_eq!(s(|o| string("say \"hi\"", o)), "\"say \\\"hi\\\"\"");
    }
}
