-- One person's cells, for what one dimension's day rows cannot answer (a
-- person's models, a person's cells by key): read down the person's own
-- rows instead of every cell of the organisation over the range. Updates of
-- existing cells change no key column, so they stay HOT and skip it.
CREATE INDEX cube_by_user ON cube (org, usr, grain, bucket);
