//! Plain records that cross the storage contract. No behaviour beyond parsing
//! the small enums.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use spendlens_domain::{ErrorCode, Event, Markup};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    OrgAdmin,
    TeamLead,
    Member,
    Ingest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::OrgAdmin => "org_admin",
            Role::TeamLead => "team_lead",
            Role::Member => "member",
            Role::Ingest => "ingest",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "platform_admin" => Role::PlatformAdmin,
            "org_admin" => Role::OrgAdmin,
            "team_lead" => Role::TeamLead,
            "member" => Role::Member,
            "ingest" => Role::Ingest,
            _ => return None,
        })
    }
    /// Rank for "a token may not exceed its membership's role".
    pub fn rank(self) -> u8 {
        match self {
            Role::Ingest => 0,
            Role::Member => 1,
            Role::TeamLead => 2,
            Role::OrgAdmin => 3,
            Role::PlatformAdmin => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub timezone: String,
    #[serde(serialize_with = "ser_markup")]
    pub markup: Markup,
    pub webhook_url: Option<String>,
    pub retention_days: u32,
    pub created_at: Timestamp,
    pub last_event_at: Option<Timestamp>,
}

fn ser_markup<S: serde::Serializer>(m: &Markup, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&m.to_decimal_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrg {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub markup: Markup,
    pub webhook_url: Option<String>,
    pub retention_days: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub markup: Option<Markup>,
    pub webhook_url: Option<Option<String>>,
    /// Set with a new webhook URL (the caller makes it and shows it once).
    pub webhook_secret: Option<Option<String>>,
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Team {
    pub team_id: String,
    pub name: String,
    pub department: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: String,
    pub email: Option<String>,
    pub role: Role,
    pub team_id: Option<String>,
    pub department: Option<String>,
    /// false for members created on first sight of an event.
    pub added_by_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub api_key_id: String,
    pub name: String,
    pub provider: Option<String>,
    pub registered: bool,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub role: Role,
    pub organization_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: String,
    pub secret_hash: String,
    pub role: Role,
    pub organization_id: Option<String>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub organization_id: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

/// Who sent a batch of events, which decides how each event finds its organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestScope {
    /// An org-scoped ingest token: events belong to this organisation.
    Org(String),
    /// A platform-wide ingest token or a platform admin.
    Platform,
}

/// One request's valid events, each with its index in the request body.
#[derive(Debug, Clone)]
pub struct IngestBatch {
    pub scope: IngestScope,
    pub events: Vec<(usize, Event)>,
    pub received_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    pub index: usize,
    pub event_id: Option<String>,
    pub code: ErrorCode,
    pub field: Option<&'static str>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

/// The store's verdict on one batch (API.md §2's answer, before parse errors are merged in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub rejected: u64,
    pub errors: Vec<ItemError>,
}

/// An event as stored, with everything resolved at ingest. Used by `verify`
/// and by tests that recompute figures from detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEvent {
    pub organization_id: String,
    pub event_id: String,
    pub occurred_at: Timestamp,
    /// The civil day in the organisation's timezone in force at occurred_at.
    pub day: i32,
    pub user_id: String,
    pub team_id: Option<String>,
    pub department: Option<String>,
    pub api_key_id: Option<String>,
    pub provider: Option<String>,
    pub model: String,
    pub conversation_id: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cached_tokens_in: u64,
    pub cache_write_tokens_in: u64,
    pub total_cost: i64,
    pub actual_api_cost: i64,
    pub unpriced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedEvent {
    pub organization_hint: Option<String>,
    pub event_id: String,
    pub user_id: String,
    pub reason: ErrorCode,
    pub received_at: Timestamp,
}

/// A conversation with the part of it inside a period (API.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation_id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub started_at: Timestamp,
    pub last_event_at: Timestamp,
    /// Inside the period only.
    pub messages: u64,
    pub tokens: u64,
    pub total_cost: i128,
    pub actual_api_cost: i128,
    pub models: Vec<String>,
}

/// One conversation and every retained message, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationDetail {
    pub conversation_id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub started_at: Timestamp,
    pub last_event_at: Timestamp,
    pub messages: Vec<StoredEvent>,
}

/// An organisation's negotiated price for a model from a date on (nanodollars per million tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedPrice {
    pub model: String,
    pub effective_from: Timestamp,
    pub price: spendlens_domain::Price,
}

/// What `backfill` did with the quarantine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BackfillOutcome {
    /// Placed in an organisation and counted now.
    pub accepted: u64,
    /// Placed, but the organisation already had the event.
    pub duplicates: u64,
    /// Placed, but refused by the rules of ingestion (for example another user's conversation).
    pub rejected: u64,
    /// Still without an organisation.
    pub still_quarantined: u64,
}

/// What a budget covers (API.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetScope {
    Org,
    Team,
    Department,
    User,
    ApiKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Daily,
    Weekly,
    Monthly,
}

/// What the budget check reads before any spend: the organisation, its
/// budgets and the asking person's membership (None when not a member).
#[derive(Debug, Clone)]
pub struct BudgetContext {
    pub org: Org,
    pub budgets: Vec<Budget>,
    pub member: Option<Member>,
}

/// One scope's spend to read: scope, scope id (None for the organisation), days.
pub type SpendAsk = (BudgetScope, Option<String>, spendlens_domain::time::Period);

/// Which spends a budget check needs, given what it read (`Store::budget_check`).
pub type SpendPlan = Box<dyn FnOnce(&BudgetContext) -> Vec<SpendAsk> + Send>;

/// A budget as stored; the API shapes it (decimal amounts, status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub id: String,
    pub scope: BudgetScope,
    /// None for the organisation scope.
    pub scope_id: Option<String>,
    pub period: BudgetPeriod,
    /// Nanodollars of `total_cost`.
    pub amount: i64,
    /// Alert thresholds as parts per million of the amount, ascending.
    pub thresholds_ppm: Vec<i64>,
    pub hard_limit: bool,
    pub created_at: Timestamp,
}

/// A threshold a budget crossed in one of its periods: recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Assigned by the store.
    pub id: i64,
    pub budget_id: String,
    pub scope: BudgetScope,
    pub scope_id: Option<String>,
    pub threshold_ppm: i64,
    /// The period's first local day and the day after its last (civil days).
    pub period_from: i32,
    pub period_to: i32,
    /// Spend and amount when the crossing was seen.
    pub spent: i64,
    pub amount: i64,
    pub crossed_at: Timestamp,
}

/// One attempt to deliver an alert to the organisation's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub alert_id: i64,
    pub attempt: u32,
    pub at: Timestamp,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub delivered: bool,
}

/// Where an organisation's alerts go and the secret they are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

/// What one chunk of retention deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionStep {
    pub events_deleted: u64,
    /// Conversations whose last message is past the window lose their title
    /// (detail); their start stays, so late events still place correctly.
    pub titles_cleared: u64,
}

/// One figure of one day cell where the aggregates and the detail disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellDiff {
    pub day: String,
    pub user_id: String,
    pub team_id: Option<String>,
    pub department: Option<String>,
    pub api_key_id: Option<String>,
    pub model: String,
    pub provider: Option<String>,
    pub field: &'static str,
    pub aggregate: i64,
    pub detail: i64,
}

/// What erasing a person changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The id that replaces theirs in the organisation.
    pub pseudonym: String,
    pub events: u64,
    pub conversations: u64,
}

/// What a reprice changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Repriced {
    /// Retained events whose cost the server had computed.
    pub examined: u64,
    pub changed: u64,
    /// New minus old, nanodollars.
    pub total_cost_delta: i128,
    pub actual_api_cost_delta: i128,
}
