-- One person's cells, for what one dimension's day rows cannot answer (a
-- person's models, a person's cells by key): read down the person's own
-- rows instead of every cell of the organisation over the range. Updates of
-- existing cells change no key column, so they stay HOT and skip it; hour
-- cells (grain 0, 44% of `large`'s cube), which no such question reads, are
-- left out, so nearly half of the new cells skip it too.
CREATE INDEX cube_by_user ON cube (org, usr, grain, bucket) WHERE grain > 0;
