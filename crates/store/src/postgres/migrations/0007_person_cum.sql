-- Each person's running totals in an organisation, as SQLite's person_cum:
-- for every day on which the organisation had activity (a "slice"), one
-- row per person active on or before that day, holding the sums of all
-- their days up to and including it. A person's figures over any range are
-- the difference of two slices (the last before the range's end and the
-- last before its start), so the people list reads two rows per person
-- whatever the range's length. Kept by the folds with the other aggregates
-- (postgres/person_cum.rs); recomputed from dim_days' person rows after a
-- rebuild or an erasure.
CREATE TABLE person_cum (
    org BIGINT NOT NULL,
    day BIGINT NOT NULL,
    person BIGINT NOT NULL,
    total_cost BIGINT NOT NULL,
    actual_cost BIGINT NOT NULL,
    messages BIGINT NOT NULL,
    tokens_in BIGINT NOT NULL,
    tokens_out BIGINT NOT NULL,
    cached_in BIGINT NOT NULL,
    cache_write_in BIGINT NOT NULL,
    unpriced BIGINT NOT NULL,
    convs BIGINT NOT NULL,
    PRIMARY KEY (org, day, person)
);

-- The days that have a slice: finding the slice before a day is one probe
-- here, not a search through every person's rows.
CREATE TABLE person_cum_days (
    org BIGINT NOT NULL,
    day BIGINT NOT NULL,
    PRIMARY KEY (org, day)
);

GRANT SELECT ON person_cum, person_cum_days TO spendlens_reader;
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['person_cum', 'person_cum_days']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY one_org ON %I FOR SELECT TO spendlens_reader
             USING (org = current_setting(''spendlens.org'')::bigint)', t);
    END LOOP;
END $$;
