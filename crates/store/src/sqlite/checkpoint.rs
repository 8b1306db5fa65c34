//! WAL checkpoints on their own thread, so the writer's commits never pay for
//! copying the WAL into the database file (about an eighth of the writer's
//! time when it did so itself).
//!
//! A PASSIVE checkpoint copies frames but never makes the writer start the
//! WAL over: under continuous ingestion it is never fully copied at the
//! moment a transaction begins, so the file only grew (measured: 4.2 GB of
//! WAL beside a 278 MB database after 800,000 events; a `large` run filled
//! a 47 GB disk). A TRUNCATE checkpoint from this thread, waiting for the
//! writer's gap between transactions, still lost the race under steady
//! ingestion (5.8 GB of WAL after loading `large`, and every read then
//! searched a wal-index that long). So past `WAL_LIMIT` this thread only
//! raises a flag, and the writer itself truncates between two transactions
//! (`writer.rs`), copying the few frames the passive rounds left.

use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(250);

/// WAL size past which the checkpoint truncates it.
const WAL_LIMIT: u64 = 256 << 20;

/// Checkpoint `path` until `alive` is dropped; raise `big` when the WAL has
/// outgrown `WAL_LIMIT`.
pub fn start(path: &Path, alive: &Arc<()>, big: Arc<AtomicBool>) -> std::io::Result<()> {
    let path = path.to_owned();
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let alive: Weak<()> = Arc::downgrade(alive);
    std::thread::Builder::new().name("spendlens-sqlite-checkpoint".into()).spawn(move || {
        let conn = match Connection::open(&path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "checkpoint connection failed; the WAL will grow until restart");
                return;
            }
        };
        let _ = conn.busy_timeout(Duration::from_secs(5));
        while alive.strong_count() > 0 {
            std::thread::sleep(EVERY);
            // PASSIVE never blocks the writer or readers; frames still in use wait for the next round.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "checkpoint failed");
            }
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT) {
                big.store(true, Ordering::Relaxed);
            }
        }
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    })?;
    Ok(())
}

/// Empty the WAL (copying what is left of it into the database) on a
/// connection that holds no transaction: whether it could (no reader held
/// an older snapshot) and how long it took, for the log.
pub fn truncate(conn: &Connection) -> rusqlite::Result<(bool, Duration)> {
    let t = std::time::Instant::now();
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok((busy == 0, t.elapsed()))
}

/// `truncate` without waiting for readers: when one holds an older snapshot
/// the frames it allows are copied and the call fails with SQLITE_BUSY.
pub fn truncate_now(conn: &Connection) -> rusqlite::Result<(bool, Duration)> {
    conn.busy_timeout(Duration::ZERO)?;
    let out = truncate(conn);
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    out
}
