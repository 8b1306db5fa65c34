//! The rules of ingestion that do not depend on the backend: an
//! organisation's settings as a transaction sees them, the price in force
//! for an event, a conversation's start moving with late events, and the
//! repricing of one stored event. Both backends call these, so the figures
//! cannot differ by backend.

use crate::aggregate::{
    costs_of, Buckets, CellKey, CubeDeltas, Groups, ACTUAL_COMPUTED, GRAIN_DAY, GRAIN_HOUR,
    GRAIN_MONTH, TOTAL_COMPUTED, UNPRICED,
};
use crate::model::Repriced;
use jiff::tz::TimeZone;
use spendlens_domain::time::{local_hour_start, Day};
use spendlens_domain::{Catalog, Event, Markup, Nanos, Price};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct OrgInfo {
    pub id: i64,
    pub markup: Markup,
    /// (effective_from in µs, zone), ascending.
    pub zones: Vec<(i64, TimeZone)>,
    /// Negotiated prices by model: (effective_from µs, price), ascending.
    pub prices: HashMap<String, Vec<(i64, Price)>>,
}

impl OrgInfo {
    pub fn zone_at(&self, at_us: i64) -> &TimeZone {
        let i = self.zones.partition_point(|(from, _)| *from <= at_us);
        // Events before the first entry use the first zone: the organisation's
        // original timezone covers all history before any change.
        &self.zones[i.saturating_sub(1)].1
    }
}

#[derive(Debug, Clone)]
pub struct TeamInfo {
    pub id: i64,
    pub department: Option<String>,
}

#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: i64,
    pub provider: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MemberInfo {
    pub team: Option<i64>,
    pub department: Option<String>,
}

/// The price in force for `model` at `at` (µs; `occurred` the same instant):
/// the organisation's negotiated one (for the model or its snapshot's base),
/// else the catalog's.
pub fn price_at(
    org: &OrgInfo,
    catalog: &Catalog,
    model: &str,
    at: i64,
    occurred: jiff::Timestamp,
) -> Option<Price> {
    negotiated(org, model, at).or_else(|| catalog.lookup(model, occurred).map(|c| c.price))
}

fn negotiated(org: &OrgInfo, model: &str, at: i64) -> Option<Price> {
    let pick = |name: &str| {
        org.prices.get(name).and_then(|list| {
            let i = list.partition_point(|(from, _)| *from <= at);
            i.checked_sub(1).map(|i| list[i].1)
        })
    };
    pick(model).or_else(|| spendlens_domain::prices::snapshot_base(model).and_then(pick))
}

/// The message of a `duplicate_conflict`.
pub fn conflict_message(e: &Event) -> String {
    format!(
        "event_id {} was already received with a different payload; the first one stays",
        e.event_id
    )
}

/// A conversation as a transaction sees it; written back once at the end.
pub struct Conv {
    /// The internal id; 0 while `new` on PostgreSQL (inserted at the flush).
    pub id: i64,
    /// Created by this transaction and not written yet (PostgreSQL only).
    pub new: bool,
    pub user: i64,
    pub first_at: i64,
    pub first_event_id: String,
    pub first_day: i64,
    pub first_groups: Groups,
    pub last_at: i64,
    pub title: Option<String>,
    pub title_at: Option<i64>,
    pub dirty: bool,
}

impl Conv {
    /// A conversation this event starts.
    pub fn started_by(e: &Event, user: i64, at: i64, b: Buckets, g: Groups) -> Conv {
        Conv {
            id: 0,
            new: true,
            user,
            first_at: at,
            first_event_id: e.event_id.clone(),
            first_day: b.day,
            first_groups: g,
            last_at: at,
            title: e.conversation_title.clone(),
            title_at: e.conversation_title.as_ref().map(|_| at),
            dirty: false,
        }
    }

    /// Record an event of this existing conversation: move its start when
    /// the event is earlier (by occurred_at, then event_id), keeping the
    /// conversation counted once in the cube, and keep the latest title.
    #[allow(clippy::too_many_arguments)]
    pub fn touch(
        &mut self,
        deltas: &mut CubeDeltas,
        org: i64,
        e: &Event,
        at: i64,
        b: Buckets,
        g: Groups,
    ) {
        if (at, e.event_id.as_str()) < (self.first_at, self.first_event_id.as_str()) {
            let month = i64::from(Day(self.first_day as i32).month().0);
            deltas.add_conversation(org, self.first_day, month, self.first_groups, -1);
            deltas.add_conversation(org, b.day, b.month, g, 1);
            self.first_at = at;
            self.first_event_id = e.event_id.clone();
            self.first_day = b.day;
            self.first_groups = g;
            self.dirty = true;
        }
        if at > self.last_at {
            self.last_at = at;
            self.dirty = true;
        }
        if let Some(t) = &e.conversation_title {
            if self.title_at.is_none_or(|old| at >= old) {
                self.title = Some(t.clone());
                self.title_at = Some(at);
                self.dirty = true;
            }
        }
    }
}

/// A stored event whose costs a reprice may compute again.
pub struct RepriceRow {
    pub id: i64,
    pub at: i64,
    pub model: String,
    pub groups: Groups,
    pub day: i64,
    /// tokens in, cached in, cache-write in, tokens out
    pub tokens: [i64; 4],
    pub total: i64,
    pub actual: i64,
    pub flags: i64,
}

/// Compute the costs the server computed for `r` again with the prices in
/// force now; when they change, count it in `out`, add the exact difference
/// to the hour, day and month cells in `deltas`, and return the new
/// (total, actual, flags). Costs the client sent stay as they are.
pub fn reprice_row(
    info: &OrgInfo,
    catalog: &Catalog,
    r: &RepriceRow,
    deltas: &mut CubeDeltas,
    out: &mut Repriced,
) -> Option<(i64, i64, i64)> {
    out.examined += 1;
    let sent_actual = (r.flags & ACTUAL_COMPUTED == 0).then_some(Nanos(r.actual));
    let sent_total = (r.flags & TOTAL_COMPUTED == 0).then_some(Nanos(r.total));
    let at = jiff::Timestamp::from_microsecond(r.at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let price = price_at(info, catalog, &r.model, r.at, at);
    let (total, actual, flags) = costs_of(
        r.tokens.map(|t| t as u64),
        sent_actual,
        sent_total,
        price,
        info.markup,
    );
    if (total.0, actual.0, flags) == (r.total, r.actual, r.flags) {
        return None;
    }
    out.changed += 1;
    out.total_cost_delta += i128::from(total.0 - r.total);
    out.actual_api_cost_delta += i128::from(actual.0 - r.actual);
    let unpriced = i64::from(flags & UNPRICED != 0) - i64::from(r.flags & UNPRICED != 0);
    let hour = local_hour_start(at, info.zone_at(r.at));
    let month = i64::from(Day(r.day as i32).month().0);
    for (grain, bucket) in [(GRAIN_HOUR, hour), (GRAIN_DAY, r.day), (GRAIN_MONTH, month)] {
        let cell = deltas
            .cells
            .entry(CellKey {
                org: info.id,
                grain,
                bucket,
                groups: r.groups,
            })
            .or_default();
        cell.total_cost += total.0 - r.total;
        cell.actual_cost += actual.0 - r.actual;
        cell.unpriced += unpriced;
    }
    Some((total.0, actual.0, flags))
}
