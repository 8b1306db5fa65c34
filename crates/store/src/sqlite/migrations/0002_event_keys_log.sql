-- Recent idempotency keys, appended in arrival order (no index, so a new key
-- costs an append, not a write to a random page of event_keys). The writer
-- keeps them in memory and merges them, sorted, into event_keys in bulk.
-- Both tables together are the set of keys ever accepted; neither is touched
-- by retention.
CREATE TABLE event_keys_log (
    id INTEGER PRIMARY KEY,
    org INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    hash INTEGER NOT NULL
);
