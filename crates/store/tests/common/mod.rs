//! Shared harness of the store's integration tests: a store on a temporary
//! file, the datagen organisations created through the Store API, ingestion
//! in batches, and an oracle that computes every figure of API.md §3 with
//! plain Rust over the stored events (never through the store's own
//! aggregate code).

#![allow(dead_code)] // each test binary uses part of the harness

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;
use spendlens_datagen::Setup;
use spendlens_domain::time::{Day, Period};
use spendlens_domain::{Catalog, ErrorCode, Event, Markup};
use spendlens_store::model::*;
use spendlens_store::query::{Dim, EventQuery, FigureQuery, Figures, Filter};
use spendlens_store::{Durability, SqliteStore, Store};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Every `breakdown` dimension (API.md §4), in the order the oracle stores
/// them; the oracle keeps local hours (series only) after them.
pub const DIMS: [Dim; 9] = [
    Dim::User,
    Dim::Team,
    Dim::Department,
    Dim::ApiKey,
    Dim::Model,
    Dim::Provider,
    Dim::Day,
    Dim::Week,
    Dim::Month,
];

const N: usize = 10;

fn slot(d: Dim) -> usize {
    if d == Dim::Hour {
        return 9;
    }
    DIMS.iter().position(|x| *x == d).unwrap()
}

/// Unix seconds of the start of the local clock hour holding `at` in `tz`
/// (in a repeated hour, the pass `at` is in), through jiff only.
pub fn local_hour(at: Timestamp, tz: &str) -> i64 {
    let z = at.to_zoned(TimeZone::get(tz).unwrap());
    let floored = z
        .with()
        .minute(0)
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap();
    floored.timestamp().as_second()
}

/// Every group-by of 0, 1 and 2 dimensions (pairs unordered, in DIMS order).
pub fn group_bys() -> Vec<Vec<Dim>> {
    let mut out = vec![vec![]];
    out.extend(DIMS.iter().map(|d| vec![*d]));
    for (i, a) in DIMS.iter().enumerate() {
        for b in &DIMS[i + 1..] {
            out.push(vec![*a, *b]);
        }
    }
    out
}

pub fn open(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(&dir.join("t.db"), Durability::Process).unwrap())
}

pub fn day(text: &str) -> Day {
    Day::parse(text).unwrap()
}

pub fn period(from: &str, to: &str) -> Period {
    Period {
        from: day(from),
        to: day(to),
    }
}

pub fn new_org(id: &str, tz: &str, markup: &str) -> NewOrg {
    NewOrg {
        id: id.into(),
        name: format!("Org {id}"),
        timezone: tz.into(),
        markup: Markup::parse(markup).unwrap(),
        webhook_url: None,
        retention_days: 365,
    }
}

/// The organisations, teams, members and keys of a datagen setup, made
/// through the Store API as an administrator would.
pub async fn create_setup(store: &dyn Store, setup: &Setup) {
    for org in &setup.orgs {
        let mut new = new_org(&org.id, &org.timezone, &org.markup);
        new.name = org.name.clone();
        store.create_org(new, "test").await.unwrap();
        for t in &org.teams {
            let team = Team {
                team_id: t.id.clone(),
                name: t.name.clone(),
                department: t.department.clone(),
            };
            store.create_team(&org.id, team, "test").await.unwrap();
        }
        for m in &org.members {
            let member = Member {
                user_id: m.user_id.clone(),
                email: Some(m.email.clone()),
                role: Role::parse(&m.role).unwrap(),
                team_id: m.team_id.clone(),
                department: m.department.clone(),
                added_by_admin: true,
            };
            store.put_member(&org.id, member, "test").await.unwrap();
        }
        for k in &org.keys {
            store
                .create_api_key(&org.id, &k.id, &k.name, Some(&k.provider), "test")
                .await
                .unwrap();
        }
    }
}

/// An event as it was sent: the organisation it was generated for (datagen
/// always names it) and the parsed event, maybe without `organization_id`.
#[derive(Debug, Clone)]
pub struct Sent {
    pub org: String,
    pub event: Event,
}

/// How the batches reach the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Every batch from a platform-wide token, events naming their organisation.
    Platform,
    /// A third as is; a third split per organisation under org-scoped tokens
    /// (every other event without `organization_id`); a third platform-wide
    /// without `organization_id` (placed by the user's one membership).
    Mixed,
}

/// Parse datagen's JSON events as the server would (`now` fixed, so the
/// tests do not depend on the clock).
pub fn parse_all(values: impl Iterator<Item = Value>, now: Timestamp) -> Vec<Sent> {
    values
        .map(|v| {
            let org = v["organization_id"].as_str().unwrap().to_owned();
            let event = Event::parse(&v, now).unwrap_or_else(|e| panic!("{e:?}: {v}"));
            Sent { org, event }
        })
        .collect()
}

/// The batches of `size` events (one store.ingest call each, maybe several
/// IngestBatch in it), routed as asked.
pub fn batches(
    sent: &[Sent],
    size: usize,
    routing: Routing,
    at: Timestamp,
) -> Vec<Vec<IngestBatch>> {
    sent.chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let platform = |strip: bool| IngestBatch {
                scope: IngestScope::Platform,
                events: chunk
                    .iter()
                    .map(|s| {
                        let mut e = s.event.clone();
                        if strip {
                            e.organization_id = None;
                        }
                        e
                    })
                    .enumerate()
                    .collect(),
                received_at: at,
            };
            match (routing, i % 3) {
                (Routing::Platform, _) | (Routing::Mixed, 0) => vec![platform(false)],
                (Routing::Mixed, 2) => vec![platform(true)],
                (Routing::Mixed, _) => {
                    let mut per_org: BTreeMap<&str, Vec<(usize, Event)>> = BTreeMap::new();
                    for (j, s) in chunk.iter().enumerate() {
                        let mut e = s.event.clone();
                        if j % 2 == 1 {
                            e.organization_id = None;
                        }
                        per_org.entry(&s.org).or_default().push((j, e));
                    }
                    per_org
                        .into_iter()
                        .map(|(org, events)| IngestBatch {
                            scope: IngestScope::Org(org.to_owned()),
                            events,
                            received_at: at,
                        })
                        .collect()
                }
            }
        })
        .collect()
}

pub fn add(total: &mut BatchOutcome, out: BatchOutcome) {
    total.accepted += out.accepted;
    total.duplicates += out.duplicates;
    total.quarantined += out.quarantined;
    total.rejected += out.rejected;
    total.errors.extend(out.errors);
}

/// Send every call; the outcomes summed.
pub async fn ingest(store: &dyn Store, calls: &[Vec<IngestBatch>]) -> BatchOutcome {
    let mut total = BatchOutcome::default();
    for call in calls {
        let n = call.len();
        let outs = store.ingest(call.clone()).await.unwrap();
        assert_eq!(outs.len(), n, "one outcome per batch");
        for out in outs {
            add(&mut total, out);
        }
    }
    total
}

/// One batch from a platform-wide token.
pub async fn send(store: &dyn Store, events: Vec<Event>) -> BatchOutcome {
    send_as(store, IngestScope::Platform, events).await
}

pub async fn send_as(store: &dyn Store, scope: IngestScope, events: Vec<Event>) -> BatchOutcome {
    let batch = IngestBatch {
        scope,
        events: events.into_iter().enumerate().collect(),
        received_at: Timestamp::now(),
    };
    store.ingest(vec![batch]).await.unwrap().remove(0)
}

/// A hand-made event for organisation `ny`, user `alice`; `over` replaces or
/// adds fields (null removes one).
pub fn ev(id: &str, at: &str, conv: &str, over: Value) -> Event {
    let mut v = serde_json::json!({
        "event_id": id, "occurred_at": at, "organization_id": "ny", "user_id": "alice",
        "conversation_id": conv, "model_name": "gpt-4o", "tokens_in": 10, "tokens_out": 5,
        "actual_api_cost": "0.000000003",
    });
    for (k, x) in over.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    Event::parse(&v, parse_now()).unwrap()
}

/// "Now" for hand-made events: far enough ahead that fixed dates of 2026
/// are never in the future, whatever the clock says.
pub fn parse_now() -> Timestamp {
    let floor: Timestamp = "2027-06-01T00:00:00Z".parse().unwrap();
    Timestamp::now().max(floor)
}

pub fn codes(out: &BatchOutcome) -> Vec<(String, &'static str)> {
    out.errors
        .iter()
        .map(|e| (e.event_id.clone().unwrap_or_default(), e.code.as_str()))
        .collect()
}

pub fn code(c: ErrorCode) -> &'static str {
    c.as_str()
}

// --- placement: every stored event against what was sent -----------------

/// The civil day of `at` in `tz`, as days since 1970-01-01, through jiff's
/// calendar only.
pub fn local_day(at: Timestamp, tz: &str) -> i32 {
    let tz = TimeZone::get(tz).unwrap();
    let date = at.to_zoned(tz).date();
    jiff::civil::date(1970, 1, 1)
        .until(date)
        .unwrap()
        .get_days()
}

fn round_div(n: i128, d: i128) -> i128 {
    // halves away from zero
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// What the store must have kept for each first-sent event: organisation
/// from the sender, civil day in the organisation's zone, team / department
/// / provider defaults of API.md §2 from the setup, costs from the client or
/// the catalog and markup. Asserts every stored event equals it and nothing
/// else is stored.
pub fn check_placement(setup: &Setup, sent: &[Sent], stored: &HashMap<String, Vec<StoredEvent>>) {
    let catalog = Catalog::builtin();
    let mut want: HashMap<(String, String), StoredEvent> = HashMap::new();
    let mut key_provider: HashMap<(String, String), Option<String>> = HashMap::new();
    for org in &setup.orgs {
        for k in &org.keys {
            key_provider.insert((org.id.clone(), k.id.clone()), Some(k.provider.clone()));
        }
    }
    for s in sent {
        let e = &s.event;
        if want.contains_key(&(s.org.clone(), e.event_id.clone())) {
            continue; // a retry: the first stays
        }
        let org = setup.orgs.iter().find(|o| o.id == s.org).unwrap();
        let member = org.members.iter().find(|m| m.user_id == e.user_id);
        let team = e.team_id.clone().or(member.and_then(|m| m.team_id.clone()));
        let team_dept = team
            .as_ref()
            .and_then(|t| org.teams.iter().find(|x| &x.id == t))
            .and_then(|t| t.department.clone());
        let department = e
            .department
            .clone()
            .or(member.and_then(|m| m.department.clone()))
            .or(team_dept);
        let catalog_provider = catalog.provider_of(&e.model_name).map(str::to_owned);
        let key_prov = e.api_key_id.as_ref().and_then(|k| {
            key_provider
                .entry((s.org.clone(), k.clone()))
                .or_insert_with(|| e.api_key_provider.clone().or(catalog_provider.clone()))
                .clone()
        });
        let provider = e.api_key_provider.clone().or(key_prov).or(catalog_provider);
        let price = catalog
            .lookup(&e.model_name, e.occurred_at)
            .map(|c| c.price);
        let (actual, unpriced) = match (e.actual_api_cost, price) {
            (Some(a), _) => (a.0, false),
            (None, Some(p)) => {
                let uncached = e.tokens_in - e.cached_tokens_in - e.cache_write_tokens_in;
                let sum = i128::from(uncached) * i128::from(p.input)
                    + i128::from(e.cached_tokens_in)
                        * i128::from(p.cached_input.unwrap_or(p.input))
                    + i128::from(e.cache_write_tokens_in)
                        * i128::from(p.cache_write.unwrap_or(p.input))
                    + i128::from(e.tokens_out) * i128::from(p.output);
                (round_div(sum, 1_000_000) as i64, false)
            }
            (None, None) => (0, true),
        };
        let markup = Markup::parse(&org.markup).unwrap().0;
        let total = match e.total_cost {
            Some(t) => t.0,
            None => round_div(i128::from(actual) * i128::from(markup), 1_000_000_000) as i64,
        };
        want.insert(
            (s.org.clone(), e.event_id.clone()),
            StoredEvent {
                organization_id: s.org.clone(),
                event_id: e.event_id.clone(),
                occurred_at: e.occurred_at,
                day: local_day(e.occurred_at, &org.timezone),
                user_id: e.user_id.clone(),
                team_id: team,
                department,
                api_key_id: e.api_key_id.clone(),
                provider,
                model: e.model_name.clone(),
                conversation_id: e.conversation_id.clone(),
                tokens_in: e.tokens_in,
                tokens_out: e.tokens_out,
                cached_tokens_in: e.cached_tokens_in,
                cache_write_tokens_in: e.cache_write_tokens_in,
                total_cost: total,
                actual_api_cost: actual,
                unpriced,
            },
        );
    }
    let mut n = 0;
    for (org, events) in stored {
        for got in events {
            let w = want
                .get(&(org.clone(), got.event_id.clone()))
                .unwrap_or_else(|| panic!("stored but never sent: {got:?}"));
            assert_eq!(got, w, "stored event differs from what was sent");
            n += 1;
        }
    }
    assert_eq!(n, want.len(), "every distinct event stored exactly once");
}

// --- the oracle ------------------------------------------------------------

/// One organisation's stored events, with each dimension's values interned
/// (0 is the null group) and each conversation's first event marked. Built
/// from `store.events` only: what the cube must agree with.
pub struct Oracle {
    pub org: String,
    names: Vec<Vec<Option<String>>>,
    ids: Vec<HashMap<Option<String>, u32>>,
    rows: Vec<Row>,
}

struct Row {
    day: i32,
    vals: [u32; N],
    first: bool,
    total: i64,
    actual: i64,
    tokens_in: u64,
    tokens_out: u64,
    cached: u64,
    cache_write: u64,
    unpriced: bool,
}

impl Oracle {
    /// `tz`: the organisation's timezone (for local hours).
    pub fn new(org: &str, tz: &str, raw: &[StoredEvent]) -> Oracle {
        Oracle::with_zones(org, &[(Timestamp::MIN, tz)], raw)
    }

    /// `zones`: the organisation's timezones, each from an instant on
    /// (ascending); an event's local hour is taken in the zone in force then.
    pub fn with_zones(org: &str, zones: &[(Timestamp, &str)], raw: &[StoredEvent]) -> Oracle {
        let mut o = Oracle {
            org: org.to_owned(),
            names: vec![vec![None]; N],
            ids: (0..N).map(|_| HashMap::from([(None, 0)])).collect(),
            rows: Vec::with_capacity(raw.len()),
        };
        // A conversation's first event: earliest occurred_at, ties by event_id,
        // over all of its events whatever the period.
        let mut first: HashMap<&str, (Timestamp, &str)> = HashMap::new();
        for e in raw {
            let cand = (e.occurred_at, e.event_id.as_str());
            first
                .entry(&e.conversation_id)
                .and_modify(|f| {
                    if cand < *f {
                        *f = cand
                    }
                })
                .or_insert(cand);
        }
        for e in raw {
            let d = Day(e.day);
            let values = [
                Some(e.user_id.clone()),
                e.team_id.clone(),
                e.department.clone(),
                e.api_key_id.clone(),
                Some(e.model.clone()),
                e.provider.clone(),
                Some(d.to_string()),
                Some(d.iso_week_monday().to_string()),
                Some(d.month().first_day().to_string()),
                Some({
                    let (_, tz) = zones
                        .iter()
                        .rev()
                        .find(|(from, _)| *from <= e.occurred_at)
                        .unwrap();
                    local_hour(e.occurred_at, tz).to_string()
                }),
            ];
            let mut vals = [0u32; N];
            for (i, v) in values.into_iter().enumerate() {
                vals[i] = o.intern(i, v);
            }
            o.rows.push(Row {
                day: e.day,
                vals,
                first: first[e.conversation_id.as_str()] == (e.occurred_at, e.event_id.as_str()),
                total: e.total_cost,
                actual: e.actual_api_cost,
                tokens_in: e.tokens_in,
                tokens_out: e.tokens_out,
                cached: e.cached_tokens_in,
                cache_write: e.cache_write_tokens_in,
                unpriced: e.unpriced,
            });
        }
        o
    }

    fn intern(&mut self, dim: usize, v: Option<String>) -> u32 {
        if let Some(id) = self.ids[dim].get(&v) {
            return *id;
        }
        let id = self.names[dim].len() as u32;
        self.names[dim].push(v.clone());
        self.ids[dim].insert(v, id);
        id
    }

    /// Values of a dimension seen in this organisation (None included if seen).
    pub fn values(&self, d: Dim) -> Vec<Option<String>> {
        let s = slot(d);
        let seen: HashSet<u32> = self.rows.iter().map(|r| r.vals[s]).collect();
        let mut out: Vec<_> = seen
            .into_iter()
            .map(|i| self.names[s][i as usize].clone())
            .collect();
        out.sort();
        out
    }

    /// The most frequent value of a dimension (ties: smallest), nulls included
    /// only when `allow_null`.
    pub fn busiest(&self, d: Dim, allow_null: bool) -> Option<Option<String>> {
        let s = slot(d);
        let mut n: HashMap<u32, usize> = HashMap::new();
        for r in &self.rows {
            if allow_null || r.vals[s] != 0 {
                *n.entry(r.vals[s]).or_default() += 1;
            }
        }
        n.into_iter()
            .max_by_key(|(id, c)| (*c, std::cmp::Reverse(*id)))
            .map(|(id, _)| self.names[s][id as usize].clone())
    }

    pub fn has_null(&self, d: Dim) -> bool {
        let s = slot(d);
        self.rows.iter().any(|r| r.vals[s] == 0)
    }

    /// API.md §3 over the events: sums, distinct users per group, and
    /// conversations counted where (and if) their first event falls. Hour
    /// groups carry no conversations (API.md §3: null there; the cube's hour
    /// rows keep 0).
    pub fn expected(&self, q: &FigureQuery) -> BTreeMap<Vec<Option<String>>, Figures> {
        let f = &q.filter;
        // Per dimension slot: the interned id the filter wants (u32::MAX: a
        // value never seen, which matches nothing).
        let mut want: Vec<(usize, u32)> = Vec::new();
        for (d, v) in [
            (Dim::User, &f.user),
            (Dim::Team, &f.team),
            (Dim::Department, &f.department),
            (Dim::ApiKey, &f.api_key),
            (Dim::Model, &f.model),
            (Dim::Provider, &f.provider),
        ] {
            if let Some(v) = v {
                let s = slot(d);
                want.push((s, self.ids[s].get(v).copied().unwrap_or(u32::MAX)));
            }
        }
        let slots: Vec<usize> = q.group_by.iter().map(|d| slot(*d)).collect();
        let by_hour = q.group_by.contains(&Dim::Hour);
        let mut groups: HashMap<Vec<u32>, (Figures, HashSet<u32>)> = HashMap::new();
        for r in &self.rows {
            if r.day < q.period.from.0 || r.day >= q.period.to.0 {
                continue;
            }
            if want.iter().any(|(s, id)| r.vals[*s] != *id) {
                continue;
            }
            let key: Vec<u32> = slots.iter().map(|s| r.vals[*s]).collect();
            let (g, users) = groups.entry(key).or_default();
            g.total_cost += i128::from(r.total);
            g.actual_api_cost += i128::from(r.actual);
            g.messages += 1;
            g.tokens_in += r.tokens_in;
            g.tokens_out += r.tokens_out;
            g.cached_tokens_in += r.cached;
            g.cache_write_tokens_in += r.cache_write;
            g.unpriced_events += u64::from(r.unpriced);
            g.conversations += u64::from(r.first && !by_hour);
            users.insert(r.vals[0]);
        }
        groups
            .into_iter()
            .map(|(key, (mut g, users))| {
                g.active_users = users.len() as u64;
                let names = key
                    .iter()
                    .zip(&slots)
                    .map(|(id, s)| self.names[*s][*id as usize].clone())
                    .collect();
                (names, g)
            })
            .collect()
    }
}

/// Ask the store and compare every group and every figure with the oracle.
/// Returns the number of groups compared.
pub async fn check(store: &dyn Store, oracle: &Oracle, q: &FigureQuery) -> usize {
    let rows = store.figures(q).await.unwrap();
    let n = rows.len();
    let got: BTreeMap<_, _> = rows.into_iter().map(|r| (r.key, r.figures)).collect();
    assert_eq!(got.len(), n, "{q:?}: a group appears twice");
    let want = oracle.expected(q);
    if got != want {
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(3)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !want.contains_key(*k))
            .take(3)
            .collect();
        let differ: Vec<_> = want
            .iter()
            .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
            .take(2)
            .map(|(k, v)| (k, v, got[k]))
            .collect();
        panic!(
            "{q:?}\n{} groups expected, {} got; missing {missing:?}; extra {extra:?}; differ (key, want, got) {differ:#?}",
            want.len(),
            got.len()
        );
    }
    n
}

pub fn query(org: &str, period: Period, filter: Filter, group_by: Vec<Dim>) -> FigureQuery {
    FigureQuery {
        org: org.into(),
        period,
        filter,
        group_by,
    }
}

/// Every stored event of every organisation of the setup.
pub async fn stored(store: &dyn Store, setup: &Setup) -> HashMap<String, Vec<StoredEvent>> {
    let mut out = HashMap::new();
    for o in &setup.orgs {
        out.insert(o.id.clone(), store.events(&o.id).await.unwrap());
    }
    out
}

/// The days in `p` whose length in `tz` is not 24 hours (DST changes).
pub fn dst_days(tz: &str, p: Period) -> Vec<Day> {
    let zone = TimeZone::get(tz).unwrap();
    (p.from.0..p.to.0)
        .map(Day)
        .filter(|d| {
            let start = d.to_date().unwrap().to_zoned(zone.clone()).unwrap();
            let next = start.tomorrow().unwrap().start_of_day().unwrap();
            next.timestamp().as_second() - start.timestamp().as_second() != 86_400
        })
        .collect()
}

// --- detail reads against the same raw events -------------------------------

fn matches(e: &StoredEvent, f: &Filter) -> bool {
    let ok = |want: &Option<Option<String>>, have: Option<&String>| {
        want.as_ref().is_none_or(|w| w.as_ref() == have)
    };
    ok(&f.user, Some(&e.user_id))
        && ok(&f.team, e.team_id.as_ref())
        && ok(&f.department, e.department.as_ref())
        && ok(&f.api_key, e.api_key_id.as_ref())
        && ok(&f.model, Some(&e.model))
        && ok(&f.provider, e.provider.as_ref())
}

/// A user's conversations with an event in the period (API.md §4), newest
/// last event first; titles are not in the detail, so left out.
pub fn expected_conversations(
    raw: &[StoredEvent],
    user: &str,
    p: Period,
) -> Vec<ConversationSummary> {
    let mut by_conv: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for e in raw.iter().filter(|e| e.user_id == user) {
        by_conv.entry(&e.conversation_id).or_default().push(e);
    }
    let mut out: Vec<ConversationSummary> = by_conv
        .into_iter()
        .filter_map(|(id, all)| {
            let inside: Vec<&&StoredEvent> =
                all.iter().filter(|e| p.contains(Day(e.day))).collect();
            if inside.is_empty() {
                return None;
            }
            let mut models: Vec<String> = inside.iter().map(|e| e.model.clone()).collect();
            models.sort();
            models.dedup();
            Some(ConversationSummary {
                conversation_id: id.to_owned(),
                user_id: user.to_owned(),
                title: None,
                started_at: all.iter().map(|e| e.occurred_at).min().unwrap(),
                last_event_at: all.iter().map(|e| e.occurred_at).max().unwrap(),
                messages: inside.len() as u64,
                tokens: inside.iter().map(|e| e.tokens_in + e.tokens_out).sum(),
                total_cost: inside.iter().map(|e| i128::from(e.total_cost)).sum(),
                actual_api_cost: inside.iter().map(|e| i128::from(e.actual_api_cost)).sum(),
                models,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.last_event_at
            .cmp(&a.last_event_at)
            .then_with(|| a.conversation_id.cmp(&b.conversation_id))
    });
    out
}

pub async fn check_conversations(
    store: &dyn Store,
    org: &str,
    raw: &[StoredEvent],
    user: &str,
    p: Period,
) -> usize {
    let mut got = store.user_conversations(org, user, p).await.unwrap();
    for c in &mut got {
        c.title = None;
    }
    let want = expected_conversations(raw, user, p);
    assert_eq!(got, want, "conversations of {user} in {org}, {p:?}");
    want.len()
}

/// The retained events of a period and filter, in time order (the
/// `/messages` list and export).
pub fn expected_events(raw: &[StoredEvent], p: Period, f: &Filter) -> Vec<StoredEvent> {
    let mut out: Vec<StoredEvent> = raw
        .iter()
        .filter(|e| p.contains(Day(e.day)) && matches(e, f))
        .cloned()
        .collect();
    out.sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
    out
}

/// The store's stream, whole and in pages of `page`, against the raw events.
pub async fn check_stream(
    store: &Arc<dyn Store>,
    org: &str,
    raw: &[StoredEvent],
    p: Period,
    f: Filter,
    page: usize,
) -> usize {
    let want = expected_events(raw, p, &f);
    let q = EventQuery {
        org: org.into(),
        period: p,
        filter: f.clone(),
        after: None,
        limit: None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let s = store.clone();
    let task = tokio::spawn(async move { s.stream_events(q, tx).await });
    let mut got = Vec::new();
    while let Some(batch) = rx.recv().await {
        assert!(!batch.is_empty(), "no empty batches");
        got.extend(batch);
    }
    task.await.unwrap().unwrap();
    assert_eq!(got, want, "stream of {org}, {p:?}, {f:?}");
    // Keyset pages.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let q = EventQuery {
            org: org.into(),
            period: p,
            filter: f.clone(),
            after: after.clone(),
            limit: Some(page),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let s = store.clone();
        let task = tokio::spawn(async move { s.stream_events(q, tx).await });
        let mut this = Vec::new();
        while let Some(batch) = rx.recv().await {
            this.extend(batch);
        }
        task.await.unwrap().unwrap();
        assert!(this.len() <= page);
        let Some(last) = this.last() else { break };
        after = Some((last.occurred_at.as_microsecond(), last.event_id.clone()));
        let full = this.len() == page;
        paged.extend(this);
        if !full {
            break;
        }
    }
    assert_eq!(paged, want, "pages of {page} of {org}, {p:?}, {f:?}");
    want.len()
}
