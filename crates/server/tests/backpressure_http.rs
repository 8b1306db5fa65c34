//! 429 with Retry-After when the writer cannot keep up, having stored
//! nothing of the refused request; group commit answers every waiting request.

mod common;

use async_trait::async_trait;
use common::{event, start_with, ADMIN};
use jiff::Timestamp;
use serde_json::{json, Value};
use spendlens_server::Config;
use spendlens_store::model::*;
use spendlens_store::query::{FigureQuery, GroupRow};
use spendlens_store::{Result, Store};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A store whose `ingest` waits for a permit, so a test decides when the writer is free.
struct Gated {
    inner: Arc<dyn Store>,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl Store for Gated {
    fn backend(&self) -> &'static str {
        "gated"
    }
    async fn ingest(&self, batches: Vec<IngestBatch>) -> Result<Vec<BatchOutcome>> {
        self.gate.acquire().await.expect("gate open").forget();
        self.inner.ingest(batches).await
    }
    async fn create_org(&self, org: NewOrg, actor: &str) -> Result<Org> {
        self.inner.create_org(org, actor).await
    }
    async fn get_org(&self, org: &str) -> Result<Org> {
        self.inner.get_org(org).await
    }
    async fn list_orgs(&self) -> Result<Vec<Org>> {
        self.inner.list_orgs().await
    }
    async fn update_org(&self, org: &str, patch: OrgPatch, actor: &str) -> Result<Org> {
        self.inner.update_org(org, patch, actor).await
    }
    async fn create_team(&self, org: &str, team: Team, actor: &str) -> Result<Team> {
        self.inner.create_team(org, team, actor).await
    }
    async fn list_teams(&self, org: &str) -> Result<Vec<Team>> {
        self.inner.list_teams(org).await
    }
    async fn put_member(&self, org: &str, member: Member, actor: &str) -> Result<Member> {
        self.inner.put_member(org, member, actor).await
    }
    async fn get_member(&self, org: &str, user: &str) -> Result<Member> {
        self.inner.get_member(org, user).await
    }
    async fn get_members(&self, org: &str, users: &[String]) -> Result<Vec<Member>> {
        self.inner.get_members(org, users).await
    }
    async fn list_members(&self, org: &str) -> Result<Vec<Member>> {
        self.inner.list_members(org).await
    }
    async fn delete_member(&self, org: &str, user: &str, actor: &str) -> Result<()> {
        self.inner.delete_member(org, user, actor).await
    }
    async fn create_api_key(
        &self,
        org: &str,
        id: &str,
        name: &str,
        provider: Option<&str>,
        actor: &str,
    ) -> Result<ApiKey> {
        self.inner
            .create_api_key(org, id, name, provider, actor)
            .await
    }
    async fn backfill(&self, actor: &str) -> Result<BackfillOutcome> {
        self.inner.backfill(actor).await
    }
    async fn update_team(
        &self,
        org: &str,
        team: &str,
        name: Option<String>,
        department: Option<Option<String>>,
        actor: &str,
    ) -> Result<Team> {
        self.inner
            .update_team(org, team, name, department, actor)
            .await
    }
    async fn delete_team(&self, org: &str, team: &str, actor: &str) -> Result<()> {
        self.inner.delete_team(org, team, actor).await
    }
    async fn update_api_key(
        &self,
        org: &str,
        key: &str,
        name: Option<String>,
        provider: Option<Option<String>>,
        actor: &str,
    ) -> Result<ApiKey> {
        self.inner
            .update_api_key(org, key, name, provider, actor)
            .await
    }
    async fn delete_api_key(&self, org: &str, key: &str, actor: &str) -> Result<()> {
        self.inner.delete_api_key(org, key, actor).await
    }
    async fn put_price(
        &self,
        org: &str,
        model: &str,
        from: Timestamp,
        price: spendlens_domain::Price,
        actor: &str,
    ) -> Result<()> {
        self.inner.put_price(org, model, from, price, actor).await
    }
    async fn delete_price(&self, org: &str, model: &str, actor: &str) -> Result<()> {
        self.inner.delete_price(org, model, actor).await
    }
    async fn list_prices(&self, org: &str) -> Result<Vec<NegotiatedPrice>> {
        self.inner.list_prices(org).await
    }
    async fn list_api_keys(&self, org: &str) -> Result<Vec<ApiKey>> {
        self.inner.list_api_keys(org).await
    }
    async fn create_token(&self, token: NewToken, actor: &str) -> Result<TokenRecord> {
        self.inner.create_token(token, actor).await
    }
    async fn find_token(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        self.inner.find_token(secret_hash).await
    }
    async fn touch_token(&self, id: &str, at: Timestamp) -> Result<()> {
        self.inner.touch_token(id, at).await
    }
    async fn list_tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>> {
        self.inner.list_tokens(org).await
    }
    async fn revoke_token(&self, id: &str, actor: &str) -> Result<()> {
        self.inner.revoke_token(id, actor).await
    }
    async fn audit_log(&self, org: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.inner.audit_log(org, limit).await
    }
    async fn retention_step(
        &self,
        org: &str,
        before: Timestamp,
        chunk: usize,
    ) -> Result<RetentionStep> {
        self.inner.retention_step(org, before, chunk).await
    }
    async fn verify(&self, org: &str, from: spendlens_domain::time::Day) -> Result<Vec<CellDiff>> {
        self.inner.verify(org, from).await
    }
    async fn rebuild(
        &self,
        org: &str,
        from: spendlens_domain::time::Day,
        actor: &str,
    ) -> Result<u64> {
        self.inner.rebuild(org, from, actor).await
    }
    async fn reprice(
        &self,
        org: &str,
        from: spendlens_domain::time::Day,
        to: spendlens_domain::time::Day,
        actor: &str,
    ) -> Result<Repriced> {
        self.inner.reprice(org, from, to, actor).await
    }
    async fn erase_user(
        &self,
        org: &str,
        user: &str,
        pseudonym: &str,
        actor: &str,
    ) -> Result<Erasure> {
        self.inner.erase_user(org, user, pseudonym, actor).await
    }
    async fn put_budget(&self, org: &str, budget: Budget, actor: &str) -> Result<Budget> {
        self.inner.put_budget(org, budget, actor).await
    }
    async fn list_budgets(&self, org: &str) -> Result<Vec<Budget>> {
        self.inner.list_budgets(org).await
    }
    async fn orgs_with_budgets(&self) -> Result<Vec<String>> {
        self.inner.orgs_with_budgets().await
    }
    async fn delete_budget(&self, org: &str, id: &str, actor: &str) -> Result<()> {
        self.inner.delete_budget(org, id, actor).await
    }
    async fn record_alert(&self, org: &str, alert: Alert) -> Result<Option<i64>> {
        self.inner.record_alert(org, alert).await
    }
    async fn list_alerts(&self, org: &str, limit: usize) -> Result<Vec<Alert>> {
        self.inner.list_alerts(org, limit).await
    }
    async fn record_delivery(&self, org: &str, delivery: Delivery) -> Result<()> {
        self.inner.record_delivery(org, delivery).await
    }
    async fn list_deliveries(&self, org: &str, limit: usize) -> Result<Vec<Delivery>> {
        self.inner.list_deliveries(org, limit).await
    }
    async fn webhook(&self, org: &str) -> Result<Option<Webhook>> {
        self.inner.webhook(org).await
    }
    async fn figures(&self, query: &FigureQuery) -> Result<Vec<GroupRow>> {
        self.inner.figures(query).await
    }
    async fn events(&self, org: &str) -> Result<Vec<StoredEvent>> {
        self.inner.events(org).await
    }
    async fn quarantined(&self) -> Result<Vec<QuarantinedEvent>> {
        self.inner.quarantined().await
    }
    async fn user_conversations(
        &self,
        org: &str,
        user: &str,
        period: spendlens_domain::time::Period,
    ) -> Result<Vec<ConversationSummary>> {
        self.inner.user_conversations(org, user, period).await
    }
    async fn stream_events(
        &self,
        query: spendlens_store::query::EventQuery,
        tx: tokio::sync::mpsc::Sender<Vec<StoredEvent>>,
    ) -> Result<()> {
        self.inner.stream_events(query, tx).await
    }
    async fn conversation(&self, org: &str, conversation: &str) -> Result<ConversationDetail> {
        self.inner.conversation(org, conversation).await
    }
}

fn batch(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| event(&format!("{prefix}{i}"), json!({"organization_id": "acme"})))
        .collect()
}

#[tokio::test]
async fn a_full_queue_answers_429_and_stores_nothing_of_that_request() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let s = Arc::new(
        start_with(
            move |inner| Arc::new(Gated { inner, gate: g }) as Arc<dyn Store>,
            Config {
                admin_token: Some(ADMIN.into()),
                queue_capacity: 100,
                ..Config::default()
            },
        )
        .await,
    );
    s.org("acme", "UTC", "1").await;

    // 60 + 40 events fill the queue while the writer is held.
    let first = tokio::spawn({
        let s = s.clone();
        async move { s.events(ADMIN, &batch("a", 60)).await }
    });
    let second = tokio::spawn({
        let s = s.clone();
        async move { s.events(ADMIN, &batch("b", 40)).await }
    });
    // Wait until both are queued (the metrics gauge counts waiting events).
    for _ in 0..200 {
        let m = s.send(s.http.get(s.url("/metrics"))).await;
        if m.body
            .as_str()
            .unwrap_or("")
            .contains("spendlens_ingest_queue_events 100")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let refused = s.events(ADMIN, &batch("c", 1)).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.headers.get("retry-after").unwrap(), "1");
    assert_eq!(refused.body["error"]["code"], "busy");

    gate.add_permits(1000);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first.body["accepted"], 60, "{}", first.body);
    assert_eq!(second.body["accepted"], 40, "{}", second.body);
    let stored = s.store.events("acme").await.unwrap();
    assert_eq!(stored.len(), 100);
    assert!(stored.iter().all(|e| !e.event_id.starts_with('c')));
    // Free again: the refused request goes through when retried.
    assert_eq!(s.events(ADMIN, &batch("c", 1)).await.body["accepted"], 1);
    let metrics = s.send(s.http.get(s.url("/metrics"))).await;
    assert!(
        metrics
            .body
            .as_str()
            .unwrap()
            .contains("spendlens_ingest_busy_total 1"),
        "{}",
        metrics.body
    );
}
