-- Each organisation's figures per local day, with the set of its active
-- people as a roaring bitmap of user ids. Kept with the cube's day cells in
-- the same transaction; an unfiltered summary or daily series over any range
-- reads one row per day instead of one per day and group. Filled from the
-- cube at open when empty (see org_days.rs).
CREATE TABLE org_days (
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
