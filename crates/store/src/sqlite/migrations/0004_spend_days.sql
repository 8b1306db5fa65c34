-- Spend per local day of each budget scope (0 organisation, 1 person, 2 team,
-- 3 department, 4 provider key; `id` the internal id, 0 for the organisation
-- and for the null group). Kept with the cube's day cells in the same
-- transaction, so a budget check reads at most 31 rows by primary key
-- whatever the organisation's size.
CREATE TABLE spend_days (
    org INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    total_cost INTEGER NOT NULL,
    PRIMARY KEY (org, kind, id, day)
) WITHOUT ROWID;

INSERT INTO spend_days SELECT org, 0, 0, bucket, SUM(total_cost) FROM cube WHERE grain = 1 GROUP BY org, bucket;
INSERT INTO spend_days SELECT org, 1, user, bucket, SUM(total_cost) FROM cube WHERE grain = 1 GROUP BY org, user, bucket;
INSERT INTO spend_days SELECT org, 2, team, bucket, SUM(total_cost) FROM cube WHERE grain = 1 GROUP BY org, team, bucket;
INSERT INTO spend_days SELECT org, 3, dept, bucket, SUM(total_cost) FROM cube WHERE grain = 1 GROUP BY org, dept, bucket;
INSERT INTO spend_days SELECT org, 4, key, bucket, SUM(total_cost) FROM cube WHERE grain = 1 GROUP BY org, key, bucket;
