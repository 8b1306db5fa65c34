//! What to expect and what stands out: spend forecasts that know the weekly
//! rhythm, and days far from their own baseline. Pure functions over dense
//! daily spend series (nanodollars), so the API, the pages and the budget
//! watcher give the same answers.

pub mod anomaly;
pub mod forecast;

use crate::time::Day;

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
pub fn weekday(day: Day) -> usize {
    (i64::from(day.0) + 3).rem_euclid(7) as usize
}

/// A dense daily series: `values[i]` is the spend of day `first + i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daily {
    pub first: Day,
    pub values: Vec<i128>,
}

impl Daily {
    pub fn get(&self, day: Day) -> i128 {
        usize::try_from(day.0 - self.first.0)
            .ok()
            .and_then(|i| self.values.get(i).copied())
            .unwrap_or(0)
    }
}
