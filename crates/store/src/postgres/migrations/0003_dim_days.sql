-- Each organisation's figures per local day and value of one dimension
-- (0 person, 1 team, 2 department, 3 API key, 4 model, 5 provider; value 0
-- is the null group), with the day's active people of that group as a
-- serialized roaring bitmap (empty on a person's own rows: its people are
-- that person). The same rows as SQLite's dim_days. Kept with the cube's
-- day cells in the same transaction (postgres/dim_days.rs): a one-dimension
-- list, or one team's, key's, model's or person's figures, read one row per
-- day and value instead of every cube cell of the range.
CREATE TABLE dim_days (
    org BIGINT NOT NULL,
    dim SMALLINT NOT NULL,
    day BIGINT NOT NULL,
    value BIGINT NOT NULL,
    total_cost BIGINT NOT NULL,
    actual_cost BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cached_in BIGINT NOT NULL,
    cache_write_in BIGINT NOT NULL,
    unpriced BIGINT NOT NULL,
    convs BIGINT NOT NULL,
    users BYTEA NOT NULL,
    PRIMARY KEY (org, dim, day, value)
);

-- The same summed over the eight days from a day number divisible by eight,
-- people united. Unlike SQLite's, it holds people's own rows too: PostgreSQL
-- has no per-person running totals, and a 180-day people list then reads
-- about 23 block rows and 14 day rows per person instead of 180.
CREATE TABLE dim_blocks (LIKE dim_days INCLUDING ALL);

GRANT SELECT ON dim_days, dim_blocks TO spendlens_reader;
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['dim_days', 'dim_blocks']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY one_org ON %I FOR SELECT TO spendlens_reader
             USING (org = current_setting(''spendlens.org'')::bigint)', t);
    END LOOP;
END $$;
