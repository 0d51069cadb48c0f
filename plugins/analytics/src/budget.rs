//! Budget moves between campaigns of one platform: from the campaign that
//! earns the least on its next dollar (marginal ROAS) to the one that earns
//! the most, inside the tenant's guardrails and keeping the total unchanged.

use crate::stats::{TTest, mean, ols, welch};

/// Fewest days with spend for a campaign to be judged.
pub const MIN_DAYS: usize = 14;

/// One campaign's recent days, aligned on the same dates.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignDays {
    /// The platform's campaign id.
    pub id: String,
    /// Its name, for rationales.
    pub name: String,
    /// Its current daily budget, when the platform reports one.
    pub daily_budget: Option<f64>,
    /// Whether it is delivering (paused campaigns are left alone).
    pub active: bool,
    /// Spend by day.
    pub spend: Vec<f64>,
    /// Conversion value by day.
    pub value: Vec<f64>,
}

/// How the marginal ROAS was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The slope of conversion value against spend across days.
    Slope,
    /// The average ROAS, when spend did not vary enough for a slope.
    Average,
}

/// A campaign's return on its next unit of spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Marginal {
    /// Conversion value per extra unit of spend.
    pub roas: f64,
    /// Conversion value per unit of spend overall.
    pub average: f64,
    /// How `roas` was estimated.
    pub method: Method,
    /// Days with spend.
    pub days: usize,
}

/// Estimates marginal ROAS as the least-squares slope of daily conversion
/// value on daily spend. Falls back to the average ROAS when spend barely
/// varied (coefficient of variation under 5%), the fit is poor (R² < 0.3) or
/// the slope is implausible (outside a third to three times the average).
pub fn marginal_roas(spend: &[f64], value: &[f64]) -> Option<Marginal> {
    let (x, y): (Vec<f64>, Vec<f64>) = spend
        .iter()
        .zip(value)
        .filter(|(s, _)| **s >= 1.0)
        .map(|(s, v)| (*s, *v))
        .unzip();
    if x.len() < MIN_DAYS {
        return None;
    }
    let total: f64 = x.iter().sum();
    let average = y.iter().sum::<f64>() / total;
    let mx = mean(&x)?;
    let cv = crate::stats::variance(&x)?.sqrt() / mx;
    let slope = ols(&x, &y)
        .filter(|line| cv >= 0.05 && line.r2 >= 0.3)
        .map(|line| line.slope)
        .filter(|s| *s >= average / 3.0 && *s <= average * 3.0);
    Some(Marginal {
        roas: slope.unwrap_or(average),
        average,
        method: if slope.is_some() {
            Method::Slope
        } else {
            Method::Average
        },
        days: x.len(),
    })
}

/// Daily ROAS values, for the significance test.
fn daily_roas(campaign: &CampaignDays) -> Vec<f64> {
    campaign
        .spend
        .iter()
        .zip(&campaign.value)
        .filter(|(s, _)| **s >= 1.0)
        .map(|(s, v)| v / s)
        .collect()
}

/// The limits a move must respect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest change of one campaign's budget, in percent of it.
    pub max_change_percent: f64,
    /// Largest change in money, if capped.
    pub max_change_absolute: Option<f64>,
    /// The receiving campaign's ROAS (marginal and average) must be at least
    /// this multiple of the giving one's.
    pub min_gap: f64,
    /// The daily ROAS difference must be significant at this level.
    pub max_p: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_change_percent: 20.0,
            max_change_absolute: None,
            min_gap: 1.5,
            max_p: 0.01,
        }
    }
}

/// A proposed move of daily budget between two campaigns.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// Index of the campaign giving budget.
    pub from: usize,
    /// Index of the campaign receiving it.
    pub to: usize,
    /// Money per day moved.
    pub amount: f64,
    /// The giver's estimate.
    pub from_roas: Marginal,
    /// The receiver's estimate.
    pub to_roas: Marginal,
    /// Welch's test of the receiver's daily ROAS against the giver's.
    pub test: TTest,
    /// Receiver's marginal ROAS over the giver's.
    pub ratio: f64,
    /// How sure the move is right, in [0, 1].
    pub confidence: f64,
}

/// Rounds money down to cents so a change never exceeds its cap.
fn floor_cents(amount: f64) -> f64 {
    (amount * 100.0).floor() / 100.0
}

/// Plans at most one move on a platform, from the lowest to the highest
/// marginal ROAS among active campaigns with a budget; `None` when the gap
/// is not large and significant or the move would be under one money unit.
pub fn plan(campaigns: &[CampaignDays], limits: &Limits) -> Option<Move> {
    let eligible: Vec<(usize, Marginal)> = campaigns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.active && c.daily_budget.is_some_and(|b| b > 0.0))
        .filter_map(|(i, c)| marginal_roas(&c.spend, &c.value).map(|m| (i, m)))
        .collect();
    let (to, to_roas) = *eligible.iter().max_by(|a, b| a.1.roas.total_cmp(&b.1.roas))?;
    let (from, from_roas) = *eligible.iter().min_by(|a, b| a.1.roas.total_cmp(&b.1.roas))?;
    if from == to || from_roas.roas <= 0.0 || from_roas.average <= 0.0 {
        return None;
    }
    let ratio = to_roas.roas / from_roas.roas;
    // The gap must show both at the margin and on average, so a noisy slope
    // alone cannot move money.
    if ratio < limits.min_gap || to_roas.average / from_roas.average < limits.min_gap {
        return None;
    }
    let test = welch(&daily_roas(&campaigns[to]), &daily_roas(&campaigns[from]))?;
    if test.t <= 0.0 || test.p > limits.max_p {
        return None;
    }
    let from_budget = campaigns[from].daily_budget?;
    let to_budget = campaigns[to].daily_budget?;
    // The same amount leaves one and joins the other, so it must fit the
    // percentage cap of the smaller budget.
    let mut amount = from_budget.min(to_budget) * limits.max_change_percent.clamp(0.0, 100.0) / 100.0;
    if let Some(cap) = limits.max_change_absolute {
        amount = amount.min(cap.max(0.0));
    }
    let amount = floor_cents(amount);
    if amount < 1.0 {
        return None;
    }
    // Certainty (1 − p) times effect size: a 1.5× gap gives 0.63, 2× 0.86,
    // 3× 0.98; a fallback to average ROAS knows less about the margin.
    let effect = 1.0 - (-2.0 * (ratio - 1.0)).exp();
    let method = if from_roas.method == Method::Slope && to_roas.method == Method::Slope {
        1.0
    } else {
        0.85
    };
    let confidence = ((1.0 - test.p) * effect * method).clamp(0.05, 0.99);
    Some(Move {
        from,
        to,
        amount,
        from_roas,
        to_roas,
        test,
        ratio,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    fn campaign(rng: &mut Rng, id: &str, budget: f64, roas: f64) -> CampaignDays {
        let spend: Vec<f64> = (0..28)
            .map(|t| budget * [1.0, 0.95, 0.95, 1.0, 1.1, 1.2, 1.15][t % 7] * rng.uniform(0.85, 1.0))
            .collect();
        let value = spend.iter().map(|s| s * roas * rng.uniform(0.9, 1.1)).collect();
        CampaignDays {
            id: id.into(),
            name: format!("Campaign {id}"),
            daily_budget: Some(budget),
            active: true,
            spend,
            value,
        }
    }

    #[test]
    fn moves_budget_to_the_best_campaign_within_guardrails() {
        let mut rng = Rng::new(5);
        let campaigns = vec![
            campaign(&mut rng, "a", 160.0, 2.1),
            campaign(&mut rng, "b", 90.0, 7.5),
            campaign(&mut rng, "c", 55.0, 2.4),
        ];
        let limits = Limits {
            max_change_percent: 15.0,
            ..Limits::default()
        };
        let plan = plan(&campaigns, &limits).expect("a move");
        assert_eq!(campaigns[plan.to].id, "b");
        assert_eq!(campaigns[plan.from].id, "a");
        // Within 15% of each campaign's budget: 15% of the smaller, 90.
        assert!((plan.amount - 13.5).abs() < 1e-9, "{}", plan.amount);
        // A move takes from one campaign and gives to another, and leaves
        // the giver a budget (the total is checked end to end, on the
        // proposals, in tests/tests/all/agents.rs).
        assert_ne!(plan.from, plan.to);
        assert!(plan.amount > 0.0);
        assert!(campaigns[plan.from].daily_budget.expect("budget") - plan.amount > 0.0);
        for (i, sign) in [(plan.from, -1.0), (plan.to, 1.0)] {
            let budget = campaigns[i].daily_budget.expect("budget");
            assert!(sign * plan.amount / budget * 100.0 <= 15.0 + 1e-9);
        }
        assert!(
            plan.confidence > 0.9 && plan.confidence <= 0.99,
            "{}",
            plan.confidence
        );
        // A slope from 28 noisy days is rough; the average is tight.
        assert!((plan.to_roas.roas - 7.5).abs() < 1.9, "{:?}", plan.to_roas);
        assert!((plan.to_roas.average - 7.5).abs() < 0.3, "{:?}", plan.to_roas);
        assert_eq!(plan.to_roas.method, Method::Slope);
    }

    #[test]
    fn an_absolute_cap_and_paused_campaigns_are_respected() {
        let mut rng = Rng::new(6);
        let mut campaigns = vec![
            campaign(&mut rng, "a", 160.0, 2.0),
            campaign(&mut rng, "b", 90.0, 7.5),
            campaign(&mut rng, "c", 55.0, 9.0),
        ];
        campaigns[2].active = false;
        let limits = Limits {
            max_change_absolute: Some(5.0),
            ..Limits::default()
        };
        let plan = plan(&campaigns, &limits).expect("a move");
        assert_eq!(campaigns[plan.to].id, "b");
        assert!((plan.amount - 5.0).abs() < 1e-9);
    }

    #[test]
    fn similar_campaigns_get_no_move() {
        for seed in 1..20 {
            let mut rng = Rng::new(seed);
            let campaigns = vec![
                campaign(&mut rng, "a", 160.0, 1.8),
                campaign(&mut rng, "b", 90.0, 2.6),
                campaign(&mut rng, "c", 55.0, 2.2),
            ];
            assert!(plan(&campaigns, &Limits::default()).is_none(), "seed {seed}");
        }
    }

    #[test]
    fn flat_spend_falls_back_to_average_roas() {
        let spend = vec![100.0; 20];
        let value = vec![250.0; 20];
        let m = marginal_roas(&spend, &value).expect("estimate");
        assert_eq!(m.method, Method::Average);
        assert!((m.roas - 2.5).abs() < 1e-12);
        assert!(marginal_roas(&spend[..5], &value[..5]).is_none());
    }
}
