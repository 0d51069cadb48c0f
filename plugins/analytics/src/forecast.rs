//! Additive Holt-Winters with a damped trend and a weekly season, in its
//! error-correction (ETS(A,Ad,A)) form, so prediction intervals follow from
//! the in-sample one-step errors with the model's exact variance formula.

/// The season length of daily business data.
pub const WEEK: usize = 7;

/// The normal quantile of a two-sided 90% interval.
pub const Z90: f64 = 1.644_854;

/// A fitted model: its smoothing parameters and its state after the last day.
#[derive(Debug, Clone, PartialEq)]
pub struct HoltWinters {
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing (error-correction form, at most `alpha`).
    pub beta: f64,
    /// Season smoothing.
    pub gamma: f64,
    /// Trend damping; 1.0 is an undamped trend.
    pub phi: f64,
    /// Standard deviation of the one-step errors.
    pub sigma: f64,
    level: f64,
    trend: f64,
    /// Seasonal states, indexed by time modulo the season length.
    season: Vec<f64>,
    /// Days fitted.
    n: usize,
    /// How much larger the in-sample h-step errors were than the model's
    /// h-step standard deviation, by h − 1 (at least 1).
    calibration: Vec<f64>,
}

/// One forecast value with its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The expected value.
    pub point: f64,
    /// Lower bound of the interval.
    pub lower: f64,
    /// Upper bound of the interval.
    pub upper: f64,
}

/// Smoothing parameters tried; a coarse grid is enough for daily series of a
/// few months and, unlike an optimiser, cannot fail to converge.
const ALPHAS: [f64; 8] = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8];
const BETAS: [f64; 4] = [0.0, 0.01, 0.03, 0.1];
const GAMMAS: [f64; 5] = [0.0, 0.05, 0.1, 0.2, 0.3];
const PHIS: [f64; 4] = [0.9, 0.95, 0.98, 1.0];

/// Level, trend and season to start from: the first season's mean, the
/// change between the first two seasons, and each weekday's average
/// deviation from its season's mean over the first few seasons.
fn initial_state(values: &[f64], m: usize) -> (f64, f64, Vec<f64>) {
    let seasons = (values.len() / m).clamp(2, 4);
    let season_mean = |k: usize| values[k * m..(k + 1) * m].iter().sum::<f64>() / m as f64;
    let level = season_mean(0);
    let trend = (season_mean(1) - level) / m as f64;
    let season = (0..m)
        .map(|i| {
            (0..seasons)
                .map(|k| values[k * m + i] - season_mean(k))
                .sum::<f64>()
                / seasons as f64
        })
        .collect();
    (level, trend, season)
}

impl HoltWinters {
    /// Fits the parameters with the smallest one-step squared error (after a
    /// season of burn-in); `None` with fewer than three seasons of data.
    pub fn fit(values: &[f64], m: usize) -> Option<Self> {
        if m == 0 || values.len() < 3 * m || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut best: Option<(f64, Self)> = None;
        for &alpha in &ALPHAS {
            for &beta in BETAS.iter().filter(|b| **b <= alpha) {
                for &gamma in GAMMAS.iter().filter(|g| **g <= 1.0 - alpha) {
                    for &phi in &PHIS {
                        let (sse, model) = Self::run(values, m, alpha, beta, gamma, phi);
                        if best.as_ref().is_none_or(|(s, _)| sse < *s) {
                            best = Some((sse, model));
                        }
                    }
                }
            }
        }
        best.map(|(_, mut model)| {
            model.calibrate(values);
            model
        })
    }

    /// Replays the fit with the chosen parameters and measures the real
    /// h-step errors from every origin after the burn-in. The model's
    /// variance formula assumes it is the true model; where the data is not
    /// (revenue driven by earlier spend, say) real errors grow faster, and the
    /// intervals are widened to match, so they keep their stated coverage.
    fn calibrate(&mut self, values: &[f64]) {
        let m = self.season.len();
        let (mut level, mut trend, mut season) = initial_state(values, m);
        let mut states = Vec::with_capacity(values.len());
        for (t, &y) in values.iter().enumerate() {
            let s = season[t % m];
            let error = y - (level + self.phi * trend + s);
            level += self.phi * trend + self.alpha * error;
            trend = self.phi * trend + self.beta * error;
            season[t % m] = s + self.gamma * error;
            states.push((level, trend, season.clone()));
        }
        let mut sum_squares = 0.0;
        let mut calibration = Vec::new();
        for h in 1..=values.len() {
            let errors: Vec<f64> = (m..values.len().saturating_sub(h))
                .map(|t| {
                    let (level, trend, season) = &states[t];
                    let point = level + self.damped(h) * trend + season[(t + h) % m];
                    values[t + h] - point
                })
                .collect();
            // Too few origins make the estimate itself noisy: stop there.
            if errors.len() < 14 {
                break;
            }
            if h > 1 {
                sum_squares += self.weight(h - 1).powi(2);
            }
            let model_sd = self.sigma * (1.0 + sum_squares).sqrt();
            let real_sd = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
            let previous = calibration.last().copied().unwrap_or(1.0);
            // Never narrower than the model, nor than at a shorter horizon.
            let ratio = if model_sd > 0.0 { real_sd / model_sd } else { 1.0 };
            calibration.push(ratio.max(previous).max(1.0));
        }
        self.calibration = calibration;
    }

    /// The widening factor at horizon h (the last measured one beyond).
    fn calibration(&self, h: usize) -> f64 {
        self.calibration
            .get(h - 1)
            .or(self.calibration.last())
            .copied()
            .unwrap_or(1.0)
    }

    /// Runs the recursions with fixed parameters: the squared error and the
    /// final state.
    fn run(values: &[f64], m: usize, alpha: f64, beta: f64, gamma: f64, phi: f64) -> (f64, Self) {
        let (mut level, mut trend, mut season) = initial_state(values, m);
        let (mut sse, mut count) = (0.0, 0usize);
        for (t, &y) in values.iter().enumerate() {
            let s = season[t % m];
            let error = y - (level + phi * trend + s);
            level += phi * trend + alpha * error;
            trend = phi * trend + beta * error;
            season[t % m] = s + gamma * error;
            if t >= m {
                sse += error * error;
                count += 1;
            }
        }
        // Four parameters were estimated from these errors.
        let sigma = (sse / count.saturating_sub(4).max(1) as f64).sqrt();
        let model = Self {
            alpha,
            beta,
            gamma,
            phi,
            sigma,
            level,
            trend,
            season,
            n: values.len(),
            calibration: Vec::new(),
        };
        (sse, model)
    }

    /// φ + φ² + … + φʰ: how much of the trend is carried h days ahead.
    fn damped(&self, h: usize) -> f64 {
        (1..=h).map(|j| self.phi.powi(j as i32)).sum()
    }

    /// The weight of the error j days back in an h-step forecast error.
    fn weight(&self, j: usize) -> f64 {
        let m = self.season.len();
        let seasonal = if j.is_multiple_of(m) { self.gamma } else { 0.0 };
        self.alpha + self.beta * self.damped(j) + seasonal
    }

    /// The point forecast h ≥ 1 days after the last fitted day.
    fn point(&self, h: usize) -> f64 {
        let m = self.season.len();
        self.level + self.damped(h) * self.trend + self.season[(self.n + h - 1) % m]
    }

    /// Daily forecasts for the next `horizon` days with intervals at normal
    /// quantile `z`; bounds are kept non-negative (spend and revenue are).
    pub fn forecast(&self, horizon: usize, z: f64) -> Vec<Point> {
        let mut sum_squares = 0.0;
        (1..=horizon)
            .map(|h| {
                if h > 1 {
                    sum_squares += self.weight(h - 1).powi(2);
                }
                let sd = self.sigma * (1.0 + sum_squares).sqrt() * self.calibration(h);
                let point = self.point(h);
                Point {
                    point: point.max(0.0),
                    lower: (point - z * sd).max(0.0),
                    upper: (point + z * sd).max(0.0),
                }
            })
            .collect()
    }

    /// The total of the next `horizon` days with its interval. The daily
    /// errors share shocks, so the variance of the sum is computed from each
    /// shock's cumulative weight rather than by adding daily variances.
    pub fn total(&self, horizon: usize, z: f64) -> Point {
        let point: f64 = (1..=horizon).map(|h| self.point(h)).sum();
        let mut cumulative = vec![0.0; horizon];
        for n in 1..horizon {
            cumulative[n] = cumulative[n - 1] + self.weight(n);
        }
        // The shock k days ahead reaches the remaining horizon − k days.
        let variance: f64 = (1..=horizon)
            .map(|k| (1.0 + cumulative[horizon - k]).powi(2))
            .sum::<f64>()
            * self.sigma.powi(2);
        let sd = variance.sqrt() * self.calibration(horizon);
        Point {
            point: point.max(0.0),
            lower: (point - z * sd).max(0.0),
            upper: (point + z * sd).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const SEASON: [f64; 7] = [-20.0, -30.0, -25.0, -5.0, 15.0, 40.0, 25.0];

    fn synthetic(rng: &mut Rng, days: usize, noise: f64) -> Vec<f64> {
        (0..days)
            .map(|t| 500.0 + 2.0 * t as f64 + SEASON[t % 7] + noise * rng.normal())
            .collect()
    }

    #[test]
    fn recovers_trend_and_season() {
        let mut rng = Rng::new(3);
        let series = synthetic(&mut rng, 84, 0.0);
        let model = HoltWinters::fit(&series, WEEK).expect("model");
        // The trend itself, not only points near the truth: a model with no
        // trend would also land within a few percent two weeks out.
        let carried = model.damped(14) * model.trend / 14.0;
        assert!((carried - 2.0).abs() < 0.4, "trend per day {carried}");
        for (h, p) in model.forecast(14, Z90).iter().enumerate() {
            let t = 84 + h;
            let truth = 500.0 + 2.0 * t as f64 + SEASON[t % 7];
            assert!(
                (p.point - truth).abs() < 0.02 * truth,
                "day {t}: {} vs {truth}",
                p.point
            );
        }
    }

    #[test]
    fn interval_covers_most_held_out_days_and_widens() {
        let (mut inside, mut total) = (0, 0);
        for seed in 1..=20 {
            let mut rng = Rng::new(seed);
            let series = synthetic(&mut rng, 91, 12.0);
            let (train, test) = series.split_at(84);
            let model = HoltWinters::fit(train, WEEK).expect("model");
            let forecast = model.forecast(7, Z90);
            for (p, actual) in forecast.iter().zip(test) {
                total += 1;
                inside += usize::from(p.lower <= *actual && *actual <= p.upper);
            }
            let width = |p: &Point| p.upper - p.lower;
            assert!(width(&forecast[6]) >= width(&forecast[0]));
            let sum = model.total(7, Z90);
            assert!(sum.upper - sum.point >= forecast.iter().map(|p| p.upper - p.point).sum::<f64>() * 0.3);
        }
        let coverage = inside as f64 / total as f64;
        assert!(coverage >= 0.8, "coverage {coverage}");
    }

    #[test]
    fn too_little_data_is_no_model() {
        assert!(HoltWinters::fit(&[1.0; 20], WEEK).is_none());
        assert!(HoltWinters::fit(&[1.0; 21], WEEK).is_some());
    }
}
