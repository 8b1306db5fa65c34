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
use spendlens_store::postgres::testing::TestDb;
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

/// Where a contract test keeps its store: a SQLite file in a temporary
/// directory, or a PostgreSQL database of its own (dropped afterwards).
pub struct Backend {
    pub dir: tempfile::TempDir,
    pub pg: Option<TestDb>,
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend {
            dir: tempfile::tempdir().unwrap(),
            pg: None,
        }
    }

    /// None (the test is skipped, with a message) when no PostgreSQL answers
    /// and SPENDLENS_REQUIRE_PG is not 1.
    pub async fn postgres() -> Option<Backend> {
        Some(Backend {
            dir: tempfile::tempdir().unwrap(),
            pg: Some(spendlens_store::postgres::testing::create().await?),
        })
    }

    /// Open (or open again, after the previous handle was dropped) the store.
    pub async fn open(&self) -> Arc<dyn Store> {
        match &self.pg {
            Some(db) => spendlens_store::open(&db.url, Durability::Process)
                .await
                .unwrap(),
            None => open(self.dir.path()),
        }
    }

    /// One number read behind the store's back (the same SQL on both).
    pub async fn count(&self, sql: &str) -> u64 {
        match &self.pg {
            Some(db) => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
                n as u64
            }
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("t.db")).unwrap();
                db.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64
            }
        }
    }

    /// Run one raw statement behind the store's back (to damage it on
    /// purpose); the SQL for each backend; returns the rows changed.
    pub async fn raw(&self, sqlite: &str, postgres: &str) -> u64 {
        match &self.pg {
            Some(db) => {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query(postgres)
                    .execute(&mut c)
                    .await
                    .unwrap()
                    .rows_affected()
            }
            None => {
                let db = rusqlite::Connection::open(self.dir.path().join("t.db")).unwrap();
                db.execute(sqlite, []).unwrap() as u64
            }
        }
    }
}

/// Run the contract test `$name(backend)` on SQLite and on PostgreSQL, as
/// `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::sqlite()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(b) = $crate::common::Backend::postgres().await {
                    super::$name(b).await
                }
            }
        }
    };
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

mod oracle;
mod placement;
pub mod suite;

#[allow(unused_imports)] // each test binary uses part of the harness
pub use oracle::*;
#[allow(unused_imports)]
pub use placement::*;
