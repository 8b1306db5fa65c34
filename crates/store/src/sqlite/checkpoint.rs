//! WAL checkpoints on their own thread, so the writer's commits never pay for
//! copying the WAL into the database file (about an eighth of the writer's
//! time when it did so itself).

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(250);

/// Checkpoint `path` until `alive` is dropped.
pub fn start(path: &Path, alive: &Arc<()>) -> std::io::Result<()> {
    let path = path.to_owned();
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
        }
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    })?;
    Ok(())
}
