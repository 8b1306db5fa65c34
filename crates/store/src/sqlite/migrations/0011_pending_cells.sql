-- Cell deltas of committed events not yet added to the aggregates (cube,
-- org_days, dim_days, person_cum and the blocks), one row per commit that
-- queued them; see deferred.rs. `cells` holds CELL_WIDTH numbers per cell
-- as zigzag varints. Emptied by the fold that adds them.
CREATE TABLE pending_cells (
    id INTEGER PRIMARY KEY,
    cells BLOB NOT NULL
);
