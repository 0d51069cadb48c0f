//! Small statistics: the normal distribution, two-proportion z-tests with an
//! overdispersion factor, Holm's correction, a weighted least-squares line and
//! Welch's t. Pure functions, so the known answers can be tested natively.

use statrs::distribution::{ContinuousCDF, Normal};

/// The standard normal cumulative distribution function (statrs computes it
/// from erfc, so tiny tail probabilities keep their relative precision).
pub fn normal_cdf(z: f64) -> f64 {
    Normal::standard().cdf(z)
}

/// The two-sided p-value of a z statistic.
pub fn two_sided_p(z: f64) -> f64 {
    (2.0 * normal_cdf(-z.abs())).min(1.0)
}

/// The one-sided p-value of a z statistic against the alternative "lower".
pub fn lower_p(z: f64) -> f64 {
    normal_cdf(z)
}

/// The z statistic of `x1/n1 - x2/n2` under the null of equal proportions,
/// with the binomial variance inflated by `dispersion` (at least 1).
///
/// Ad delivery is overdispersed: the daily rate wanders more than binomial
/// sampling explains (auctions, placements, audiences), so a plain z-test
/// calls noise significant. Scaling the variance by the estimated
/// dispersion (quasi-binomial) keeps the test honest. `None` when either
/// sample is empty or both proportions are 0 or 1 (no variance to test).
pub fn two_proportion_z(x1: f64, n1: f64, x2: f64, n2: f64, dispersion: f64) -> Option<f64> {
    if n1 <= 0.0 || n2 <= 0.0 {
        return None;
    }
    let pooled = (x1 + x2) / (n1 + n2);
    let variance = dispersion.max(1.0) * pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance <= 0.0 || !variance.is_finite() {
        return None;
    }
    Some((x1 / n1 - x2 / n2) / variance.sqrt())
}

/// The overdispersion factor of daily counts: Pearson's chi-square of each
/// series' days `(successes, trials)` around that series' pooled rate,
/// summed and divided by the degrees of freedom; at least 1.
pub fn dispersion(series: &[Vec<(f64, f64)>]) -> f64 {
    let mut chi_square = 0.0;
    let mut freedom = 0.0;
    for days in series {
        let days: Vec<&(f64, f64)> = days.iter().filter(|(_, n)| *n > 0.0).collect();
        let successes: f64 = days.iter().map(|(x, _)| x).sum();
        let trials: f64 = days.iter().map(|(_, n)| n).sum();
        if days.len() < 2 || trials <= 0.0 {
            continue;
        }
        let rate = successes / trials;
        if rate <= 0.0 || rate >= 1.0 {
            continue;
        }
        for (x, n) in &days {
            let expected = n * rate;
            chi_square += (x - expected).powi(2) / (expected * (1.0 - rate));
        }
        freedom += days.len() as f64 - 1.0;
    }
    if freedom > 0.0 {
        (chi_square / freedom).max(1.0)
    } else {
        1.0
    }
}

/// Holm's step-down adjustment of p-values, in the order given: controls the
/// chance of any false "significant" across the family, and is uniformly
/// more powerful than Bonferroni.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0f64;
    for (rank, &index) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p_values[index]).min(1.0);
        running = running.max(value);
        adjusted[index] = running;
    }
    adjusted
}

/// A fitted straight line `y = intercept + slope * x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Change of y per unit of x.
    pub slope: f64,
    /// y at x = 0.
    pub intercept: f64,
    /// The slope divided by its standard error (residual scale estimated
    /// from the data, so overdispersion widens it).
    pub t: f64,
}

impl Line {
    /// The fitted y at `x`.
    pub fn at(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Weighted least squares through points `(x, y, weight)`: with daily CTR and
/// impressions as weights, busy days count more, as binomial noise shrinks
/// with volume. `None` with fewer than 3 points or no spread in x.
pub fn wls_line(points: &[(f64, f64, f64)]) -> Option<Line> {
    let points: Vec<&(f64, f64, f64)> = points
        .iter()
        .filter(|(x, y, w)| *w > 0.0 && x.is_finite() && y.is_finite())
        .collect();
    if points.len() < 3 {
        return None;
    }
    let total: f64 = points.iter().map(|(_, _, w)| w).sum();
    let mean_x = points.iter().map(|(x, _, w)| w * x).sum::<f64>() / total;
    let mean_y = points.iter().map(|(_, y, w)| w * y).sum::<f64>() / total;
    let sxx: f64 = points.iter().map(|(x, _, w)| w * (x - mean_x).powi(2)).sum();
    let sxy: f64 = points
        .iter()
        .map(|(x, y, w)| w * (x - mean_x) * (y - mean_y))
        .sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residual: f64 = points
        .iter()
        .map(|(x, y, w)| w * (y - intercept - slope * x).powi(2))
        .sum();
    let scale = residual / (points.len() as f64 - 2.0);
    let error = (scale / sxx).sqrt();
    let t = if error > 0.0 {
        slope / error
    } else if slope == 0.0 {
        0.0
    } else {
        slope.signum() * f64::INFINITY
    };
    Some(Line { slope, intercept, t })
}

/// The mean of `values` (0 when empty).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// Welch's t statistic of `mean(after) - mean(before)` for samples with
/// unequal variances. `None` with fewer than 2 values on either side.
pub fn welch_t(before: &[f64], after: &[f64]) -> Option<f64> {
    if before.len() < 2 || after.len() < 2 {
        return None;
    }
    let variance = |values: &[f64]| {
        let m = mean(values);
        values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() as f64 - 1.0)
    };
    let error = (variance(before) / before.len() as f64 + variance(after) / after.len() as f64).sqrt();
    let difference = mean(after) - mean(before);
    if error > 0.0 {
        Some(difference / error)
    } else if difference == 0.0 {
        Some(0.0)
    } else {
        Some(difference.signum() * f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn normal_cdf_known_values() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.959_964), 0.975, 1e-6));
        assert!(close(normal_cdf(-3.0), 0.001_349_898, 1e-8));
        assert!(close(two_sided_p(2.575_829), 0.01, 1e-6));
        // Far tails keep relative precision rather than collapsing to 0.
        let tail = normal_cdf(-8.0);
        assert!(close(tail / 6.220_96e-16, 1.0, 1e-5), "{tail}");
    }

    #[test]
    fn two_proportion_z_known_answer() {
        // 12% of 1000 against 8% of 1000: pooled 10%, se = sqrt(.1 * .9 * .002).
        let z = two_proportion_z(120.0, 1000.0, 80.0, 1000.0, 1.0).expect("z");
        assert!(close(z, 2.981_424, 1e-5), "{z}");
        assert!(close(two_sided_p(z), 0.002_869, 1e-5));
        // Dispersion 4 halves it; dispersion below 1 is treated as 1.
        let halved = two_proportion_z(120.0, 1000.0, 80.0, 1000.0, 4.0).expect("z");
        assert!(close(halved, z / 2.0, 1e-9));
        assert_eq!(two_proportion_z(120.0, 1000.0, 80.0, 1000.0, 0.5), Some(z));
        assert!(two_proportion_z(0.0, 100.0, 0.0, 100.0, 1.0).is_none());
        assert!(two_proportion_z(1.0, 0.0, 0.0, 100.0, 1.0).is_none());
    }

    #[test]
    fn holm_known_answer() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!(close(*a, e, 1e-12), "{adjusted:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), vec![1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn dispersion_of_binomial_like_counts_is_about_one() {
        // Counts exactly at the expected rate give chi-square 0: floored to 1.
        let flat = vec![vec![(10.0, 1000.0), (20.0, 2000.0), (10.0, 1000.0)]];
        assert_eq!(dispersion(&flat), 1.0);
        // Rates 1% and 3% on equal days around 2%: each day adds 10² / (20 * 0.98), one degree of freedom.
        let wild = vec![vec![(10.0, 1000.0), (30.0, 1000.0)]];
        assert!(close(dispersion(&wild), 200.0 / 19.6, 1e-9));
    }

    #[test]
    fn wls_recovers_a_line() {
        let points: Vec<(f64, f64, f64)> = (0..10)
            .map(|x| {
                let x = f64::from(x);
                let wiggle = if x as i64 % 2 == 0 { 0.01 } else { -0.01 };
                (x, 2.0 - 0.5 * x + wiggle, 1.0 + x)
            })
            .collect();
        let line = wls_line(&points).expect("line");
        assert!(close(line.slope, -0.5, 0.01), "{line:?}");
        assert!(close(line.at(0.0), 2.0, 0.05));
        assert!(line.t < -50.0);
        assert!(wls_line(&points[..2]).is_none());
    }

    #[test]
    fn welch_t_known_answer() {
        // Means 2 and 5, variances 1 and 1, n = 3 each: t = 3 / sqrt(2/3).
        let t = welch_t(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).expect("t");
        assert!(close(t, 3.0 / (2.0f64 / 3.0).sqrt(), 1e-12));
        assert!(welch_t(&[1.0], &[2.0, 3.0]).is_none());
    }
}
