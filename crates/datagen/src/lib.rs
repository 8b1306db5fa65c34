//! Deterministic, realistic usage data: the `demo` store and the standard
//! datasets of BENCH.md (`small`, `medium`, `large`).
