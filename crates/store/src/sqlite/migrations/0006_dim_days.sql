-- Each organisation's figures per local day and value of one dimension
-- (0 person, 1 team, 2 department, 3 API key, 4 model, 5 provider; value 0
-- is the null group), with the day's active people in that group as a
-- roaring bitmap. Kept with the cube's day cells in the same transaction; a
-- one-dimension list, or one team's, key's, model's or person's figures,
-- read one row per day and value instead of every cube cell of the range.
-- Filled from the cube at open when empty (see dim_days.rs).
CREATE TABLE dim_days (
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
