//! The production backend: PostgreSQL through sqlx, for several stateless
//! `spendlens serve` processes sharing one database.
//!
//! Unlike SQLite's single writer, any number of transactions (from any number
//! of processes) write at once. What keeps the figures exact is in the
//! database: the primary key of `event_keys` makes an event count once, row
//! locks serialise the read-modify-write of a conversation's start and of a
//! day's people bitmap, and aggregates are added with `ON CONFLICT DO UPDATE
//! SET x = x + excluded.x` by a short transaction after the ingestion one
//! (fold.rs). A transaction that loses a deadlock or a
//! serialisation race is rolled back whole and run again (`write`); caches of
//! ids live only as long as one transaction.
//!
//! Reads of one organisation run as the role `spendlens_reader` with the
//! organisation set for row-level security (`scope.rs`).

/// SQL: the month (months since 1970-01) of the civil day number in the
/// column `bucket`, for the cube's day cells and the packers' day lists.
macro_rules! bucket_month {
    () => {
        "((extract(year from (DATE '1970-01-01' + bucket::int))::bigint - 1970) * 12 \
         + extract(month from (DATE '1970-01-01' + bucket::int))::bigint - 1)"
    };
}

mod admin;
mod backfill;
mod budget_check;
mod budgets;
mod cells;
mod conversations;
mod ctx;
pub(crate) mod dim_days;
mod ensure;
mod erasure;
mod fold;
mod ingest;
mod lifecycle;
mod locks;
mod messages;
mod migrate;
mod org_days;
mod packs;
pub(crate) mod person_cum;
mod prefetch;
mod prices;
mod read;
mod reprice;
mod resolve;
mod scope;
mod structure;
pub mod testing;
mod token_cache;

pub use migrate::known as known_migrations;

use crate::contract::{not_found_as_none, Result, Store, StoreError};
use crate::model::*;
use crate::query::{FigureQuery, Filter, GroupRow, IdGroups};
use async_trait::async_trait;
use ctx::Ctx;
use futures_util::future::BoxFuture;
use jiff::Timestamp;
use spendlens_domain::time::{Day, Period};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};
use std::str::FromStr;

pub struct PgStore {
    pool: PgPool,
    memory: std::sync::Arc<read::Memory>,
    packer: packs::Packer,
    /// Exports at once: at most half the pool, as each holds two connections
    /// (messages.rs) and takes its second while holding the first; with as
    /// many exports as connections, each could hold one and wait for another
    /// forever. Pages use one connection and do not wait here.
    streams: tokio::sync::Semaphore,
    /// Tokens looked up, kept while no server says one changed.
    tokens: token_cache::TokenCache,
}

pub fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Other(anyhow::Error::new(e))
}

pub(crate) fn now_us() -> i64 {
    Timestamp::now().as_microsecond()
}

pub(crate) fn ts(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// SQLSTATEs after which the whole transaction may simply run again.
fn retryable(e: &StoreError) -> bool {
    let StoreError::Other(e) = e else {
        return false;
    };
    if e.downcast_ref::<ingest::RaceLost>().is_some() {
        return true;
    }
    let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40001" | "40P01"))
}

/// Attempts of one write transaction before its error is returned.
const ATTEMPTS: u32 = 16;

impl PgStore {
    /// Connect to `url` (postgres://…), run the migrations, and keep a pool.
    /// `SPENDLENS_PG_POOL` sets the pool size (default 16).
    pub async fn open(url: &str) -> Result<PgStore> {
        let size = std::env::var("SPENDLENS_PG_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16);
        PgStore::open_sized(url, size).await
    }

    /// Whether this server keeps the tokens it looks up (token_cache.rs):
    /// once its listener is connected.
    pub fn keeps_tokens(&self) -> bool {
        self.tokens.is_listening()
    }

    /// `open` with a pool of `size` connections.
    pub async fn open_sized(url: &str, size: u32) -> Result<PgStore> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("database URL: {e}")))?
            .application_name("spendlens")
            // sqlx would log every statement slower than 1 s at WARN with its
            // text; lock waits under concurrent ingestion are expected and
            // retried, and the server's own store timings are in /metrics.
            .disable_statement_logging()
            // A large organisation's GROUP BY over the cube can pass the
            // JIT's cost threshold, and compiling one took longer than
            // running it (45 ms before a 30 ms answer: `medium`, threshold
            // lowered to see it); nothing spendlens asks runs long enough
            // to repay compilation.
            .options([("jit", "off")]);
        // The token listener needs a session of its own, which a pooler in
        // transaction mode does not give (docs/scaling.md).
        let listen_opts = match std::env::var("SPENDLENS_PG_LISTEN_URL") {
            Ok(u) if !u.trim().is_empty() => PgConnectOptions::from_str(u.trim())
                .map_err(|e| StoreError::Invalid(format!("SPENDLENS_PG_LISTEN_URL: {e}")))?
                .application_name("spendlens"),
            _ => opts.clone(),
        };
        let pool = PgPoolOptions::new()
            .max_connections(size)
            .acquire_timeout(std::time::Duration::from_secs(30))
            // sqlx pings every connection it hands out, a round trip before
            // each read's own; only one idle for a second is pinged now, so
            // one a restart or a network drop broke is still found before
            // use, while a busy server's connections go straight to work.
            .test_before_acquire(false)
            .before_acquire(|c, meta| {
                Box::pin(async move {
                    if meta.idle_for > std::time::Duration::from_secs(1) {
                        sqlx::Connection::ping(c).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        migrate::run(&pool).await?;
        let store = PgStore {
            packer: packs::Packer::start(pool.clone()),
            pool,
            memory: Default::default(),
            streams: tokio::sync::Semaphore::new((size as usize / 2).max(1)),
            tokens: token_cache::TokenCache::start(listen_opts),
        };
        // What a server that died between its two commits left queued.
        store.fold().await?;
        Ok(store)
    }

    /// Add every queued aggregate delta (fold.rs), in a transaction of its own.
    async fn fold(&self) -> Result<usize> {
        self.write(|c| Box::pin(fold::fold_all(&mut c.tx))).await
    }

    /// Add the deltas ingestion queued as row `mine` (fold.rs).
    async fn fold_mine(&self, mine: Option<i64>) -> Result<()> {
        if let Some(id) = mine {
            self.write(|c| Box::pin(fold::fold_mine(&mut c.tx, id)))
                .await?;
        }
        Ok(())
    }

    /// Stop (or restart) packing the cube in the background (packs.rs);
    /// `finish_upkeep` still packs. For tests that must read the cells.
    pub fn pause_packing(&self, paused: bool) {
        self.packer.pause(paused);
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Run `f` in one transaction, committed when it returns Ok; a deadlock
    /// or serialisation failure runs it again from the start.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'a> Fn(&'a mut Ctx) -> BoxFuture<'a, Result<T>> + Send + Sync,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let tx = self.pool.begin().await.map_err(db_err)?;
            let mut ctx = Ctx::new(tx);
            let out = match f(&mut ctx).await {
                Ok(v) => ctx.tx.commit().await.map_err(db_err).map(|_| v),
                Err(e) => {
                    let _ = ctx.tx.rollback().await;
                    Err(e)
                }
            };
            match out {
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    tracing::debug!(attempt, error = %e, "write transaction retried");
                    // Growing, capped, and jittered so that two servers that
                    // collided do not collide again in step.
                    let jitter = u64::from(Timestamp::now().subsec_nanosecond().unsigned_abs() % 5);
                    let ms = (2u64 << attempt.min(6)) + jitter;
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                other => return other,
            }
        }
    }

    /// Run `f` in a read-only transaction (so `scope::enter_org` may switch
    /// its role for row-level security until the end of it).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'a> FnOnce(&'a mut PgConnection) -> BoxFuture<'a, Result<T>> + Send,
    {
        // One snapshot for every statement of the read (a read-only
        // transaction never fails to serialise), begun in one round trip.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_err)?;
        let out = f(&mut tx).await;
        // Dropped, not rolled back here: sqlx queues the ROLLBACK and sends it
        // as the connection goes back to the pool, so the answer does not
        // wait for it (a read has nothing to undo).
        drop(tx);
        out
    }

    /// `write` of a change to tokens (revocation, a member's removal,
    /// erasure): this server forgets the tokens it kept before it answers;
    /// the others hear of it from the tokens' trigger (token_cache.rs).
    async fn write_tokens<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'a> Fn(&'a mut Ctx) -> BoxFuture<'a, Result<T>> + Send + Sync,
    {
        let out = self.write(f).await;
        self.tokens.forget_all();
        out
    }

    /// A read of one statement, which is its own snapshot: no transaction,
    /// so one round trip. Only for reads that need no organisation scope, or
    /// that enter it in their own statement (budget_check.rs).
    async fn read_one<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: for<'a> FnOnce(&'a mut PgConnection) -> BoxFuture<'a, Result<T>> + Send,
    {
        let mut c = self.pool.acquire().await.map_err(db_err)?;
        f(&mut c).await
    }
}

/// Owned copies of borrowed arguments, made again for each attempt of a write.
macro_rules! owned {
    ($($v:ident),*) => { $(let $v = $v.to_owned();)* };
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn finish_upkeep(&self) -> Result<usize> {
        packs::finish(&self.pool).await
    }

    fn upkeep_backlog(&self) -> u64 {
        self.packer.backlog()
    }
    fn kept_projections(&self) -> (u64, u64) {
        self.memory.projections.held()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(format!("PostgreSQL does not answer: {e}")))
    }

    async fn ingest(&self, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>> {
        // The names first, committed on their own (ensure.rs says why).
        self.write(|c| {
            let b = batches.clone();
            Box::pin(async move { ensure::names(c, &b).await })
        })
        .await?;
        let (out, queued) = self
            .write(|c| {
                let b = batches.clone();
                Box::pin(ingest::ingest(c, b))
            })
            .await?;
        // Answered only once the aggregates hold what was accepted (fold.rs).
        self.fold_mine(queued).await?;
        Ok(out)
    }

    async fn backfill(&self, actor: &str) -> Result<BackfillOutcome> {
        owned!(actor);
        let out = self
            .write(|c| {
                let a = actor.clone();
                Box::pin(async move { backfill::backfill(c, &a).await })
            })
            .await?;
        self.fold().await?;
        Ok(out)
    }

    async fn create_org(&self, org: NewOrg, actor: &str) -> Result<Org> {
        owned!(actor);
        self.write(|c| {
            let (o, a) = (org.clone(), actor.clone());
            Box::pin(async move { admin::create_org(c, o, &a).await })
        })
        .await
    }
    async fn get_org(&self, org: &str) -> Result<Org> {
        owned!(org);
        self.read(|c| Box::pin(async move { read::get_org(c, &org).await }))
            .await
    }
    async fn list_orgs(&self) -> Result<Vec<Org>> {
        self.read(|c| Box::pin(read::list_orgs(c))).await
    }
    async fn update_org(&self, org: &str, patch: OrgPatch, actor: &str) -> Result<Org> {
        owned!(org, actor);
        self.write(|c| {
            let (o, p, a) = (org.clone(), patch.clone(), actor.clone());
            Box::pin(async move { admin::update_org(c, &o, p, &a).await })
        })
        .await
    }

    async fn create_team(&self, org: &str, team: Team, actor: &str) -> Result<Team> {
        owned!(org, actor);
        self.write(|c| {
            let (o, t, a) = (org.clone(), team.clone(), actor.clone());
            Box::pin(async move { admin::create_team(c, &o, t, &a).await })
        })
        .await
    }
    async fn list_teams(&self, org: &str) -> Result<Vec<Team>> {
        owned!(org);
        self.read(|c| Box::pin(async move { read::list_teams(c, &org).await }))
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
        owned!(org, team, actor);
        self.write(|c| {
            let (o, t, n, d, a) = (
                org.clone(),
                team.clone(),
                name.clone(),
                department.clone(),
                actor.clone(),
            );
            Box::pin(async move { structure::update_team(c, &o, &t, n, d, &a).await })
        })
        .await
    }
    async fn delete_team(&self, org: &str, team: &str, actor: &str) -> Result<()> {
        owned!(org, team, actor);
        self.write(|c| {
            let (o, t, a) = (org.clone(), team.clone(), actor.clone());
            Box::pin(async move { structure::delete_team(c, &o, &t, &a).await })
        })
        .await
    }

    async fn put_member(&self, org: &str, member: Member, actor: &str) -> Result<Member> {
        owned!(org, actor);
        self.write(|c| {
            let (o, m, a) = (org.clone(), member.clone(), actor.clone());
            Box::pin(async move { admin::put_member(c, &o, m, &a).await })
        })
        .await
    }
    async fn get_member(&self, org: &str, user: &str) -> Result<Member> {
        owned!(org, user);
        self.read(|c| Box::pin(async move { read::get_member(c, &org, &user).await }))
            .await
    }
    async fn get_members(&self, org: &str, users: &[String]) -> Result<Vec<Member>> {
        let (org, users) = (org.to_owned(), users.to_vec());
        self.read(|c| Box::pin(async move { read::get_members(c, &org, &users).await }))
            .await
    }
    async fn list_members(&self, org: &str) -> Result<Vec<Member>> {
        owned!(org);
        self.read(|c| Box::pin(async move { read::list_members(c, &org).await }))
            .await
    }
    async fn delete_member(&self, org: &str, user: &str, actor: &str) -> Result<()> {
        owned!(org, user, actor);
        self.write_tokens(|c| {
            let (o, u, a) = (org.clone(), user.clone(), actor.clone());
            Box::pin(async move { admin::delete_member(c, &o, &u, &a).await })
        })
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
        owned!(org, id, name, actor);
        let provider = provider.map(str::to_owned);
        self.write(|c| {
            let (o, i, n, p, a) = (
                org.clone(),
                id.clone(),
                name.clone(),
                provider.clone(),
                actor.clone(),
            );
            Box::pin(async move { admin::create_api_key(c, &o, &i, &n, p.as_deref(), &a).await })
        })
        .await
    }
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>> {
        owned!(org);
        self.read(|c| Box::pin(async move { read::list_api_keys(c, &org).await }))
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
        owned!(org, key, actor);
        self.write(|c| {
            let (o, k, n, p, a) = (
                org.clone(),
                key.clone(),
                name.clone(),
                provider.clone(),
                actor.clone(),
            );
            Box::pin(async move { structure::update_api_key(c, &o, &k, n, p, &a).await })
        })
        .await
    }
    async fn delete_api_key(&self, org: &str, key: &str, actor: &str) -> Result<()> {
        owned!(org, key, actor);
        self.write(|c| {
            let (o, k, a) = (org.clone(), key.clone(), actor.clone());
            Box::pin(async move { structure::delete_api_key(c, &o, &k, &a).await })
        })
        .await
    }

    async fn put_price(
        &self,
        org: &str,
        model: &str,
        effective_from: Timestamp,
        price: spendlens_domain::Price,
        actor: &str,
    ) -> Result<()> {
        owned!(org, model, actor);
        self.write(|c| {
            let (o, m, a) = (org.clone(), model.clone(), actor.clone());
            Box::pin(async move { prices::put(c, &o, &m, effective_from, price, &a).await })
        })
        .await
    }
    async fn delete_price(&self, org: &str, model: &str, actor: &str) -> Result<()> {
        owned!(org, model, actor);
        self.write(|c| {
            let (o, m, a) = (org.clone(), model.clone(), actor.clone());
            Box::pin(async move { prices::delete(c, &o, &m, &a).await })
        })
        .await
    }
    async fn list_prices(&self, org: &str) -> Result<Vec<NegotiatedPrice>> {
        owned!(org);
        self.read(|c| Box::pin(async move { prices::list(c, &org).await }))
            .await
    }

    async fn create_token(&self, token: NewToken, actor: &str) -> Result<TokenRecord> {
        owned!(actor);
        self.write(|c| {
            let (t, a) = (token.clone(), actor.clone());
            Box::pin(async move { admin::create_token(c, t, &a).await })
        })
        .await
    }
    async fn find_token(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        // Asked on every request a token makes (token_cache.rs).
        if let Some(kept) = self.tokens.get(secret_hash) {
            return Ok(Some(kept));
        }
        let generation = self.tokens.generation();
        let hash = secret_hash.to_owned();
        let found = self
            .read_one(|c| Box::pin(async move { read::find_token(c, &hash).await }))
            .await?;
        if let Some(token) = &found {
            self.tokens.keep(secret_hash, token.clone(), generation);
        }
        Ok(found)
    }
    async fn touch_token(&self, id: &str, at: Timestamp) -> Result<()> {
        owned!(id);
        self.write(|c| {
            let i = id.clone();
            Box::pin(async move { admin::touch_token(c, &i, at).await })
        })
        .await?;
        self.tokens.used(&id, at);
        Ok(())
    }
    async fn list_tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>> {
        let org = org.map(str::to_owned);
        self.read(|c| Box::pin(async move { read::list_tokens(c, org.as_deref()).await }))
            .await
    }
    async fn revoke_token(&self, id: &str, actor: &str) -> Result<()> {
        owned!(id, actor);
        self.write_tokens(|c| {
            let (i, a) = (id.clone(), actor.clone());
            Box::pin(async move { admin::revoke_token(c, &i, &a).await })
        })
        .await
    }
    async fn audit_log(&self, org: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        let org = org.map(str::to_owned);
        self.read(|c| Box::pin(async move { read::audit_log(c, org.as_deref(), limit).await }))
            .await
    }

    async fn retention_step(
        &self,
        org: &str,
        before: Timestamp,
        chunk: usize,
    ) -> Result<RetentionStep> {
        owned!(org);
        let before = before.as_microsecond();
        self.write(|c| {
            let o = org.clone();
            Box::pin(async move { lifecycle::retention_step(c, &o, before, chunk).await })
        })
        .await
    }
    async fn verify(&self, org: &str, from: Day) -> Result<Vec<CellDiff>> {
        owned!(org);
        self.fold().await?;
        self.read(|c| Box::pin(async move { lifecycle::verify(c, &org, from).await }))
            .await
    }
    async fn rebuild(&self, org: &str, from: Day, actor: &str) -> Result<u64> {
        owned!(org, actor);
        self.write(|c| {
            let (o, a) = (org.clone(), actor.clone());
            Box::pin(async move { lifecycle::rebuild(c, &o, from, &a).await })
        })
        .await
    }
    async fn reprice(&self, org: &str, from: Day, to: Day, actor: &str) -> Result<Repriced> {
        owned!(org, actor);
        self.write(|c| {
            let (o, a) = (org.clone(), actor.clone());
            Box::pin(async move { reprice::reprice(c, &o, from, to, &a).await })
        })
        .await
    }
    async fn erase_user(
        &self,
        org: &str,
        user: &str,
        pseudonym: &str,
        actor: &str,
    ) -> Result<Erasure> {
        owned!(org, user, pseudonym, actor);
        self.write_tokens(|c| {
            let (o, u, p, a) = (org.clone(), user.clone(), pseudonym.clone(), actor.clone());
            Box::pin(async move { erasure::erase_user(c, &o, &u, &p, &a).await })
        })
        .await
    }

    async fn spend(
        &self,
        org: &str,
        scope: BudgetScope,
        scope_id: Option<&str>,
        period: Period,
    ) -> Result<i128> {
        owned!(org);
        let scope_id = scope_id.map(str::to_owned);
        self.read(|c| {
            Box::pin(
                async move { budgets::spend(c, &org, scope, scope_id.as_deref(), period).await },
            )
        })
        .await
    }
    async fn put_budget(&self, org: &str, budget: Budget, actor: &str) -> Result<Budget> {
        owned!(org, actor);
        self.write(|c| {
            let (o, b, a) = (org.clone(), budget.clone(), actor.clone());
            Box::pin(async move { budgets::put_budget(c, &o, b, &a).await })
        })
        .await
    }
    async fn spends(&self, org: &str, asks: Vec<SpendAsk>) -> Result<Vec<i128>> {
        owned!(org);
        self.read(|c| Box::pin(async move { budgets::spends(c, &org, &asks).await }))
            .await
    }
    async fn budget_check(
        &self,
        org: &str,
        user: Option<&str>,
        key: Option<&str>,
        plan: SpendPlan,
    ) -> Result<(BudgetContext, Vec<i128>)> {
        owned!(org);
        let (user, key) = (user.map(str::to_owned), key.map(str::to_owned));
        // Its own transaction, implicit in its one message (budget_check.rs).
        self.read_one(|c| {
            Box::pin(async move {
                budget_check::check(c, &org, user.as_deref(), key.as_deref(), plan).await
            })
        })
        .await
    }
    async fn budget_context(&self, org: &str, user: Option<&str>) -> Result<BudgetContext> {
        owned!(org);
        let user = user.map(str::to_owned);
        self.read(|c| {
            Box::pin(async move {
                let info = read::get_org(c, &org).await?;
                let budgets = budgets::list_budgets(c, &org).await?;
                let member = match user {
                    Some(u) => not_found_as_none(read::get_member(c, &org, &u).await)?,
                    None => None,
                };
                Ok(BudgetContext {
                    org: info,
                    budgets,
                    member,
                })
            })
        })
        .await
    }
    async fn list_budgets(&self, org: &str) -> Result<Vec<Budget>> {
        owned!(org);
        self.read(|c| Box::pin(async move { budgets::list_budgets(c, &org).await }))
            .await
    }
    async fn orgs_with_budgets(&self) -> Result<Vec<String>> {
        self.read(|c| Box::pin(budgets::orgs_with_budgets(c))).await
    }
    async fn delete_budget(&self, org: &str, id: &str, actor: &str) -> Result<()> {
        owned!(org, id, actor);
        self.write(|c| {
            let (o, i, a) = (org.clone(), id.clone(), actor.clone());
            Box::pin(async move { budgets::delete_budget(c, &o, &i, &a).await })
        })
        .await
    }
    async fn record_alert(&self, org: &str, alert: Alert) -> Result<Option<i64>> {
        owned!(org);
        self.write(|c| {
            let (o, al) = (org.clone(), alert.clone());
            Box::pin(async move { budgets::record_alert(c, &o, al).await })
        })
        .await
    }
    async fn list_alerts(&self, org: &str, limit: usize) -> Result<Vec<Alert>> {
        owned!(org);
        self.read(|c| Box::pin(async move { budgets::list_alerts(c, &org, limit).await }))
            .await
    }
    async fn record_delivery(&self, org: &str, delivery: Delivery) -> Result<()> {
        owned!(org);
        self.write(|c| {
            let (o, d) = (org.clone(), delivery.clone());
            Box::pin(async move { budgets::record_delivery(c, &o, d).await })
        })
        .await
    }
    async fn list_deliveries(&self, org: &str, limit: usize) -> Result<Vec<Delivery>> {
        owned!(org);
        self.read(|c| Box::pin(async move { budgets::list_deliveries(c, &org, limit).await }))
            .await
    }
    async fn webhook(&self, org: &str) -> Result<Option<Webhook>> {
        owned!(org);
        self.read(|c| Box::pin(async move { budgets::webhook(c, &org).await }))
            .await
    }

    async fn figures(&self, query: &FigureQuery) -> Result<Vec<GroupRow>> {
        let q = query.clone();
        let memory = self.memory.clone();
        self.read(|c| Box::pin(async move { read::figures(c, &q, &memory).await }))
            .await
    }
    async fn figure_ids(&self, query: &FigureQuery) -> Result<IdGroups> {
        let q = query.clone();
        let memory = self.memory.clone();
        self.read(|c| Box::pin(async move { read::figure_ids(c, &q, &memory).await }))
            .await
    }
    async fn figures_many(&self, queries: Vec<FigureQuery>) -> Result<Vec<Vec<GroupRow>>> {
        // Unfiltered totals (the platform endpoints): one read for all.
        if queries
            .iter()
            .all(|q| q.group_by.is_empty() && q.filter == Filter::default())
        {
            return self
                .read(|c| Box::pin(async move { read::totals_many(c, &queries).await }))
                .await;
        }
        // The rest one read transaction per run of questions about the same
        // organisation (row-level security confines a transaction to one),
        // so on one snapshot: a person's figures and the organisation's
        // average beside them agree, and a page pays for one transaction
        // instead of one per question.
        let mut out = Vec::with_capacity(queries.len());
        for run in queries.chunk_by(|a, b| a.org == b.org) {
            let run = run.to_vec();
            let memory = self.memory.clone();
            let answers = self
                .read(|c| {
                    Box::pin(async move {
                        let mut out = Vec::with_capacity(run.len());
                        for q in &run {
                            out.push(read::figures(c, q, &memory).await?);
                        }
                        Ok(out)
                    })
                })
                .await?;
            out.extend(answers);
        }
        Ok(out)
    }
    async fn events(&self, org: &str) -> Result<Vec<StoredEvent>> {
        owned!(org);
        self.read(|c| Box::pin(async move { read::events(c, &org).await }))
            .await
    }
    async fn quarantined(&self) -> Result<Vec<QuarantinedEvent>> {
        self.read(|c| Box::pin(read::quarantined(c))).await
    }
    async fn user_conversations(
        &self,
        org: &str,
        user: &str,
        period: Period,
    ) -> Result<Vec<ConversationSummary>> {
        owned!(org, user);
        self.read(|c| Box::pin(async move { conversations::of_user(c, &org, &user, period).await }))
            .await
    }
    async fn user_conversations_page(
        &self,
        org: &str,
        user: &str,
        period: Period,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>> {
        owned!(org, user);
        self.read(|c| {
            Box::pin(async move {
                conversations::page_of_user(c, &org, &user, period, after, limit).await
            })
        })
        .await
    }
    async fn stream_events(
        &self,
        query: crate::query::EventQuery,
        tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>,
    ) -> Result<()> {
        // Only an export takes a second connection; a page is named on its one.
        let _turn = match query.limit {
            Some(_) => None,
            None => Some(
                self.streams
                    .acquire()
                    .await
                    .map_err(|e| StoreError::Other(e.into()))?,
            ),
        };
        let pool = self.pool.clone();
        self.read(|c| Box::pin(async move { messages::stream(c, &pool, &query, 1_000, tx).await }))
            .await
    }
    async fn conversation(&self, org: &str, conversation: &str) -> Result<ConversationDetail> {
        owned!(org, conversation);
        self.read(|c| Box::pin(async move { conversations::detail(c, &org, &conversation).await }))
            .await
    }
}
