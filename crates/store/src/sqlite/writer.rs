//! The single writer thread and the caches only it may use.

use super::event_keys::RecentKeys;
use crate::contract::{Result, StoreError};
pub use crate::rules::{KeyInfo, MemberInfo, OrgInfo, TeamInfo};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut WriterState) + Send>;

pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// The writer's connection and its caches of internal ids. Only the writer
/// thread writes, so a cached id is valid as long as no transaction that
/// created it rolled back; `clear` runs after any failed job.
pub struct WriterState {
    pub conn: Connection,
    pub orgs: HashMap<String, OrgInfo>,
    pub users: HashMap<String, i64>,
    pub teams: HashMap<(i64, String), TeamInfo>,
    pub depts: HashMap<(i64, String), i64>,
    pub keys: HashMap<(i64, String), KeyInfo>,
    pub models: HashMap<String, i64>,
    pub providers: HashMap<String, i64>,
    pub members: HashMap<(i64, i64), MemberInfo>,
    pub emails: HashMap<i64, String>,
    pub recent_keys: RecentKeys,
    /// Raised by the checkpoint thread when the WAL has grown too long.
    wal_big: Arc<AtomicBool>,
    /// Told of every COMMIT, so what reads cached is reused only by reads
    /// of the same commits.
    cache: Arc<super::read_cache::ReadCache>,
}

impl WriterState {
    pub fn clear(&mut self) {
        self.orgs.clear();
        self.users.clear();
        self.teams.clear();
        self.depts.clear();
        self.keys.clear();
        self.models.clear();
        self.providers.clear();
        self.members.clear();
        self.emails.clear();
        // A rolled-back transaction took its log rows with it: reread the log.
        match RecentKeys::load(&self.conn) {
            Ok(keys) => self.recent_keys = keys,
            Err(e) => tracing::error!(error = %e, "cannot reload recent idempotency keys"),
        }
    }
}

impl Writer {
    pub fn start(
        conn: Connection,
        wal_big: Arc<AtomicBool>,
        cache: Arc<super::read_cache::ReadCache>,
    ) -> Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let mut state = WriterState {
            conn,
            orgs: HashMap::new(),
            users: HashMap::new(),
            teams: HashMap::new(),
            depts: HashMap::new(),
            keys: HashMap::new(),
            models: HashMap::new(),
            providers: HashMap::new(),
            members: HashMap::new(),
            emails: HashMap::new(),
            recent_keys: RecentKeys::default(),
            wal_big,
            cache,
        };
        state.recent_keys = RecentKeys::load(&state.conn)?;
        std::thread::Builder::new()
            .name("spendlens-sqlite-writer".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job(&mut state);
                    if state.wal_big.swap(false, Ordering::Relaxed) {
                        // Between two transactions, where the checkpoint
                        // thread's truncation loses the race (checkpoint.rs);
                        // without waiting, so a long read (an export) never
                        // stalls ingestion: the checkpoint thread raises the flag again.
                        match super::checkpoint::truncate_now(&state.conn) {
                            Ok((done, took)) => {
                                tracing::debug!(
                                    done,
                                    ms = took.as_millis() as u64,
                                    "WAL truncation"
                                )
                            }
                            Err(e) => tracing::warn!(error = %e, "WAL truncation failed"),
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Other(anyhow::anyhow!("cannot start writer thread: {e}")))?;
        Ok(Writer { tx })
    }

    /// Run `f` on the writer thread inside one transaction: committed when it
    /// returns Ok, rolled back (and the caches dropped) when it returns Err.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterState) -> Result<T> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move |state: &mut WriterState| {
            let out = in_transaction(state, f);
            if out.is_err() {
                state.clear();
            } else if let Err(e) = state.recent_keys.maybe_merge(&state.conn) {
                // The keys stay in the log and in memory; the next commit tries again.
                tracing::warn!(error = %e, "merging idempotency keys failed");
            }
            let _ = done_tx.send(out);
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("writer thread stopped")))?;
        done_rx
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("writer thread stopped")))?
    }
}

fn in_transaction<T>(
    state: &mut WriterState,
    f: impl FnOnce(&mut WriterState) -> Result<T>,
) -> Result<T> {
    state
        .conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(super::sql_err)?;
    match f(state) {
        Ok(v) => {
            let _writing = state.cache.writing();
            state.conn.execute_batch("COMMIT").map_err(super::sql_err)?;
            Ok(v)
        }
        Err(e) => {
            let _ = state.conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
