-- Eight-day blocks of org_days (blocks.rs), as the embedded store keeps them:
-- the same figures and people, summed over the eight days starting at a day
-- number divisible by eight (`day` is the block's first day). A range reads
-- its whole blocks here and only the days at either end from org_days, so
-- the platform's 180-day totals over 500 organisations read about 15,000
-- rows instead of 90,000. Kept in the same transaction as the day rows;
-- filled from them at open when new (migrate.rs).
CREATE TABLE org_blocks (LIKE org_days INCLUDING ALL);

GRANT SELECT ON org_blocks TO spendlens_reader;
ALTER TABLE org_blocks ENABLE ROW LEVEL SECURITY;
CREATE POLICY one_org ON org_blocks FOR SELECT TO spendlens_reader
    USING (org = current_setting('spendlens.org')::bigint);
