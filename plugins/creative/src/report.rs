//! Insights and proposals in plain language, each with the numbers behind it.

use crate::fatigue::{Assessment, Period};
use crate::ranking::{self, Entry, GroupRanking, Metric, Verdict};
use crate::records::{Campaign, format_date};
use crate::text;
use omnify_sdk::agent::{Impact, Insight, Proposal, Severity};
use omnify_sdk::json;

/// What the text needs to know about one ad.
#[derive(Debug, Clone)]
pub struct AdContext {
    /// The connector serving it.
    pub connector: String,
    /// The ad's id.
    pub ad_id: String,
    /// The ad's name.
    pub name: String,
    /// Its ad group.
    pub ad_group_id: String,
    /// Its ad group's name.
    pub ad_group_name: String,
    /// Its campaign.
    pub campaign_id: String,
    /// Whether it is delivering (only those are proposed for a pause).
    pub active: bool,
    /// Average daily spend over the last week of data.
    pub daily_spend: f64,
    /// Days the daily spend averages over.
    pub spend_days: i64,
    /// ISO currency.
    pub currency: Option<String>,
}

impl AdContext {
    /// `“name” (id)`, or just the id when the ad has no name.
    pub fn label(&self) -> String {
        if self.name == self.ad_id {
            format!("ad {}", self.ad_id)
        } else {
            format!("“{}” ({})", self.name, self.ad_id)
        }
    }

    fn spend_sentence(&self) -> String {
        format!(
            " Over the last {} days it spent {} a day.",
            self.spend_days,
            text::money(self.daily_spend, self.currency.as_deref())
        )
    }

    fn pause_impact(&self) -> Impact {
        Impact {
            metric: "daily_spend".into(),
            absolute: -round2(self.daily_spend),
            percent: -100.0,
        }
    }
}

/// The review's window, for text.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Its length in days.
    pub days: i64,
    /// Its last day (days since 1970-01-01).
    pub last: i64,
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn span(period: &Period) -> String {
    format!(
        "the {} days to {}",
        period.last - period.first + 1,
        format_date(period.last)
    )
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Ctr => "CTR",
        Metric::ConversionRate => "conversions per impression",
    }
}

/// The sentence stating a fatigue finding, shared by insight and proposal.
fn fatigue_sentence(ad: &AdContext, a: &Assessment) -> String {
    let mut sentence = format!(
        "CTR of {} fell from {} in {} to {} in {} ({}, z = {}, {}), and is still falling inside the window \
         (trend {} → {}, t = {})",
        ad.label(),
        text::rate(a.baseline.ctr),
        span(&a.baseline),
        text::rate(a.recent.ctr),
        span(&a.recent),
        text::change(a.change),
        text::signed(a.z, 1),
        text::p_value(a.p),
        text::rate(a.trend_ends.0),
        text::rate(a.trend_ends.1),
        text::signed(a.trend.t, 1),
    );
    match a.frequency {
        Some(f) => sentence.push_str(&format!(
            ", while its daily frequency rose from {:.2} to {:.2} (t = {}). The same people see it more \
             often and respond less: the creative is wearing out.",
            f.baseline,
            f.recent,
            text::signed(f.t, 1)
        )),
        None => sentence.push_str(&format!(
            ". {} does not report frequency, so this rests on the CTR decline alone, held to a ten times \
             stricter significance level, and confidence is lower.",
            text::platform(&ad.connector)
        )),
    }
    sentence
}

/// A `creative-fatigue` insight.
pub fn fatigue_insight(ad: &AdContext, a: &Assessment, tests: usize) -> Insight {
    let period = |p: &Period| {
        json!({"from": format_date(p.first), "to": format_date(p.last), "days": p.days,
            "impressions": p.impressions, "clicks": p.clicks, "ctr": p.ctr, "frequency": p.frequency})
    };
    Insight {
        kind: "creative-fatigue".into(),
        title: format!(
            "Creative fatigue on {}: {}",
            text::platform(&ad.connector),
            ad.label()
        ),
        severity: Severity::Warning,
        rationale: format!("{}{}", fatigue_sentence(ad, a), ad.spend_sentence()),
        data: json!({
            "connector": ad.connector, "ad_id": ad.ad_id, "ad_name": ad.name,
            "ad_group_id": ad.ad_group_id, "campaign_id": ad.campaign_id,
            "baseline": period(&a.baseline), "recent": period(&a.recent), "compared_halves": a.halves,
            "ctr_change_percent": a.change * 100.0, "z": a.z, "p_value": a.p,
            "alpha": a.alpha(tests), "ads_tested": tests, "dispersion": a.dispersion,
            "trend": {"slope_per_day": a.trend.slope, "t": a.trend.t,
                "start_ctr": a.trend_ends.0, "end_ctr": a.trend_ends.1},
            "frequency_available": a.frequency.is_some(),
            "frequency": a.frequency.map(|f| json!({"baseline": f.baseline, "recent": f.recent, "t": f.t})),
            "recent_daily_spend": ad.daily_spend, "currency": ad.currency,
            "confidence": a.confidence(tests),
        }),
    }
}

const ALONE: &str = " It is the only active ad left in its ad group, so pausing it stops the group until a \
                     new creative is added.";

fn pause(ad: &AdContext, confidence: f64, rationale: String) -> Proposal {
    Proposal {
        connector: ad.connector.clone(),
        action: "pause-ad".into(),
        input: json!({"ad_id": ad.ad_id}),
        confidence,
        expected_impact: ad.pause_impact(),
        rationale,
    }
}

/// A `pause-ad` proposal for a fatigued ad; `alone` when nothing else in
/// its group would keep delivering (which lowers confidence).
pub fn pause_fatigued(ad: &AdContext, a: &Assessment, tests: usize, alone: bool) -> Proposal {
    let mut rationale = format!(
        "Pause {}. {}{}",
        ad.label(),
        fatigue_sentence(ad, a),
        ad.spend_sentence()
    );
    if alone {
        rationale.push_str(ALONE);
    }
    let confidence = a.confidence(tests) * if alone { 0.8 } else { 1.0 };
    pause(ad, confidence, rationale)
}

/// The sentence comparing an ad with the rest of its group.
fn comparison(ad: &AdContext, entry: &Entry, metric: Metric, window: Window, tests: usize) -> String {
    format!(
        "over the {} days to {} its {} was {} against {} for the rest of ad group “{}” ({}, z = {}, \
         Holm-adjusted {} across {} ads ranked)",
        window.days,
        format_date(window.last),
        metric_name(metric),
        text::rate(entry.rate),
        text::rate(entry.rest_rate),
        ad.ad_group_name,
        text::change(entry.lift),
        text::signed(entry.z, 1),
        text::p_value(entry.p_adjusted),
        tests,
    )
}

/// A `pause-ad` proposal for a significant loser.
pub fn pause_loser(
    ad: &AdContext,
    entry: &Entry,
    metric: Metric,
    window: Window,
    tests: usize,
    alone: bool,
) -> Proposal {
    let mut rationale = format!(
        "Pause {}: {}.{}",
        ad.label(),
        comparison(ad, entry, metric, window, tests),
        ad.spend_sentence()
    );
    if alone {
        rationale.push_str(ALONE);
    }
    let confidence = ranking::confidence(entry) * if alone { 0.8 } else { 1.0 };
    pause(ad, confidence, rationale)
}

/// A `set-daily-budget` proposal raising a significant winner's campaign by
/// half the measured lift, capped by the guardrails (percent, and money when
/// set); `None` when the campaign has no daily budget or the step would be
/// under 1%.
#[allow(clippy::too_many_arguments)]
pub fn raise_budget(
    ad: &AdContext,
    campaign: &Campaign,
    entry: &Entry,
    metric: Metric,
    window: Window,
    tests: usize,
    max_percent: f64,
    max_absolute: Option<f64>,
) -> Option<Proposal> {
    let budget = campaign.daily_budget?;
    let cap = max_absolute.map_or(max_percent, |a| max_percent.min(a / budget * 100.0));
    let step = (entry.lift * 100.0 / 2.0).min(cap);
    if step < 1.0 {
        return None;
    }
    // Round down to the cent so rounding never crosses the guardrail.
    let new_budget = (budget * (1.0 + step / 100.0) * 100.0).floor() / 100.0;
    let absolute = round2(new_budget - budget);
    let percent = absolute / budget * 100.0;
    let currency = campaign.currency.as_deref().or(ad.currency.as_deref());
    let rationale = format!(
        "Raise the daily budget of campaign “{}” from {} to {} ({}): its ad {} is a clear winner; {}. \
         The step is half the measured lift, within the {}% guardrail.",
        campaign.name,
        text::money(budget, currency),
        text::money(new_budget, currency),
        text::change(percent / 100.0),
        ad.label(),
        comparison(ad, entry, metric, window, tests),
        text::signed(max_percent, 0),
    );
    Some(Proposal {
        connector: ad.connector.clone(),
        action: "set-daily-budget".into(),
        input: json!({"campaign_id": campaign.id, "daily_budget": new_budget}),
        // Scaling spend also depends on marginal returns this review does not see.
        confidence: 0.9 * ranking::confidence(entry),
        expected_impact: Impact {
            metric: "daily_budget".into(),
            absolute,
            percent,
        },
        rationale,
    })
}

/// An `ad-ranking` insight for one ad group; `ads` gives each entry's context.
pub fn ranking_insight(
    group: &GroupRanking,
    ads: &[&AdContext],
    window: Window,
    tests: usize,
) -> Option<Insight> {
    let first = ads.first()?;
    let context = |id: &str| ads.iter().find(|a| a.ad_id == id);
    let count = |v: Verdict| group.entries.iter().filter(|e| e.verdict == v).count();
    let (winners, losers) = (count(Verdict::Winner), count(Verdict::Loser));
    let parts: Vec<String> = group
        .entries
        .iter()
        .map(|e| {
            let label = context(&e.ad_id).map_or_else(|| e.ad_id.clone(), |a| a.label());
            format!(
                "{label} {} ({} against the rest, z = {}, Holm-adjusted {}: {})",
                text::rate(e.rate),
                text::change(e.lift),
                text::signed(e.z, 1),
                text::p_value(e.p_adjusted),
                e.verdict.name()
            )
        })
        .collect();
    let verdict = match (winners, losers) {
        (0, 0) => "no ad differs from the rest of the group by a significant and material margin".into(),
        (w, l) => format!("{w} winner(s) and {l} loser(s)"),
    };
    let mut rationale = format!(
        "Over the {} days to {}, by {} (overdispersion {:.1}, {} ads ranked in this review): {}. So {}.",
        window.days,
        format_date(window.last),
        metric_name(group.metric),
        group.dispersion,
        tests,
        parts.join("; "),
        verdict
    );
    if !group.excluded.is_empty() {
        rationale.push_str(&format!(
            " Fatigued ads ({}) are left out of the baseline, so no sibling wins just because they wore out.",
            group.excluded.join(", ")
        ));
    }
    let entries: Vec<_> = group
        .entries
        .iter()
        .map(|e| {
            json!({"ad_id": e.ad_id, "ad_name": context(&e.ad_id).map(|a| a.name.clone()),
                "impressions": e.impressions, "successes": e.successes, "rate": e.rate,
                "rest_rate": e.rest_rate, "lift_percent": e.lift * 100.0, "z": e.z, "p_value": e.p,
                "p_adjusted": e.p_adjusted, "verdict": e.verdict.name()})
        })
        .collect();
    Some(Insight {
        kind: "ad-ranking".into(),
        title: format!(
            "Ad group “{}” on {}: {}",
            first.ad_group_name,
            text::platform(&first.connector),
            if winners + losers == 0 {
                "no clear winner or loser".to_string()
            } else {
                format!("{winners} winner(s), {losers} loser(s)")
            }
        ),
        severity: if winners + losers > 0 {
            Severity::Notice
        } else {
            Severity::Info
        },
        rationale,
        data: json!({
            "connector": first.connector, "ad_group_id": first.ad_group_id, "campaign_id": first.campaign_id,
            "metric": group.metric.name(), "dispersion": group.dispersion, "window_days": window.days,
            "to": format_date(window.last), "ads_ranked": tests, "correction": "holm",
            "alpha": ranking::FAMILY_ALPHA, "min_lift_percent": ranking::MIN_LIFT * 100.0, "ads": entries,
            "excluded_from_baseline": group.excluded,
        }),
    })
}
