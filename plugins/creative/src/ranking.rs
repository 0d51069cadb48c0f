//! Winners and losers inside an ad group: each ad's rate against the pooled
//! rate of the rest of its group, by a two-proportion z-test whose variance
//! is inflated by the group's measured overdispersion, with Holm's correction
//! across every ad tested in the review. Only ads that are both significant
//! (adjusted p < 5%) and materially different (at least 10% lift) are called
//! winners or losers, so that no budget moves on a difference too small to
//! matter.
//!
//! The rate is CTR, or conversions per impression when every ad in the group
//! has enough conversions (it captures both the click and what follows, per
//! unit of what is paid for). Ads excluded from the baseline (the fatigued
//! ones) are still tested but are not part of "the rest", so a healthy ad is
//! not crowned a winner only because its sibling is wearing out.

use crate::stats;

/// Conversions every ad of a group needs before conversions are compared.
pub const MIN_CONVERSIONS: f64 = 30.0;
/// Family-wise error rate across all ads ranked in one review.
pub const FAMILY_ALPHA: f64 = 0.05;
/// Smallest relative difference from the rest that is worth acting on.
pub const MIN_LIFT: f64 = 0.10;

/// One ad's delivery over the ranking window.
#[derive(Debug, Clone, PartialEq)]
pub struct AdTotals {
    /// The ad.
    pub ad_id: String,
    /// Impressions.
    pub impressions: f64,
    /// Clicks.
    pub clicks: f64,
    /// Conversions.
    pub conversions: f64,
    /// Daily `(clicks, conversions, impressions)`, to measure overdispersion.
    pub daily: Vec<(f64, f64, f64)>,
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Clicks per impression.
    Ctr,
    /// Conversions per impression.
    ConversionRate,
}

impl Metric {
    /// The name used in data and text.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Ctr => "ctr",
            Metric::ConversionRate => "conversions_per_impression",
        }
    }

    fn successes(self, totals: &AdTotals) -> f64 {
        match self {
            Metric::Ctr => totals.clicks,
            Metric::ConversionRate => totals.conversions,
        }
    }
}

/// The outcome for one ad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Significantly and materially better than the rest.
    Winner,
    /// Significantly and materially worse than the rest.
    Loser,
    /// Not distinguishable from the rest.
    Neutral,
}

impl Verdict {
    /// The name used in data and text.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Winner => "winner",
            Verdict::Loser => "loser",
            Verdict::Neutral => "neutral",
        }
    }
}

/// One ad against the rest of its group.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The ad.
    pub ad_id: String,
    /// Its impressions.
    pub impressions: f64,
    /// Its clicks or conversions.
    pub successes: f64,
    /// Its rate.
    pub rate: f64,
    /// The pooled rate of the rest of the group.
    pub rest_rate: f64,
    /// `rate / rest_rate - 1`.
    pub lift: f64,
    /// The overdispersion-corrected z statistic.
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Holm-adjusted p-value across the review (set by [`adjust`]).
    pub p_adjusted: f64,
    /// The outcome (set by [`adjust`]).
    pub verdict: Verdict,
}

/// One ad group's ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRanking {
    /// What was compared.
    pub metric: Metric,
    /// The group's overdispersion factor.
    pub dispersion: f64,
    /// The ads tested, best rate first.
    pub entries: Vec<Entry>,
    /// Ads of the group left out of every baseline.
    pub excluded: Vec<String>,
}

/// Rank the ads of one group; ads in `excluded` are tested but left out of
/// every baseline. `None` when fewer than two ads have `min_impressions`.
pub fn rank_group(ads: &[AdTotals], excluded: &[String], min_impressions: f64) -> Option<GroupRanking> {
    let eligible: Vec<&AdTotals> = ads
        .iter()
        .filter(|a| a.impressions >= min_impressions.max(1.0))
        .collect();
    if eligible.len() < 2 {
        return None;
    }
    let metric = if eligible.iter().all(|a| a.conversions >= MIN_CONVERSIONS) {
        Metric::ConversionRate
    } else {
        Metric::Ctr
    };
    let daily: Vec<Vec<(f64, f64)>> = eligible
        .iter()
        .map(|a| {
            a.daily
                .iter()
                .map(|&(clicks, conversions, impressions)| match metric {
                    Metric::Ctr => (clicks, impressions),
                    Metric::ConversionRate => (conversions, impressions),
                })
                .collect()
        })
        .collect();
    let dispersion = stats::dispersion(&daily);
    let mut entries = Vec::new();
    for ad in &eligible {
        let rest: Vec<&&AdTotals> = eligible
            .iter()
            .filter(|r| r.ad_id != ad.ad_id && !excluded.contains(&r.ad_id))
            .collect();
        if rest.is_empty() {
            continue;
        }
        let rest_successes: f64 = rest.iter().map(|r| metric.successes(r)).sum();
        let rest_impressions: f64 = rest.iter().map(|r| r.impressions).sum();
        let successes = metric.successes(ad);
        let Some(z) = stats::two_proportion_z(
            successes,
            ad.impressions,
            rest_successes,
            rest_impressions,
            dispersion,
        ) else {
            continue;
        };
        let rate = successes / ad.impressions;
        let rest_rate = rest_successes / rest_impressions;
        entries.push(Entry {
            ad_id: ad.ad_id.clone(),
            impressions: ad.impressions,
            successes,
            rate,
            rest_rate,
            lift: if rest_rate > 0.0 {
                rate / rest_rate - 1.0
            } else {
                0.0
            },
            z,
            p: stats::two_sided_p(z),
            p_adjusted: 1.0,
            verdict: Verdict::Neutral,
        });
    }
    if entries.is_empty() {
        return None;
    }
    entries.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    Some(GroupRanking {
        metric,
        dispersion,
        entries,
        excluded: eligible
            .iter()
            .filter(|a| excluded.contains(&a.ad_id))
            .map(|a| a.ad_id.clone())
            .collect(),
    })
}

/// Apply Holm's correction across every entry of every group and set verdicts.
pub fn adjust(groups: &mut [GroupRanking]) {
    let p_values: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.entries.iter().map(|e| e.p))
        .collect();
    let adjusted = stats::holm(&p_values);
    let mut next = adjusted.into_iter();
    for entry in groups.iter_mut().flat_map(|g| g.entries.iter_mut()) {
        entry.p_adjusted = next.next().unwrap_or(1.0);
        entry.verdict = if entry.p_adjusted >= FAMILY_ALPHA {
            Verdict::Neutral
        } else if entry.lift >= MIN_LIFT {
            Verdict::Winner
        } else if entry.lift <= -MIN_LIFT {
            Verdict::Loser
        } else {
            Verdict::Neutral
        };
    }
}

/// Confidence in acting on an entry: its Holm-adjusted certainty scaled by
/// the size of the difference (full at 30% lift).
pub fn confidence(entry: &Entry) -> f64 {
    let certainty = (1.0 - entry.p_adjusted).clamp(0.0, 1.0);
    let size = 0.5 + 0.5 * (entry.lift.abs() / 0.3).clamp(0.0, 1.0);
    (certainty * size).clamp(0.0, 0.99)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ad with 14 equal days at `ctr` and a slight day-to-day wobble.
    fn ad(id: &str, ctr: f64, conversions_per_click: f64) -> AdTotals {
        let daily: Vec<(f64, f64, f64)> = (0..14)
            .map(|i| {
                let wobble = if i % 2 == 0 { 1.03 } else { 0.97 };
                let clicks = (3000.0 * ctr * wobble).round();
                (clicks, (clicks * conversions_per_click).round(), 3000.0)
            })
            .collect();
        AdTotals {
            ad_id: id.into(),
            impressions: daily.iter().map(|d| d.2).sum(),
            clicks: daily.iter().map(|d| d.0).sum(),
            conversions: daily.iter().map(|d| d.1).sum(),
            daily,
        }
    }

    #[test]
    fn a_clearly_better_ad_wins_and_the_worse_loses() {
        let ads = [ad("a", 0.024, 0.01), ad("b", 0.016, 0.01), ad("c", 0.017, 0.01)];
        let mut groups = vec![rank_group(&ads, &[], 1000.0).expect("ranked")];
        adjust(&mut groups);
        let group = &groups[0];
        assert_eq!(group.metric, Metric::Ctr);
        assert_eq!(group.entries[0].ad_id, "a");
        assert_eq!(group.entries[0].verdict, Verdict::Winner);
        assert!(group.entries[0].lift > 0.3 && group.entries[0].p_adjusted < 1e-6);
        let b = group.entries.iter().find(|e| e.ad_id == "b").expect("b");
        assert_eq!(b.verdict, Verdict::Loser);
        assert!(confidence(&group.entries[0]) > 0.9);
    }

    #[test]
    fn equal_ads_are_neutral() {
        let ads = [ad("a", 0.018, 0.01), ad("b", 0.0181, 0.01)];
        let mut groups = vec![rank_group(&ads, &[], 1000.0).expect("ranked")];
        adjust(&mut groups);
        assert!(groups[0].entries.iter().all(|e| e.verdict == Verdict::Neutral));
    }

    #[test]
    fn conversions_are_compared_when_there_are_enough() {
        let ads = [ad("a", 0.02, 0.2), ad("b", 0.02, 0.1)];
        let mut groups = vec![rank_group(&ads, &[], 1000.0).expect("ranked")];
        adjust(&mut groups);
        assert_eq!(groups[0].metric, Metric::ConversionRate);
        assert_eq!(groups[0].entries[0].ad_id, "a");
        assert_eq!(groups[0].entries[0].verdict, Verdict::Winner);
    }

    #[test]
    fn excluded_ads_are_not_a_baseline() {
        let ads = [ad("healthy", 0.018, 0.01), ad("tired", 0.009, 0.01)];
        let mut groups = vec![rank_group(&ads, &["tired".to_string()], 1000.0).expect("ranked")];
        adjust(&mut groups);
        assert_eq!(groups[0].entries.len(), 1);
        assert_eq!(groups[0].entries[0].ad_id, "tired");
        assert_eq!(groups[0].entries[0].verdict, Verdict::Loser);
        assert!(rank_group(&ads[..1], &[], 1000.0).is_none());
        assert!(rank_group(&ads, &[], 1e9).is_none());
    }

    #[test]
    fn holm_across_groups_can_overrule_a_lone_small_p() {
        // z ≈ 2.1 alone (p ≈ 0.03) is significant; across 40 tests it is not.
        let ads = [ad("a", 0.0195, 0.01), ad("b", 0.0175, 0.01)];
        let mut alone = vec![rank_group(&ads, &[], 1000.0).expect("ranked")];
        adjust(&mut alone);
        let p = alone[0].entries[0].p;
        assert!(p < 0.05, "{p}");
        let mut many: Vec<GroupRanking> = (0..20).map(|_| alone[0].clone()).collect();
        adjust(&mut many);
        assert!(
            many.iter()
                .flat_map(|g| &g.entries)
                .all(|e| e.verdict == Verdict::Neutral)
        );
    }
}
