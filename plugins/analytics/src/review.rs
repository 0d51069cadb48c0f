//! The `daily-review` task on a loaded [`Dataset`]: options, the data
//! coverage and blended metrics insights, and the order of the findings.

use crate::budget::Limits;
use crate::dataset::{Dataset, Metrics};
use crate::date;
use crate::findings;
use crate::format::{Money, r2, r4, ratio, show};
use omnify_sdk::agent::{Insight, RunOutput, Severity};
use omnify_sdk::{Value, json};
use std::collections::BTreeMap;

/// Days of the long window (ROAS ranking, anomalies, budget moves).
pub const WINDOW: i64 = 28;

/// The task's settings, from its input.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Days at the end of the data to leave out (to test forecasts).
    pub holdout_days: i64,
    /// Forecast horizons in days.
    pub horizons: Vec<usize>,
    /// Limits on budget moves, from the tenant's guardrails.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            holdout_days: 0,
            horizons: vec![7, 30],
            limits: Limits::default(),
        }
    }
}

/// A non-negative number from the input, checked against a range.
fn bounded(input: &Value, key: &str, low: f64, high: f64) -> Result<Option<f64>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|n| n.is_finite() && (low..=high).contains(n))
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be a number from {low} to {high}")),
    }
}

impl Options {
    /// Reads `{holdout_days?, horizon_days?, min_roas_gap?, guardrails?}`.
    pub fn from_input(input: &Value) -> Result<Self, String> {
        let mut options = Self::default();
        if let Some(days) = bounded(input, "holdout_days", 0.0, 60.0)? {
            options.holdout_days = days as i64;
        }
        if let Some(horizons) = input.get("horizon_days").filter(|v| !v.is_null()) {
            let list = horizons
                .as_array()
                .ok_or("`horizon_days` must be an array of days")?;
            options.horizons = list
                .iter()
                .map(|h| {
                    h.as_u64()
                        .filter(|d| (1..=90).contains(d))
                        .map(|d| d as usize)
                        .ok_or("`horizon_days` must hold whole days from 1 to 90")
                })
                .collect::<Result<_, _>>()?;
            options.horizons.sort_unstable();
            options.horizons.dedup();
            if options.horizons.is_empty() {
                return Err("`horizon_days` must not be empty".into());
            }
        }
        if let Some(gap) = bounded(input, "min_roas_gap", 1.0, 100.0)? {
            options.limits.min_gap = gap;
        }
        let none = Value::Null;
        let guardrails = input.get("guardrails").unwrap_or(&none);
        // The host's guardrails call it `max_change_percent`; the task's
        // documented name is accepted too and wins.
        let percent = bounded(guardrails, "max_budget_change_percent", 0.0, 100.0)?.or(bounded(
            guardrails,
            "max_change_percent",
            0.0,
            100.0,
        )?);
        options.limits.max_change_percent = percent.unwrap_or(20.0);
        options.limits.max_change_absolute = bounded(guardrails, "max_change_absolute", 0.0, f64::MAX)?;
        Ok(options)
    }
}

/// What every finding needs: the data, the options and the days analysed.
pub struct Context<'a> {
    /// The data.
    pub data: &'a Dataset,
    /// The options.
    pub options: &'a Options,
    /// The last day analysed (the last day of data minus the holdout).
    pub cutoff: i64,
    /// The last day of data.
    pub last: i64,
    /// Money formatting in the account currency.
    pub money: Money,
}

impl Context<'_> {
    /// The first day of the long window.
    pub fn window_start(&self) -> i64 {
        self.cutoff - WINDOW + 1
    }

    /// The first day with ad delivery.
    pub fn first_ad_day(&self) -> Option<i64> {
        self.data
            .platforms
            .iter()
            .flat_map(|p| p.days.values())
            .filter_map(|d| d.keys().next().copied())
            .min()
    }

    /// Store revenue by day from `from` to `to`, missing days as zero.
    pub fn revenue_series(&self, from: i64, to: i64) -> Vec<f64> {
        (from..=to)
            .map(|d| self.data.revenue.get(&d).copied().unwrap_or(0.0))
            .collect()
    }

    /// Total ad spend by day from `from` to `to`.
    pub fn spend_series(&self, from: i64, to: i64) -> Vec<f64> {
        let mut series = vec![0.0; (to - from + 1).max(0) as usize];
        for days in self.data.platforms.iter().flat_map(|p| p.days.values()) {
            for (day, m) in days.range(from..=to) {
                series[(day - from) as usize] += m.spend;
            }
        }
        series
    }
}

/// A campaign's (or anything's) figures by day from `from` to `to`.
pub fn dense(days: &BTreeMap<i64, Metrics>, from: i64, to: i64) -> Vec<Metrics> {
    (from..=to)
        .map(|d| days.get(&d).copied().unwrap_or_default())
        .collect()
}

/// Sums figures by day within `[from, to]`.
pub fn total(days: &BTreeMap<i64, Metrics>, from: i64, to: i64) -> Metrics {
    let mut sum = Metrics::default();
    for m in days.range(from..=to).map(|(_, m)| m) {
        sum.add(m);
    }
    sum
}

/// Figures and the ratios derived from them, as JSON.
pub fn metrics_json(m: &Metrics) -> Value {
    let r = |v: Option<f64>| v.map(r4);
    json!({
        "spend": r2(m.spend), "impressions": m.impressions, "clicks": m.clicks,
        "conversions": r2(m.conversions), "conversion_value": r2(m.value),
        "ctr": r(ratio(m.clicks, m.impressions)), "cpc": r(ratio(m.spend, m.clicks)),
        "cpa": r(ratio(m.spend, m.conversions)), "roas": r(ratio(m.value, m.spend)),
    })
}

/// Runs the review.
pub fn review(data: &Dataset, options: &Options) -> RunOutput {
    let mut out = RunOutput::default();
    let Some(last) = data.last_day() else {
        out.insights.push(Insight {
            kind: "data-coverage".into(),
            title: "No advertising or revenue data yet".into(),
            severity: Severity::Info,
            rationale: "No campaign insights, orders or charges could be read, so there is nothing to \
                        analyse yet. Enable and sync the ad and store connectors."
                .into(),
            data: json!({"missing": data.missing}),
        });
        return out;
    };
    coverage(data, &mut out);
    let currency = (data.currencies.len() == 1)
        .then(|| data.currencies.iter().next().cloned())
        .flatten();
    let context = Context {
        data,
        options,
        cutoff: last - options.holdout_days,
        last,
        money: Money::new(currency.as_deref()),
    };
    blended(&context, &mut out);
    findings::spend_anomalies(&context, &mut out);
    findings::roas_ranking(&context, &mut out);
    findings::revenue_lag(&context, &mut out);
    findings::forecasts(&context, &mut out);
    findings::budget_moves(&context, &mut out);
    out
}

/// Says what is missing, skipped or not comparable, when anything is.
fn coverage(data: &Dataset, out: &mut RunOutput) {
    let mut notes = Vec::new();
    let mut severity = Severity::Info;
    for platform in data.platforms.iter().filter(|p| !p.has_data()) {
        notes.push(format!(
            "No {} delivery data ({}/campaign_insights is empty or not granted), so {} is left out.",
            platform.label, platform.connector, platform.label
        ));
    }
    for platform in data
        .platforms
        .iter()
        .filter(|p| p.has_data() && p.campaigns.is_empty())
    {
        notes.push(format!(
            "No {} campaigns were read ({}/campaigns), so their budgets are unknown and no {} budget \
             moves are proposed.",
            platform.label, platform.connector, platform.label
        ));
    }
    if data.revenue_sources.is_empty() {
        notes.push(
            "No store revenue (shopify/orders and stripe/charges, or without a store \
             gohighlevel/opportunities, are empty or not granted), so MER, the revenue lag and the \
             revenue forecast are skipped."
                .into(),
        );
    }
    for (stream, count) in &data.skipped {
        notes.push(format!(
            "Skipped {count} record(s) of {stream} with missing or malformed fields."
        ));
    }
    if data.currencies.len() > 1 {
        severity = Severity::Warning;
        let list: Vec<&str> = data.currencies.iter().map(String::as_str).collect();
        notes.push(format!(
            "Amounts come in several currencies ({}) and are added without conversion.",
            list.join(", ")
        ));
    }
    if notes.is_empty() {
        return;
    }
    out.insights.push(Insight {
        kind: "data-coverage".into(),
        title: "Some data is missing or incomplete".into(),
        severity,
        rationale: notes.join(" "),
        data: json!({
            "missing_streams": data.missing,
            "platforms_without_data": data.platforms.iter().filter(|p| !p.has_data())
                .map(|p| p.connector.clone()).collect::<Vec<_>>(),
            "revenue_sources": data.revenue_sources,
            "skipped": data.skipped,
            "currencies": data.currencies,
        }),
    });
}

/// Spend, revenue and efficiency over the last 7 and 28 days, per platform
/// and blended, with the daily tables behind them.
fn blended(cx: &Context, out: &mut RunOutput) {
    let has_revenue = !cx.data.revenue_sources.is_empty();
    let mut windows = serde_json::Map::new();
    let mut sentences = Vec::new();
    for days in [7, WINDOW] {
        let from = cx.cutoff - days + 1;
        let mut all = Metrics::default();
        let mut platforms = serde_json::Map::new();
        let mut parts = Vec::new();
        for p in cx.data.platforms.iter().filter(|p| p.has_data()) {
            let mut sum = Metrics::default();
            for d in p.days.values() {
                sum.add(&total(d, from, cx.cutoff));
            }
            all.add(&sum);
            platforms.insert(p.connector.clone(), metrics_json(&sum));
            parts.push(format!(
                "{} {} (ROAS {})",
                p.label,
                cx.money.fmt(sum.spend),
                show(ratio(sum.value, sum.spend), 2)
            ));
        }
        let revenue: f64 = cx.data.revenue.range(from..=cx.cutoff).map(|(_, v)| v).sum();
        let mer = ratio(revenue, all.spend).filter(|_| has_revenue);
        let mut sentence = format!(
            "Over the last {days} days ({} to {}) ads spent {} for {} of attributed conversion value \
             (ROAS {}; CTR {}%, CPC {}, CPA {}).",
            date::format(from),
            date::format(cx.cutoff),
            cx.money.fmt(all.spend),
            cx.money.fmt(all.value),
            show(ratio(all.value, all.spend), 2),
            show(ratio(all.clicks * 100.0, all.impressions), 2),
            ratio(all.spend, all.clicks).map_or("n/a".into(), |v| cx.money.fmt(v)),
            ratio(all.spend, all.conversions).map_or("n/a".into(), |v| cx.money.fmt(v)),
        );
        if !parts.is_empty() {
            sentence.push_str(&format!(" By platform: {}.", parts.join(", ")));
        }
        if has_revenue {
            sentence.push_str(&format!(
                " Store revenue was {}, so MER (store revenue / ad spend) was {}.",
                cx.money.fmt(revenue),
                show(mer, 2)
            ));
        }
        sentences.push(sentence);
        windows.insert(
            days.to_string(),
            json!({
                "from": date::format(from), "to": date::format(cx.cutoff),
                "blended": metrics_json(&all), "platforms": platforms,
                "store_revenue": has_revenue.then(|| r2(revenue)), "mer": mer.map(r4),
            }),
        );
    }
    let (daily, campaign_daily, campaigns) = tables(cx, has_revenue);
    let week = windows.get("7").cloned().unwrap_or_default();
    let title = format!(
        "Last 7 days: {} ad spend, ROAS {}, MER {}",
        cx.money.fmt(week["blended"]["spend"].as_f64().unwrap_or(0.0)),
        show(week["blended"]["roas"].as_f64(), 2),
        show(week["mer"].as_f64(), 2)
    );
    out.insights.push(Insight {
        kind: "blended-metrics".into(),
        title,
        severity: Severity::Info,
        rationale: sentences.join(" "),
        data: json!({
            "windows": windows, "campaigns": campaigns, "daily": daily, "campaign_daily": campaign_daily,
        }),
    });
}

/// The daily blended table, the daily per-campaign table and the campaigns'
/// window totals, compact (column names once, rows as arrays).
fn tables(cx: &Context, has_revenue: bool) -> (Value, Value, Value) {
    let from = cx.window_start();
    let ratios = |m: &Metrics| {
        [
            ratio(m.clicks, m.impressions),
            ratio(m.spend, m.clicks),
            ratio(m.spend, m.conversions),
            ratio(m.value, m.spend),
        ]
        .map(|v| v.map(r4))
    };
    let mut blended = vec![Metrics::default(); WINDOW as usize];
    let mut campaign_rows = Vec::new();
    let mut campaigns = Vec::new();
    for p in &cx.data.platforms {
        for (id, days) in &p.days {
            let series = dense(days, from, cx.cutoff);
            for (i, m) in series.iter().enumerate() {
                blended[i].add(m);
                if m.spend > 0.0 || m.impressions > 0.0 {
                    let [ctr, cpc, cpa, roas] = ratios(m);
                    campaign_rows.push(json!([
                        date::format(from + i as i64),
                        p.connector,
                        id,
                        r2(m.spend),
                        m.impressions,
                        m.clicks,
                        r2(m.conversions),
                        r2(m.value),
                        ctr,
                        cpc,
                        cpa,
                        roas
                    ]));
                }
            }
            let info = p.campaigns.get(id);
            campaigns.push(json!({
                "connector": p.connector, "campaign_id": id, "name": p.campaign_name(id),
                "status": info.map(|c| c.status.clone()), "daily_budget": info.and_then(|c| c.daily_budget),
                "last_7": metrics_json(&total(days, cx.cutoff - 6, cx.cutoff)),
                "last_28": metrics_json(&total(days, from, cx.cutoff)),
            }));
        }
    }
    let rows: Vec<Value> = blended
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let day = from + i as i64;
            let revenue = has_revenue.then(|| cx.data.revenue.get(&day).copied().unwrap_or(0.0));
            let [ctr, cpc, cpa, roas] = ratios(m);
            let mer = revenue.and_then(|r| ratio(r, m.spend)).map(r4);
            json!([
                date::format(day),
                r2(m.spend),
                m.impressions,
                m.clicks,
                r2(m.conversions),
                r2(m.value),
                revenue.map(r2),
                ctr,
                cpc,
                cpa,
                roas,
                mer
            ])
        })
        .collect();
    let daily = json!({
        "columns": ["date", "spend", "impressions", "clicks", "conversions", "conversion_value",
            "store_revenue", "ctr", "cpc", "cpa", "roas", "mer"],
        "rows": rows,
    });
    let campaign_daily = json!({
        "columns": ["date", "connector", "campaign_id", "spend", "impressions", "clicks", "conversions",
            "conversion_value", "ctr", "cpc", "cpa", "roas"],
        "rows": campaign_rows,
    });
    (daily, campaign_daily, Value::Array(campaigns))
}
