-- spendlens schema, SQLite. Every table that grows with usage leads with `org`
-- (the organisation's internal id) so the same layout distributes by
-- organisation on PostgreSQL/Citus. Times are Unix microseconds (UTC);
-- money is INTEGER nanodollars; days are civil days since 1970-01-01 in the
-- organisation's timezone in force when the event happened.

CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    ext_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    markup_ppb INTEGER NOT NULL,
    webhook_url TEXT,
    webhook_secret TEXT,
    retention_days INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_event_at INTEGER
);

-- A timezone change applies from its instant on; earlier days keep their buckets.
CREATE TABLE org_timezones (
    org INTEGER NOT NULL,
    effective_from INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    PRIMARY KEY (org, effective_from)
) WITHOUT ROWID;

-- Users are global; their integer id is their ordinal in distinct-user sets.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    ext_id TEXT NOT NULL UNIQUE,
    email TEXT
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    ext_id TEXT NOT NULL,
    name TEXT NOT NULL,
    department TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (org, ext_id)
);

CREATE TABLE departments (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (org, name)
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    ext_id TEXT NOT NULL,
    name TEXT NOT NULL,
    provider TEXT,
    registered INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    UNIQUE (org, ext_id)
);

CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE providers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE members (
    org INTEGER NOT NULL,
    user INTEGER NOT NULL,
    role TEXT NOT NULL,
    team INTEGER,
    department TEXT,
    added_by_admin INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org, user)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (user);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    org INTEGER,
    team_ext TEXT,
    user_ext TEXT,
    name TEXT,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    org INTEGER,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_by_org ON audit (org, id);

-- Negotiated per-organisation prices, nanodollars per million tokens.
CREATE TABLE org_prices (
    org INTEGER NOT NULL,
    model TEXT NOT NULL,
    effective_from INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cached_input INTEGER,
    cache_write INTEGER,
    PRIMARY KEY (org, model, effective_from)
) WITHOUT ROWID;

-- Idempotency keys: kept forever, after retention deletes the detail, so an
-- old replay is still a duplicate. `hash` is the canonical payload digest.
CREATE TABLE event_keys (
    org INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    hash INTEGER NOT NULL,
    PRIMARY KEY (org, event_id)
) WITHOUT ROWID;

-- Message detail (deleted by retention).
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    day INTEGER NOT NULL,
    user INTEGER NOT NULL,
    team INTEGER NOT NULL,
    dept INTEGER NOT NULL,
    key INTEGER NOT NULL,
    model INTEGER NOT NULL,
    provider INTEGER NOT NULL,
    conv INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cached_in INTEGER NOT NULL,
    cache_write_in INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    actual_cost INTEGER NOT NULL,
    -- bit 0: actual computed by the server; bit 1: total computed; bit 2: unpriced
    cost_flags INTEGER NOT NULL
);
CREATE INDEX events_by_time ON events (org, occurred_at);
CREATE INDEX events_by_conv ON events (conv, occurred_at);

-- Conversations: the start (first event by occurred_at, ties by event_id) and
-- its groups are kept forever so that late events move starts correctly.
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    ext_id TEXT NOT NULL,
    user INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    first_event_id TEXT NOT NULL,
    first_day INTEGER NOT NULL,
    first_team INTEGER NOT NULL,
    first_dept INTEGER NOT NULL,
    first_key INTEGER NOT NULL,
    first_model INTEGER NOT NULL,
    first_provider INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    title TEXT,
    title_at INTEGER,
    UNIQUE (org, ext_id)
);
CREATE INDEX conversations_by_user ON conversations (org, user, last_at);

-- The aggregate cube: one row per organisation, granule bucket and
-- combination of groups. grain 0 = local hour (bucket: Unix seconds of the
-- local hour's start), 1 = day (civil day), 2 = month (months since 1970-01).
-- Team/department/key/provider 0 is the null group. `convs` counts
-- conversations whose first event falls in the row (hour rows keep 0).
CREATE TABLE cube (
    org INTEGER NOT NULL,
    grain INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    user INTEGER NOT NULL,
    team INTEGER NOT NULL,
    dept INTEGER NOT NULL,
    key INTEGER NOT NULL,
    model INTEGER NOT NULL,
    provider INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    actual_cost INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cached_in INTEGER NOT NULL,
    cache_write_in INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    convs INTEGER NOT NULL,
    PRIMARY KEY (org, grain, bucket, user, team, dept, key, model, provider)
) WITHOUT ROWID;

-- Events that could not be placed in an organisation (API.md §2), deduplicated
-- by (organisation hint, event_id) like accepted events.
CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY,
    org_hint TEXT NOT NULL,
    event_id TEXT NOT NULL,
    user_ext TEXT NOT NULL,
    reason TEXT NOT NULL,
    hash INTEGER NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    UNIQUE (org_hint, event_id)
);
