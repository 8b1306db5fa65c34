//! `GET /v1/openapi.json`: the OpenAPI 3.1 description of every route, built
//! from the table below. A test reads the routers' source and fails when a
//! route is missing here, and calls every operation listed here.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

pub fn router() -> Router<crate::AppState> {
    Router::new().route("/v1/openapi.json", get(|| async { Json(document()) }))
}

/// One operation: method, path, summary, tag, query parameter sets, request body schema, response schema.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub query: &'static [&'static [&'static str]],
    pub body: Option<&'static str>,
    pub response: &'static str,
}

const PERIOD: &[&str] = &["from", "to", "period"];
const FILTERS: &[&str] = &[
    "user_id",
    "team_id",
    "department",
    "api_key_id",
    "model",
    "provider",
];
const LIST: &[&str] = &["sort", "order", "limit", "cursor", "format"];
const PAGE: &[&str] = &["limit", "cursor"];

macro_rules! op {
    ($m:literal, $p:literal, $s:literal, $t:literal, [$($q:expr),*], $b:expr, $r:literal) => {
        Op { method: $m, path: $p, summary: $s, tag: $t, query: &[$($q),*], body: $b, response: $r }
    };
}

pub const OPS: &[Op] = &[
    op!(
        "patch",
        "/v1/orgs/{org}/teams/{team}",
        "Rename a team or change its department",
        "administration",
        [],
        Some("TeamPatch"),
        "Team"
    ),
    op!(
        "delete",
        "/v1/orgs/{org}/teams/{team}",
        "Remove a team (its members lose it; past events keep it)",
        "administration",
        [],
        None,
        "Empty"
    ),
    op!(
        "patch",
        "/v1/orgs/{org}/api-keys/{key}",
        "Rename a provider key or change its provider",
        "administration",
        [],
        Some("ApiKeyPatch"),
        "ApiKey"
    ),
    op!(
        "delete",
        "/v1/orgs/{org}/api-keys/{key}",
        "Remove a provider key from administration (its events keep counting)",
        "administration",
        [],
        None,
        "Empty"
    ),
    op!(
        "get",
        "/v1/prices",
        "The price catalog, negotiated prices and unpriced models seen",
        "administration",
        [],
        None,
        "Prices"
    ),
    op!(
        "put",
        "/v1/orgs/{org}/prices/{model}",
        "Set a negotiated price (platform admin)",
        "administration",
        [],
        Some("PriceBody"),
        "NegotiatedPrice"
    ),
    op!(
        "delete",
        "/v1/orgs/{org}/prices/{model}",
        "Remove a model's negotiated prices",
        "administration",
        [],
        None,
        "Empty"
    ),
    op!(
        "post",
        "/v1/events",
        "Send events (JSON array, {events}, or NDJSON; gzip accepted)",
        "ingestion",
        [],
        Some("EventBody"),
        "IngestAnswer"
    ),
    op!(
        "get",
        "/v1/platform/summary",
        "Platform figures with the previous period",
        "platform",
        [PERIOD],
        None,
        "PlatformSummary"
    ),
    op!(
        "get",
        "/v1/platform/organizations",
        "Organisations ranked by their figures",
        "platform",
        [PERIOD, LIST],
        None,
        "OrganizationList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/summary",
        "Organisation figures with the previous period and change",
        "analytics",
        [PERIOD, FILTERS],
        None,
        "Summary"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/timeseries",
        "Dense series by hour, day, week or month",
        "analytics",
        [PERIOD, FILTERS, &["bucket"]],
        None,
        "Series"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/users",
        "Users leaderboard",
        "analytics",
        [PERIOD, FILTERS, LIST, &["q"]],
        None,
        "UserList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/users/{user}",
        "One person with the organisation comparison",
        "analytics",
        [PERIOD],
        None,
        "Person"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/users/{user}/conversations",
        "A person's conversations in the period",
        "analytics",
        [PERIOD, PAGE],
        None,
        "ConversationList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/conversations/{conv}",
        "One conversation with every message",
        "analytics",
        [],
        None,
        "Conversation"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/api-keys",
        "Provider keys with Unknown key",
        "analytics",
        [PERIOD, FILTERS, LIST],
        None,
        "ApiKeyList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/api-keys/{key}",
        "One key: summary, series, users, models",
        "analytics",
        [PERIOD],
        None,
        "EntityPage"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/models",
        "Models",
        "analytics",
        [PERIOD, FILTERS, LIST],
        None,
        "ModelList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/teams",
        "Teams",
        "analytics",
        [PERIOD, FILTERS, LIST],
        None,
        "TeamList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/teams/{team}",
        "One team: summary, series, members, models",
        "analytics",
        [PERIOD],
        None,
        "EntityPage"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/departments",
        "Departments",
        "analytics",
        [PERIOD, FILTERS, LIST],
        None,
        "DepartmentList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/departments/{dept}",
        "One department",
        "analytics",
        [PERIOD],
        None,
        "EntityPage"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/breakdown",
        "Drill-down by 1-3 dimensions",
        "analytics",
        [PERIOD, FILTERS, LIST, &["group_by"]],
        None,
        "BreakdownList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/messages",
        "Every retained event in time order (paged or streamed export)",
        "analytics",
        [PERIOD, FILTERS, &["limit", "cursor", "format"]],
        None,
        "MessageList"
    ),
    op!(
        "get",
        "/v1/me",
        "The caller's own page",
        "analytics",
        [PERIOD, &["org"]],
        None,
        "Person"
    ),
    op!(
        "post",
        "/v1/orgs",
        "Create an organisation",
        "administration",
        [],
        Some("OrgBody"),
        "Org"
    ),
    op!(
        "get",
        "/v1/orgs",
        "List organisations",
        "administration",
        [],
        None,
        "OrgList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}",
        "One organisation",
        "administration",
        [],
        None,
        "Org"
    ),
    op!(
        "patch",
        "/v1/orgs/{org}",
        "Change an organisation",
        "administration",
        [],
        Some("OrgBody"),
        "Org"
    ),
    op!(
        "post",
        "/v1/orgs/{org}/teams",
        "Create a team",
        "administration",
        [],
        Some("TeamBody"),
        "Team"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/members",
        "Members",
        "administration",
        [],
        None,
        "MemberList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/members/{user}",
        "One member",
        "administration",
        [],
        None,
        "Member"
    ),
    op!(
        "put",
        "/v1/orgs/{org}/members/{user}",
        "Add or change a member",
        "administration",
        [],
        Some("MemberBody"),
        "Member"
    ),
    op!(
        "delete",
        "/v1/orgs/{org}/members/{user}",
        "Remove a member and revoke their tokens",
        "administration",
        [],
        None,
        "Empty"
    ),
    op!(
        "post",
        "/v1/orgs/{org}/api-keys",
        "Register a provider key (its label, never its secret)",
        "administration",
        [],
        Some("ApiKeyBody"),
        "ApiKey"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/audit",
        "The organisation's audit log",
        "administration",
        [],
        None,
        "AuditList"
    ),
    op!(
        "get",
        "/v1/audit",
        "The platform audit log",
        "administration",
        [],
        None,
        "AuditList"
    ),
    op!(
        "get",
        "/v1/quarantine",
        "Events that could not be placed",
        "administration",
        [],
        None,
        "QuarantineList"
    ),
    op!(
        "post",
        "/v1/tokens",
        "Create a token (the secret is shown this once)",
        "administration",
        [],
        Some("TokenBody"),
        "TokenCreated"
    ),
    op!(
        "get",
        "/v1/tokens",
        "List tokens (never their secrets)",
        "administration",
        [&["organization_id"]],
        None,
        "TokenList"
    ),
    op!(
        "delete",
        "/v1/tokens/{id}",
        "Revoke a token",
        "administration",
        [],
        None,
        "Empty"
    ),
    op!(
        "get",
        "/v1/openapi.json",
        "This document",
        "meta",
        [],
        None,
        "Any"
    ),
    op!(
        "post",
        "/v1/orgs/{org}/budgets",
        "Create a budget (org, team, department, user or API key; daily, weekly or monthly)",
        "budgets",
        [],
        Some("BudgetBody"),
        "Budget"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/budgets",
        "Budgets with their status now",
        "budgets",
        [],
        None,
        "BudgetList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/budgets/{id}",
        "One budget with its status",
        "budgets",
        [],
        None,
        "Budget"
    ),
    op!(
        "put",
        "/v1/orgs/{org}/budgets/{id}",
        "Create or replace a budget",
        "budgets",
        [],
        Some("BudgetBody"),
        "Budget"
    ),
    op!(
        "delete",
        "/v1/orgs/{org}/budgets/{id}",
        "Remove a budget (its alerts stay)",
        "budgets",
        [],
        None,
        "Empty"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/alerts",
        "Thresholds crossed, newest first, each once per budget, threshold and period",
        "budgets",
        [&["limit"]],
        None,
        "AlertList"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/webhook/deliveries",
        "Every attempt to deliver an alert to the organisation's webhook, newest first",
        "budgets",
        [&["limit"]],
        None,
        "Any"
    ),
    op!(
        "delete",
        "/v1/orgs/{org}/users/{user}/data",
        "Erase a person: a pseudonym replaces their id everywhere in the organisation, their email and conversation titles go, amounts stay",
        "administration",
        [],
        None,
        "Any"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/anomalies",
        "Days far from their own 28-day baseline, for the organisation, each person and each key",
        "insights",
        [PERIOD],
        None,
        "Any"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/recommendations",
        "Savings recommendations with an estimated saving per 30 days (user_id: those about one person)",
        "insights",
        [&["user_id"]],
        None,
        "Any"
    ),
    op!(
        "get",
        "/v1/budget-check",
        "Whether a hard limit covering this user or key is reached now",
        "budgets",
        [&["user_id", "api_key_id", "organization_id"]],
        None,
        "BudgetCheck"
    ),
    op!(
        "get",
        "/v1/orgs/{org}/focus",
        "Costs in FOCUS 1.1 columns (CSV by default): one row per day, team, department, key, model and provider",
        "analytics",
        [PERIOD, &["format"]],
        None,
        "Any"
    ),
    op!(
        "post",
        "/v1/otlp/v1/traces",
        "OTLP/HTTP trace export (protobuf or JSON); each gen_ai span becomes an event",
        "ingestion",
        [],
        Some("OtlpTraces"),
        "OtlpAnswer"
    ),
    op!(
        "get",
        "/readyz",
        "Readiness: the store answers and the ingest writer runs (503 otherwise)",
        "meta",
        [],
        None,
        "Any"
    ),
    op!(
        "get",
        "/healthz",
        "Liveness and the store backend",
        "meta",
        [],
        None,
        "Any"
    ),
    op!(
        "get",
        "/metrics",
        "Prometheus metrics (counters, gauges, latency histograms)",
        "meta",
        [],
        None,
        "Any"
    ),
];

fn param_doc(name: &str) -> (&'static str, Value) {
    let s = |t: &str| json!({"type": t});
    match name {
        "from" | "to" => ("Date YYYY-MM-DD in the organisation's timezone; from inclusive, to exclusive", json!({"type": "string", "format": "date"})),
        "period" => ("Instead of from/to", json!({"type": "string", "enum": ["this_month", "last_month", "last_7d", "last_30d", "last_90d"]})),
        "sort" => ("A field of the rows", s("string")),
        "order" => ("Sort order", json!({"type": "string", "enum": ["asc", "desc"]})),
        "limit" => ("Rows per page (default 25)", json!({"type": "integer", "minimum": 1, "maximum": 100})),
        "cursor" => ("Opaque: next_cursor of the previous page", s("string")),
        "format" => ("The whole list as a download", json!({"type": "string", "enum": ["csv", "ndjson", "json"]})),
        "bucket" => ("Bucket size", json!({"type": "string", "enum": ["hour", "day", "week", "month"], "default": "day"})),
        "group_by" => ("1-3 of user, team, department, api_key, model, provider, day, week, month, comma-separated", s("string")),
        "q" => ("Search in user id and email", s("string")),
        _ => ("Filter; _none asks for the null group", s("string")),
    }
}

fn money() -> Value {
    json!({"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{9}$", "description": "USD, exactly 9 decimals"})
}

fn object(fields: &[(&str, Value)]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    json!({"type": "object", "properties": props})
}

fn list_of(row: &str) -> Value {
    json!({"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{row}")}}, "next_cursor": {"type": ["string", "null"]}}})
}

fn schemas() -> Map<String, Value> {
    let int = || json!({"type": "integer"});
    let text = || json!({"type": "string"});
    let opt = || json!({"type": ["string", "null"]});
    let ratio = || json!({"type": ["number", "null"]});
    let figures = vec![
        ("total_cost", money()),
        ("actual_api_cost", money()),
        ("profit", money()),
        ("margin", ratio()),
        ("active_users", int()),
        ("conversations", int()),
        ("messages", int()),
        ("tokens_in", int()),
        ("tokens_out", int()),
        ("tokens", int()),
        ("unpriced_events", int()),
        ("avg_cost_per_active_user", opt()),
    ];
    let with = |extra: &[(&str, Value)]| {
        let mut f = figures.clone();
        f.extend(extra.iter().cloned());
        object(&f)
    };
    let row = |extra: &[(&str, Value)]| {
        let mut f: Vec<(&str, Value)> = vec![
            ("total_cost", money()),
            ("actual_api_cost", money()),
            ("messages", int()),
            ("conversations", int()),
            ("tokens", int()),
            ("share", ratio()),
        ];
        f.extend(extra.iter().cloned());
        object(&f)
    };
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("Any", json!({}));
    put(
        "TeamPatch",
        object(&[("name", text()), ("department", opt())]),
    );
    put(
        "ApiKeyPatch",
        object(&[("name", text()), ("provider", opt())]),
    );
    let per_mtok = || json!({"type": ["string", "null"], "description": "USD per million tokens"});
    put(
        "PriceBody",
        object(&[
            ("input_per_mtok", per_mtok()),
            ("output_per_mtok", per_mtok()),
            ("cached_input_per_mtok", per_mtok()),
            ("cache_write_per_mtok", per_mtok()),
            ("effective_from", text()),
        ]),
    );
    put(
        "NegotiatedPrice",
        object(&[
            ("organization_id", text()),
            ("model", text()),
            ("input_per_mtok", per_mtok()),
            ("output_per_mtok", per_mtok()),
            ("cached_input_per_mtok", per_mtok()),
            ("cache_write_per_mtok", per_mtok()),
            ("effective_from", text()),
        ]),
    );
    put(
        "Prices",
        object(&[
            ("catalog", json!({"type": "array"})),
            (
                "negotiated",
                json!({"type": "array", "items": r("NegotiatedPrice")}),
            ),
            ("unpriced_models", json!({"type": "array"})),
        ]),
    );
    put("Empty", json!({"description": "no content"}));
    put(
        "Error",
        json!({"type": "object", "properties": {"error": object(&[("code", text()), ("message", text()), ("parameter", text())])}}),
    );
    put("Figures", object(&figures));
    put(
        "Summary",
        with(&[
            ("organization_id", text()),
            ("from", text()),
            ("to", text()),
            ("last_event_at", opt()),
            ("previous", r("Figures")),
            ("change_pct", json!({"type": "object"})),
        ]),
    );
    put(
        "PlatformSummary",
        with(&[
            ("organizations", int()),
            ("previous", r("Figures")),
            ("change_pct", json!({"type": "object"})),
        ]),
    );
    put(
        "Series",
        json!({"type": "object", "properties": {"bucket": text(), "data": {"type": "array", "items": with(&[("date", text())])}}}),
    );
    put(
        "UserRow",
        row(&[
            ("user_id", text()),
            ("email", opt()),
            ("team_id", opt()),
            ("department", opt()),
        ]),
    );
    put(
        "ApiKeyRow",
        row(&[
            ("api_key_id", opt()),
            ("name", text()),
            ("provider", opt()),
            ("registered", json!({"type": "boolean"})),
            ("unique_users", int()),
            ("avg_cost_per_conversation", opt()),
            ("last_used_at", opt()),
        ]),
    );
    put("ModelRow", row(&[("model", text()), ("provider", opt())]));
    put(
        "TeamRow",
        row(&[
            ("team_id", opt()),
            ("name", text()),
            ("active_users", int()),
        ]),
    );
    put(
        "DepartmentRow",
        row(&[("department", opt()), ("active_users", int())]),
    );
    put(
        "BreakdownRow",
        row(&[
            ("user_id", text()),
            ("team_id", opt()),
            ("department", opt()),
            ("api_key_id", opt()),
            ("model", text()),
            ("provider", opt()),
            ("day", text()),
            ("week", text()),
            ("month", text()),
            ("active_users", int()),
        ]),
    );
    put(
        "OrganizationRow",
        with(&[
            ("organization_id", text()),
            ("name", text()),
            ("timezone", text()),
            ("share", ratio()),
        ]),
    );
    put(
        "Person",
        object(&[
            ("user_id", text()),
            ("total_cost", money()),
            ("actual_api_cost", json!({"type": ["string", "null"]})),
            ("messages", int()),
            ("conversations", int()),
            ("previous", json!({"type": "object"})),
            ("change_pct", json!({"type": "object"})),
            (
                "comparison",
                object(&[
                    ("my_cost", money()),
                    ("org_avg_cost_per_active_user", opt()),
                    ("ratio_to_avg", ratio()),
                    ("percent_vs_avg", ratio()),
                ]),
            ),
            ("models", json!({"type": "array"})),
            ("trend", json!({"type": "array"})),
        ]),
    );
    put(
        "ConversationRow",
        object(&[
            ("conversation_id", text()),
            ("title", opt()),
            ("started_at", text()),
            ("last_event_at", text()),
            ("messages", int()),
            ("tokens", int()),
            ("total_cost", money()),
            ("models", json!({"type": "array", "items": text()})),
        ]),
    );
    put(
        "Message",
        object(&[
            ("event_id", text()),
            ("occurred_at", text()),
            ("user_id", text()),
            ("model", text()),
            ("api_key_id", opt()),
            ("conversation_id", text()),
            ("tokens_in", int()),
            ("tokens_out", int()),
            ("cached_tokens_in", int()),
            ("total_cost", money()),
            ("actual_api_cost", json!({"type": ["string", "null"]})),
        ]),
    );
    put(
        "Conversation",
        object(&[
            ("conversation_id", text()),
            ("user_id", text()),
            ("title", opt()),
            ("started_at", text()),
            ("last_event_at", text()),
            ("total_cost", money()),
            ("messages", json!({"type": "array", "items": r("Message")})),
        ]),
    );
    put(
        "EntityPage",
        with(&[
            ("series", json!({"type": "array"})),
            ("users", json!({"type": "array"})),
            ("models", json!({"type": "array"})),
            ("previous", r("Figures")),
        ]),
    );
    put(
        "Event",
        object(&[
            ("event_id", text()),
            ("occurred_at", text()),
            ("organization_id", text()),
            ("user_id", text()),
            ("user_email", text()),
            ("team_id", text()),
            ("department", text()),
            ("api_key_id", text()),
            ("api_key_provider", text()),
            ("conversation_id", text()),
            ("conversation_title", text()),
            ("model_name", text()),
            ("tokens_in", int()),
            ("tokens_out", int()),
            ("cached_tokens_in", int()),
            ("cache_write_tokens_in", int()),
            ("actual_api_cost", json!({"type": ["string", "number"]})),
            ("total_cost", json!({"type": ["string", "number"]})),
        ]),
    );
    put(
        "EventBody",
        json!({"oneOf": [{"type": "array", "items": r("Event")}, {"type": "object", "properties": {"events": {"type": "array", "items": r("Event")}}}]}),
    );
    put(
        "BudgetBody",
        object(&[
            ("id", text()),
            (
                "scope",
                json!({"type": "string", "enum": ["org", "team", "department", "user", "api_key"]}),
            ),
            ("scope_id", opt()),
            (
                "period",
                json!({"type": "string", "enum": ["monthly", "weekly", "daily"]}),
            ),
            (
                "amount",
                json!({"type": ["string", "number"], "description": "USD"}),
            ),
            (
                "alert_thresholds",
                json!({"type": "array", "items": {"type": ["number", "string"]}, "default": [0.5, 0.8, 1.0]}),
            ),
            ("hard_limit", json!({"type": "boolean"})),
        ]),
    );
    put(
        "Budget",
        object(&[
            ("id", text()),
            ("scope", text()),
            ("scope_id", opt()),
            ("period", text()),
            ("amount", text()),
            (
                "alert_thresholds",
                json!({"type": "array", "items": {"type": "number"}}),
            ),
            ("hard_limit", json!({"type": "boolean"})),
            ("created_at", text()),
            ("period_from", text()),
            ("period_to", text()),
            ("spent", text()),
            ("remaining", text()),
            ("fraction", json!({"type": "number"})),
            ("projected", text()),
            (
                "state",
                json!({"type": "string", "enum": ["ok", "warning", "exceeded"]}),
            ),
        ]),
    );
    put(
        "BudgetList",
        json!({"type": "object", "properties": {"data": {"type": "array", "items": r("Budget")}, "next_cursor": {"type": "null"}}}),
    );
    put(
        "AlertList",
        json!({"type": "object", "properties": {"data": {"type": "array", "items": object(&[("id", int()), ("budget_id", text()), ("scope", text()), ("scope_id", opt()), ("threshold", json!({"type": "number"})), ("period_from", text()), ("period_to", text()), ("spent", text()), ("amount", text()), ("crossed_at", text())])}, "next_cursor": {"type": "null"}}}),
    );
    put(
        "BudgetCheck",
        json!({"type": "object", "properties": {"allowed": {"type": "boolean"}, "blocking": {"type": "array", "items": object(&[("id", text()), ("scope", text()), ("scope_id", opt()), ("state", text())])}}}),
    );
    put(
        "OtlpTraces",
        json!({"type": "object", "description": "OTLP ExportTraceServiceRequest (JSON encoding; send application/x-protobuf for the binary one)", "properties": {"resourceSpans": {"type": "array", "items": {"type": "object"}}}}),
    );
    put(
        "OtlpAnswer",
        json!({"type": "object", "description": "OTLP ExportTraceServiceResponse", "properties": {"partialSuccess": {"type": ["object", "null"], "properties": {"rejectedSpans": {"type": ["integer", "string"]}, "errorMessage": text()}}}}),
    );
    put(
        "IngestAnswer",
        object(&[
            ("accepted", int()),
            ("duplicates", int()),
            ("quarantined", int()),
            ("rejected", int()),
            (
                "errors",
                json!({"type": "array", "items": object(&[("index", int()), ("event_id", opt()), ("code", text()), ("field", opt()), ("message", text()), ("line", int())])}),
            ),
        ]),
    );
    put(
        "OrgBody",
        object(&[
            ("id", text()),
            ("name", text()),
            ("timezone", text()),
            ("markup", text()),
            ("webhook_url", opt()),
            ("retention_days", int()),
        ]),
    );
    put(
        "Org",
        object(&[
            ("id", text()),
            ("name", text()),
            ("timezone", text()),
            ("markup", text()),
            ("webhook_url", opt()),
            ("retention_days", int()),
            ("created_at", text()),
            ("last_event_at", opt()),
        ]),
    );
    put(
        "TeamBody",
        object(&[("id", text()), ("name", text()), ("department", opt())]),
    );
    put(
        "Team",
        object(&[("team_id", text()), ("name", text()), ("department", opt())]),
    );
    put(
        "MemberBody",
        object(&[
            ("email", opt()),
            (
                "role",
                json!({"type": "string", "enum": ["org_admin", "team_lead", "member"]}),
            ),
            ("team_id", opt()),
            ("department", opt()),
        ]),
    );
    put(
        "Member",
        object(&[
            ("user_id", text()),
            ("email", opt()),
            ("role", text()),
            ("team_id", opt()),
            ("department", opt()),
            ("added_by_admin", json!({"type": "boolean"})),
        ]),
    );
    put(
        "ApiKeyBody",
        object(&[("id", text()), ("name", text()), ("provider", text())]),
    );
    put(
        "ApiKey",
        object(&[
            ("api_key_id", text()),
            ("name", text()),
            ("provider", opt()),
            ("registered", json!({"type": "boolean"})),
            ("created_at", text()),
            ("last_used_at", opt()),
        ]),
    );
    put(
        "TokenBody",
        object(&[
            (
                "role",
                json!({"type": "string", "enum": ["platform_admin", "org_admin", "team_lead", "member", "ingest"]}),
            ),
            ("organization_id", opt()),
            ("team_id", opt()),
            ("user_id", opt()),
            ("name", opt()),
            ("expires_at", opt()),
        ]),
    );
    put(
        "Token",
        object(&[
            ("id", text()),
            ("role", text()),
            ("organization_id", opt()),
            ("team_id", opt()),
            ("user_id", opt()),
            ("name", opt()),
            ("expires_at", opt()),
            ("created_at", text()),
            ("last_used_at", opt()),
            ("revoked_at", opt()),
        ]),
    );
    put(
        "TokenCreated",
        json!({"allOf": [r("Token"), object(&[("token", text())])]}),
    );
    put(
        "AuditEntry",
        object(&[
            ("at", text()),
            ("actor", text()),
            ("organization_id", opt()),
            ("action", text()),
            ("target", text()),
            ("detail", json!({})),
        ]),
    );
    put(
        "Quarantined",
        object(&[
            ("organization_hint", opt()),
            ("event_id", text()),
            ("user_id", text()),
            ("reason", text()),
            ("received_at", text()),
        ]),
    );
    for (list, rowname) in [
        ("UserList", "UserRow"),
        ("ApiKeyList", "ApiKeyRow"),
        ("ModelList", "ModelRow"),
        ("TeamList", "TeamRow"),
        ("DepartmentList", "DepartmentRow"),
        ("BreakdownList", "BreakdownRow"),
        ("OrganizationList", "OrganizationRow"),
        ("ConversationList", "ConversationRow"),
        ("MessageList", "Message"),
        ("OrgList", "Org"),
        ("MemberList", "Member"),
        ("AuditList", "AuditEntry"),
        ("QuarantineList", "Quarantined"),
        ("TokenList", "Token"),
    ] {
        put(list, list_of(rowname));
    }
    m
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let mut params: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        for set in op.query {
            for name in *set {
                let (description, schema) = param_doc(name);
                params.push(json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema}));
            }
        }
        let ok = match (op.method, op.response) {
            (_, "Empty") => "204",
            ("post", "IngestAnswer" | "OtlpAnswer") => "200",
            ("post", _) => "201",
            _ => "200",
        };
        let schema = json!({"$ref": format!("#/components/schemas/{}", op.response)});
        let text = json!({"type": "string"});
        // What a 2xx answer is: nothing, a download (any list with `format`), text, or JSON.
        let ok_content = if ok == "204" {
            json!({"description": "Done"})
        } else if op.path == "/metrics" {
            json!({"description": "OK", "content": {"text/plain": {"schema": text}}})
        } else if op.query.iter().any(|set| set.contains(&"format")) {
            json!({"description": "OK (JSON by default; a download with format or Accept: text/csv)", "content": {
                "application/json": {"schema": schema}, "text/csv": {"schema": text},
                "application/x-ndjson": {"schema": text}}})
        } else if op.response == "OtlpAnswer" {
            json!({"description": "OK", "content": {"application/json": {"schema": schema}, "application/x-protobuf": {"schema": text}}})
        } else {
            json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
        };
        let mut operation = json!({
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": format!("{}_{}", op.method, op.path.trim_start_matches('/').replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": {
                ok: ok_content,
                "400": {"description": "A bad parameter or body", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "Missing, expired or revoked token"},
                "403": {"description": "Outside the token's scope"},
                "404": {"description": "Not found, or another organisation's"},
            },
        });
        if let Some(body) = op.body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        item[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "spendlens", "version": env!("CARGO_PKG_VERSION"), "description": "LLM usage and cost analytics. Money is a string of USD with exactly 9 decimals."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        },
        "security": [{"bearer": []}],
        "paths": paths,
    })
}
