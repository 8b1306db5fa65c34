//! A download (a list's whole result, API.md §4) read by two connections at
//! once. One connection read a `large` organisation's 2,000,000 messages at
//! ~300,000 rows/s, most of it SQLite seeking rows, while the other core
//! encoded: the reading was the bottleneck.
//!
//! The range is cut into slices of time; reader 0 reads slices 0, 2, 4…,
//! reader 1 slices 1, 3, 5…, each into its own bounded channel, and the
//! forwarder passes them on in slice order, so the rows come out in the
//! order one reader would give. Memory stays bounded by the channels.
//!
//! Both readers must see the same data: each notes the generation of the
//! commits its snapshot holds (read_cache.rs), and they read together only
//! when both are known and equal. Otherwise (a commit landed between the two
//! openings) reader 0 reads every slice alone, as one snapshot.

use super::messages::{bounds, Statement};
use super::read::Names;
use super::{read_cache, SqliteStore};
use crate::contract::{Result, StoreError};
use crate::model::StoredEvent;
use crate::query::EventQuery;
use rusqlite::Connection;
use std::sync::{Condvar, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{channel, Receiver, Sender};

const READERS: usize = 2;
/// Rows per message at most.
const BATCH: usize = 1_000;
/// Slices in a range, unless that makes them shorter than an hour: a
/// 180-day slice of `large`'s largest organisation holds ~1,000 rows.
const SLICES: i64 = 2_048;
const MIN_SLICE_US: i64 = 3_600_000_000;
/// Messages a reader may have waiting (a slice's rows are one or two, its
/// end one more): enough that reader 1 reads a slice while reader 0's is
/// forwarded, few enough that the rows waiting stay a few MB (BENCH.md: a
/// download may add at most 50 MB).
const AHEAD: usize = 6;
/// How long a reader waits for the other to open its snapshot.
const MEETING: Duration = Duration::from_secs(5);

enum Piece {
    /// Reader 0's first message: whether reader 1 reads every other slice.
    Together(bool),
    Rows(Vec<StoredEvent>),
    /// The slice is complete.
    End,
}

/// Where the two readers compare the generations of their snapshots.
#[derive(Default)]
struct Meeting {
    seen: Mutex<Vec<Option<u64>>>,
    all_here: Condvar,
}

impl Meeting {
    /// Whether every reader's snapshot is known to hold the same commits.
    fn same(&self, mine: Option<u64>) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.push(mine);
        self.all_here.notify_all();
        while seen.len() < READERS {
            let (now, timeout) = self
                .all_here
                .wait_timeout(seen, MEETING)
                .unwrap_or_else(|e| e.into_inner());
            seen = now;
            if timeout.timed_out() && seen.len() < READERS {
                // The other reader never opened: it will not read either.
                seen.push(None);
            }
        }
        read_cache::same_snapshot(&seen)
    }
}

impl SqliteStore {
    pub(super) async fn download(
        &self,
        query: EventQuery,
        tx: Sender<Vec<StoredEvent>>,
    ) -> Result<()> {
        let (lo, hi) = bounds(&query);
        let width = ((hi - lo) / SLICES).max(MIN_SLICE_US);
        let slices = (hi - lo + width - 1) / width;
        let meeting = std::sync::Arc::new(Meeting::default());
        let (mut outs, mut ins) = (Vec::new(), Vec::new());
        for _ in 0..READERS {
            let (out, input) = channel::<Piece>(AHEAD);
            outs.push(out);
            ins.push(input);
        }
        let mut readers = Vec::new();
        for (me, out) in outs.into_iter().enumerate() {
            let (q, meeting) = (query.clone(), meeting.clone());
            readers.push(self.read(move |c| {
                let plan = Plan { me, lo, hi, width };
                read_slices(c, &q, plan, &meeting, out)
            }));
        }
        let (read, forwarded) = tokio::join!(
            futures_util::future::join_all(readers),
            forward(ins, slices, tx)
        );
        for r in read {
            r?;
        }
        forwarded
    }
}

#[derive(Clone, Copy)]
struct Plan {
    me: usize,
    lo: i64,
    hi: i64,
    width: i64,
}

fn read_slices(
    c: &Connection,
    q: &EventQuery,
    plan: Plan,
    meeting: &Meeting,
    out: Sender<Piece>,
) -> Result<()> {
    let together = meeting.same(read_cache::generation());
    if plan.me == 0 && out.blocking_send(Piece::Together(together)).is_err() {
        return Ok(());
    }
    let (first, step) = match (together, plan.me) {
        (true, me) => (me as i64, READERS as i64),
        (false, 0) => (0, 1),
        (false, _) => return Ok(()),
    };
    // The rows are read once, in order: a small page cache does as well,
    // and the two connections' usual caches would add 32 MB to the download.
    let _small = SmallCache::new(c)?;
    let statement = Statement::new(c, q)?;
    let mut names = Names::default();
    let mut send = |rows| out.blocking_send(Piece::Rows(rows)).is_ok();
    let mut k = first;
    loop {
        let from = plan.lo + k * plan.width;
        if from >= plan.hi {
            return Ok(());
        }
        let to = (from + plan.width).min(plan.hi);
        let go = statement.read(c, &mut names, (from, to), BATCH, &mut send)?;
        if !go || out.blocking_send(Piece::End).is_err() {
            // The forwarder stopped: the client hung up, or the other reader failed.
            return Ok(());
        }
        k += step;
    }
}

/// A download's page cache per connection, in KiB.
const DOWNLOAD_CACHE_KB: i64 = 4 * 1024;

/// The connection's page cache set to `DOWNLOAD_CACHE_KB` until dropped
/// (the pages above it are freed at once), then back to the usual size.
struct SmallCache<'c>(&'c Connection);

impl<'c> SmallCache<'c> {
    fn new(c: &'c Connection) -> Result<SmallCache<'c>> {
        c.pragma_update(None, "cache_size", -DOWNLOAD_CACHE_KB)
            .map_err(super::sql_err)?;
        Ok(SmallCache(c))
    }
}

impl Drop for SmallCache<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .0
            .pragma_update(None, "cache_size", -super::READER_CACHE_KB)
        {
            tracing::warn!(error = %e, "could not restore a reader's page cache size");
        }
    }
}

/// Pass the readers' rows on in slice order.
async fn forward(
    mut ins: Vec<Receiver<Piece>>,
    slices: i64,
    tx: Sender<Vec<StoredEvent>>,
) -> Result<()> {
    let stopped = || StoreError::Other(anyhow::anyhow!("a download's reader stopped early"));
    let together = match ins[0].recv().await {
        Some(Piece::Together(t)) => t,
        Some(_) => return Err(stopped()),
        // Reader 0 failed before it began (its error is returned instead).
        None => return Ok(()),
    };
    for k in 0..slices {
        let from = if together { k as usize % READERS } else { 0 };
        loop {
            match ins[from].recv().await {
                Some(Piece::Rows(rows)) => {
                    if tx.send(rows).await.is_err() {
                        return Ok(());
                    }
                }
                Some(Piece::End) => break,
                Some(Piece::Together(_)) | None => return Err(stopped()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> StoredEvent {
        StoredEvent {
            organization_id: "acme".into(),
            event_id: id.into(),
            occurred_at: jiff::Timestamp::UNIX_EPOCH,
            day: 0,
            user_id: "u".into(),
            team_id: None,
            department: None,
            api_key_id: None,
            provider: None,
            model: "m".into(),
            conversation_id: "c".into(),
            tokens_in: 0,
            tokens_out: 0,
            cached_tokens_in: 0,
            cache_write_tokens_in: 0,
            total_cost: 0,
            actual_api_cost: 0,
            unpriced: false,
        }
    }

    fn rows(ids: &[&str]) -> Piece {
        Piece::Rows(ids.iter().map(|i| event(i)).collect())
    }

    /// Runs `forward` over readers that already sent `pieces` and then
    /// stopped; what reached the client, and forward's result.
    async fn forwarded(pieces: Vec<Vec<Piece>>, slices: i64) -> (Vec<String>, Result<()>) {
        let mut ins = Vec::new();
        for sent in pieces {
            // Room for every piece a test sends before forwarding starts.
            let (out, input) = channel(32);
            for p in sent {
                out.try_send(p).ok().unwrap();
            }
            ins.push(input);
        }
        let (tx, mut rx) = channel(64);
        let result = forward(ins, slices, tx).await;
        let mut got = Vec::new();
        while let Some(batch) = rx.recv().await {
            got.extend(batch.into_iter().map(|e| e.event_id));
        }
        (got, result)
    }

    #[tokio::test]
    async fn slices_come_out_in_order_from_alternate_readers() {
        let zero = vec![
            Piece::Together(true),
            rows(&["a1", "a2"]),
            rows(&["a3"]),
            Piece::End,
            Piece::End,
            rows(&["e"]),
            Piece::End,
        ];
        let one = vec![rows(&["b"]), Piece::End, rows(&["d"]), Piece::End];
        let (got, result) = forwarded(vec![zero, one], 5).await;
        assert!(result.is_ok());
        // Slice 2 (reader 0's second) is empty.
        assert_eq!(got, ["a1", "a2", "a3", "b", "d", "e"]);
    }

    #[tokio::test]
    async fn a_reader_alone_gives_every_slice() {
        let zero = vec![
            Piece::Together(false),
            rows(&["a"]),
            Piece::End,
            rows(&["b"]),
            Piece::End,
            Piece::End,
        ];
        let (got, result) = forwarded(vec![zero, vec![]], 3).await;
        assert!(result.is_ok());
        assert_eq!(got, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_reader_that_stops_early_is_an_error_not_a_short_download() {
        let zero = vec![Piece::Together(true), rows(&["a"]), Piece::End];
        // Reader 1 gave part of slice 1 and stopped.
        let one = vec![rows(&["b"])];
        let (got, result) = forwarded(vec![zero, one], 3).await;
        assert_eq!(got, ["a", "b"]);
        assert!(result.is_err(), "{result:?}");
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_stops_the_forwarding() {
        let zero = vec![Piece::Together(false), rows(&["a"]), rows(&["b"])];
        let (out, input) = channel(32);
        for p in zero {
            out.try_send(p).ok().unwrap();
        }
        let (tx, rx) = channel(1);
        drop(rx);
        // Ends without waiting for slices reader 0 never sends.
        assert!(forward(vec![input], 5, tx).await.is_ok());
    }

    #[test]
    fn readers_go_together_only_with_the_same_known_generation() {
        for (a, b, together) in [
            (Some(4), Some(4), true),
            (Some(4), Some(6), false),
            (Some(4), None, false),
            (None, None, false),
        ] {
            let meeting = std::sync::Arc::new(Meeting::default());
            let other = meeting.clone();
            let second = std::thread::spawn(move || other.same(b));
            assert_eq!(meeting.same(a), together, "{a:?} {b:?}");
            assert_eq!(second.join().unwrap(), together, "{a:?} {b:?}");
        }
    }
}
