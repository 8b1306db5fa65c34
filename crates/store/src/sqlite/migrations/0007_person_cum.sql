-- Each person's running totals in an organisation: for every day on which
-- the organisation had activity (a "slice"), one row per person active on
-- or before that day, holding the sums of all their days up to and
-- including it. A person's figures over any range are the difference of two
-- slices (the last before the range's end and the last before its start),
-- so the people list costs two rows per person whatever the range's length.
-- Kept with the cube's day cells in the same transaction; rebuilt from the
-- per-person day rows of dim_days (see person_cum.rs).
CREATE TABLE person_cum (
    org INTEGER NOT NULL,
    day INTEGER NOT NULL,
    person INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    actual_cost INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cached_in INTEGER NOT NULL,
    cache_write_in INTEGER NOT NULL,
    unpriced INTEGER NOT NULL,
    convs INTEGER NOT NULL,
    PRIMARY KEY (org, day, person)
) WITHOUT ROWID;
