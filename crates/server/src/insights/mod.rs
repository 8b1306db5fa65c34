//! Forecasts, anomalies and savings recommendations (API.md §5, issue 6):
//! read from the aggregates only, so they work for periods whose detail
//! retention has deleted. The arithmetic is in `spendlens_domain::insights`.

pub mod anomalies;
pub mod cache;
pub mod recommend;
pub mod series;
