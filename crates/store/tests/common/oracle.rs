//! The oracle: every figure of API.md §3 in plain Rust over the stored events.

use super::*;

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
    let want = oracle.expected(q);
    let rows = store.figures(q).await.unwrap();
    let n = rows.len();
    let got: BTreeMap<_, _> = rows.into_iter().map(|r| (r.key, r.figures)).collect();
    assert_eq!(got.len(), n, "{q:?}: a group appears twice");
    compare(q, &want, &got);
    // The same groups by id, each id named by the answer's names.
    let ids = store.figure_ids(q).await.unwrap();
    let by_id: BTreeMap<_, _> = ids.rows.iter().map(|(k, f)| (ids.key(k), *f)).collect();
    assert_eq!(
        by_id.len(),
        ids.rows.len(),
        "{q:?}: an id group appears twice"
    );
    compare(q, &want, &by_id);
    n
}

fn compare(
    q: &FigureQuery,
    want: &BTreeMap<Vec<Option<String>>, Figures>,
    got: &BTreeMap<Vec<Option<String>>, Figures>,
) {
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
    // Page by page, as the API walks them: the same list.
    let mut limits = vec![want.len().div_ceil(3).max(1), want.len() + 1];
    if want.len() <= 20 {
        limits.push(1);
    }
    for limit in limits {
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .user_conversations_page(org, user, p, after.clone(), limit)
                .await
                .unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = Some((
                last.last_event_at.as_microsecond(),
                last.conversation_id.clone(),
            ));
            let full = page.len() == limit;
            walked.extend(page);
            if !full {
                break;
            }
        }
        for c in &mut walked {
            c.title = None;
        }
        assert_eq!(
            walked, want,
            "pages of {limit} of {user}'s conversations in {org}, {p:?}"
        );
    }
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

/// Every event `q` streams, checking that no batch is empty.
pub async fn stream_whole(store: &Arc<dyn Store>, q: EventQuery) -> Vec<StoredEvent> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let s = store.clone();
    let task = tokio::spawn(async move { s.stream_events(q, tx).await });
    let mut got = Vec::new();
    while let Some(batch) = rx.recv().await {
        assert!(!batch.is_empty(), "no empty batches");
        got.extend(batch);
    }
    task.await.unwrap().unwrap();
    got
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
    let got = stream_whole(store, q).await;
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
