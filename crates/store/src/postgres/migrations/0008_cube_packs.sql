-- The cube's day and month cells of one organisation and bucket, packed into
-- one blob (packs/mod.rs), as the embedded store keeps them: a breakdown over
-- a long range reads a few hundred blobs instead of a million cell rows.
-- Written by each server's packer for buckets past the late-event window
-- (postgres/packs.rs); every change to a bucket's cells deletes its pack in
-- the same transaction, under an advisory lock the packer also takes, so a
-- pack, when present, equals the cells of the reader's snapshot, and readers
-- read the cells of any bucket without one.
CREATE TABLE cube_packs (
    org BIGINT NOT NULL,
    grain SMALLINT NOT NULL,
    bucket BIGINT NOT NULL,
    cells BYTEA NOT NULL,
    PRIMARY KEY (org, grain, bucket)
);

-- Out of line and uncompressed: varints hardly compress, and undoing pglz
-- on every read of a 180-day breakdown would cost more than the bytes saved.
ALTER TABLE cube_packs ALTER COLUMN cells SET STORAGE EXTERNAL;

GRANT SELECT ON cube_packs TO spendlens_reader;
ALTER TABLE cube_packs ENABLE ROW LEVEL SECURITY;
CREATE POLICY one_org ON cube_packs FOR SELECT TO spendlens_reader
    USING (org = current_setting('spendlens.org')::bigint);
