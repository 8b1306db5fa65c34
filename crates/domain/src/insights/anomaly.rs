//! Days far from their own recent baseline.
//!
//! For each day, the baseline is the previous 28 days of the same series: its
//! median and its median absolute deviation (MAD, scaled by 1.4826 so it
//! estimates a standard deviation for normal data). The robust score is
//! (value − median) / scaled MAD; a day is anomalous when |score| ≥ 3.5 (the
//! usual cut for this score) and it differs from the median by at least a
//! minimum amount, so cents never raise an alarm. When the MAD is zero (a flat
//! baseline), the mean absolute deviation stands in (× 1.2533); when that is
//! zero too, any day at least the minimum away is anomalous.

use super::Daily;
use crate::time::Day;

pub const BASELINE_DAYS: usize = 28;
pub const THRESHOLD: f64 = 3.5;
/// Fewer days of baseline than this and no judgement is made.
pub const MIN_BASELINE_DAYS: usize = 14;

#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub day: Day,
    pub value: i128,
    pub median: i128,
    /// Robust z-score; infinite when the baseline is perfectly flat.
    pub score: f64,
}

/// Anomalous days in `[from, to)` of `series`, whose earlier days (from
/// `from - 28`) serve as baselines; days before the series' first day with
/// spend do not count as baseline.
pub fn detect(series: &Daily, from: Day, to: Day, min_difference: i128) -> Vec<Anomaly> {
    let first_active = (series.first.0..to.0).find(|d| series.get(Day(*d)) != 0);
    let Some(first_active) = first_active else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for d in from.0..to.0 {
        let start = (d - BASELINE_DAYS as i32).max(first_active);
        let mut base: Vec<i128> = (start..d).map(|b| series.get(Day(b))).collect();
        if base.len() < MIN_BASELINE_DAYS {
            continue;
        }
        let value = series.get(Day(d));
        let median = median_of(&mut base);
        let difference = value - median;
        if difference.abs() < min_difference.max(1) {
            continue;
        }
        let mut deviations: Vec<i128> = base.iter().map(|b| (b - median).abs()).collect();
        let mad = median_of(&mut deviations) as f64 * 1.4826;
        let spread = if mad > 0.0 {
            mad
        } else {
            let mean_ad = deviations.iter().sum::<i128>() as f64 / deviations.len() as f64;
            mean_ad * 1.2533
        };
        let score = if spread > 0.0 {
            difference as f64 / spread
        } else {
            f64::INFINITY.copysign(difference as f64)
        };
        if score.abs() >= THRESHOLD {
            found.push(Anomaly {
                day: Day(d),
                value,
                median,
                score,
            });
        }
    }
    found
}

/// The median, halves rounded down (values are nanodollars: a nanodollar of
/// difference in a baseline never matters).
fn median_of(v: &mut [i128]) -> i128 {
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]).div_euclid(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i128 = 1_000_000_000;

    fn series(values: Vec<i128>) -> Daily {
        Daily {
            first: Day::parse("2026-10-01").unwrap(),
            values,
        }
    }

    #[test]
    fn a_spike_over_a_noisy_baseline_is_found_with_its_score() {
        // 40 days alternating 10 and 12 USD, then 60 USD.
        let mut values: Vec<i128> = (0..40)
            .map(|i| if i % 2 == 0 { 10 * USD } else { 12 * USD })
            .collect();
        values.push(60 * USD);
        let s = series(values);
        let last = Day(s.first.0 + 40);
        let found = detect(&s, Day(s.first.0 + 30), Day(last.0 + 1), USD);
        assert_eq!(found.len(), 1, "{found:?}");
        let a = &found[0];
        assert_eq!((a.day, a.value, a.median), (last, 60 * USD, 11 * USD));
        // MAD = 1 USD → scaled 1.4826 USD; (60 − 11) / 1.4826 ≈ 33.05.
        assert!((a.score - 49.0 / 1.4826).abs() < 1e-6, "{}", a.score);
    }

    #[test]
    fn ordinary_days_small_differences_and_short_history_are_not_flagged() {
        let values: Vec<i128> = (0..40).map(|i| 10 * USD + (i % 3) * USD).collect();
        let s = series(values);
        assert!(detect(&s, Day(s.first.0 + 14), Day(s.first.0 + 40), USD).is_empty());
        // A jump of 0.5 USD over a flat baseline: under the minimum difference.
        let mut flat = vec![10 * USD; 30];
        flat.push(10 * USD + USD / 2);
        let s = series(flat);
        assert!(detect(&s, Day(s.first.0 + 30), Day(s.first.0 + 31), USD).is_empty());
        // Only ten days of history: no judgement.
        let mut short = vec![10 * USD; 10];
        short.push(100 * USD);
        let s = series(short);
        assert!(detect(&s, Day(s.first.0 + 10), Day(s.first.0 + 11), USD).is_empty());
    }

    #[test]
    fn a_flat_baseline_uses_any_real_difference_and_drops_count_too() {
        let mut flat = vec![10 * USD; 30];
        flat.push(0);
        let s = series(flat);
        let found = detect(&s, Day(s.first.0 + 30), Day(s.first.0 + 31), USD);
        assert_eq!(found.len(), 1);
        assert!(found[0].score.is_infinite() && found[0].score < 0.0);
    }
}
