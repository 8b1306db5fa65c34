//! The running totals of an ingestion, printed at the end with the reasons
//! for every event that was not simply accepted.

use serde::Deserialize;
use spendlens_store::model::BatchOutcome;
use std::collections::BTreeMap;

/// One request's or transaction's answer, as API.md §2 shapes it.
#[derive(Debug, Default, Deserialize)]
pub struct Chunk {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub rejected: u64,
    pub errors: Vec<Problem>,
}

#[derive(Debug, Deserialize)]
pub struct Problem {
    pub index: usize,
    pub event_id: Option<String>,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

impl From<BatchOutcome> for Chunk {
    fn from(o: BatchOutcome) -> Chunk {
        let errors = o
            .errors
            .into_iter()
            .map(|e| Problem {
                index: e.index,
                event_id: e.event_id,
                code: e.code.as_str().to_owned(),
                field: e.field.map(str::to_owned),
                message: e.message,
            })
            .collect();
        Chunk {
            accepted: o.accepted,
            duplicates: o.duplicates,
            quarantined: o.quarantined,
            rejected: o.rejected,
            errors,
        }
    }
}

#[derive(Debug, Default)]
pub struct Totals {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub rejected: u64,
    /// (code, field) → count
    pub reasons: BTreeMap<(String, String), u64>,
    /// The first few problems, with where they are.
    pub examples: Vec<String>,
}

const EXAMPLES: usize = 10;

impl Totals {
    /// Add a chunk's outcome; `positions[i]` is where item i of the chunk came from.
    pub fn add(&mut self, file: &str, positions: &[u64], outcome: &Chunk) {
        self.accepted += outcome.accepted;
        self.duplicates += outcome.duplicates;
        self.quarantined += outcome.quarantined;
        self.rejected += outcome.rejected;
        for e in &outcome.errors {
            let field = e.field.clone().unwrap_or_default();
            *self.reasons.entry((e.code.clone(), field)).or_default() += 1;
            if self.examples.len() < EXAMPLES {
                let at = positions.get(e.index).copied().unwrap_or(0);
                let id = e
                    .event_id
                    .as_deref()
                    .map(|id| format!(" event {id}:"))
                    .unwrap_or_default();
                self.examples
                    .push(format!("{file}:{at}:{id} {} — {}", e.code, e.message));
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.accepted + self.duplicates + self.quarantined + self.rejected
    }

    pub fn print(&self) {
        println!(
            "{} events read: {} accepted, {} duplicates, {} quarantined, {} rejected",
            self.total(),
            self.accepted,
            self.duplicates,
            self.quarantined,
            self.rejected
        );
        if !self.reasons.is_empty() {
            println!("reasons:");
            for ((code, field), n) in &self.reasons {
                let field = if field.is_empty() {
                    String::new()
                } else {
                    format!(" ({field})")
                };
                println!("  {n:>8}  {code}{field}");
            }
            println!("first problems:");
            for e in &self.examples {
                println!("  {e}");
            }
        }
    }
}
