//! The embedded backend: one SQLite file in WAL mode.
//!
//! Exactly one thread writes (`writer.rs`): ingestion and administration are
//! jobs sent to it, so its caches of ids and settings can never go stale and
//! group commit falls out naturally. Reads run on a small pool of read-only
//! connections, which WAL lets proceed while the writer commits.

mod admin;
mod backfill;
mod budgets;
mod checkpoint;
mod conversations;
mod deferred;
mod dim_days;
mod download;
mod erasure;
mod event_keys;
mod ingest;
mod lifecycle;
mod messages;
mod migrate;
mod org_days;
mod org_totals;
mod packs;
mod person_cum;
mod prices;
mod structure;
pub use migrate::known as known_migrations;
mod read;
mod read_cache;
mod reprice;
mod resolve;
mod writer;

use crate::contract::{Result, Store, StoreError};
use crate::model::*;
use crate::query::{FigureQuery, GroupRow, IdGroups};
use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use writer::Writer;

/// How hard a commit tries to reach the disk. `Process` survives the process
/// being killed (WAL with synchronous=NORMAL); `Full` survives power loss too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Process,
    Full,
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// Held for the store's lifetime: on SQLite one process writes.
    _lock: std::fs::File,
    /// The checkpoint thread runs while this lives.
    _alive: Arc<()>,
    /// What reads keep for later reads of the same commits.
    cache: Arc<read_cache::ReadCache>,
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(e))
}

pub(crate) fn now_us() -> i64 {
    Timestamp::now().as_microsecond()
}

pub(crate) fn ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Memory budget (BENCH.md: the server serving `large` within 400 MB). Each
/// connection keeps its own page cache, and pages read through mmap count in
/// the process's RSS once per connection that maps them (1 GiB of mmap per
/// connection put a `large` server at 4.3 GB), so no connection maps the
/// file: the writer caches 64 MB of pages, each of up to 8 readers 16 MB, and
/// the kernel's page cache holds the rest.
const MMAP_BYTES: i64 = 0;
const READER_CACHE_KB: i64 = 16 * 1024;
/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Process => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.pragma_update(None, "mmap_size", MMAP_BYTES)?;
    // Statement journals and temporary B-trees in files (which the kernel's
    // page cache holds), not on the heap: a statement journal holds every
    // page a multi-row statement changes, and heap that SQLite needed once
    // the C allocator keeps. The idempotency keys' merge, which made SQLite
    // peak at 496 MB while loading `large`, no longer needs one
    // (event_keys.rs); this keeps any other such statement off the heap.
    conn.pragma_update(None, "temp_store", "FILE")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path`, run migrations, and take
    /// the single-writer lock. Fails with a clear message when another process
    /// holds the database.
    pub fn open(path: &Path, durability: Durability) -> Result<SqliteStore> {
        let lock_path = path.with_extension("db.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                StoreError::Other(anyhow::anyhow!("cannot open {}: {e}", lock_path.display()))
            })?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Unavailable(format!(
                "{} is in use by another spendlens process (on SQLite one process writes); \
                 stop the server first, or send the command to it",
                path.display()
            )));
        }
        let mut conn = Connection::open(path).map_err(sql_err)?;
        configure(&conn, durability).map_err(sql_err)?;
        migrate::run(&mut conn).map_err(sql_err)?;
        org_days::fill_if_new(&conn)?;
        dim_days::fill_if_new(&conn)?;
        person_cum::fill_if_new(&conn)?;
        // A WAL left long by a run that was killed would make every read
        // search it until the first checkpoint: emptied before serving.
        let (_, took) = checkpoint::truncate(&conn).map_err(sql_err)?;
        if took.as_millis() > 100 {
            tracing::info!(
                ms = took.as_millis() as u64,
                "emptied the WAL left by the last run"
            );
        }
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(sql_err)?;
        let alive = Arc::new(());
        let wal_big = Arc::new(std::sync::atomic::AtomicBool::new(false));
        checkpoint::start(path, &alive, wal_big.clone()).map_err(|e| {
            StoreError::Other(anyhow::anyhow!("cannot start checkpoint thread: {e}"))
        })?;
        let cache = Arc::new(read_cache::ReadCache::default());
        let writer = Writer::start(conn, wal_big, cache.clone())?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
            _lock: lock,
            _alive: alive,
            cache,
        })
    }

    /// Stop (or restart) packing the cube in the background (packs.rs);
    /// `finish_upkeep` still packs. For tests that must read the cells.
    pub async fn pause_packing(&self, paused: bool) -> Result<()> {
        self.writer.pause_packing(paused).await
    }

    /// While held, every ingestion commit queues its cell deltas
    /// (deferred.rs) and only other writes fold them; released, it folds
    /// at once. For tests of the queue and of a restart that finds one.
    pub async fn hold_aggregates(&self, hold: bool) -> Result<()> {
        self.writer
            .deferred
            .hold
            .store(hold, std::sync::atomic::Ordering::Relaxed);
        if !hold {
            self.writer.fold().await?;
        }
        Ok(())
    }

    /// Set how long a queued delta may wait while more events wait behind
    /// it (`SPENDLENS_FOLD_EVERY_MS` at open; 0: every commit folds). The
    /// writer's next job or idle turn uses it. For tests.
    pub fn set_fold_every(&self, every: std::time::Duration) {
        self.writer.deferred.every_ms.store(
            every.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Cell-delta rows queued and not yet folded (deferred.rs).
    pub async fn queued_deltas(&self) -> Result<u64> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM pending_cells", [], |r| r.get(0))
                .map_err(sql_err)
        })
        .await
    }

    /// Run `f` on a read connection from the pool, off the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let reader = self.reader();
        tokio::task::spawn_blocking(move || reader.run(f))
            .await
            .map_err(|e| StoreError::Other(anyhow::anyhow!("read task failed: {e}")))?
    }

    /// `read` for a short read that someone waits on, run on this thread:
    /// when ingestion keeps both cores busy, handing the read to a blocking
    /// thread and back costs more than the read (the budget check an IDE
    /// asks before each call). The runtime moves this worker's other tasks
    /// to another thread meanwhile (`block_in_place`), so nothing stalls.
    async fn read_here<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => {
                let reader = self.reader();
                tokio::task::block_in_place(move || reader.run(f))
            }
            _ => self.read(f).await,
        }
    }

    fn reader(&self) -> Reader {
        Reader {
            pool: self.readers.clone(),
            path: self.path.clone(),
            cache: self.cache.clone(),
        }
    }
}

/// What a read needs: the pool of read connections and the read cache.
struct Reader {
    pool: Arc<Mutex<Vec<Connection>>>,
    path: std::path::PathBuf,
    cache: Arc<read_cache::ReadCache>,
}

impl Reader {
    fn run<T>(self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let Reader { pool, path, cache } = self;
        let conn = match pool
            .lock()
            .map_err(|_| anyhow::anyhow!("reader pool poisoned"))?
            .pop()
        {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(sql_err)?;
                c.busy_timeout(BUSY_TIMEOUT).map_err(sql_err)?;
                c.pragma_update(None, "cache_size", -READER_CACHE_KB)
                    .map_err(sql_err)?;
                c.pragma_update(None, "mmap_size", MMAP_BYTES)
                    .map_err(sql_err)?;
                c
            }
        };
        // One snapshot per read: an answer made of several statements
        // (two slices of running totals, a list and its names) never
        // mixes states before and after a write; one lock, not one per statement.
        conn.execute_batch("BEGIN").map_err(sql_err)?;
        let out = cache.with_snapshot(&conn, f);
        if conn.execute_batch("COMMIT").is_err() {
            // A connection left inside a transaction would pin an old snapshot.
            return out;
        }
        if let Ok(mut p) = pool.lock() {
            if p.len() < 8 {
                p.push(conn);
            }
        }
        out
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ingest(&self, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>> {
        self.writer
            .run_ingest(move |w| ingest::ingest(w, batches))
            .await
    }

    async fn create_org(&self, org: NewOrg, actor: &str) -> Result<Org> {
        let actor = actor.to_owned();
        self.writer
            .run(move |w| admin::create_org(w, org, &actor))
            .await
    }
    async fn get_org(&self, org: &str) -> Result<Org> {
        let org = org.to_owned();
        self.read(move |c| read::get_org(c, &org)).await
    }
    async fn list_orgs(&self) -> Result<Vec<Org>> {
        self.read(read::list_orgs).await
    }
    async fn update_org(&self, org: &str, patch: OrgPatch, actor: &str) -> Result<Org> {
        let (org, actor) = (org.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| admin::update_org(w, &org, patch, &actor))
            .await
    }
    async fn create_team(&self, org: &str, team: Team, actor: &str) -> Result<Team> {
        let (org, actor) = (org.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| admin::create_team(w, &org, team, &actor))
            .await
    }
    async fn list_teams(&self, org: &str) -> Result<Vec<Team>> {
        let org = org.to_owned();
        self.read(move |c| read::list_teams(c, &org)).await
    }
    async fn put_member(&self, org: &str, member: Member, actor: &str) -> Result<Member> {
        let (org, actor) = (org.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| admin::put_member(w, &org, member, &actor))
            .await
    }
    async fn get_member(&self, org: &str, user: &str) -> Result<Member> {
        let (org, user) = (org.to_owned(), user.to_owned());
        self.read(move |c| read::get_member(c, &org, &user)).await
    }
    async fn get_members(&self, org: &str, users: &[String]) -> Result<Vec<Member>> {
        let (org, users) = (org.to_owned(), users.to_vec());
        self.read(move |c| read::get_members(c, &org, &users)).await
    }
    async fn list_members(&self, org: &str) -> Result<Vec<Member>> {
        let org = org.to_owned();
        self.read(move |c| read::list_members(c, &org)).await
    }
    async fn delete_member(&self, org: &str, user: &str, actor: &str) -> Result<()> {
        let (org, user, actor) = (org.to_owned(), user.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| admin::delete_member(w, &org, &user, &actor))
            .await
    }
    async fn create_api_key(
        &self,
        org: &str,
        id: &str,
        name: &str,
        provider: Option<&str>,
        actor: &str,
    ) -> Result<ApiKey> {
        let (org, id, name, actor) = (
            org.to_owned(),
            id.to_owned(),
            name.to_owned(),
            actor.to_owned(),
        );
        let provider = provider.map(str::to_owned);
        self.writer
            .run(move |w| admin::create_api_key(w, &org, &id, &name, provider.as_deref(), &actor))
            .await
    }
    async fn finish_upkeep(&self) -> Result<usize> {
        self.writer.pack_all().await
    }
    fn upkeep_backlog(&self) -> u64 {
        self.writer
            .backlog
            .load(std::sync::atomic::Ordering::Relaxed)
    }
    fn kept_projections(&self) -> (u64, u64) {
        self.cache.projections().held()
    }
    fn ingest_waiting(&self) -> Option<Arc<std::sync::atomic::AtomicUsize>> {
        Some(self.writer.deferred.waiting.clone())
    }
    fn queued_cells(&self) -> u64 {
        self.writer
            .deferred
            .queued
            .load(std::sync::atomic::Ordering::Relaxed)
    }
    async fn backfill(&self, actor: &str) -> Result<BackfillOutcome> {
        let actor = actor.to_owned();
        self.writer
            .run(move |w| backfill::backfill(w, &actor))
            .await
    }
    async fn update_team(
        &self,
        org: &str,
        team: &str,
        name: Option<String>,
        department: Option<Option<String>>,
        actor: &str,
    ) -> Result<Team> {
        let (org, team, actor) = (org.to_owned(), team.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| structure::update_team(w, &org, &team, name, department, &actor))
            .await
    }
    async fn delete_team(&self, org: &str, team: &str, actor: &str) -> Result<()> {
        let (org, team, actor) = (org.to_owned(), team.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| structure::delete_team(w, &org, &team, &actor))
            .await
    }
    async fn update_api_key(
        &self,
        org: &str,
        key: &str,
        name: Option<String>,
        provider: Option<Option<String>>,
        actor: &str,
    ) -> Result<ApiKey> {
        let (org, key, actor) = (org.to_owned(), key.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| structure::update_api_key(w, &org, &key, name, provider, &actor))
            .await
    }
    async fn delete_api_key(&self, org: &str, key: &str, actor: &str) -> Result<()> {
        let (org, key, actor) = (org.to_owned(), key.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| structure::delete_api_key(w, &org, &key, &actor))
            .await
    }
    async fn put_price(
        &self,
        org: &str,
        model: &str,
        from: Timestamp,
        price: spendlens_domain::Price,
        actor: &str,
    ) -> Result<()> {
        let (org, model, actor) = (org.to_owned(), model.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| prices::put(w, &org, &model, from, price, &actor))
            .await
    }
    async fn delete_price(&self, org: &str, model: &str, actor: &str) -> Result<()> {
        let (org, model, actor) = (org.to_owned(), model.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| prices::delete(w, &org, &model, &actor))
            .await
    }
    async fn list_prices(&self, org: &str) -> Result<Vec<NegotiatedPrice>> {
        let org = org.to_owned();
        self.read(move |c| prices::list(c, &org)).await
    }
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>> {
        let org = org.to_owned();
        self.read(move |c| read::list_api_keys(c, &org)).await
    }
    async fn create_token(&self, token: NewToken, actor: &str) -> Result<TokenRecord> {
        let actor = actor.to_owned();
        self.writer
            .run(move |w| admin::create_token(w, token, &actor))
            .await
    }
    async fn find_token(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        let h = secret_hash.to_owned();
        // Every authenticated request waits on this one-row read first.
        self.read_here(move |c| read::find_token(c, &h)).await
    }
    async fn touch_token(&self, id: &str, at: Timestamp) -> Result<()> {
        let id = id.to_owned();
        self.writer
            .run(move |w| admin::touch_token(w, &id, at))
            .await
    }
    async fn list_tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>> {
        let org = org.map(str::to_owned);
        self.read(move |c| read::list_tokens(c, org.as_deref()))
            .await
    }
    async fn revoke_token(&self, id: &str, actor: &str) -> Result<()> {
        let (id, actor) = (id.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| admin::revoke_token(w, &id, &actor))
            .await
    }
    async fn audit_log(&self, org: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        let org = org.map(str::to_owned);
        self.read(move |c| read::audit_log(c, org.as_deref(), limit))
            .await
    }
    async fn retention_step(
        &self,
        org: &str,
        before: Timestamp,
        chunk: usize,
    ) -> Result<RetentionStep> {
        let org = org.to_owned();
        let before = before.as_microsecond();
        self.writer
            .run(move |w| lifecycle::retention_step(w, &org, before, chunk))
            .await
    }
    async fn verify(&self, org: &str, from: spendlens_domain::time::Day) -> Result<Vec<CellDiff>> {
        let org = org.to_owned();
        // Compared with the aggregates as they will be: every queued delta in.
        self.writer.fold().await?;
        self.read(move |c| lifecycle::verify(c, &org, from)).await
    }
    async fn rebuild(
        &self,
        org: &str,
        from: spendlens_domain::time::Day,
        actor: &str,
    ) -> Result<u64> {
        let (org, actor) = (org.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| lifecycle::rebuild(w, &org, from, &actor))
            .await
    }
    async fn reprice(
        &self,
        org: &str,
        from: spendlens_domain::time::Day,
        to: spendlens_domain::time::Day,
        actor: &str,
    ) -> Result<Repriced> {
        let (org, actor) = (org.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| reprice::reprice(w, &org, from, to, &actor))
            .await
    }
    async fn erase_user(
        &self,
        org: &str,
        user: &str,
        pseudonym: &str,
        actor: &str,
    ) -> Result<Erasure> {
        let (org, user, pseudonym, actor) = (
            org.to_owned(),
            user.to_owned(),
            pseudonym.to_owned(),
            actor.to_owned(),
        );
        self.writer
            .run(move |w| erasure::erase_user(w, &org, &user, &pseudonym, &actor))
            .await
    }
    async fn spend(
        &self,
        org: &str,
        scope: BudgetScope,
        scope_id: Option<&str>,
        period: spendlens_domain::time::Period,
    ) -> Result<i128> {
        let (org, scope_id) = (org.to_owned(), scope_id.map(str::to_owned));
        self.read(move |c| budgets::spend(c, &org, scope, scope_id.as_deref(), period))
            .await
    }
    async fn put_budget(&self, org: &str, budget: Budget, actor: &str) -> Result<Budget> {
        let (org, actor) = (org.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| budgets::put_budget(w, &org, budget, &actor))
            .await
    }
    async fn spends(&self, org: &str, asks: Vec<SpendAsk>) -> Result<Vec<i128>> {
        let org = org.to_owned();
        self.read(move |c| {
            asks.iter()
                .map(|(scope, id, period)| budgets::spend(c, &org, *scope, id.as_deref(), *period))
                .collect()
        })
        .await
    }
    async fn budget_check(
        &self,
        org: &str,
        user: Option<&str>,
        _key: Option<&str>,
        plan: SpendPlan,
    ) -> Result<(BudgetContext, Vec<i128>)> {
        let (org, user) = (org.to_owned(), user.map(str::to_owned));
        self.read_here(move |c| {
            let ctx = budgets::context(c, &org, user.as_deref())?;
            let asks = plan(&ctx);
            let spent = asks
                .iter()
                .map(|(scope, id, period)| budgets::spend(c, &org, *scope, id.as_deref(), *period))
                .collect::<Result<_>>()?;
            Ok((ctx, spent))
        })
        .await
    }
    async fn budget_context(&self, org: &str, user: Option<&str>) -> Result<BudgetContext> {
        let (org, user) = (org.to_owned(), user.map(str::to_owned));
        self.read(move |c| budgets::context(c, &org, user.as_deref()))
            .await
    }
    async fn list_budgets(&self, org: &str) -> Result<Vec<Budget>> {
        let org = org.to_owned();
        self.read(move |c| budgets::list_budgets(c, &org)).await
    }
    async fn orgs_with_budgets(&self) -> Result<Vec<String>> {
        self.read(budgets::orgs_with_budgets).await
    }
    async fn delete_budget(&self, org: &str, id: &str, actor: &str) -> Result<()> {
        let (org, id, actor) = (org.to_owned(), id.to_owned(), actor.to_owned());
        self.writer
            .run(move |w| budgets::delete_budget(w, &org, &id, &actor))
            .await
    }
    async fn record_alert(&self, org: &str, alert: Alert) -> Result<Option<i64>> {
        let org = org.to_owned();
        self.writer
            .run(move |w| budgets::record_alert(w, &org, alert))
            .await
    }
    async fn list_alerts(&self, org: &str, limit: usize) -> Result<Vec<Alert>> {
        let org = org.to_owned();
        self.read(move |c| budgets::list_alerts(c, &org, limit))
            .await
    }
    async fn record_delivery(&self, org: &str, delivery: Delivery) -> Result<()> {
        let org = org.to_owned();
        self.writer
            .run(move |w| budgets::record_delivery(w, &org, delivery))
            .await
    }
    async fn list_deliveries(&self, org: &str, limit: usize) -> Result<Vec<Delivery>> {
        let org = org.to_owned();
        self.read(move |c| budgets::list_deliveries(c, &org, limit))
            .await
    }
    async fn webhook(&self, org: &str) -> Result<Option<Webhook>> {
        let org = org.to_owned();
        self.read(move |c| budgets::webhook(c, &org)).await
    }
    async fn figures(&self, query: &FigureQuery) -> Result<Vec<GroupRow>> {
        let q = query.clone();
        self.read(move |c| read::figures(c, &q)).await
    }
    async fn figure_ids(&self, query: &FigureQuery) -> Result<IdGroups> {
        let q = query.clone();
        self.read(move |c| read::figure_ids(c, &q)).await
    }
    async fn figures_many(&self, queries: Vec<FigureQuery>) -> Result<Vec<Vec<GroupRow>>> {
        self.figures_many_split(queries).await
    }
    async fn events(&self, org: &str) -> Result<Vec<StoredEvent>> {
        let org = org.to_owned();
        self.read(move |c| read::events(c, &org)).await
    }
    async fn quarantined(&self) -> Result<Vec<QuarantinedEvent>> {
        self.read(read::quarantined).await
    }
    async fn user_conversations(
        &self,
        org: &str,
        user: &str,
        period: spendlens_domain::time::Period,
    ) -> Result<Vec<ConversationSummary>> {
        let (org, user) = (org.to_owned(), user.to_owned());
        self.read(move |c| conversations::of_user(c, &org, &user, period))
            .await
    }
    async fn user_conversations_page(
        &self,
        org: &str,
        user: &str,
        period: spendlens_domain::time::Period,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>> {
        let (org, user) = (org.to_owned(), user.to_owned());
        self.read(move |c| conversations::page_of_user(c, &org, &user, period, after, limit))
            .await
    }
    async fn stream_events(
        &self,
        query: crate::query::EventQuery,
        tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>,
    ) -> Result<()> {
        if query.limit.is_none() {
            return self.download(query, tx).await;
        }
        self.read(move |c| {
            messages::stream(c, &query, 1_000, |rows| tx.blocking_send(rows).is_ok())
        })
        .await
    }
    async fn conversation(&self, org: &str, conversation: &str) -> Result<ConversationDetail> {
        let (org, conv) = (org.to_owned(), conversation.to_owned());
        self.read(move |c| conversations::detail(c, &org, &conv))
            .await
    }
}
