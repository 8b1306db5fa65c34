-- Every slice of running totals carries a number no slice had before it
-- (`rev`, from a sequence), given again by every statement that changes
-- the slice's rows, in the same transaction (person_cum.rs, erasure.rs; a
-- slice made anew gets one by default). A server may therefore keep a
-- slice's rows in memory under (organisation, day, rev): a read that finds
-- the same number in its snapshot would read the same rows.
CREATE SEQUENCE person_cum_rev;
ALTER TABLE person_cum_days ADD COLUMN rev BIGINT;
UPDATE person_cum_days SET rev = nextval('person_cum_rev');
ALTER TABLE person_cum_days
    ALTER COLUMN rev SET DEFAULT nextval('person_cum_rev'),
    ALTER COLUMN rev SET NOT NULL;
