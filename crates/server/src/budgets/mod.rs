//! Budgets (API.md §5): their status, the hard-limit check an IDE asks before a
//! call, the watcher that records each threshold crossing once, and the
//! signed webhook that tells the organisation.

pub mod check;
pub mod status;
pub mod watch;
pub mod webhook;
