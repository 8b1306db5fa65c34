-- Eight-day blocks of org_days and dim_days: the same figures and people,
-- summed over the eight days starting at a day number divisible by eight
-- (`day` is the block's first day). A range reads its whole blocks here and
-- only the days at either end from the day tables, so a 180-day answer
-- unions about 30 bitmaps per group instead of 180. Kept in the same
-- transaction as the day rows; filled from them at open when new (see
-- blocks.rs). People's own rows (dim 0) are not kept: their ranges come from
-- person_cum.
CREATE TABLE org_blocks (
    org INTEGER NOT NULL,
    day INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    actual_cost INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cached_in INTEGER NOT NULL,
    cache_write_in INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    convs INTEGER NOT NULL,
    users BLOB NOT NULL,
    PRIMARY KEY (org, day)
) WITHOUT ROWID;
CREATE TABLE dim_blocks (
    org INTEGER NOT NULL,
    dim INTEGER NOT NULL,
    day INTEGER NOT NULL,
    value INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    actual_cost INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cached_in INTEGER NOT NULL,
    cache_write_in INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    convs INTEGER NOT NULL,
    users BLOB NOT NULL,
    PRIMARY KEY (org, dim, day, value)
) WITHOUT ROWID;
