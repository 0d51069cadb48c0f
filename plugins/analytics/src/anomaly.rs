//! Robust anomaly detection on daily series with a weekly pattern.
//!
//! Each day is divided by its weekday's factor (the weekday's median over the
//! overall median), so a busy Saturday is not an anomaly; the adjusted value
//! is then compared with the median and MAD of the adjusted values of the
//! preceding weeks. Medians ignore the spikes they are looking for, unlike a
//! mean and standard deviation, and adapt to each series, unlike a fixed
//! threshold.

use crate::stats::{MAD_SCALE, mad, median};

/// Tuning of the detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Flag days whose robust z-score reaches this in absolute value.
    pub threshold: f64,
    /// Days of history each day is compared with.
    pub window: usize,
    /// The fewest days of history needed to score a day.
    pub min_points: usize,
    /// The scale never goes below this share of the baseline median, so a
    /// very steady series does not turn small wobbles into alerts.
    pub relative_floor: f64,
    /// Nor below this many money units, which also avoids dividing by zero.
    pub absolute_floor: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            threshold: 3.5,
            window: 28,
            min_points: 14,
            relative_floor: 0.05,
            absolute_floor: 1.0,
        }
    }
}

/// How one day compares with what was expected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The day's index in the series.
    pub index: usize,
    /// The observed value.
    pub value: f64,
    /// The baseline median adjusted for the day's weekday.
    pub expected: f64,
    /// (value − expected) in robust standard deviations.
    pub z: f64,
    /// The day's weekday factor.
    pub weekday_factor: f64,
}

/// Each weekday's median over the overall median, for a series whose first
/// value falls on `first_weekday` (0 = Monday). 1.0 where unknown.
pub fn weekday_factors(values: &[f64], first_weekday: usize) -> [f64; 7] {
    let mut factors = [1.0; 7];
    let Some(overall) = median(values).filter(|m| *m > 0.0) else {
        return factors;
    };
    for (weekday, factor) in factors.iter_mut().enumerate() {
        let same_day: Vec<f64> = values
            .iter()
            .enumerate()
            .filter(|(i, _)| (first_weekday + i) % 7 == weekday)
            .map(|(_, v)| *v)
            .collect();
        // One observation per weekday is too few to call it a pattern.
        if same_day.len() >= 2
            && let Some(m) = median(&same_day)
        {
            // Floored so a weekday without delivery does not divide by zero.
            *factor = (m / overall).max(0.05);
        }
    }
    factors
}

/// Scores every day that has enough history: the preceding `window` days,
/// or, for the first days of a series, the following ones.
pub fn score(values: &[f64], first_weekday: usize, params: &Params) -> Vec<Option<Score>> {
    let factors = weekday_factors(values, first_weekday);
    let factor = |i: usize| factors[(first_weekday + i) % 7];
    let adjusted: Vec<f64> = values.iter().enumerate().map(|(i, v)| v / factor(i)).collect();
    (0..values.len())
        .map(|i| {
            let before = &adjusted[i.saturating_sub(params.window)..i];
            let after = &adjusted[(i + 1).min(values.len())..(i + 1 + params.window).min(values.len())];
            let baseline = if before.len() >= params.min_points {
                before
            } else if after.len() >= params.min_points {
                after
            } else {
                return None;
            };
            let centre = median(baseline)?;
            let spread = mad(baseline)?;
            let f = factor(i);
            let scale = (MAD_SCALE * spread)
                .max(params.relative_floor * centre.abs())
                .max(params.absolute_floor / f);
            Some(Score {
                index: i,
                value: values[i],
                expected: centre * f,
                z: (adjusted[i] - centre) / scale,
                weekday_factor: f,
            })
        })
        .collect()
}

/// The anomalous days among the last `last_days` of the series.
pub fn anomalies(values: &[f64], first_weekday: usize, params: &Params, last_days: usize) -> Vec<Score> {
    let start = values.len().saturating_sub(last_days);
    score(values, first_weekday, params)
        .into_iter()
        .skip(start)
        .flatten()
        .filter(|s| s.z.abs() >= params.threshold)
        .collect()
}

/// The series with every anomalous day replaced by its expected value, so a
/// one-off spike does not bend a forecast or widen its interval.
pub fn clean(values: &[f64], first_weekday: usize, params: &Params) -> (Vec<f64>, usize) {
    let mut cleaned = values.to_vec();
    let mut replaced = 0;
    for s in score(values, first_weekday, params).into_iter().flatten() {
        if s.z.abs() >= params.threshold {
            cleaned[s.index] = s.expected;
            replaced += 1;
        }
    }
    (cleaned, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const WEEK: [f64; 7] = [1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.15];

    fn weekly_series(rng: &mut Rng, days: usize) -> Vec<f64> {
        (0..days)
            .map(|i| 450.0 * WEEK[i % 7] * rng.uniform(0.9, 1.0))
            .collect()
    }

    #[test]
    fn finds_a_planted_spike_and_only_it() {
        let mut rng = Rng::new(11);
        let mut series = weekly_series(&mut rng, 90);
        series[70] *= 3.1;
        let found = anomalies(&series, 0, &Params::default(), 28);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, 70);
        assert!(found[0].z > 10.0, "{:?}", found[0]);
        assert!((found[0].expected - 450.0 * WEEK[0] * 0.95).abs() < 30.0);
    }

    #[test]
    fn a_clean_weekly_series_has_no_anomaly() {
        for seed in 1..30 {
            let mut rng = Rng::new(seed);
            let series = weekly_series(&mut rng, 90);
            let found = anomalies(&series, 3, &Params::default(), 28);
            assert!(found.is_empty(), "seed {seed}: {found:?}");
        }
    }

    #[test]
    fn busy_weekends_are_not_anomalies_and_drops_are() {
        let mut series: Vec<f64> = (0..60).map(|i| if i % 7 >= 5 { 300.0 } else { 100.0 }).collect();
        assert!(anomalies(&series, 0, &Params::default(), 28).is_empty());
        series[50] = 0.0;
        let found = anomalies(&series, 0, &Params::default(), 28);
        assert_eq!(found.len(), 1);
        assert!(found[0].z < -3.5);
        let (cleaned, replaced) = clean(&series, 0, &Params::default());
        assert_eq!(replaced, 1);
        assert!((cleaned[50] - 100.0).abs() < 1e-9);
    }

    #[test]
    fn short_or_empty_series_score_nothing() {
        assert!(anomalies(&[], 0, &Params::default(), 28).is_empty());
        assert!(anomalies(&[1.0, 2.0, 50.0], 0, &Params::default(), 28).is_empty());
    }
}
