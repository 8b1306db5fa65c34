//! The single writer thread and the caches only it may use.

use super::deferred::{Controls, Deferred};
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
    /// Cube buckets waiting to be packed (packs.rs).
    pub backlog: Arc<std::sync::atomic::AtomicU64>,
    /// The queue of cell deltas' settings and counts (deferred.rs).
    pub deferred: Arc<Controls>,
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
    /// Cell deltas committed but not yet in the aggregates (deferred.rs).
    pub deferred: Deferred,
    /// What is left to pack (packs.rs).
    packer: super::packs::Packer,
    /// Raised by the checkpoint thread when the WAL has grown too long.
    wal_big: Arc<AtomicBool>,
    /// Told of every COMMIT, so what reads cached is reused only by reads
    /// of the same commits.
    cache: Arc<super::read_cache::ReadCache>,
}

impl WriterState {
    /// Add the queued deltas to the aggregates now, in a transaction of
    /// their own (the writer is idle, or a reader needs them).
    fn fold_now(&mut self) -> Result<()> {
        if self.deferred.is_empty() {
            return Ok(());
        }
        let out = in_transaction(self, |_| Ok(()));
        if out.is_err() {
            self.clear();
        }
        out
    }

    fn truncate_wal_if_big(&mut self) {
        if self.wal_big.swap(false, Ordering::Relaxed) {
            // Between two transactions, where the checkpoint thread's
            // truncation loses the race (checkpoint.rs); without waiting, so
            // a long read (an export) never stalls ingestion: the checkpoint
            // thread raises the flag again.
            match super::checkpoint::truncate_now(&self.conn) {
                Ok((done, took)) => {
                    tracing::debug!(done, ms = took.as_millis() as u64, "WAL truncation")
                }
                Err(e) => tracing::warn!(error = %e, "WAL truncation failed"),
            }
        }
    }

    /// One packing transaction of at most `budget` (None: until nothing is
    /// left); returns the buckets packed.
    fn pack(&mut self, budget: Option<std::time::Duration>) -> Result<usize> {
        let today =
            spendlens_domain::time::local_day(jiff::Timestamp::now(), &jiff::tz::TimeZone::UTC);
        let mut packer = std::mem::take(&mut self.packer);
        let out = in_transaction(self, |w| packer.step(&w.conn, today, budget));
        if out.is_err() {
            packer.retry_later();
        }
        self.packer = packer;
        out
    }

    /// A packing turn of the writer's loop: failures are logged and retried
    /// at the next scan.
    fn pack_a_little(&mut self) {
        match self.pack(Some(super::packs::STEP_FOR)) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(buckets = n, "packed cube buckets"),
            Err(e) => {
                tracing::warn!(error = %e, "packing cube buckets failed; the next scan retries")
            }
        }
    }

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
        if let Err(e) = self.deferred.reload(&self.conn) {
            tracing::error!(error = %e, "cannot reload the queued cell deltas");
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
        let controls = Arc::new(Controls::from_env());
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
            deferred: Deferred::new(controls.clone()),
            packer: Default::default(),
            wal_big,
            cache,
        };
        state.recent_keys = RecentKeys::load(&state.conn)?;
        // What a killed server had queued goes into the aggregates before
        // anything is answered.
        state.deferred.reload(&state.conn)?;
        state.fold_now()?;
        let backlog = state.packer.backlog();
        std::thread::Builder::new()
            .name("spendlens-sqlite-writer".into())
            .spawn(move || loop {
                // Packing (packs.rs) fills the writer's idle time, and takes a
                // short turn now and then when it is never idle.
                let job = match rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(mpsc::TryRecvError::Disconnected) => break,
                    Err(mpsc::TryRecvError::Empty) if state.deferred.folds_when_idle() => {
                        // A commit with nothing behind it folds itself; this
                        // is for a queue left by a commit that failed after
                        // others queued (deferred.rs). Between two commits
                        // of a steady load the next one is on its way.
                        match rx.recv_timeout(state.deferred.due_in()) {
                            Ok(job) => Some(job),
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                if let Err(e) = state.fold_now() {
                                    tracing::warn!(error = %e, "folding queued cell deltas failed; the next commit retries");
                                }
                                None
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => {
                        // Idle means no job for a moment, not between two
                        // commits of a steady load (packing there cost it 11%).
                        let work = state.packer.has_work(true);
                        let wait = if work {
                            super::packs::IDLE_AFTER
                        } else {
                            state.packer.wait_for()
                        };
                        match rx.recv_timeout(wait) {
                            Ok(job) => Some(job),
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                if !work {
                                    // Days seal as time passes, writes or not.
                                    state.packer.wrote();
                                }
                                None
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                };
                match job {
                    Some(job) => {
                        // Owed before the job answers: a caller that reads
                        // the backlog on its reply never sees the 0 of a
                        // scan that ran before its write.
                        state.packer.wrote();
                        job(&mut state);
                        state.truncate_wal_if_big();
                        state.packer.wrote();
                        if state.packer.due_while_busy() {
                            state.pack_a_little();
                        }
                    }
                    None if state.packer.has_work(true) => state.pack_a_little(),
                    None => {}
                }
            })
            .map_err(|e| StoreError::Other(anyhow::anyhow!("cannot start writer thread: {e}")))?;
        Ok(Writer {
            tx,
            backlog,
            deferred: controls,
        })
    }

    /// Scan for sealed buckets now and pack every one, in one transaction.
    pub async fn pack_all(&self) -> Result<usize> {
        self.on_thread(|state| {
            state.packer.rescan_now();
            state.pack(None)
        })
        .await
    }

    /// Stop (or restart) packing in the background; `pack_all` still packs.
    pub async fn pause_packing(&self, paused: bool) -> Result<()> {
        self.on_thread(move |state| {
            state.packer.pause(paused);
            Ok(())
        })
        .await
    }

    /// Add every queued cell delta to the aggregates now.
    pub async fn fold(&self) -> Result<()> {
        self.on_thread(WriterState::fold_now).await
    }

    /// Run `f` on the writer thread, outside any transaction.
    async fn on_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WriterState) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move |state: &mut WriterState| {
            let _ = done_tx.send(f(state));
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("writer thread stopped")))?;
        done_rx
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("writer thread stopped")))?
    }

    /// Run `f` on the writer thread inside one transaction: committed when it
    /// returns Ok, rolled back (and the caches dropped) when it returns Err.
    /// The aggregates take every queued delta first, so `f` sees every
    /// committed event in them.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterState) -> Result<T> + Send + 'static,
    {
        self.run_in(Fold::First, f).await
    }

    /// `run` for ingestion, which decides itself whether to fold (deferred.rs).
    pub async fn run_ingest<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterState) -> Result<T> + Send + 'static,
    {
        self.run_in(Fold::AsItChooses, f).await
    }

    async fn run_in<T, F>(&self, fold: Fold, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriterState) -> Result<T> + Send + 'static,
    {
        self.on_thread(move |state| {
            let out = transaction(state, fold, f);
            if out.is_err() {
                state.clear();
            } else if let Err(e) = state.recent_keys.maybe_merge(&state.conn) {
                // The keys stay in the log and in memory; the next commit tries again.
                tracing::warn!(error = %e, "merging idempotency keys failed");
            }
            out
        })
        .await
    }
}

#[derive(Clone, Copy)]
enum Fold {
    /// Add the queued deltas to the aggregates before the work.
    First,
    /// The work folds or queues (ingestion).
    AsItChooses,
}

fn in_transaction<T>(
    state: &mut WriterState,
    f: impl FnOnce(&mut WriterState) -> Result<T>,
) -> Result<T> {
    transaction(state, Fold::First, f)
}

fn transaction<T>(
    state: &mut WriterState,
    fold: Fold,
    f: impl FnOnce(&mut WriterState) -> Result<T>,
) -> Result<T> {
    state
        .conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(super::sql_err)?;
    let out = match fold {
        Fold::First if !state.deferred.is_empty() => state
            .deferred
            .fold(&state.conn, &Default::default())
            .and_then(|()| f(state)),
        _ => f(state),
    };
    let out = out.and_then(|v| {
        let _writing = state.cache.writing();
        state.conn.execute_batch("COMMIT").map_err(super::sql_err)?;
        Ok(v)
    });
    match out {
        Ok(v) => {
            state.deferred.committed();
            Ok(v)
        }
        Err(e) => {
            let _ = state.conn.execute_batch("ROLLBACK");
            state.deferred.rolled_back(&state.conn);
            Err(e)
        }
    }
}
