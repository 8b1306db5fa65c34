//! Aggregates are added after the ingestion transaction, in a short one.
//!
//! An ingestion transaction adding its own cube cells, day rows and spend
//! rows held their row locks until it committed, and another server's
//! transaction touching the same day or month cells waited behind it: on
//! `medium` with two servers a third of PostgreSQL's time was such waiting.
//! Now an ingestion transaction only queues its deltas (`queue`: one row in
//! `pending_cells`), and after its commit the request folds its row
//! (`fold_mine`): one short transaction deletes the row and adds its cells
//! with `cells::add_cells`, which locks rows in key order. Two folds wait
//! for each other only for as long as a fold lasts.
//!
//! A fold also takes every other committed row no fold holds yet (`SKIP
//! LOCKED`), merged into one set of cells: a cell that several requests
//! touched (a day, a month) is upserted once. The request whose row another
//! fold took waits for that fold to commit and then finds nothing left. On
//! `medium` with two servers this gave 20,387 and 21,892 events/s against
//! 18,145 and 19,716 when each fold took only its own row.
//!
//! Exactness: a row is deleted in the same transaction that adds it, so it
//! counts once, and a request answers only once its row is folded (by its
//! own fold or one it waited for), so what it acknowledged is in every
//! answer. A row a dead server left is taken by the next fold, or at any
//! server's start (`PgStore::open`). Reprice, rebuild, erasure and verify
//! fold every queued row first (`fold_all`), so they see every committed
//! event in the aggregates.

use super::db_err;
use crate::aggregate::{CellDelta, CellKey};
use crate::contract::Result;
use sqlx::PgConnection;
use std::collections::HashMap;

/// Queue the transaction's deltas; the row's id, for `fold_mine`.
pub async fn queue(
    c: &mut PgConnection,
    cells: &HashMap<CellKey, CellDelta>,
) -> Result<Option<i64>> {
    if cells.is_empty() {
        return Ok(None);
    }
    let id = sqlx::query_scalar("INSERT INTO pending_cells (cells) VALUES ($1) RETURNING id")
        .bind(crate::aggregate::encode_cells(cells))
        .fetch_one(&mut *c)
        .await
        .map_err(db_err)?;
    Ok(Some(id))
}

/// Fold the row `mine` (if another fold took it, wait for that one to
/// commit) and every other queued row no fold holds.
pub async fn fold_mine(c: &mut PgConnection, mine: i64) -> Result<usize> {
    // The events are durable from the ingestion's own commit; a fold lost
    // to a power cut leaves its rows queued (deleted and added in one
    // transaction), and the next fold adds them. So it need not wait for
    // its WAL to reach the disk.
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut *c)
        .await
        .map_err(db_err)?;
    let rows: Vec<Vec<i64>> = sqlx::query_scalar(
        "DELETE FROM pending_cells WHERE id = $1 OR id IN
             (SELECT id FROM pending_cells FOR UPDATE SKIP LOCKED)
         RETURNING cells",
    )
    .bind(mine)
    .fetch_all(&mut *c)
    .await
    .map_err(db_err)?;
    add(c, rows).await
}

/// Fold every queued row, waiting for folds under way.
pub async fn fold_all(c: &mut PgConnection) -> Result<usize> {
    let rows: Vec<Vec<i64>> = sqlx::query_scalar("DELETE FROM pending_cells RETURNING cells")
        .fetch_all(&mut *c)
        .await
        .map_err(db_err)?;
    add(c, rows).await
}

async fn add(c: &mut PgConnection, rows: Vec<Vec<i64>>) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut cells = HashMap::new();
    for row in &rows {
        decode_into(row, &mut cells)?;
    }
    super::cells::add_cells(c, &cells).await?;
    Ok(rows.len())
}

fn decode_into(row: &[i64], cells: &mut HashMap<CellKey, CellDelta>) -> Result<()> {
    crate::aggregate::decode_cells_into(row, cells)
        .map_err(|e| anyhow::anyhow!("pending_cells: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{encode_cells as encode, Groups};

    #[test]
    fn queued_rows_merge_back_to_the_sum_of_their_cells() {
        let key = |org, bucket, user| CellKey {
            org,
            grain: 1,
            bucket,
            groups: Groups {
                user,
                team: 2,
                dept: 0,
                key: 5,
                model: 7,
                provider: 9,
            },
        };
        let delta = |n: i64| CellDelta::from_values([n, 2 * n, 1, 10, 20, 0, 0, 0, -1]);
        let a: HashMap<_, _> = [(key(1, 100, 3), delta(5)), (key(2, 100, 3), delta(7))].into();
        let b: HashMap<_, _> = [(key(1, 100, 3), delta(11)), (key(1, 101, 4), delta(13))].into();
        let mut merged = HashMap::new();
        for row in [encode(&a), encode(&b)] {
            decode_into(&row, &mut merged).unwrap();
        }
        let mut want = a.clone();
        for (k, d) in b {
            want.entry(k).or_default().add(&d);
        }
        assert_eq!(merged, want);
        assert_eq!(merged[&key(1, 100, 3)].total_cost, 16);
        assert_eq!(merged[&key(1, 100, 3)].convs, -2);
        assert!(decode_into(&[1, 2, 3], &mut merged).is_err());
    }
}
