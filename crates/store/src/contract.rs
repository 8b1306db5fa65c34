//! The storage contract: domain questions and commands, no SQL. Each backend
//! (embedded SQLite now, PostgreSQL next) implements it, and one contract test
//! suite runs against every backend.

use crate::model::*;
use crate::query::{EventQuery, FigureQuery, GroupRow, IdGroups};
use async_trait::async_trait;
use jiff::Timestamp;
use spendlens_domain::time::Period;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    /// The store cannot be used now (another process holds it).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A lookup whose "not found" is an answer, not an error (a person who is
/// not a member, say).
pub fn not_found_as_none<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Whether the store answers now (readiness). Backends may override it
    /// with something cheaper.
    async fn ping(&self) -> Result<()> {
        self.get_org("\u{0}readiness-probe")
            .await
            .map(|_| ())
            .or_else(|e| match e {
                StoreError::NotFound(_) => Ok(()),
                other => Err(other),
            })
    }

    /// Finish the upkeep the store does in the background and that changes
    /// no answer, now; returns how much it did. The embedded store packs the
    /// cube's sealed day and month buckets (sqlite/packs.rs); PostgreSQL has
    /// none. For tests and `bench`, which must not depend on timing.
    async fn finish_upkeep(&self) -> Result<usize> {
        Ok(0)
    }

    /// How much of that upkeep is known to be waiting (0: none).
    fn upkeep_backlog(&self) -> u64 {
        0
    }

    /// Packs' groups kept in memory for later questions: (how many, bytes).
    fn kept_projections(&self) -> (u64, u64) {
        (0, 0)
    }

    // --- ingestion -------------------------------------------------------

    /// Store several requests' events in one transaction (group commit) and
    /// update every aggregate in it. Returns one outcome per batch, in order.
    /// When this returns Ok, the accepted events are durable and in the
    /// budget check; in every other answer once no more events wait behind
    /// them (`ingest_waiting`), and else within a fraction of a second
    /// (the embedded store, sqlite/deferred.rs).
    async fn ingest(&self, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>>;

    /// A counter for the caller to keep of the events waiting for `ingest`
    /// behind the call under way, when the store can use it: while more
    /// wait, it may leave aggregate work to a later commit. None: the
    /// store adds every commit's aggregates in it.
    fn ingest_waiting(&self) -> Option<std::sync::Arc<std::sync::atomic::AtomicUsize>> {
        None
    }

    /// Cell deltas committed but not yet added to the aggregates (0 when
    /// the store adds them in every commit).
    fn queued_cells(&self) -> u64 {
        0
    }

    /// Place and count the quarantined events that can be placed now.
    async fn backfill(&self, actor: &str) -> Result<BackfillOutcome>;

    // --- organisations and their structure --------------------------------

    async fn create_org(&self, org: NewOrg, actor: &str) -> Result<Org>;
    async fn get_org(&self, org: &str) -> Result<Org>;
    async fn list_orgs(&self) -> Result<Vec<Org>>;
    async fn update_org(&self, org: &str, patch: OrgPatch, actor: &str) -> Result<Org>;

    async fn create_team(&self, org: &str, team: Team, actor: &str) -> Result<Team>;
    async fn list_teams(&self, org: &str) -> Result<Vec<Team>>;
    /// Rename a team or change its department (`Some(None)` clears it).
    async fn update_team(
        &self,
        org: &str,
        team: &str,
        name: Option<String>,
        department: Option<Option<String>>,
        actor: &str,
    ) -> Result<Team>;
    /// Hide a team; its members lose it, past events keep it.
    async fn delete_team(&self, org: &str, team: &str, actor: &str) -> Result<()>;

    /// Create or replace a membership made by an admin.
    async fn put_member(&self, org: &str, member: Member, actor: &str) -> Result<Member>;
    async fn get_member(&self, org: &str, user: &str) -> Result<Member>;
    /// The memberships of these people in one read (a list page's rows);
    /// people who are not members are left out.
    async fn get_members(&self, org: &str, users: &[String]) -> Result<Vec<Member>>;
    async fn list_members(&self, org: &str) -> Result<Vec<Member>>;
    /// Remove a membership and revoke the person's tokens for that organisation.
    async fn delete_member(&self, org: &str, user: &str, actor: &str) -> Result<()>;

    async fn create_api_key(
        &self,
        org: &str,
        id: &str,
        name: &str,
        provider: Option<&str>,
        actor: &str,
    ) -> Result<ApiKey>;
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>>;
    async fn update_api_key(
        &self,
        org: &str,
        key: &str,
        name: Option<String>,
        provider: Option<Option<String>>,
        actor: &str,
    ) -> Result<ApiKey>;
    /// Hide a key from administration; its events keep counting under it.
    async fn delete_api_key(&self, org: &str, key: &str, actor: &str) -> Result<()>;

    /// A negotiated price for a model from `effective_from` on (replacing one of the same date).
    async fn put_price(
        &self,
        org: &str,
        model: &str,
        effective_from: Timestamp,
        price: spendlens_domain::Price,
        actor: &str,
    ) -> Result<()>;
    /// Remove every negotiated price of a model: the catalog applies again.
    async fn delete_price(&self, org: &str, model: &str, actor: &str) -> Result<()>;
    async fn list_prices(&self, org: &str) -> Result<Vec<NegotiatedPrice>>;

    // --- tokens ----------------------------------------------------------

    async fn create_token(&self, token: NewToken, actor: &str) -> Result<TokenRecord>;
    /// The live token with this secret hash, if any (expired and revoked included,
    /// so the caller can say why it refuses).
    async fn find_token(&self, secret_hash: &str) -> Result<Option<TokenRecord>>;
    async fn touch_token(&self, id: &str, at: Timestamp) -> Result<()>;
    async fn list_tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>>;
    async fn revoke_token(&self, id: &str, actor: &str) -> Result<()>;

    async fn audit_log(&self, org: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>>;

    // --- data lifecycle ------------------------------------------------------

    /// Delete up to `chunk` of the organisation's events that happened before
    /// `before` (and clear the titles of conversations last active before it),
    /// in one short transaction. Aggregates, idempotency keys and conversation
    /// starts stay. Call until it deletes nothing.
    async fn retention_step(
        &self,
        org: &str,
        before: Timestamp,
        chunk: usize,
    ) -> Result<RetentionStep>;
    /// Every difference between the day aggregates of days from `from` on and
    /// a recomputation from the detail.
    async fn verify(&self, org: &str, from: spendlens_domain::time::Day) -> Result<Vec<CellDiff>>;
    /// Make the hour, day and month aggregates of days from `from` on agree
    /// with the detail; returns the number of cells corrected.
    async fn rebuild(
        &self,
        org: &str,
        from: spendlens_domain::time::Day,
        actor: &str,
    ) -> Result<u64>;

    /// Compute again the costs the server computed for retained events of
    /// days `[from, to)` with the prices in force now, and correct the
    /// aggregates by the exact difference.
    async fn reprice(
        &self,
        org: &str,
        from: spendlens_domain::time::Day,
        to: spendlens_domain::time::Day,
        actor: &str,
    ) -> Result<Repriced>;
    /// Erase a person from an organisation: `pseudonym` replaces their id in
    /// every row of it, their email and conversation titles go, amounts stay.
    async fn erase_user(
        &self,
        org: &str,
        user: &str,
        pseudonym: &str,
        actor: &str,
    ) -> Result<Erasure>;

    // --- budgets and alerts ------------------------------------------------

    /// `total_cost` of one budget scope (`scope_id` None for the organisation)
    /// over local days `period`, as acknowledged so far. Backends may answer
    /// from a smaller table than the cube; this default asks the cube.
    async fn spend(
        &self,
        org: &str,
        scope: BudgetScope,
        scope_id: Option<&str>,
        period: Period,
    ) -> Result<i128> {
        let filter = crate::query::Filter::of_scope(scope, scope_id);
        let rows = self
            .figures(&FigureQuery {
                org: org.to_owned(),
                period,
                filter,
                group_by: vec![],
            })
            .await?;
        Ok(rows.first().map_or(0, |r| r.figures.total_cost))
    }

    /// `spend` of several scopes, read together (one snapshot, one trip).
    async fn spends(&self, org: &str, asks: Vec<SpendAsk>) -> Result<Vec<i128>> {
        let mut out = Vec::with_capacity(asks.len());
        for (scope, id, period) in asks {
            out.push(self.spend(org, scope, id.as_deref(), period).await?);
        }
        Ok(out)
    }

    /// The organisation, its budgets and `user`'s membership, read together:
    /// the budget check asks this before every LLM call, so backends answer
    /// it in one read.
    async fn budget_context(&self, org: &str, user: Option<&str>) -> Result<BudgetContext> {
        let info = self.get_org(org).await?;
        let budgets = self.list_budgets(org).await?;
        let member = match user {
            Some(u) => not_found_as_none(self.get_member(org, u).await)?,
            None => None,
        };
        Ok(BudgetContext {
            org: info,
            budgets,
            member,
        })
    }

    /// `budget_context`, then the spends `plan` asks for given it, in one
    /// snapshot: the budget check asks this before every LLM call, and each
    /// trip to the store is a hop that under ingestion costs more than the
    /// reads. The embedded store answers it in one read. `key` is the API
    /// key of the call, so that a store may read its spend beside the rest
    /// (PostgreSQL: one round trip); `plan` alone decides what is asked.
    async fn budget_check(
        &self,
        org: &str,
        user: Option<&str>,
        _key: Option<&str>,
        plan: SpendPlan,
    ) -> Result<(BudgetContext, Vec<i128>)> {
        let ctx = self.budget_context(org, user).await?;
        let asks = plan(&ctx);
        let spent = if asks.is_empty() {
            Vec::new()
        } else {
            self.spends(&ctx.org.id, asks).await?
        };
        Ok((ctx, spent))
    }

    /// Create or replace a budget (by id).
    async fn put_budget(&self, org: &str, budget: Budget, actor: &str) -> Result<Budget>;
    async fn list_budgets(&self, org: &str) -> Result<Vec<Budget>>;
    /// The organisations (external ids, sorted) that have at least one
    /// budget: the alert watcher asks this once per wake-up instead of
    /// reading every touched organisation's budgets.
    async fn orgs_with_budgets(&self) -> Result<Vec<String>>;
    async fn delete_budget(&self, org: &str, id: &str, actor: &str) -> Result<()>;
    /// Record a crossing unless the same budget, threshold and period already
    /// has one (then None): the store's uniqueness makes it once, whatever
    /// number of processes see the crossing at the same time.
    async fn record_alert(&self, org: &str, alert: Alert) -> Result<Option<i64>>;
    /// Newest first.
    async fn list_alerts(&self, org: &str, limit: usize) -> Result<Vec<Alert>>;
    async fn record_delivery(&self, org: &str, delivery: Delivery) -> Result<()>;
    /// Newest first.
    async fn list_deliveries(&self, org: &str, limit: usize) -> Result<Vec<Delivery>>;
    async fn webhook(&self, org: &str) -> Result<Option<Webhook>>;

    // --- reading ---------------------------------------------------------

    /// Figures of API.md §3 for one organisation, from the aggregates only.
    async fn figures(&self, query: &FigureQuery) -> Result<Vec<GroupRow>>;

    /// `figures`' groups by internal ids, in no order, with their names
    /// (query.rs `IdGroups`): for a list that pages or sorts them itself.
    /// A backend without its own names the groups and numbers the names.
    async fn figure_ids(&self, query: &FigureQuery) -> Result<IdGroups> {
        Ok(IdGroups::from_named(
            self.figures(query).await?,
            query.group_by.len(),
        ))
    }

    /// `figures` of several questions (of any organisations): the platform
    /// endpoints ask one per organisation, a person's page several of one.
    /// SQLite answers them in one read (a trip each to the blocking pool cost
    /// more than the answers); PostgreSQL in one read transaction per run of
    /// questions about the same organisation.
    async fn figures_many(&self, queries: Vec<FigureQuery>) -> Result<Vec<Vec<GroupRow>>> {
        let mut out = Vec::with_capacity(queries.len());
        for q in &queries {
            out.push(self.figures(q).await?);
        }
        Ok(out)
    }
    /// Every retained event of an organisation in time order (detail).
    async fn events(&self, org: &str) -> Result<Vec<StoredEvent>>;
    async fn quarantined(&self) -> Result<Vec<QuarantinedEvent>>;
    /// A user's conversations with an event in the period (figures of that part).
    async fn user_conversations(
        &self,
        org: &str,
        user: &str,
        period: Period,
    ) -> Result<Vec<ConversationSummary>>;
    /// One page of `user_conversations` in their order (newest last event
    /// first, ties by id): those after `after` (last event in µs, id), at most
    /// `limit`. A backend may answer from an index without reading the
    /// conversations of the rest of the period; this default filters the whole list.
    async fn user_conversations_page(
        &self,
        org: &str,
        user: &str,
        period: Period,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<ConversationSummary>> {
        let all = self.user_conversations(org, user, period).await?;
        Ok(all
            .into_iter()
            .filter(|c| match &after {
                None => true,
                Some((at, id)) => {
                    let t = c.last_event_at.as_microsecond();
                    t < *at || (t == *at && c.conversation_id > *id)
                }
            })
            .take(limit)
            .collect())
    }
    /// Retained events in time order, sent in batches to `tx` until done or
    /// until the receiver hangs up (an export streams them; memory stays flat).
    async fn stream_events(
        &self,
        query: EventQuery,
        tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>,
    ) -> Result<()>;
    /// One conversation with every retained message.
    async fn conversation(&self, org: &str, conversation: &str) -> Result<ConversationDetail>;
}
