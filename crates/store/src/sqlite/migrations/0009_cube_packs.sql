-- The cube's day and month cells of one organisation and bucket, packed into
-- one blob (packs.rs), so that a breakdown over a long range decodes a few
-- dozen blobs instead of stepping through every cell row. Written by the
-- writer for buckets past the late-event window; the triggers below delete a
-- pack in the same transaction as any change to its bucket's cells, so a
-- pack, when present, always equals the cells of its snapshot, and readers
-- read the cells of any bucket without one.
CREATE TABLE cube_packs (
    org INTEGER NOT NULL,
    grain INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    cells BLOB NOT NULL,
    PRIMARY KEY (org, grain, bucket)
) WITHOUT ROWID;

CREATE TRIGGER cube_packs_stale_on_insert AFTER INSERT ON cube WHEN NEW.grain <> 0
BEGIN
    DELETE FROM cube_packs WHERE org = NEW.org AND grain = NEW.grain AND bucket = NEW.bucket;
END;
CREATE TRIGGER cube_packs_stale_on_update AFTER UPDATE ON cube WHEN NEW.grain <> 0 OR OLD.grain <> 0
BEGIN
    DELETE FROM cube_packs WHERE org = NEW.org AND grain = NEW.grain AND bucket = NEW.bucket;
    DELETE FROM cube_packs WHERE org = OLD.org AND grain = OLD.grain AND bucket = OLD.bucket;
END;
CREATE TRIGGER cube_packs_stale_on_delete AFTER DELETE ON cube WHEN OLD.grain <> 0
BEGIN
    DELETE FROM cube_packs WHERE org = OLD.org AND grain = OLD.grain AND bucket = OLD.bucket;
END;
