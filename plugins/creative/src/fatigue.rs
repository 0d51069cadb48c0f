//! Creative fatigue: an ad whose click-through rate falls while the same
//! people see it more and more often.
//!
//! The test compares the ad's recent window (the last `window` days) with the
//! window before it, pooling clicks and impressions: a two-proportion z-test
//! whose variance is inflated by the overdispersion measured in the ad's own
//! daily counts (quasi-binomial), because daily CTR wanders well beyond
//! binomial noise. Comparing with the preceding window rather than the two
//! halves of one window doubles the data and measures the whole decline: at
//! a few dozen clicks a day, a trend inside 14 days alone is too noisy to
//! separate fatigue from chance across dozens of ads. The weighted
//! least-squares trend of daily CTR inside the recent window must still point
//! down (fatigue is progressive; a step down that has levelled off is not it)
//! and is reported with its t statistic.
//!
//! An ad is fatigued when all hold: the decline is significant at 5% across
//! the family of ads tested (Bonferroni), it is material (CTR at least 25%
//! lower), the recent trend is downward, and daily frequency rose
//! significantly (Welch t ≥ 2). Without frequency (Google reports none) the
//! decline alone must be ten times as significant, and confidence is lower.

use crate::records::AdDay;
use crate::stats::{self, Line};

/// Smallest relative CTR drop that counts as fatigue.
pub const MIN_DROP: f64 = 0.25;
/// Family-wise error rate across the ads tested in one review.
pub const FAMILY_ALPHA: f64 = 0.05;
/// Smallest Welch t of the frequency rise (about a one-sided 3% level).
pub const MIN_FREQUENCY_T: f64 = 2.0;
/// How much stricter the CTR test is when frequency is unknown.
const CTR_ONLY_FACTOR: f64 = 0.1;

/// Pooled delivery of one ad over a span of days.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// First day of the span (days since 1970-01-01).
    pub first: i64,
    /// Last day of the span.
    pub last: i64,
    /// Days with impressions.
    pub days: usize,
    /// Impressions.
    pub impressions: f64,
    /// Clicks.
    pub clicks: f64,
    /// Clicks per impression.
    pub ctr: f64,
    /// Impressions per person per day, pooled over days that report it.
    pub frequency: Option<f64>,
}

/// How daily frequency moved between the two periods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrequencyChange {
    /// Pooled frequency before.
    pub baseline: f64,
    /// Pooled frequency in the recent window.
    pub recent: f64,
    /// Welch t of the daily frequencies' rise.
    pub t: f64,
}

/// The evidence about one ad.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The comparison span.
    pub baseline: Period,
    /// The recent span.
    pub recent: Period,
    /// True when history was short and the recent window's halves were compared.
    pub halves: bool,
    /// Relative CTR change, recent against baseline (−0.4 is a 40% fall).
    pub change: f64,
    /// Overdispersion-corrected z of recent minus baseline CTR.
    pub z: f64,
    /// One-sided p-value of a decline.
    pub p: f64,
    /// The overdispersion factor used.
    pub dispersion: f64,
    /// The CTR trend inside the recent window (x in days from its first day).
    pub trend: Line,
    /// The trend's CTR on the recent window's first and last day.
    pub trend_ends: (f64, f64),
    /// The frequency rise, when frequency is reported on enough days.
    pub frequency: Option<FrequencyChange>,
}

impl Assessment {
    /// Whether this is fatigue, given how many ads were tested in the review.
    pub fn fatigued(&self, tests: usize) -> bool {
        let rising = self
            .frequency
            .is_none_or(|f| f.recent > f.baseline && f.t >= MIN_FREQUENCY_T);
        self.p < self.alpha(tests) && -self.change >= MIN_DROP && self.trend.slope < 0.0 && rising
    }

    /// The per-ad significance level: Bonferroni, stricter without frequency.
    pub fn alpha(&self, tests: usize) -> f64 {
        let alpha = FAMILY_ALPHA / tests.max(1) as f64;
        if self.frequency.is_some() {
            alpha
        } else {
            alpha * CTR_ONLY_FACTOR
        }
    }

    /// Confidence in a pause: the Bonferroni-adjusted certainty of the decline,
    /// scaled by its size (full at a 40% drop) and lowered without frequency.
    pub fn confidence(&self, tests: usize) -> f64 {
        let certainty = (1.0 - self.p * tests.max(1) as f64).clamp(0.0, 1.0);
        let size = 0.5 + 0.5 * (-self.change / 0.4).clamp(0.0, 1.0);
        let evidence = if self.frequency.is_some() { 1.0 } else { 0.75 };
        (certainty * size * evidence).clamp(0.0, 0.99)
    }
}

fn period<'a>(days: &[&'a AdDay], first: i64, last: i64) -> (Period, Vec<&'a AdDay>) {
    let inside: Vec<&AdDay> = days
        .iter()
        .copied()
        .filter(|d| d.day >= first && d.day <= last && d.impressions > 0.0)
        .collect();
    let impressions: f64 = inside.iter().map(|d| d.impressions).sum();
    let clicks: f64 = inside.iter().map(|d| d.clicks).sum();
    let with_frequency: Vec<&&AdDay> = inside.iter().filter(|d| d.frequency.is_some()).collect();
    let reached: f64 = with_frequency
        .iter()
        .map(|d| d.impressions / d.frequency.unwrap_or(1.0))
        .sum();
    let shown: f64 = with_frequency.iter().map(|d| d.impressions).sum();
    let period = Period {
        first,
        last,
        days: inside.len(),
        impressions,
        clicks,
        ctr: if impressions > 0.0 {
            clicks / impressions
        } else {
            0.0
        },
        // Only trust frequency when most delivering days report it.
        frequency: (with_frequency.len() * 2 >= inside.len().max(1) && reached > 0.0)
            .then(|| shown / reached),
    };
    (period, inside)
}

/// Assess one ad's days for fatigue, the recent window ending on `last_day`.
/// `None` when either period has too few delivering days or impressions.
pub fn assess(days: &[&AdDay], last_day: i64, window: i64, min_impressions: f64) -> Option<Assessment> {
    let window = window.max(4);
    let min_days = (window as usize / 2).max(3);
    let recent_first = last_day - window + 1;
    let (mut baseline, mut before) = period(days, recent_first - window, recent_first - 1);
    let (mut recent, mut after) = period(days, recent_first, last_day);
    let mut halves = false;
    if baseline.days < min_days || baseline.impressions < min_impressions {
        // Short history: compare the halves of the recent window instead.
        if recent.days < min_days.max(6) || recent.impressions < min_impressions {
            return None;
        }
        let middle = recent_first + window / 2;
        (baseline, before) = period(days, recent_first, middle - 1);
        (recent, after) = period(days, middle, last_day);
        halves = true;
        if baseline.days < 3 || recent.days < 3 {
            return None;
        }
    } else if recent.days < min_days || recent.impressions < min_impressions {
        return None;
    }
    if baseline.ctr <= 0.0 {
        return None;
    }
    let counts = |days: &[&AdDay]| days.iter().map(|d| (d.clicks, d.impressions)).collect::<Vec<_>>();
    let dispersion = stats::dispersion(&[counts(&before), counts(&after)]);
    let z = stats::two_proportion_z(
        recent.clicks,
        recent.impressions,
        baseline.clicks,
        baseline.impressions,
        dispersion,
    )?;
    let trend_days = if halves {
        [before.clone(), after.clone()].concat()
    } else {
        after.clone()
    };
    let trend_first = trend_days.iter().map(|d| d.day).min()?;
    let points: Vec<(f64, f64, f64)> = trend_days
        .iter()
        .map(|d| {
            (
                (d.day - trend_first) as f64,
                d.clicks / d.impressions,
                d.impressions,
            )
        })
        .collect();
    let trend = stats::wls_line(&points)?;
    let span = (last_day - trend_first) as f64;
    let frequencies = |days: &[&AdDay]| days.iter().filter_map(|d| d.frequency).collect::<Vec<f64>>();
    let frequency = match (baseline.frequency, recent.frequency) {
        (Some(b), Some(r)) => {
            stats::welch_t(&frequencies(&before), &frequencies(&after)).map(|t| FrequencyChange {
                baseline: b,
                recent: r,
                t,
            })
        }
        _ => None,
    };
    Some(Assessment {
        change: recent.ctr / baseline.ctr - 1.0,
        p: stats::lower_p(z),
        baseline,
        recent,
        halves,
        z,
        dispersion,
        trend_ends: (trend.at(0.0).max(0.0), trend.at(span).max(0.0)),
        trend,
        frequency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic uniform draw in [-1, 1) (a tiny LCG: no dependency).
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    /// 28 days of one ad: CTR and frequency given by `shape(day index)`.
    fn series(seed: u64, frequency: bool, shape: impl Fn(f64) -> (f64, f64)) -> Vec<AdDay> {
        let mut noise = Noise(seed);
        (0..28)
            .map(|i| {
                let (ctr, freq) = shape(f64::from(i));
                let impressions = (3500.0 * (1.0 + 0.1 * noise.next())).round();
                let ctr = ctr * (1.0 + 0.2 * noise.next());
                AdDay {
                    day: 20_000 + i64::from(i),
                    ad_id: "ad".into(),
                    ad_group_id: "g".into(),
                    campaign_id: "c".into(),
                    impressions,
                    clicks: (impressions * ctr).round(),
                    spend: 40.0,
                    conversions: 1.0,
                    frequency: frequency.then(|| freq * (1.0 + 0.08 * noise.next())),
                    currency: Some("USD".into()),
                }
            })
            .collect()
    }

    fn run(days: &[AdDay]) -> Option<Assessment> {
        let refs: Vec<&AdDay> = days.iter().collect();
        assess(&refs, 20_027, 14, 1000.0)
    }

    /// Flat until day 10, then CTR falls 60% and frequency rises 2.8× by day 27.
    fn decaying(i: f64) -> (f64, f64) {
        let progress = ((i - 9.0) / 18.0).clamp(0.0, 1.0);
        (0.018 * (1.0 - 0.6 * progress), 1.25 * (1.0 + 1.8 * progress))
    }

    #[test]
    fn fatigue_is_found_on_a_decaying_series_with_rising_frequency() {
        for seed in 1..20 {
            let assessment = run(&series(seed, true, decaying)).expect("assessed");
            assert!(assessment.fatigued(36), "seed {seed}: {assessment:?}");
            assert!(assessment.change < -0.3 && assessment.z < -4.0, "{assessment:?}");
            let frequency = assessment.frequency.expect("frequency");
            assert!(frequency.recent > frequency.baseline * 1.3);
            assert!(assessment.confidence(36) > 0.8);
            assert!(!assessment.halves);
        }
    }

    #[test]
    fn no_fatigue_on_a_flat_noisy_series() {
        for seed in 1..200 {
            let assessment = run(&series(seed, true, |_| (0.018, 1.25))).expect("assessed");
            assert!(!assessment.fatigued(36), "seed {seed}: {assessment:?}");
            let assessment = run(&series(seed, false, |_| (0.018, 1.25))).expect("assessed");
            assert!(!assessment.fatigued(36), "seed {seed}: {assessment:?}");
        }
    }

    #[test]
    fn a_ctr_decline_without_a_frequency_rise_is_not_fatigue() {
        let assessment = run(&series(3, true, |i| (decaying(i).0, 1.25))).expect("assessed");
        assert!(assessment.change < -0.3);
        assert!(!assessment.fatigued(36), "{assessment:?}");
    }

    #[test]
    fn without_frequency_the_decline_alone_counts_with_lower_confidence() {
        let with = run(&series(5, true, decaying)).expect("assessed");
        let without = run(&series(5, false, decaying)).expect("assessed");
        assert!(without.frequency.is_none());
        assert!(without.fatigued(36), "{without:?}");
        assert!(without.confidence(36) < with.confidence(36));
        assert!(without.alpha(36) < with.alpha(36));
    }

    #[test]
    fn short_history_compares_halves_and_thin_data_is_skipped() {
        let days = series(7, true, decaying);
        let recent: Vec<&AdDay> = days[14..].iter().collect();
        let assessment = assess(&recent, 20_027, 14, 1000.0).expect("assessed");
        assert!(assessment.halves);
        let few: Vec<&AdDay> = days[25..].iter().collect();
        assert!(assess(&few, 20_027, 14, 1000.0).is_none());
        let all: Vec<&AdDay> = days.iter().collect();
        assert!(assess(&all, 20_027, 14, 1e9).is_none());
    }
}
