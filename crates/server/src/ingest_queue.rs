//! Group commit and backpressure in front of the store.
//!
//! Requests put their parsed events in a bounded queue; one task takes every
//! request waiting (up to a cap) and hands them to the store as one
//! transaction, then answers each. When the queue holds more events than the
//! cap allows, a new request is refused at once (429) having stored nothing.

use crate::budgets::watch::Watcher;
use crate::metrics::Metrics;
use spendlens_store::model::{BatchOutcome, IngestBatch, IngestScope};
use spendlens_store::{Store, StoreError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

struct Job {
    batch: IngestBatch,
    reply: oneshot::Sender<Result<BatchOutcome, String>>,
    _permit: OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
    capacity: usize,
    /// Events submitted and not yet taken into a commit (the store's
    /// `ingest_waiting`, so it knows when more are coming).
    waiting: Arc<AtomicUsize>,
}

#[derive(Debug)]
pub enum Refused {
    Busy,
    Failed(String),
}

/// Most events one transaction takes; more waiting requests go in the next.
const MAX_EVENTS_PER_COMMIT: usize = 40_000;

impl IngestQueue {
    /// `capacity`: events that may wait (queued or being written) at once.
    pub fn start(
        store: Arc<dyn Store>,
        capacity: usize,
        metrics: Arc<Metrics>,
        budgets: Watcher,
    ) -> IngestQueue {
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let waiting = store.ingest_waiting().unwrap_or_default();
        tokio::spawn(writer(store, rx, metrics, budgets, waiting.clone()));
        IngestQueue {
            tx,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
            waiting,
        }
    }

    /// Whether the writer task still takes work.
    pub fn running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Events waiting now (for metrics and tests).
    pub fn depth(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    pub async fn submit(&self, batch: IngestBatch) -> Result<BatchOutcome, Refused> {
        let n = batch.events.len().clamp(1, self.capacity) as u32;
        let permit = self
            .permits
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| Refused::Busy)?;
        let (reply, answer) = oneshot::channel();
        let events = batch.events.len();
        // Counted before the writer task can take it, so the count never
        // goes below the events truly waiting.
        self.waiting.fetch_add(events, Ordering::Relaxed);
        self.tx
            .try_send(Job {
                batch,
                reply,
                _permit: permit,
            })
            .map_err(|_| {
                self.waiting.fetch_sub(events, Ordering::Relaxed);
                Refused::Busy
            })?;
        answer
            .await
            .map_err(|_| Refused::Failed("the writer stopped".into()))?
            .map_err(Refused::Failed)
    }
}

async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    metrics: Arc<Metrics>,
    budgets: Watcher,
    queued: Arc<AtomicUsize>,
) {
    let mut waiting: Vec<Job> = Vec::new();
    loop {
        if waiting.is_empty() && rx.recv_many(&mut waiting, 256).await == 0 {
            return; // every sender is gone: shutdown
        }
        while let Ok(job) = rx.try_recv() {
            waiting.push(job);
        }
        // Take requests in arrival order up to the cap (at least one).
        let mut take = 0;
        let mut events = 0;
        for job in &waiting {
            if take > 0 && events + job.batch.events.len() > MAX_EVENTS_PER_COMMIT {
                break;
            }
            events += job.batch.events.len();
            take += 1;
        }
        let jobs: Vec<Job> = waiting.drain(..take).collect();
        queued.fetch_sub(events, Ordering::Relaxed);
        let (batches, replies): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|j| (j.batch, (j.reply, j._permit)))
            .unzip();
        // The organisations whose spend this commit may change (events placed
        // through a membership are found by the budget watcher's sweep).
        let mut touched = std::collections::BTreeSet::new();
        for b in &batches {
            match &b.scope {
                IngestScope::Org(org) => {
                    touched.insert(org.clone());
                }
                IngestScope::Platform => touched.extend(
                    b.events
                        .iter()
                        .filter_map(|(_, e)| e.organization_id.clone()),
                ),
            }
        }
        let started = std::time::Instant::now();
        let result = store.ingest(batches).await;
        metrics.commit(events, started.elapsed(), result.is_ok());
        match result {
            Ok(outcomes) => {
                tracing::debug!(
                    requests = outcomes.len(),
                    events,
                    ms = started.elapsed().as_millis() as u64,
                    "committed"
                );
                for ((reply, _permit), outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                for org in &touched {
                    budgets.touched(org);
                }
            }
            Err(e) => {
                let msg = match &e {
                    StoreError::Other(inner) => format!("{inner:#}"),
                    other => other.to_string(),
                };
                tracing::error!(error = %msg, events, "ingest transaction failed; nothing of it was stored");
                for (reply, _permit) in replies {
                    let _ = reply.send(Err(msg.clone()));
                }
            }
        }
    }
}
