//! How many days revenue follows ad spend: the cross-correlation of the two
//! daily series at lags 0 to 7.

use crate::stats::pearson;

/// The longest lag tried, in days.
pub const MAX_LAG: usize = 7;

/// Fewest overlapping days for a correlation to mean anything.
pub const MIN_DAYS: usize = 28;

/// A lag counts as real only when its correlation is at least this...
pub const MIN_CORRELATION: f64 = 0.5;

/// ...and beats the same-day correlation by at least this much.
pub const MIN_GAIN: f64 = 0.2;

/// The correlations at each lag and the best one.
#[derive(Debug, Clone, PartialEq)]
pub struct LagProfile {
    /// Correlation of spend on day t − lag with revenue on day t, by lag.
    pub correlations: Vec<Option<f64>>,
    /// The lag with the highest correlation.
    pub best_lag: usize,
    /// Its correlation.
    pub best: f64,
    /// The same-day correlation.
    pub same_day: f64,
}

impl LagProfile {
    /// Whether revenue clearly lags spend rather than moving with it.
    pub fn is_lagged(&self) -> bool {
        self.best_lag > 0 && self.best >= MIN_CORRELATION && self.best - self.same_day >= MIN_GAIN
    }
}

/// Correlates `spend[t - lag]` with `revenue[t]` for aligned daily series;
/// `None` when they are too short or constant.
pub fn profile(spend: &[f64], revenue: &[f64]) -> Option<LagProfile> {
    let n = spend.len().min(revenue.len());
    if n < MIN_DAYS + MAX_LAG {
        return None;
    }
    // Every lag uses the same revenue days, so the correlations compare.
    let correlations: Vec<Option<f64>> = (0..=MAX_LAG)
        .map(|lag| pearson(&spend[MAX_LAG - lag..n - lag], &revenue[MAX_LAG..n]))
        .collect();
    let same_day = correlations[0]?;
    let (mut best_lag, mut best) = (0, same_day);
    for (lag, r) in correlations.iter().enumerate() {
        // Strictly better only: ties go to the shorter lag (a weekly pattern
        // makes lag 7 look like lag 0).
        if let Some(r) = r
            && *r > best
        {
            best_lag = lag;
            best = *r;
        }
    }
    Some(LagProfile {
        correlations,
        best_lag,
        best,
        same_day,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const WEEK: [f64; 7] = [1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.15];

    fn spend(rng: &mut Rng, days: usize) -> Vec<f64> {
        (0..days)
            .map(|t| 900.0 * WEEK[t % 7] * rng.uniform(0.95, 1.0))
            .collect()
    }

    fn revenue(rng: &mut Rng, spend: &[f64], lag: usize) -> Vec<f64> {
        (0..spend.len())
            .map(|t| 300.0 + 2.4 * spend[t.saturating_sub(lag)] * rng.uniform(0.92, 1.08))
            .collect()
    }

    #[test]
    fn finds_a_planted_two_day_lag() {
        for seed in 1..10 {
            let mut rng = Rng::new(seed);
            let mut s = spend(&mut rng, 90);
            s[70] *= 1.4;
            let r = revenue(&mut rng, &s, 2);
            let profile = profile(&s, &r).expect("profile");
            assert_eq!(profile.best_lag, 2, "seed {seed}: {profile:?}");
            assert!(profile.is_lagged(), "seed {seed}: {profile:?}");
        }
    }

    #[test]
    fn same_day_revenue_is_not_lagged() {
        for seed in 1..10 {
            let mut rng = Rng::new(seed);
            let s = spend(&mut rng, 90);
            let r = revenue(&mut rng, &s, 0);
            let profile = profile(&s, &r).expect("profile");
            assert!(!profile.is_lagged(), "seed {seed}: {profile:?}");
        }
    }

    #[test]
    fn short_series_have_no_profile() {
        assert!(profile(&[1.0; 20], &[2.0; 20]).is_none());
    }
}
