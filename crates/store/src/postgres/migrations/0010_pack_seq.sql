-- Every pack carries a number no pack had before it (`seq`, from a
-- sequence), so that each server may keep a pack's groups in memory under
-- that number (packs/projections.rs): a pack is never changed in place,
-- only replaced under a new number (packs.rs `pack`) or deleted.
CREATE SEQUENCE cube_pack_seq;
ALTER TABLE cube_packs ADD COLUMN seq BIGINT;
UPDATE cube_packs SET seq = nextval('cube_pack_seq');
ALTER TABLE cube_packs
    ALTER COLUMN seq SET DEFAULT nextval('cube_pack_seq'),
    ALTER COLUMN seq SET NOT NULL;
