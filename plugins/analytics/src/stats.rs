//! Small statistics: robust location and scale, correlation, least squares
//! and Welch's t-test with an exact Student t distribution (statrs).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// MAD times this estimates the standard deviation of normal data.
pub const MAD_SCALE: f64 = 1.4826;

/// The arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The sample variance (n − 1); `None` for fewer than two values.
pub fn variance(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    (values.len() > 1)
        .then(|| values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64)
}

/// The median of the finite values; `None` when there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// The median absolute deviation from the median (unscaled).
pub fn mad(values: &[f64]) -> Option<f64> {
    let m = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&deviations)
}

/// The means and centred sums of squares and products of the paired values:
/// `(mean x, mean y, Sxx, Sxy, Syy)`; `None` for fewer than three pairs.
fn centred_sums(x: &[f64], y: &[f64]) -> Option<(f64, f64, f64, f64, f64)> {
    let n = x.len().min(y.len());
    if n < 3 {
        return None;
    }
    let (mx, my) = (mean(&x[..n])?, mean(&y[..n])?);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (xi, yi) in x.iter().zip(y) {
        let (dx, dy) = (xi - mx, yi - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    Some((mx, my, sxx, sxy, syy))
}

/// Pearson's correlation; `None` when either series is constant or too short.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let (_, _, sxx, sxy, syy) = centred_sums(x, y)?;
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// A least-squares line `y = intercept + slope · x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    /// Change in y per unit of x.
    pub slope: f64,
    /// y at x = 0.
    pub intercept: f64,
    /// Share of y's variance the line explains.
    pub r2: f64,
}

/// Ordinary least squares of `y` on `x`; `None` when x does not vary.
pub fn ols(x: &[f64], y: &[f64]) -> Option<Line> {
    let (mx, my, sxx, sxy, syy) = centred_sums(x, y)?;
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy > 0.0 { (sxy * sxy) / (sxx * syy) } else { 1.0 };
    Some(Line {
        slope,
        intercept: my - slope * mx,
        r2,
    })
}

/// The result of Welch's unequal-variance t-test of mean(a) − mean(b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TTest {
    /// The t statistic (positive when a's mean is higher).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Welch's t-test; `None` when a sample has fewer than two values.
pub fn welch(a: &[f64], b: &[f64]) -> Option<TTest> {
    let (ma, mb) = (mean(a)?, mean(b)?);
    let (va, vb) = (variance(a)? / a.len() as f64, variance(b)? / b.len() as f64);
    let se2 = va + vb;
    if se2 <= 0.0 {
        // Two constant samples: any difference is certain.
        let p = if ma == mb { 1.0 } else { 0.0 };
        let t = if ma == mb {
            0.0
        } else {
            f64::INFINITY.copysign(ma - mb)
        };
        return Some(TTest {
            t,
            df: (a.len() + b.len() - 2) as f64,
            p,
        });
    }
    let t = (ma - mb) / se2.sqrt();
    let df =
        se2 * se2 / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64).max(f64::MIN_POSITIVE);
    Some(TTest {
        t,
        df,
        p: student_t_two_sided(t, df),
    })
}

/// P(|T| ≥ |t|) for Student's t with `df` degrees of freedom (NaN when
/// `df` is not positive).
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |dist| (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_location_and_scale() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), Some(1.0));
    }

    #[test]
    fn student_t_matches_tables() {
        // Two-sided critical values: t(10) = 2.228 at 5%, t(30) = 2.750 at 1%.
        assert!((student_t_two_sided(2.228, 10.0) - 0.05).abs() < 1e-3);
        assert!((student_t_two_sided(2.750, 30.0) - 0.01).abs() < 1e-3);
        assert!((student_t_two_sided(0.0, 5.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn welch_and_lines() {
        let a = [5.0, 5.2, 4.8, 5.1, 4.9];
        let b = [2.0, 2.1, 1.9, 2.05, 1.95];
        let test = welch(&a, &b).expect("test");
        assert!(test.t > 10.0 && test.p < 1e-4, "{test:?}");
        // Unequal sizes and variances, worked by hand: t = -4 / √(0.5 + 14/6),
        // df = 2.8333² / (0.5²/4 + 2.3333²/5); t(7) at 5% two-sided is 2.365.
        let test = welch(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0]).expect("test");
        assert!((test.t + 2.376_354).abs() < 1e-5, "{test:?}");
        assert!((test.df - 6.972_256).abs() < 1e-5, "{test:?}");
        assert!(test.p > 0.045 && test.p < 0.05, "{test:?}");
        let line = ols(&[1.0, 2.0, 3.0, 4.0], &[3.0, 5.0, 7.0, 9.0]).expect("line");
        assert!((line.slope - 2.0).abs() < 1e-12 && (line.intercept - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).expect("r") + 1.0).abs() < 1e-12);
    }
}
