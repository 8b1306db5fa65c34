//! Many organisations' unfiltered totals at once (the platform endpoints ask
//! one per organisation and period): read for all of them per period
//! (`org_days::figures_of_all`), and over the platform's hundreds of
//! organisations by two readers at once, each taking the organisations of
//! one residue of their id, when both snapshots are proven to hold the same
//! commits (the read cache's generation, as downloads do).

use super::org_days::{figures_of_all, Orgs};
use super::{read, read_cache, sql_err, SqliteStore};
use crate::contract::{Result, StoreError};
use crate::query::{FigureQuery, Figures, Filter, GroupRow};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::Arc;

/// Questions below this many are read by one reader: splitting costs a
/// second snapshot and a thread hand-off.
const SPLIT_FROM: usize = 64;

/// An unfiltered, ungrouped question: one organisation's totals of a period.
pub fn is_plain(q: &FigureQuery) -> bool {
    q.group_by.is_empty() && q.filter == Filter::default()
}

/// Totals by period (`from`, `to` day numbers) and organisation id.
type ByPeriod = HashMap<(i32, i32), HashMap<i64, Figures>>;

/// The totals of `orgs` for every period the plain questions ask.
fn by_period(c: &Connection, queries: &[FigureQuery], orgs: Orgs) -> Result<ByPeriod> {
    let mut out = ByPeriod::new();
    for q in queries.iter().filter(|q| is_plain(q)) {
        let period = (q.period.from.0, q.period.to.0);
        if let std::collections::hash_map::Entry::Vacant(e) = out.entry(period) {
            e.insert(figures_of_all(c, orgs, period.0, period.1)?);
        }
    }
    Ok(out)
}

/// Totals by period and organisation id, and the organisations' ids.
pub struct PlainTotals {
    ids: HashMap<String, i64>,
    by_period: ByPeriod,
}

impl PlainTotals {
    /// The organisations' ids, and the totals of `orgs` for every period
    /// the plain questions ask.
    pub fn read(c: &Connection, queries: &[FigureQuery], orgs: Orgs) -> Result<Self> {
        let ids = c
            .prepare_cached("SELECT ext_id, id FROM orgs")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(sql_err)?;
        let by_period = by_period(c, queries, orgs)?;
        Ok(Self { ids, by_period })
    }

    /// Another reader's share of the organisations.
    fn merge(&mut self, other: ByPeriod) {
        for (period, orgs) in other {
            self.by_period.entry(period).or_default().extend(orgs);
        }
    }

    /// The answer to one plain question.
    pub fn answer(&self, q: &FigureQuery) -> Result<Vec<GroupRow>> {
        let org = self
            .ids
            .get(&q.org)
            .ok_or_else(|| StoreError::NotFound(format!("organisation {}", q.org)))?;
        let period = (q.period.from.0, q.period.to.0);
        Ok(self
            .by_period
            .get(&period)
            .and_then(|all| all.get(org))
            .map(|f| {
                vec![GroupRow {
                    key: vec![],
                    figures: *f,
                }]
            })
            .unwrap_or_default())
    }
}

impl SqliteStore {
    /// `read::figures_many`, split over two readers when every question is
    /// plain and they are many; one reader when the two snapshots cannot be
    /// proven the same (a commit landed between them).
    pub(super) async fn figures_many_split(
        &self,
        queries: Vec<FigureQuery>,
    ) -> Result<Vec<Vec<GroupRow>>> {
        if queries.len() < SPLIT_FROM || !queries.iter().all(is_plain) {
            return self.read(move |c| read::figures_many(c, &queries)).await;
        }
        let queries = Arc::new(queries);
        let (q0, q1) = (queries.clone(), queries.clone());
        // Reader 0 also reads the organisations' ids.
        let ((g0, mut totals), (g1, other)) = tokio::try_join!(
            self.read(move |c| {
                let totals = PlainTotals::read(c, &q0, Orgs::Share(2, 0))?;
                Ok((read_cache::generation(), totals))
            }),
            self.read(move |c| {
                let other = by_period(c, &q1, Orgs::Share(2, 1))?;
                Ok((read_cache::generation(), other))
            }),
        )?;
        if !read_cache::same_snapshot(&[g0, g1]) {
            let queries = Arc::unwrap_or_clone(queries);
            return self.read(move |c| read::figures_many(c, &queries)).await;
        }
        totals.merge(other);
        queries.iter().map(|q| totals.answer(q)).collect()
    }
}
