//! The review's findings: spend anomalies, the ROAS ranking, the revenue
//! lag, the forecasts and the budget moves, each turned into insights or
//! proposals with the numbers behind them.

use crate::anomaly::{self, Params, Score};
use crate::budget::{self, CampaignDays, Method};
use crate::date::{self, WEEKDAYS};
use crate::forecast::{HoltWinters, WEEK, Z90};
use crate::format::{p_value, r2, r4};
use crate::lag;
use crate::review::{Context, WINDOW, dense, total};
use crate::stats::median;
use omnify_sdk::agent::{Impact, Insight, Proposal, RunOutput, Severity};
use omnify_sdk::{Value, json};
use std::collections::BTreeSet;

/// A campaign's ROAS counts as far above its siblings' beyond this multiple
/// of their median.
pub const OUTLIER_RATIO: f64 = 2.0;

/// One spend-anomaly insight.
fn anomaly_insight(cx: &Context, subject: &str, data: Value, first_day: i64, s: &Score) -> Insight {
    let day = first_day + s.index as i64;
    let weekday = WEEKDAYS[date::weekday(day)];
    let multiple = if s.expected > 0.0 {
        s.value / s.expected
    } else {
        f64::INFINITY
    };
    let direction = if s.z > 0.0 { "spike" } else { "drop" };
    let threshold = Params::default().threshold;
    let mut data = data;
    if let Some(map) = data.as_object_mut() {
        map.insert("date".into(), json!(date::format(day)));
        map.insert("weekday".into(), json!(weekday));
        map.insert("value".into(), json!(r2(s.value)));
        map.insert("expected".into(), json!(r2(s.expected)));
        map.insert("ratio".into(), json!(multiple.is_finite().then(|| r4(multiple))));
        map.insert("z".into(), json!(r4(s.z)));
        map.insert("threshold".into(), json!(threshold));
        map.insert("direction".into(), json!(direction));
    }
    Insight {
        kind: "spend-anomaly".into(),
        title: format!("Spend {direction} on {subject} on {}", date::format(day)),
        severity: if s.z.abs() >= 10.0 {
            Severity::Critical
        } else {
            Severity::Warning
        },
        rationale: format!(
            "Spend on {subject} on {} was {}, {:.1}× the {} expected for a {weekday} (the median of the \
             previous {WINDOW} days adjusted for the weekday pattern, {weekday} factor {:.2}; robust z = \
             {:.1}, flagged from |z| ≥ {threshold}).",
            date::format(day),
            cx.money.fmt(s.value),
            multiple,
            cx.money.fmt(s.expected),
            s.weekday_factor,
            s.z,
        ),
        data,
    }
}

/// Spend anomalies per campaign and per platform over the long window. A
/// platform anomaly on a day one of its campaigns explains is not repeated.
pub fn spend_anomalies(cx: &Context, out: &mut RunOutput) {
    let params = Params::default();
    for p in &cx.data.platforms {
        let mut explained = BTreeSet::new();
        for (id, days) in &p.days {
            let Some(first) = days.keys().next().copied().filter(|d| *d <= cx.cutoff) else {
                continue;
            };
            let series: Vec<f64> = dense(days, first, cx.cutoff).iter().map(|m| m.spend).collect();
            for s in anomaly::anomalies(&series, date::weekday(first), &params, WINDOW as usize) {
                explained.insert(s.index as i64 + first);
                let name = p.campaign_name(id);
                let data = json!({"level": "campaign", "connector": p.connector, "platform": p.label,
                    "campaign_id": id, "campaign_name": name});
                let subject = format!("{} campaign “{name}” ({id})", p.label);
                out.insights.push(anomaly_insight(cx, &subject, data, first, &s));
            }
        }
        let Some(first) = p.days.values().filter_map(|d| d.keys().next().copied()).min() else {
            continue;
        };
        if first > cx.cutoff {
            continue;
        }
        let mut series = vec![0.0; (cx.cutoff - first + 1) as usize];
        for days in p.days.values() {
            for (day, m) in days.range(first..=cx.cutoff) {
                series[(day - first) as usize] += m.spend;
            }
        }
        for s in anomaly::anomalies(&series, date::weekday(first), &params, WINDOW as usize) {
            if explained.contains(&(s.index as i64 + first)) {
                continue;
            }
            let data = json!({"level": "platform", "connector": p.connector, "platform": p.label,
                "campaign_id": null, "campaign_name": null});
            let subject = format!("all {} campaigns", p.label);
            out.insights.push(anomaly_insight(cx, &subject, data, first, &s));
        }
    }
}

/// ROAS per campaign over the long window, flagging campaigns far above the
/// median of their siblings on the same platform.
pub fn roas_ranking(cx: &Context, out: &mut RunOutput) {
    let from = cx.window_start();
    let mut rows = Vec::new();
    for p in &cx.data.platforms {
        let sums: Vec<(String, f64, f64)> = p
            .days
            .iter()
            .map(|(id, d)| {
                let m = total(d, from, cx.cutoff);
                (id.clone(), m.spend, m.value)
            })
            .collect();
        let platform_spend: f64 = sums.iter().map(|s| s.1).sum();
        // Tiny spend gives meaningless ROAS: at least 10 money units and 1%
        // of the platform's spend.
        let ranked: Vec<&(String, f64, f64)> = sums
            .iter()
            .filter(|(_, spend, _)| *spend >= 10.0 && *spend >= 0.01 * platform_spend)
            .collect();
        for (id, spend, value) in &ranked {
            let roas = value / spend;
            let siblings: Vec<f64> = ranked.iter().filter(|s| s.0 != *id).map(|s| s.2 / s.1).collect();
            let sibling_median = median(&siblings);
            let multiple = sibling_median.filter(|m| *m > 0.0).map(|m| roas / m);
            rows.push((
                p,
                id.clone(),
                *spend,
                *value,
                roas,
                siblings.len(),
                sibling_median,
                multiple,
            ));
        }
    }
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| b.4.total_cmp(&a.4));
    let outlier = |m: Option<f64>| m.is_some_and(|m| m > OUTLIER_RATIO);
    let mut sentences = Vec::new();
    let mut outliers = Vec::new();
    for (p, id, spend, _, roas, n, sibling_median, multiple) in rows.iter().filter(|r| outlier(r.7)) {
        let name = p.campaign_name(id);
        sentences.push(format!(
            "{} campaign “{name}” returned {} per {} spent over the last {WINDOW} days (ROAS {roas:.2} on {} \
             of spend), {:.1}× the median ROAS of {:.2} of its {n} sibling campaign(s) on {}.",
            p.label,
            cx.money.fmt(*roas),
            cx.money.fmt(1.0),
            cx.money.fmt(*spend),
            multiple.unwrap_or(0.0),
            sibling_median.unwrap_or(0.0),
            p.label,
        ));
        outliers.push(
            json!({"connector": p.connector, "platform": p.label, "campaign_id": id,
            "name": name, "roas": r4(*roas), "sibling_median": sibling_median.map(r4),
            "multiple": multiple.map(r4)}),
        );
    }
    if outliers.is_empty() {
        sentences.push(format!(
            "No campaign's ROAS over the last {WINDOW} days is more than {OUTLIER_RATIO}× the median of \
             its siblings on the same platform."
        ));
    }
    let ranking: Vec<String> = rows
        .iter()
        .take(5)
        .map(|r| format!("{} “{}” {:.2}", r.0.label, r.0.campaign_name(&r.1), r.4))
        .collect();
    sentences.push(format!("Highest ROAS: {}.", ranking.join(", ")));
    let campaigns: Vec<Value> = rows
        .iter()
        .map(|(p, id, spend, value, roas, n, sibling_median, multiple)| {
            json!({"connector": p.connector, "platform": p.label, "campaign_id": id,
                "name": p.campaign_name(id), "spend": r2(*spend), "conversion_value": r2(*value),
                "roas": r4(*roas), "siblings": n, "sibling_median": sibling_median.map(r4),
                "multiple": multiple.map(r4), "outlier": outlier(*multiple)})
        })
        .collect();
    let title = match outliers.first() {
        Some(o) => format!(
            "{} campaign “{}” far out-earns its siblings (ROAS {:.2})",
            o["platform"].as_str().unwrap_or_default(),
            o["name"].as_str().unwrap_or_default(),
            o["roas"].as_f64().unwrap_or_default()
        ),
        None => "ROAS ranking: no campaign stands out".into(),
    };
    out.insights.push(Insight {
        kind: "roas-ranking".into(),
        title,
        severity: if outliers.is_empty() {
            Severity::Info
        } else {
            Severity::Notice
        },
        rationale: sentences.join(" "),
        data: json!({"window_days": WINDOW, "from": date::format(cx.window_start()),
            "to": date::format(cx.cutoff), "outlier_ratio": OUTLIER_RATIO, "campaigns": campaigns,
            "outliers": outliers}),
    });
}

/// A notice when store revenue clearly follows ad spend by a day or more.
pub fn revenue_lag(cx: &Context, out: &mut RunOutput) {
    let (Some(first_ad), Some(first_revenue)) = (cx.first_ad_day(), cx.data.revenue.keys().next()) else {
        return;
    };
    let from = first_ad.max(*first_revenue);
    if from > cx.cutoff {
        return;
    }
    let spend = cx.spend_series(from, cx.cutoff);
    let revenue = cx.revenue_series(from, cx.cutoff);
    let Some(profile) = lag::profile(&spend, &revenue) else {
        return;
    };
    if !profile.is_lagged() {
        return;
    }
    let days = spend.len() - lag::MAX_LAG;
    let k = profile.best_lag;
    out.insights.push(Insight {
        kind: "revenue-lag".into(),
        title: format!("Store revenue follows ad spend by {k} day(s)"),
        severity: Severity::Notice,
        rationale: format!(
            "Daily store revenue correlates best with total ad spend {k} day(s) earlier (r = {:.2}), against \
             r = {:.2} on the same day (lags 0–{} over {days} days to {}). Judge spend changes on the \
             revenue {k} day(s) after them, not the same day.",
            profile.best,
            profile.same_day,
            lag::MAX_LAG,
            date::format(cx.cutoff),
        ),
        data: json!({"best_lag": k, "correlation": r4(profile.best), "same_day": r4(profile.same_day),
            "correlations": profile.correlations.iter().enumerate()
                .map(|(lag, r)| json!({"lag": lag, "r": r.map(r4)})).collect::<Vec<_>>(),
            "days": days, "to": date::format(cx.cutoff)}),
    });
}

/// Fits and forecasts one series; its JSON and a sentence for the rationale.
fn forecast_series(
    cx: &Context,
    label: &str,
    first: i64,
    series: &[f64],
    actual: &dyn Fn(i64) -> f64,
) -> Option<(Value, String)> {
    let weekday = date::weekday(first);
    let (cleaned, replaced) = anomaly::clean(series, weekday, &Params::default());
    let model = HoltWinters::fit(&cleaned, WEEK)?;
    let horizons = &cx.options.horizons;
    let longest = horizons.iter().copied().max().unwrap_or(30);
    let points = model.forecast(longest, Z90);
    let days: Vec<Value> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({"date": date::format(cx.cutoff + 1 + i as i64), "point": r2(p.point),
                "lower": r2(p.lower), "upper": r2(p.upper)})
        })
        .collect();
    let mut totals = serde_json::Map::new();
    let mut parts = Vec::new();
    for &h in horizons {
        let t = model.total(h, Z90);
        totals.insert(
            h.to_string(),
            json!({"point": r2(t.point), "lower": r2(t.lower), "upper": r2(t.upper)}),
        );
        parts.push(format!(
            "{} over the next {h} days (90% interval {}–{})",
            cx.money.fmt(t.point),
            cx.money.fmt(t.lower),
            cx.money.fmt(t.upper)
        ));
    }
    let mut sentence = format!("{label} is forecast at {}", parts.join(" and "));
    // With a holdout, compare the forecast with the days held back.
    let held: Vec<Value> = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let day = cx.cutoff + 1 + i as i64;
            (day <= cx.last).then(|| {
                let actual = actual(day);
                json!({"date": date::format(day), "actual": r2(actual), "point": r2(p.point),
                    "lower": r2(p.lower), "upper": r2(p.upper),
                    "inside": p.lower <= actual && actual <= p.upper})
            })
        })
        .collect();
    let holdout = (!held.is_empty()).then(|| {
        let inside = held.iter().filter(|h| h["inside"] == json!(true)).count();
        let coverage = inside as f64 / held.len() as f64;
        sentence.push_str(&format!(
            "; {inside} of the {} held-back days fell inside their interval",
            held.len()
        ));
        json!({"days": held, "coverage": r4(coverage)})
    });
    sentence.push('.');
    let data = json!({
        "method": "additive Holt-Winters, damped trend, weekly season",
        "alpha": model.alpha, "beta": model.beta, "gamma": model.gamma, "phi": model.phi,
        "sigma": r2(model.sigma), "fitted_from": date::format(first), "fitted_through": date::format(cx.cutoff),
        "fitted_days": series.len(), "anomalies_replaced": replaced,
        "days": days, "totals": totals, "holdout": holdout,
    });
    Some((data, sentence))
}

/// Forecasts of total ad spend and store revenue.
pub fn forecasts(cx: &Context, out: &mut RunOutput) {
    let spend = cx
        .first_ad_day()
        .filter(|first| *first <= cx.cutoff)
        .and_then(|first| {
            let actual = |day| cx.spend_series(day, day)[0];
            forecast_series(
                cx,
                "Total ad spend",
                first,
                &cx.spend_series(first, cx.cutoff),
                &actual,
            )
        });
    let revenue = cx
        .data
        .revenue
        .keys()
        .next()
        .copied()
        .filter(|first| *first <= cx.cutoff && !cx.data.revenue_sources.is_empty())
        .and_then(|first| {
            let actual = |day| cx.data.revenue.get(&day).copied().unwrap_or(0.0);
            forecast_series(
                cx,
                "Store revenue",
                first,
                &cx.revenue_series(first, cx.cutoff),
                &actual,
            )
        });
    if spend.is_none() && revenue.is_none() {
        return;
    }
    let mut sentences: Vec<String> = [&spend, &revenue]
        .iter()
        .filter_map(|s| s.as_ref().map(|s| s.1.clone()))
        .collect();
    if revenue.is_none() {
        sentences.push("Store revenue is not forecast: fewer than 21 days of it could be read.".into());
    }
    if spend.is_none() {
        sentences.push("Ad spend is not forecast: fewer than 21 days of it could be read.".into());
    }
    sentences.push(
        "Method: additive Holt-Winters with a damped trend and a weekly season, parameters chosen by \
         one-step error; one-off anomalies are replaced by their expected value before fitting; intervals \
         come from the in-sample errors and widen with the horizon."
            .into(),
    );
    out.insights.push(Insight {
        kind: "forecast".into(),
        title: format!(
            "Forecast of the next {} days",
            cx.options.horizons.iter().max().unwrap_or(&30)
        ),
        severity: Severity::Info,
        rationale: sentences.join(" "),
        data: json!({"level": 0.9, "horizons": cx.options.horizons, "holdout_days": cx.options.holdout_days,
            "spend": spend.map(|s| s.0), "revenue": revenue.map(|r| r.0)}),
    });
}

/// Proposes moving daily budget to the campaign with the best marginal ROAS
/// on each platform, as two `set-daily-budget` proposals.
pub fn budget_moves(cx: &Context, out: &mut RunOutput) {
    let from = cx.window_start();
    let limits = cx.options.limits;
    for p in &cx.data.platforms {
        let campaigns: Vec<CampaignDays> = p
            .days
            .iter()
            .map(|(id, days)| {
                let series = dense(days, from, cx.cutoff);
                let info = p.campaigns.get(id);
                CampaignDays {
                    id: id.clone(),
                    name: p.campaign_name(id),
                    daily_budget: info.and_then(|c| c.daily_budget),
                    active: info.is_some_and(|c| matches!(c.status.as_str(), "active" | "enabled")),
                    spend: series.iter().map(|m| m.spend).collect(),
                    value: series.iter().map(|m| m.value).collect(),
                }
            })
            .collect();
        let Some(plan) = budget::plan(&campaigns, &limits) else {
            continue;
        };
        let (giver, taker) = (&campaigns[plan.from], &campaigns[plan.to]);
        let (Some(giver_budget), Some(taker_budget)) = (giver.daily_budget, taker.daily_budget) else {
            continue;
        };
        let how = |m: Method| match m {
            Method::Slope => "marginal ROAS: the slope of daily conversion value on spend",
            Method::Average => "average ROAS, as its spend varied too little for a reliable slope",
        };
        let methods = if plan.to_roas.method == plan.from_roas.method {
            format!(" ({})", how(plan.to_roas.method))
        } else {
            format!(
                " (“{}”: {}; “{}”: {})",
                taker.name,
                how(plan.to_roas.method),
                giver.name,
                how(plan.from_roas.method)
            )
        };
        let platform_total: f64 = campaigns
            .iter()
            .filter(|c| c.active)
            .filter_map(|c| c.daily_budget)
            .sum();
        let gain = plan.amount * (plan.to_roas.roas - plan.from_roas.roas);
        let reason = format!(
            "Move {amount}/day of {label} budget from “{g}” to “{t}”. Over the last {WINDOW} days each extra \
             {one} on “{t}” returned {tm} of conversion value against {gm} on “{g}”{methods}, \
             {ratio:.1}× as much; daily ROAS averaged {ta:.2} vs {ga:.2} (Welch t = {tt:.1}, {p}). The move \
             is {pct}% of the smaller budget, within the {cap}% guardrail, and leaves {label}'s total daily \
             budget of active campaigns at {total}. Expected gain ≈ {gain} of conversion value per day.",
            amount = cx.money.fmt(plan.amount),
            label = p.label,
            g = giver.name,
            t = taker.name,
            one = cx.money.fmt(1.0),
            tm = cx.money.fmt(plan.to_roas.roas),
            gm = cx.money.fmt(plan.from_roas.roas),
            ratio = plan.ratio,
            ta = plan.to_roas.average,
            ga = plan.from_roas.average,
            tt = plan.test.t,
            p = p_value(plan.test.p),
            pct = r2(plan.amount / giver_budget.min(taker_budget) * 100.0),
            cap = limits.max_change_percent,
            total = cx.money.fmt(platform_total),
            gain = cx.money.fmt(gain),
        );
        for (campaign, budget, sign) in [(giver, giver_budget, -1.0), (taker, taker_budget, 1.0)] {
            let new_budget = r2(budget + sign * plan.amount);
            let verb = if sign < 0.0 { "Lower" } else { "Raise" };
            out.proposals.push(Proposal {
                connector: p.connector.clone(),
                action: "set-daily-budget".into(),
                input: json!({"campaign_id": campaign.id, "daily_budget": new_budget}),
                confidence: r4(plan.confidence),
                expected_impact: Impact {
                    metric: "daily_budget".into(),
                    absolute: r2(sign * plan.amount),
                    percent: r2(sign * plan.amount / budget * 100.0),
                },
                rationale: format!(
                    "{verb} “{}” from {} to {}. {reason}",
                    campaign.name,
                    cx.money.fmt(budget),
                    cx.money.fmt(new_budget)
                ),
            });
        }
    }
}
