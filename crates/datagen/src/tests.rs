//! Properties every dataset must have: determinism, the edge-case rates, valid
//! fields, byte-identical retries, bounded lateness, timezones.

use crate::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn anchor() -> Date {
    jiff::civil::date(2026, 11, 28)
}

fn num(v: &Value, field: &str) -> Option<u64> {
    v.get(field).map(|x| {
        x.as_u64()
            .unwrap_or_else(|| panic!("{field} not an integer: {x}"))
    })
}

fn ms(v: &Value) -> i64 {
    let t: jiff::Timestamp = v["occurred_at"].as_str().unwrap().parse().unwrap();
    t.as_millisecond()
}

/// Nanodollars of a cost given as a JSON number or string.
fn nanos(v: &Value) -> u64 {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("cost is {other}"),
    };
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    assert!(frac.len() <= 9, "more than 9 decimals: {text}");
    let frac = format!("{frac:0<9}");
    int.parse::<u64>().unwrap() * 1_000_000_000 + frac.parse::<u64>().unwrap()
}

#[test]
fn same_spec_same_bytes() {
    let spec = Spec::custom(3_000, 99, anchor());
    let a: Vec<String> = lines(&spec).collect();
    let b: Vec<String> = lines(&spec).collect();
    assert_eq!(a, b);
    assert_eq!(setup(&spec), setup(&spec));
    let other: Vec<String> = lines(&Spec { seed: 100, ..spec }).collect();
    assert_ne!(a, other);
}

#[test]
fn ndjson_matches_lines_and_reports_progress() {
    let spec = Spec::custom(2_000, 5, anchor());
    let mut out = Vec::new();
    let mut calls = Vec::new();
    let n = write_ndjson(&spec, &mut out, |k| calls.push(k)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let expected: Vec<String> = lines(&spec).collect();
    assert_eq!(n as usize, expected.len());
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    assert_eq!(calls, vec![n]);
    let values: Vec<Value> = events(&spec).collect();
    assert_eq!(values.len(), expected.len());
    assert_eq!(
        values[0],
        serde_json::from_str::<Value>(&expected[0]).unwrap()
    );
}

/// The small dataset, whole (100,000 distinct events): rates, fields, order.
#[test]
fn small_dataset_properties() {
    let spec = Spec::standard("small", anchor()).unwrap();
    let setup = setup(&spec);
    let orgs: HashMap<&str, &OrgSetup> = setup.orgs.iter().map(|o| (o.id.as_str(), o)).collect();
    let member_org: HashMap<&str, &str> = setup
        .orgs
        .iter()
        .flat_map(|o| {
            o.members
                .iter()
                .map(move |m| (m.user_id.as_str(), o.id.as_str()))
        })
        .collect();
    let cap = anchor()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond()
        + 10 * 3_600_000;
    let first_allowed = cap - 92 * 86_400_000;

    let mut seen: HashMap<String, String> = HashMap::new();
    let mut conv_owner: HashMap<String, (String, String)> = HashMap::new();
    let (mut lines_n, mut dups, mut no_key, mut late, mut with_cost, mut tiny) =
        (0u64, 0, 0, 0, 0, 0);
    let (mut cached_n, mut write_n, mut unpriced, mut titled) = (0, 0, 0, 0);
    let mut per_org: HashMap<String, u64> = HashMap::new();
    let mut weekday_weekend = [0u64; 2];
    let mut max_ts = i64::MIN;
    for line in lines(&spec) {
        lines_n += 1;
        let v: Value = serde_json::from_str(&line).unwrap();
        let id = v["event_id"].as_str().unwrap().to_string();
        if let Some(original) = seen.get(&id) {
            assert_eq!(original, &line, "a retry differs from its original");
            dups += 1;
            continue;
        }
        seen.insert(id, line.clone());
        let t = ms(&v);
        assert!(
            t <= cap && t >= first_allowed,
            "occurred_at out of range: {line}"
        );
        if t < max_ts {
            late += 1;
            assert!(
                max_ts - t <= 2 * 86_400_000 + 3_600_000,
                "more than 2 days late: {line}"
            );
        }
        max_ts = max_ts.max(t);

        let org_id = v["organization_id"].as_str().unwrap();
        let org = orgs[org_id];
        *per_org.entry(org_id.to_string()).or_default() += 1;
        let user = v["user_id"].as_str().unwrap();
        assert_eq!(member_org[user], org_id, "user outside their organisation");
        let conv = v["conversation_id"].as_str().unwrap().to_string();
        let owner = conv_owner
            .entry(conv)
            .or_insert((user.to_string(), org_id.to_string()));
        assert_eq!(
            owner,
            &(user.to_string(), org_id.to_string()),
            "conversation changes hands"
        );
        if let Some(team) = v.get("team_id") {
            assert!(org.teams.iter().any(|x| x.id == team.as_str().unwrap()));
        }
        match v.get("api_key_id") {
            None => no_key += 1,
            Some(k) => {
                let key = org
                    .keys
                    .iter()
                    .find(|x| x.id == k.as_str().unwrap())
                    .expect("key of the org");
                if let Some(p) = v.get("api_key_provider") {
                    assert_eq!(p.as_str().unwrap(), key.provider);
                }
                let model = v["model_name"].as_str().unwrap();
                let expected = match key.provider.as_str() {
                    "anthropic" => "claude",
                    "google" => "gemini",
                    _ => "",
                };
                assert!(
                    model.starts_with(expected),
                    "{model} on a {} key",
                    key.provider
                );
            }
        }
        let model = v["model_name"].as_str().unwrap();
        if model == "acme-finetune-v2" || model == "local-llama-3-70b" {
            unpriced += 1;
        }
        let tin = num(&v, "tokens_in").unwrap();
        let tout = num(&v, "tokens_out").unwrap();
        assert!(
            (200..=30_000).contains(&tin) && (20..=4_000).contains(&tout),
            "{line}"
        );
        let cached = num(&v, "cached_tokens_in");
        let write = num(&v, "cache_write_tokens_in");
        assert!(cached.unwrap_or(0) + write.unwrap_or(0) <= tin, "{line}");
        cached_n += u64::from(cached.is_some());
        write_n += u64::from(write.is_some());
        if write.is_some() {
            assert!(model.starts_with("claude"), "{line}");
        }
        titled += u64::from(v.get("conversation_title").is_some());
        if let Some(c) = v.get("actual_api_cost") {
            with_cost += 1;
            let actual = nanos(c);
            tiny += u64::from(actual == 1);
            if let Some(total) = v.get("total_cost") {
                assert!(nanos(total) >= actual);
            }
        } else {
            assert!(v.get("total_cost").is_none());
        }
        let wd = jiff::Timestamp::from_millisecond(t)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .weekday();
        weekday_weekend[usize::from(matches!(
            wd,
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        ))] += 1;
    }
    let distinct = seen.len() as f64;
    assert_eq!(seen.len(), 100_000);
    assert_eq!(lines_n, 100_000 + dups);
    let rate = |n: u64| n as f64 / distinct;
    assert!(
        (0.027..0.033).contains(&rate(dups)),
        "retries {}",
        rate(dups)
    );
    assert!(
        (0.008..0.012).contains(&rate(no_key)),
        "no key {}",
        rate(no_key)
    );
    assert!(
        (0.0035..0.0065).contains(&rate(late)),
        "late {}",
        rate(late)
    );
    assert!(
        (0.18..0.22).contains(&rate(with_cost)),
        "costs {}",
        rate(with_cost)
    );
    assert!(
        (0.28..0.32).contains(&rate(cached_n)),
        "cached {}",
        rate(cached_n)
    );
    assert!(
        write_n > 1_000 && tiny > 20 && unpriced > 20,
        "{write_n} {tiny} {unpriced}"
    );
    // Conversations average 5 messages; one title each (95% of them).
    let convs = conv_owner.len() as f64;
    assert!(
        (4.3..5.5).contains(&(distinct / convs)),
        "{}",
        distinct / convs
    );
    assert!((0.9..1.0).contains(&(titled as f64 / convs)));
    // Acme is the largest organisation, with exactly its share.
    assert_eq!(per_org["acme"], 20_000);
    assert!(per_org.values().all(|&n| n <= 20_000) && per_org.len() == 20);
    // 5 weekdays at 1, 2 weekend days at 0.3 → weekend ≈ 11% of events.
    let weekend = weekday_weekend[1] as f64 / distinct;
    assert!((0.08..0.16).contains(&weekend), "weekend share {weekend}");
}

#[test]
fn setup_is_consistent() {
    let spec = Spec::standard("small", anchor()).unwrap();
    let s = setup(&spec);
    assert_eq!(s.orgs.len(), 20);
    let users: Vec<&MemberSetup> = s.orgs.iter().flat_map(|o| &o.members).collect();
    assert_eq!(users.len(), 1_000);
    assert_eq!(
        users
            .iter()
            .map(|m| &m.user_id)
            .collect::<HashSet<_>>()
            .len(),
        1_000
    );
    assert_eq!(s.orgs.iter().map(|o| o.keys.len()).sum::<usize>(), 60);
    for org in &s.orgs {
        assert_eq!(
            org.members.iter().filter(|m| m.role == "org_admin").count(),
            1,
            "{}",
            org.id
        );
        let teams: HashSet<&str> = org.teams.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(teams.len(), org.teams.len());
        let keys: HashSet<&str> = org.keys.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(keys.len(), org.keys.len());
        let emails: HashSet<&str> = org.members.iter().map(|m| m.email.as_str()).collect();
        assert_eq!(emails.len(), org.members.len());
        for m in &org.members {
            assert!(m.team_id.iter().all(|t| teams.contains(t.as_str())));
            assert!(m.email.ends_with(&format!("@{}.com", org.id)));
        }
        for t in &org.teams {
            assert!(org
                .members
                .iter()
                .any(|m| m.role == "team_lead" && m.team_id.as_deref() == Some(&t.id)));
        }
        let markup: f64 = org.markup.parse().unwrap();
        assert!((1.0..=1.5).contains(&markup));
    }
}

#[test]
fn demo_looks_like_the_mockups() {
    let s = setup(&Spec::demo(anchor()));
    let acme = &s.orgs[0];
    assert_eq!(
        (acme.id.as_str(), acme.name.as_str()),
        ("acme", "Acme Corp")
    );
    assert_eq!(acme.members.len(), 30);
    assert_eq!(acme.teams.len(), 4);
    let depts: HashSet<_> = acme.teams.iter().map(|t| t.department.clone()).collect();
    assert_eq!(depts.len(), 3);
    let keys: Vec<&str> = acme.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        keys,
        ["OpenAI Prod", "Claude Prod", "OpenAI Dev", "Gemini Team"]
    );
    assert!(acme.keys.iter().any(|k| k.id == "key-openai-prod"));
    assert!(
        acme.members[0].email.starts_with("alice.") && acme.members[0].email.ends_with("@acme.com")
    );
    assert_eq!(s.orgs.len(), 6);

    // Alice, Bob and Charlie are Acme's top spenders by messages.
    let mut per_user: HashMap<String, u64> = HashMap::new();
    for v in events(&Spec::demo(anchor())) {
        if v["organization_id"] == "acme" {
            *per_user
                .entry(v["user_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let mut ranked: Vec<(&String, &u64)> = per_user.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1));
    assert_eq!(ranked[0].0, &acme.members[0].user_id);
}

#[test]
fn timezones_with_dst_inside_the_range_and_a_half_hour_offset() {
    for (anchor, days) in [
        (anchor(), 90),
        (jiff::civil::date(2026, 4, 20), 90),
        (jiff::civil::date(2026, 7, 1), 180),
    ] {
        let spec = Spec {
            days,
            ..Spec::standard("small", anchor).unwrap()
        };
        let s = setup(&spec);
        let zones: Vec<&str> = s.orgs.iter().map(|o| o.timezone.as_str()).collect();
        assert_eq!(zones.iter().filter(|z| **z == "Asia/Kolkata").count(), 1);
        let from = anchor
            .checked_sub(jiff::Span::new().days(days))
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap();
        let to = anchor.to_zoned(jiff::tz::TimeZone::UTC).unwrap();
        let with_change = zones
            .iter()
            .filter(|z| {
                let tz = jiff::tz::TimeZone::get(z).unwrap();
                tz.to_offset(from.timestamp()) != tz.to_offset(to.timestamp())
                    || tz
                        .following(from.timestamp())
                        .next()
                        .is_some_and(|t| t.timestamp() < to.timestamp())
            })
            .count();
        assert!(with_change >= 2, "{anchor}: {zones:?}");
    }
}

#[test]
fn kolkata_org_has_events_on_half_hour_offset_days() {
    // Events of the +05:30 organisation fall in its local daytime.
    let spec = Spec::custom(5_000, 3, anchor());
    let s = setup(&spec);
    let kolkata = s
        .orgs
        .iter()
        .find(|o| o.timezone == "Asia/Kolkata")
        .unwrap()
        .id
        .clone();
    let tz = jiff::tz::TimeZone::get("Asia/Kolkata").unwrap();
    let hours: Vec<i8> = events(&spec)
        .filter(|v| v["organization_id"] == kolkata.as_str())
        .map(|v| {
            jiff::Timestamp::from_millisecond(ms(&v))
                .unwrap()
                .to_zoned(tz.clone())
                .hour()
        })
        .collect();
    assert!(hours.len() > 100);
    let daytime = hours.iter().filter(|h| (8..19).contains(*h)).count();
    assert!(
        daytime * 10 > hours.len() * 7,
        "{daytime} of {}",
        hours.len()
    );
}

#[test]
fn memory_is_bounded_by_a_few_days_of_events() {
    let spec = Spec::standard("small", anchor()).unwrap();
    let mut stream = crate::stream::Stream::new(crate::world::World::new(&spec), spec.seed);
    let mut most = 0;
    while stream.next().is_some() {
        most = most.max(stream.buffered());
    }
    let per_day = spec.events / u64::from(spec.days);
    assert!(
        (most as u64) < 4 * per_day,
        "{most} held, {per_day} events a day"
    );
}

#[test]
fn daytime_rhythm_follows_local_time_across_a_dst_change() {
    let spec = Spec::standard("small", anchor()).unwrap();
    let s = setup(&spec);
    let berlin = s
        .orgs
        .iter()
        .find(|o| o.timezone == "Europe/Berlin")
        .unwrap()
        .id
        .clone();
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let change: jiff::Timestamp = "2026-10-25T01:00:00Z".parse().unwrap();
    // The lunch dip (local 12:00–13:00) stays at local noon on both sides of the change.
    let mut hours = [[0u32; 24]; 2];
    for v in events(&spec).filter(|v| v["organization_id"] == berlin.as_str()) {
        let t = jiff::Timestamp::from_millisecond(ms(&v)).unwrap();
        hours[usize::from(t >= change)][t.to_zoned(tz.clone()).hour() as usize] += 1;
    }
    for h in hours {
        assert!((10..15).all(|x| x == 12 || h[12] < h[x]), "{h:?}");
        assert!(h[3] * 10 < h[10], "{h:?}");
    }
}

#[test]
fn odd_specs_keep_their_counts() {
    let base = Spec::custom(500, 1, anchor());
    let odd = [
        Spec {
            events: 0,
            ..base.clone()
        },
        Spec {
            orgs: 1,
            users: 1,
            keys: 0,
            largest_org_users: 1,
            largest_org_keys: 0,
            ..base.clone()
        },
        Spec {
            days: 1,
            models: 1,
            keys: 2,
            ..base.clone()
        },
        Spec {
            orgs: 30,
            users: 10,
            keys: 5,
            models: 99,
            largest_org_events: 10_000,
            ..base.clone()
        },
    ];
    for spec in odd {
        let ids: HashSet<String> = events(&spec)
            .map(|v| v["event_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len() as u64, spec.events, "{spec:?}");
        assert_eq!(setup(&spec).orgs.len(), spec.orgs as usize);
    }
}
