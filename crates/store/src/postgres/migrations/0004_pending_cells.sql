-- The aggregate deltas of committed ingestion transactions that are not yet
-- added to the cube and the day tables (postgres/fold.rs): one row per
-- transaction, eighteen numbers per cell. Empty at rest; a row outlives its
-- request only when a server died between the two commits, and a later fold
-- (any server's batch once the row is a few seconds old, or any server's
-- start) adds it.
CREATE TABLE pending_cells (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cells BIGINT[] NOT NULL
);
-- Kept uncompressed: compressing a few hundred kilobytes per transaction
-- cost more than writing them.
ALTER TABLE pending_cells ALTER COLUMN cells SET STORAGE EXTERNAL;
