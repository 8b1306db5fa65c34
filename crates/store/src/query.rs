//! The one shape of an aggregate question: an organisation, a period of civil
//! days, filters, and 0–3 group-by dimensions. Every figure of API.md §3 is
//! answered from it; its meaning is written once, here and in the backends'
//! aggregate code, never in handlers.

use serde::Serialize;
use spendlens_domain::time::Period;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dim {
    User,
    Team,
    Department,
    ApiKey,
    Model,
    Provider,
    Day,
    Week,
    Month,
    /// Local hours, keyed by the hour's start as Unix seconds (series only:
    /// not a `breakdown` dimension, so `parse` does not know it).
    Hour,
}

/// The dimensions the per-dimension day tables keep (`dim_days`), in the
/// order of their stored number.
pub(crate) const DAY_TABLE_DIMS: [Dim; 6] = [
    Dim::User,
    Dim::Team,
    Dim::Department,
    Dim::ApiKey,
    Dim::Model,
    Dim::Provider,
];

/// The stored number of the person dimension in `DAY_TABLE_DIMS`. A person's
/// rows keep no bitmap of people: their group is that person.
pub(crate) const PERSON: i64 = 0;

impl Dim {
    pub fn parse(s: &str) -> Option<Dim> {
        Some(match s {
            "user" => Dim::User,
            "team" => Dim::Team,
            "department" => Dim::Department,
            "api_key" => Dim::ApiKey,
            "model" => Dim::Model,
            "provider" => Dim::Provider,
            "day" => Dim::Day,
            "week" => Dim::Week,
            "month" => Dim::Month,
            _ => return None,
        })
    }

    pub(crate) fn is_time(self) -> bool {
        matches!(self, Dim::Day | Dim::Week | Dim::Month)
    }

    /// The group key, for this group-by dimension, of a stored day row of
    /// some dimension's `value`, as the cube path computes it: ids; days as
    /// day numbers, weeks by their Monday, months by month number.
    pub(crate) fn key_of(self, day: i64, value: i64) -> i64 {
        match self {
            Dim::Day => day,
            Dim::Week => day - (day + 3).rem_euclid(7),
            Dim::Month => i64::from(spendlens_domain::time::Day(day as i32).month().0),
            _ => value,
        }
    }
}

/// `None`: no filter. `Some(None)`: the null group (`_none`). `Some(Some(id))`: that id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    pub user: Option<Option<String>>,
    pub team: Option<Option<String>>,
    pub department: Option<Option<String>>,
    pub api_key: Option<Option<String>>,
    pub model: Option<Option<String>>,
    pub provider: Option<Option<String>>,
}

impl Filter {
    /// Each dimension a filter can name, with what this one asks of it.
    pub fn by_dim(&self) -> [(Dim, &Option<Option<String>>); 6] {
        [
            (Dim::User, &self.user),
            (Dim::Team, &self.team),
            (Dim::Department, &self.department),
            (Dim::ApiKey, &self.api_key),
            (Dim::Model, &self.model),
            (Dim::Provider, &self.provider),
        ]
    }

    /// The events one budget scope covers (`id` None for the organisation).
    /// A team scope covers events with that `team_id`; a department's, that `department`.
    pub fn of_scope(scope: crate::model::BudgetScope, id: Option<&str>) -> Filter {
        use crate::model::BudgetScope::*;
        let v = || Some(id.map(str::to_owned));
        let mut f = Filter::default();
        match scope {
            Org => {}
            User => f.user = v(),
            Team => f.team = v(),
            Department => f.department = v(),
            ApiKey => f.api_key = v(),
        }
        f
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureQuery {
    pub org: String,
    pub period: Period,
    pub filter: Filter,
    pub group_by: Vec<Dim>,
}

impl FigureQuery {
    /// The stored number (in `DAY_TABLE_DIMS`) of the one dimension this
    /// question is about — grouped by it, filtered to one of its values
    /// (`filters`, as internal ids), or both, and optionally by day, week or
    /// month — or `None` when it needs the cube.
    pub(crate) fn day_table_dim(&self, filters: &[(Dim, i64)]) -> Option<i64> {
        if self.group_by.contains(&Dim::Hour) || filters.len() > 1 {
            return None;
        }
        let mut dims: Vec<Dim> = self
            .group_by
            .iter()
            .filter(|d| !d.is_time())
            .copied()
            .collect();
        dims.extend(filters.iter().map(|(d, _)| *d));
        dims.dedup();
        let [dim] = dims[..] else { return None };
        DAY_TABLE_DIMS
            .iter()
            .position(|d| *d == dim)
            .map(|n| n as i64)
    }
}

/// The additive figures plus the two that are not (active users, conversations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub total_cost: i128,
    pub actual_api_cost: i128,
    pub messages: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cached_tokens_in: u64,
    pub cache_write_tokens_in: u64,
    pub unpriced_events: u64,
    /// Conversations whose first event falls in the group and period.
    pub conversations: u64,
    /// Distinct users with an event in the group and period.
    pub active_users: u64,
}

impl Figures {
    /// The additive figures from the nine stored sums in the cube's column
    /// order (total_cost … convs; see `CellDelta::values`), with no people.
    pub fn from_sums(v: [i64; 9]) -> Figures {
        Figures {
            total_cost: i128::from(v[0]),
            actual_api_cost: i128::from(v[1]),
            messages: v[2] as u64,
            tokens_in: v[3] as u64,
            tokens_out: v[4] as u64,
            cached_tokens_in: v[5] as u64,
            cache_write_tokens_in: v[6] as u64,
            unpriced_events: v[7] as u64,
            conversations: v[8] as u64,
            active_users: 0,
        }
    }

    /// Add the figures of a group that shares no user and no conversation with
    /// this one (another organisation): then every figure, distinct users
    /// included, is the sum.
    pub fn add_disjoint(&mut self, other: &Figures) {
        self.total_cost += other.total_cost;
        self.actual_api_cost += other.actual_api_cost;
        self.messages += other.messages;
        self.tokens_in += other.tokens_in;
        self.tokens_out += other.tokens_out;
        self.cached_tokens_in += other.cached_tokens_in;
        self.cache_write_tokens_in += other.cache_write_tokens_in;
        self.unpriced_events += other.unpriced_events;
        self.conversations += other.conversations;
        self.active_users += other.active_users;
    }
}

/// One group's key (the values of the group-by dimensions, in order; `None`
/// is the null group; days, weeks and months as `YYYY-MM-DD`) and figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub key: Vec<Option<String>>,
    pub figures: Figures,
}

/// Groups keyed by internal ids: `n` ids a group, one run after another,
/// and each group's figures. Flat, because a 180-day breakdown has 69,000
/// to 124,000 groups, and a list of ids of its own for each was an
/// allocation per group and pages faulted in for each answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdRows {
    n: usize,
    ids: Vec<i64>,
    figures: Vec<Figures>,
}

impl IdRows {
    pub fn with_capacity(n: usize, groups: usize) -> IdRows {
        IdRows {
            n,
            ids: Vec::with_capacity(n * groups),
            figures: Vec::with_capacity(groups),
        }
    }

    /// Groups given as (ids, figures), each with `n` ids.
    pub fn from_keyed(n: usize, rows: Vec<(Vec<i64>, Figures)>) -> IdRows {
        let mut out = IdRows::with_capacity(n, rows.len());
        for (ids, f) in rows {
            out.push(&ids, f);
        }
        out
    }

    /// Room for `more` groups.
    pub fn reserve(&mut self, more: usize) {
        self.ids.reserve(more * self.n);
        self.figures.reserve(more);
    }

    /// Add a group; `ids` holds its `n` ids (more are ignored).
    pub fn push(&mut self, ids: &[i64], figures: Figures) {
        self.ids.extend_from_slice(&ids[..self.n]);
        self.figures.push(figures);
    }

    pub fn len(&self) -> usize {
        self.figures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.figures.is_empty()
    }

    /// The ids of group `i`.
    pub fn ids(&self, i: usize) -> &[i64] {
        &self.ids[i * self.n..(i + 1) * self.n]
    }

    pub fn figures(&self, i: usize) -> &Figures {
        &self.figures[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[i64], &Figures)> {
        (0..self.len()).map(|i| (self.ids(i), self.figures(i)))
    }
}

/// A grouped question's groups keyed by internal ids, in no order, with
/// the name each id stands for: a list that shows one page of 69,000
/// groups names and orders only what it needs, where `GroupRow`s cost a
/// string per name per group and an order by key (a third of a 180-day
/// breakdown's time).
#[derive(Debug, Clone, Default)]
pub struct IdGroups {
    pub rows: IdRows,
    /// Per group-by position: id → its `GroupRow` key value.
    names: Vec<foldhash::HashMap<i64, Option<String>>>,
}

impl IdGroups {
    /// `rows` with the names of the ids at each position, from `name`
    /// (asked once per distinct id).
    pub fn new<E>(
        rows: IdRows,
        mut name: impl FnMut(usize, i64) -> Result<Option<String>, E>,
    ) -> Result<IdGroups, E> {
        let mut names: Vec<foldhash::HashMap<i64, Option<String>>> =
            (0..rows.n).map(|_| Default::default()).collect();
        for (ids, _) in rows.iter() {
            for (at, id) in ids.iter().enumerate() {
                if !names[at].contains_key(id) {
                    let n = name(at, *id)?;
                    names[at].insert(*id, n);
                }
            }
        }
        Ok(IdGroups { rows, names })
    }

    /// Groups already named, each distinct value given an id of its own.
    pub fn from_named(rows: Vec<GroupRow>, width: usize) -> IdGroups {
        let mut ids: Vec<HashMap<Option<String>, i64>> = vec![HashMap::new(); width];
        let mut names: Vec<foldhash::HashMap<i64, Option<String>>> =
            (0..width).map(|_| Default::default()).collect();
        let mut out = IdRows::with_capacity(width, rows.len());
        for r in rows {
            let key: Vec<i64> = r
                .key
                .into_iter()
                .enumerate()
                .map(|(at, v)| {
                    let next = ids[at].len() as i64;
                    let id = *ids[at].entry(v.clone()).or_insert(next);
                    names[at].entry(id).or_insert(v);
                    id
                })
                .collect();
            out.push(&key, r.figures);
        }
        IdGroups { rows: out, names }
    }

    /// The key value (as `GroupRow::key` holds it) of `id` at `at`.
    pub fn name(&self, at: usize, id: i64) -> Option<&str> {
        self.names.get(at)?.get(&id)?.as_deref()
    }

    /// A group's `GroupRow` key.
    pub fn key(&self, ids: &[i64]) -> Vec<Option<String>> {
        ids.iter()
            .enumerate()
            .map(|(at, id)| self.name(at, *id).map(str::to_owned))
            .collect()
    }
}

/// Which retained events to read, in time order (occurred_at, then event_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub org: String,
    pub period: Period,
    pub filter: Filter,
    /// Start after this (occurred_at in µs, event_id): keyset paging.
    pub after: Option<(i64, String)>,
    /// At most this many (None: all of them).
    pub limit: Option<usize>,
}
