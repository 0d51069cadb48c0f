//! From a tenant's decisions on one kind of proposal to the confidence that
//! kind needs to run unattended.
//!
//! The tenant's approval rate `p` for a kind gets a Beta posterior. An edit is
//! an approval of a changed input: the tenant wanted the action but not quite
//! as proposed, so it counts half as an approval and half as a rejection.
//!
//! The threshold follows the Bayes factor the decisions give for "the tenant
//! approves at least `target` of these proposals" against "less than
//! `target`": `ln BF = logit P(p > target | decisions) - logit P(p > target)`
//! under the prior. With no decisions `ln BF = 0` and the threshold is the
//! default; as evidence of approval builds up it slides toward the floor, as
//! evidence of rejection builds up toward the ceiling, by `tanh(|ln BF| / 4)`
//! of the way. The rule is monotone (each approval lowers it, each rejection
//! raises it), a few decisions move it little (one decision moves `ln BF` by
//! at most about 1.4 with the default prior), and rejections weigh more than
//! approvals when `target` is high, which is the safe side for money.

use statrs::distribution::{Beta, ContinuousCDF};

/// How far `ln BF` must go to cover `tanh(1) ≈ 76%` of the way to the bound.
pub const BAYES_FACTOR_SCALE: f64 = 4.0;
/// The lowest threshold learning may set: even a tenant who approves
/// everything wants a proposal the agent itself doubts to wait for them.
pub const FLOOR: f64 = 0.55;
/// The highest threshold learning may set; above the agents' usual confidence,
/// so a kind the tenant keeps rejecting practically never runs unattended.
pub const CEILING: f64 = 0.99;

/// Human decisions on one kind of proposal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Approved as proposed.
    pub approved: u32,
    /// Approved with a changed input.
    pub edited: u32,
    /// Rejected.
    pub rejected: u32,
}

impl Counts {
    /// All human decisions.
    pub fn total(&self) -> u32 {
        self.approved + self.edited + self.rejected
    }

    /// The sum of two tallies, to pool sizes into an action.
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            approved: self.approved + other.approved,
            edited: self.edited + other.edited,
            rejected: self.rejected + other.rejected,
        }
    }
}

/// A Beta distribution on the approval rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaDist {
    /// Pseudo-count of approvals.
    pub alpha: f64,
    /// Pseudo-count of rejections.
    pub beta: f64,
}

impl BetaDist {
    /// The posterior after `counts`, an edit counting half each way.
    pub fn updated(self, counts: Counts) -> BetaDist {
        let half_edits = 0.5 * f64::from(counts.edited);
        BetaDist {
            alpha: self.alpha + f64::from(counts.approved) + half_edits,
            beta: self.beta + f64::from(counts.rejected) + half_edits,
        }
    }

    /// The mean approval rate.
    pub fn mean(self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// `logit P(p > x)`, from both tails computed directly so the small one
    /// keeps its precision; 0 (no evidence) for non-positive pseudo-counts,
    /// which the task's input validation already rules out.
    pub fn log_odds_above(self, x: f64) -> f64 {
        let Ok(dist) = Beta::new(self.alpha, self.beta) else {
            return 0.0;
        };
        // Clamped so a kind with thousands of decisions saturates instead of
        // producing infinities; tanh is flat long before ±700. A tail too small
        // for f64 (below e^-745) has log −∞, but any tail below e^-700 saturates
        // the clamp anyway, so taking logs of the tails loses nothing.
        (dist.sf(x).ln() - dist.cdf(x).ln()).clamp(-700.0, 700.0)
    }
}

/// The settings of the threshold rule, from the task's input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Belief about the approval rate before any decision.
    pub prior: BetaDist,
    /// The approval rate a kind must be shown to exceed to be relaxed.
    pub target: f64,
    /// The threshold with no evidence, and for kinds never decided.
    pub default: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            prior: BetaDist {
                alpha: 2.0,
                beta: 2.0,
            },
            target: 0.8,
            default: 0.8,
        }
    }
}

/// What the rule concluded for one kind of proposal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// The posterior on the approval rate.
    pub posterior: BetaDist,
    /// `P(p > target)` under the posterior.
    pub probability_above_target: f64,
    /// Natural log of the Bayes factor for `p > target`.
    pub ln_bayes_factor: f64,
    /// The confidence a proposal of this kind needs to run unattended.
    pub threshold: f64,
}

impl Rule {
    /// The lowest threshold this rule sets (the floor, or the default if lower).
    pub fn floor(&self) -> f64 {
        FLOOR.min(self.default)
    }

    /// The highest threshold this rule sets (the ceiling, or the default if higher).
    pub fn ceiling(&self) -> f64 {
        CEILING.max(self.default)
    }

    /// The posterior and threshold for a kind with these decisions.
    pub fn learn(&self, counts: Counts) -> Learned {
        let posterior = self.prior.updated(counts);
        let log_odds = posterior.log_odds_above(self.target);
        let ln_bayes_factor = log_odds - self.prior.log_odds_above(self.target);
        Learned {
            posterior,
            probability_above_target: 1.0 / (1.0 + (-log_odds).exp()),
            ln_bayes_factor,
            threshold: self.threshold_for(ln_bayes_factor),
        }
    }

    /// Map a log Bayes factor for "approves at least `target`" to a threshold.
    pub fn threshold_for(&self, ln_bayes_factor: f64) -> f64 {
        let pull = (ln_bayes_factor.abs() / BAYES_FACTOR_SCALE).tanh();
        if ln_bayes_factor >= 0.0 {
            self.default - (self.default - self.floor()) * pull
        } else {
            self.default + (self.ceiling() - self.default) * pull
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(approved: u32, edited: u32, rejected: u32) -> Counts {
        Counts {
            approved,
            edited,
            rejected,
        }
    }

    fn threshold(approved: u32, edited: u32, rejected: u32) -> f64 {
        Rule::default()
            .learn(counts(approved, edited, rejected))
            .threshold
    }

    #[test]
    fn no_decisions_give_the_default() {
        let rule = Rule::default();
        let learned = rule.learn(Counts::default());
        assert!((learned.threshold - 0.8).abs() < 1e-12);
        assert!(learned.ln_bayes_factor.abs() < 1e-12);
        // Also with an asymmetric prior and another default and target.
        let rule = Rule {
            prior: BetaDist {
                alpha: 5.0,
                beta: 1.5,
            },
            target: 0.6,
            default: 0.9,
        };
        assert!((rule.learn(Counts::default()).threshold - 0.9).abs() < 1e-12);
    }

    #[test]
    fn thresholds_fall_as_approvals_accumulate() {
        let mut previous = threshold(0, 0, 0);
        for approved in 1..=60 {
            let next = threshold(approved, 0, 1);
            let before = threshold(approved - 1, 0, 1);
            assert!(next < before, "{approved} approvals: {next} !< {before}");
            let without_rejection = threshold(approved, 0, 0);
            assert!(
                without_rejection <= previous,
                "{approved}: {without_rejection} > {previous}"
            );
            previous = without_rejection;
        }
        assert!(threshold(10, 0, 0) < 0.65);
        assert!((FLOOR..FLOOR + 0.01).contains(&previous), "{previous}");
    }

    #[test]
    fn thresholds_rise_with_rejections() {
        for rejected in 1..=30 {
            let next = threshold(9, 0, rejected);
            let before = threshold(9, 0, rejected - 1);
            assert!(next > before, "{rejected} rejections: {next} !> {before}");
        }
        // Half rejected: practically never unattended.
        assert!(threshold(5, 0, 5) > 0.9);
        assert!(threshold(1, 0, 9) <= CEILING && threshold(1, 0, 9) > 0.98);
    }

    #[test]
    fn few_decisions_stay_near_the_default() {
        assert!((threshold(1, 0, 0) - 0.8).abs() < 0.05, "{}", threshold(1, 0, 0));
        assert!((threshold(0, 0, 1) - 0.8).abs() < 0.07, "{}", threshold(0, 0, 1));
        assert!((threshold(0, 1, 0) - 0.8).abs() < 0.05, "{}", threshold(0, 1, 0));
        assert!((threshold(1, 0, 1) - 0.8).abs() < 0.1, "{}", threshold(1, 0, 1));
        // Whereas ten clear decisions move it a lot.
        assert!(threshold(10, 0, 0) < 0.7);
        assert!(threshold(0, 0, 10) > 0.95);
    }

    #[test]
    fn an_edit_counts_half_an_approval_and_half_a_rejection() {
        let prior = Rule::default().prior;
        let edited = prior.updated(counts(0, 2, 0));
        let split = prior.updated(counts(1, 0, 1));
        assert_eq!(edited, split);
        assert_eq!(
            prior.updated(counts(3, 1, 2)),
            BetaDist {
                alpha: 5.5,
                beta: 4.5
            }
        );
        // Edits lower the threshold less than approvals and more than rejections.
        assert!(threshold(8, 2, 0) > threshold(10, 0, 0));
        assert!(threshold(8, 2, 0) < threshold(8, 0, 2));
    }

    #[test]
    fn thresholds_stay_within_bounds() {
        for &(a, e, r) in &[
            (0, 0, 500),
            (500, 0, 0),
            (3000, 0, 0),
            (0, 0, 3000),
            (250, 250, 250),
        ] {
            let t = threshold(a, e, r);
            assert!((FLOOR..=CEILING).contains(&t), "{a}/{e}/{r}: {t}");
        }
        let low_default = Rule {
            default: 0.5,
            ..Rule::default()
        };
        assert!((low_default.learn(counts(400, 0, 0)).threshold - 0.5).abs() < 1e-9);
    }

    #[test]
    fn log_odds_known_answers_and_far_tails() {
        // I_0.3(2, 5) = 0.579825, the Beta(2, 5) CDF at 0.3.
        let dist = BetaDist {
            alpha: 2.0,
            beta: 5.0,
        };
        let expected = (0.420_175f64 / 0.579_825).ln();
        assert!((dist.log_odds_above(0.3) - expected).abs() < 1e-5);
        // I_x(1, 1) is the uniform CDF.
        let uniform = BetaDist {
            alpha: 1.0,
            beta: 1.0,
        };
        assert!((uniform.log_odds_above(0.37) - (0.63f64 / 0.37).ln()).abs() < 1e-12);
        // 2000 approvals and no rejection: P(p <= 0.8) is about 1e-194.
        let approving = BetaDist {
            alpha: 2002.0,
            beta: 2.0,
        };
        let odds = approving.log_odds_above(0.8);
        assert!(odds > 400.0 && odds < 700.0, "{odds}");
        // Tails beyond f64 saturate at the clamp rather than becoming infinite.
        assert_eq!(
            BetaDist {
                alpha: 2.0,
                beta: 5002.0
            }
            .log_odds_above(0.8),
            -700.0
        );
        assert_eq!(
            BetaDist {
                alpha: 5002.0,
                beta: 2.0
            }
            .log_odds_above(0.8),
            700.0
        );
        assert_eq!(
            BetaDist {
                alpha: 0.0,
                beta: 2.0
            }
            .log_odds_above(0.8),
            0.0
        );
    }

    #[test]
    fn nine_of_ten_approvals_relax_markedly() {
        let learned = Rule::default().learn(counts(9, 0, 1));
        assert!((learned.posterior.mean() - 11.0 / 14.0).abs() < 1e-12);
        // P(p > 0.8) for Beta(11, 3) is 1 - P(Binomial(13, 0.8) >= 11) ≈ 0.498.
        assert!((learned.probability_above_target - 0.49834).abs() < 1e-4);
        assert!(
            learned.threshold > 0.6 && learned.threshold < 0.72,
            "{}",
            learned.threshold
        );
    }
}
