-- Every pack carries a number no pack had before it (`seq`, from `pack_seq`,
-- taken in the pack's own transaction), so that readers may keep a pack's
-- groups in memory under that number (packs/projections.rs): a pack is
-- never changed in place, only replaced under a new number or deleted.
-- `seq` comes before `cells` so that listing a range's packs reads no
-- blob's overflow pages.
CREATE TABLE pack_seq (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);

CREATE TABLE cube_packs_numbered (
    org INTEGER NOT NULL,
    grain INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    cells BLOB NOT NULL,
    PRIMARY KEY (org, grain, bucket)
) WITHOUT ROWID;
INSERT INTO cube_packs_numbered (org, grain, bucket, seq, cells)
    SELECT org, grain, bucket, row_number() OVER (ORDER BY org, grain, bucket), cells FROM cube_packs;
INSERT INTO pack_seq (id, n) VALUES (1, (SELECT count(*) FROM cube_packs_numbered));

-- The triggers name cube_packs: dropped with it and made again after the
-- rename, as SQLite checks every trigger's tables when a table is renamed.
DROP TRIGGER cube_packs_stale_on_insert;
DROP TRIGGER cube_packs_stale_on_update;
DROP TRIGGER cube_packs_stale_on_delete;
DROP TABLE cube_packs;
ALTER TABLE cube_packs_numbered RENAME TO cube_packs;

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
