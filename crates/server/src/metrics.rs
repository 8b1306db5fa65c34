//! Process counters, served at `/metrics` in Prometheus text format.

use spendlens_store::model::BatchOutcome;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub quarantined: AtomicU64,
    pub rejected: AtomicU64,
    pub busy: AtomicU64,
}

impl Metrics {
    pub fn record(&self, outcome: &BatchOutcome) {
        self.requests.fetch_add(1, Relaxed);
        self.accepted.fetch_add(outcome.accepted, Relaxed);
        self.duplicates.fetch_add(outcome.duplicates, Relaxed);
        self.quarantined.fetch_add(outcome.quarantined, Relaxed);
        self.rejected.fetch_add(outcome.rejected, Relaxed);
    }

    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::new();
        let counters = [
            (
                "spendlens_ingest_requests_total",
                "Ingest requests answered",
                &self.requests,
            ),
            (
                "spendlens_events_accepted_total",
                "Events stored",
                &self.accepted,
            ),
            (
                "spendlens_events_duplicate_total",
                "Events already stored (replays)",
                &self.duplicates,
            ),
            (
                "spendlens_events_quarantined_total",
                "Events kept in quarantine",
                &self.quarantined,
            ),
            (
                "spendlens_events_rejected_total",
                "Events refused as invalid",
                &self.rejected,
            ),
            (
                "spendlens_ingest_busy_total",
                "Requests refused with 429",
                &self.busy,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP spendlens_ingest_queue_events Events waiting to be written\n# TYPE spendlens_ingest_queue_events gauge\nspendlens_ingest_queue_events {queue_depth}"
        );
        out
    }
}
