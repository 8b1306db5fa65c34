//! Projected spend at the end of a period.
//!
//! Method (docs/insights.md): each weekday's expected spend is the mean of the
//! same weekday over the last four complete weeks before today (counting only
//! days since the first day with any spend, so a newcomer is not diluted by
//! the zeros before they started). With less than a week of history the
//! expectation is the mean of the days there are, the same for every weekday.
//! Projection = spent so far (today included) + what today is still expected
//! to add (if today is below its weekday's mean) + each remaining day's
//! weekday mean. A weekend that is always quiet is therefore projected quiet.

use super::{weekday, Daily};
use crate::time::Day;

/// Days of history the weekday means look at.
pub const WINDOW: i32 = 28;

/// `series` must cover at least `[today - WINDOW, today]` and the period's
/// days up to today; days outside it count as zero.
pub fn project(series: &Daily, from: Day, to: Day, today: Day) -> i128 {
    if today.0 >= to.0 {
        return (from.0..to.0).map(|d| series.get(Day(d))).sum();
    }
    let spent: i128 = (from.0..=today.0).map(|d| series.get(Day(d))).sum();
    let rates = weekday_rates(series, today);
    let today_spent = series.get(today);
    let rest_of_today = (rates[weekday(today)] - today_spent).max(0);
    let future: i128 = (today.0 + 1..to.0).map(|d| rates[weekday(Day(d))]).sum();
    spent + rest_of_today + future
}

/// Expected spend per weekday (Monday first), from complete days before today.
pub fn weekday_rates(series: &Daily, today: Day) -> [i128; 7] {
    let window_start = today.0 - WINDOW;
    let first_active = (window_start..today.0).find(|d| series.get(Day(*d)) != 0);
    let Some(start) = first_active else {
        // No complete day with spend: today's spend so far is all we know.
        return [0; 7];
    };
    let days: Vec<i32> = (start..today.0).collect();
    if days.len() < 7 {
        let mean = div_round(
            days.iter().map(|d| series.get(Day(*d))).sum(),
            days.len() as i128,
        );
        return [mean; 7];
    }
    let mut sum = [0i128; 7];
    let mut count = [0i128; 7];
    for d in days {
        let w = weekday(Day(d));
        sum[w] += series.get(Day(d));
        count[w] += 1;
    }
    std::array::from_fn(|w| div_round(sum[w], count[w].max(1)))
}

fn div_round(n: i128, d: i128) -> i128 {
    if d == 0 {
        return 0;
    }
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    /// Weekdays 100, weekends 0, for eight weeks before `today`.
    fn office_rhythm(today: Day) -> Daily {
        let first = Day(today.0 - 56);
        let values = (first.0..=today.0)
            .map(|d| if weekday(Day(d)) < 5 { 100 } else { 0 })
            .collect();
        Daily { first, values }
    }

    #[test]
    fn weekends_stay_quiet_in_the_projection() {
        // Wednesday 2026-11-18; November 2026 has 21 weekdays.
        let today = day("2026-11-18");
        assert_eq!(weekday(today), 2);
        let series = office_rhythm(today);
        let projected = project(&series, day("2026-11-01"), day("2026-12-01"), today);
        assert_eq!(projected, 21 * 100);
        // A straight line through the days so far would say otherwise.
        let so_far: i128 = (day("2026-11-01").0..=today.0)
            .map(|d| series.get(Day(d)))
            .sum();
        let straight = so_far * 30 / 18;
        assert_ne!(straight, projected);
    }

    #[test]
    fn today_above_its_mean_adds_nothing_more_and_below_adds_the_rest() {
        let today = day("2026-11-18");
        let mut series = office_rhythm(today);
        let last = series.values.len() - 1;
        series.values[last] = 250; // a busy Wednesday so far
        let week_to = day("2026-11-21"); // Wed, Thu, Fri left in [16, 21)
        assert_eq!(
            project(&series, day("2026-11-16"), week_to, today),
            100 + 100 + 250 + 100 + 100
        );
        series.values[last] = 30; // a quiet morning: 70 more expected today
        assert_eq!(
            project(&series, day("2026-11-16"), week_to, today),
            100 + 100 + 100 + 100 + 100
        );
    }

    #[test]
    fn a_newcomer_is_projected_from_their_own_days() {
        let today = day("2026-11-18");
        // Active only the last three days before today, 60 each.
        let first = Day(today.0 - 30);
        let mut values = vec![0i128; 31];
        for v in &mut values[27..30] {
            *v = 60;
        }
        let series = Daily { first, values };
        // Today 0 so far: 60 expected today and on each of 12 later days.
        assert_eq!(
            project(&series, day("2026-11-01"), day("2026-12-01"), today),
            180 + 60 + 12 * 60
        );
    }

    #[test]
    fn a_finished_period_is_what_was_spent() {
        let today = day("2026-11-18");
        let series = office_rhythm(today);
        assert_eq!(
            project(&series, day("2026-11-02"), day("2026-11-09"), today),
            500
        );
    }
}
