//! The insights page: the latest insights of each agent, daily spend,
//! revenue (the platforms' conversion value) and ROAS per ad platform with
//! the analytics agent's anomalies marked, the forecasts of total spend and
//! store revenue with their intervals, and each fatigued ad's daily CTR.
//!
//! Everything is read through the façade methods the API's routes use
//! (runs, enablements, records), allowed as those routes are; the series
//! are the stored records summed per day, so the page shows what the API
//! returns.

mod figures;

use super::Console;
use super::access::{self, LIST_ENABLEMENTS, LIST_RUNS, READ_RECORDS};
use super::chart::{Chart, Point, Series, Unit};
use super::page::{Chrome, render};
use super::visitor::{Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use figures::{Daily, Day, anomalies, day_of, figure, forecast_section, period, platform_section};
use omnify_control::control::ControlError;
use omnify_control::sync::{RecordQuery, Run, RunStatus};
use omnify_control::tenant::Principal;
use omnify_registry::PluginKind;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Runs read per page while looking for each agent's latest run.
const RUNS_PAGE: usize = 200;
/// Pages of runs read at most: an agent whose last success is older shows
/// no insights.
const RUNS_PAGES: usize = 5;
/// Records read per page.
const RECORDS_PAGE: usize = 1000;
/// Pages of one stream read at most, so that one page view costs a bounded
/// read; a longer stream is shown as far as it was read, and says so.
const RECORDS_PAGES: usize = 100;
/// Days of history a chart shows, ending on the last day with delivery.
const SHOWN_DAYS: i64 = 42;
/// The stream of daily campaign figures every ad connector has.
const CAMPAIGN_DAYS: &str = "campaign_insights";
/// The stream of daily ad figures.
const AD_DAYS: &str = "ad_insights";

/// An insight as an agent run stored it.
#[derive(Debug, Clone, Deserialize)]
struct Stored {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    rationale: String,
    #[serde(default)]
    data: Value,
}

/// The insights of a run, skipping any that are not insight-shaped.
fn stored_insights(run: &Run) -> Vec<Stored> {
    run.output
        .as_ref()
        .and_then(|o| o.get("insights"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| Stored::deserialize(i).ok())
        .collect()
}

/// How urgent a severity is, most first.
fn rank(severity: &str) -> u8 {
    match severity {
        "critical" => 0,
        "warning" => 1,
        "notice" => 2,
        _ => 3,
    }
}

/// One insight on the page.
struct InsightView {
    severity: String,
    kind: String,
    title: String,
    rationale: String,
}

/// An agent's latest successful run and its insights.
struct AgentView {
    plugin: String,
    version: String,
    run: String,
    ended: String,
    insights: Vec<InsightView>,
}

/// An entry of a chart's legend.
struct LegendView {
    class: String,
    name: String,
}

/// A chart with its heading and legend.
struct ChartView {
    heading: String,
    legend: Vec<LegendView>,
    svg: String,
}

impl ChartView {
    fn of(heading: &str, chart: &Chart) -> Self {
        Self {
            heading: heading.to_string(),
            legend: chart
                .series
                .iter()
                .enumerate()
                .map(|(i, s)| LegendView {
                    class: format!("s{i}"),
                    name: s.name.clone(),
                })
                .collect(),
            svg: chart.svg(),
        }
    }
}

/// One ad platform's section.
struct PlatformView {
    connector: String,
    summary: String,
    truncated: bool,
    charts: Vec<ChartView>,
}

/// One fatigued ad's section.
struct FatigueView {
    title: String,
    rationale: String,
    chart: Option<ChartView>,
}

#[derive(Template)]
#[template(path = "insights.html")]
struct InsightsPage {
    chrome: Chrome,
    agents: Vec<AgentView>,
    forecasts: Vec<ChartView>,
    platforms: Vec<PlatformView>,
    fatigue: Vec<FatigueView>,
}

/// The records of `connector`/`stream` (those whose `filter` matches, when
/// given) summed per day.
async fn daily(
    console: &Console,
    principal: &Principal,
    tenant: &str,
    connector: &str,
    stream: &str,
    filter: Option<(String, Value)>,
) -> Result<Daily, ControlError> {
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut after = None;
    for _ in 0..RECORDS_PAGES {
        let query = RecordQuery {
            connector: connector.to_string(),
            stream: stream.to_string(),
            after,
            limit: RECORDS_PAGE,
            filter: filter.clone(),
        };
        let page = console.control.records(principal, tenant, query).await?;
        for raw in &page.records {
            let Ok(record) = serde_json::from_str::<Value>(raw.get()) else {
                continue;
            };
            let Some(day) = record.get("date").and_then(day_of) else {
                continue;
            };
            let entry = days.entry(day).or_default();
            entry.spend += figure(&record, "spend").unwrap_or(0.0);
            entry.value += figure(&record, "conversion_value").unwrap_or(0.0);
            entry.impressions += figure(&record, "impressions").unwrap_or(0.0);
            entry.clicks += figure(&record, "clicks").unwrap_or(0.0);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => {
                return Ok(Daily {
                    days,
                    truncated: false,
                });
            }
        }
    }
    Ok(Daily {
        days,
        truncated: true,
    })
}

/// The newest successful run of each agent, newest first, reading at most
/// [`RUNS_PAGES`] pages of runs.
async fn latest_agent_runs(
    console: &Console,
    principal: &Principal,
    tenant: &str,
) -> Result<Vec<Run>, ControlError> {
    let mut found: Vec<Run> = Vec::new();
    let mut after = None;
    for _ in 0..RUNS_PAGES {
        let page = console.control.runs(principal, tenant, after, RUNS_PAGE).await?;
        let full = page.len() == RUNS_PAGE;
        after = page.last().map(|run| run.id.clone());
        for run in page {
            if run.task.is_some()
                && run.status == RunStatus::Succeeded
                && !found.iter().any(|f| f.plugin == run.plugin)
            {
                found.push(run);
            }
        }
        if !full {
            break;
        }
    }
    Ok(found)
}

/// Each fatigued ad with its daily CTR from the synced ad records.
async fn fatigue_section(
    console: &Console,
    principal: &Principal,
    tenant: &str,
    insights: &[Stored],
) -> Result<Vec<FatigueView>, ControlError> {
    let mut views = Vec::new();
    for insight in insights.iter().filter(|i| i.kind == "creative-fatigue") {
        let connector = insight.data.get("connector").and_then(Value::as_str);
        let ad = insight
            .data
            .get("ad_id")
            .filter(|id| id.is_string() || id.is_number());
        let chart = match (connector, ad) {
            (Some(connector), Some(ad)) => {
                let filter = Some(("ad_id".to_string(), ad.clone()));
                let days = daily(console, principal, tenant, connector, AD_DAYS, filter).await?;
                let points: Vec<Point> = days
                    .days
                    .iter()
                    .filter(|(_, m)| m.impressions > 0.0)
                    .map(|(day, m)| Point::at(*day, m.clicks / m.impressions))
                    .collect();
                let ad_text = ad.as_str().map_or_else(|| ad.to_string(), str::to_string);
                let chart = Chart {
                    id: format!("fatigue-{connector}-{ad_text}"),
                    title: format!("Daily CTR of ad {ad_text} on {connector}"),
                    description: "Clicks per impression per day from the synced ad records, with the \
                                  creative agent's baseline and recent periods shaded."
                        .into(),
                    unit: Unit::Percent,
                    series: vec![Series {
                        key: "ctr".into(),
                        name: "CTR".into(),
                        points,
                    }],
                    markers: vec![],
                    spans: [
                        period(&insight.data, "baseline", "Baseline"),
                        period(&insight.data, "recent", "Recent"),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                };
                (!chart.series[0].points.is_empty()).then(|| ChartView::of("CTR", &chart))
            }
            _ => None,
        };
        views.push(FatigueView {
            title: insight.title.clone(),
            rationale: insight.rationale.clone(),
            chart,
        });
    }
    Ok(views)
}

/// `GET /console/tenants/{tenant}/insights`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    let principal = &visitor.session.principal;
    let gathered = async {
        for route in [LIST_RUNS, LIST_ENABLEMENTS, READ_RECORDS] {
            access::allow(principal, route, Some(&tenant))?;
        }
        let runs = latest_agent_runs(&console, principal, &tenant).await?;
        let connectors: Vec<String> = console
            .control
            .list_enablements(principal, &tenant)
            .await?
            .into_iter()
            .filter(|e| e.kind == PluginKind::Connector)
            .map(|e| e.plugin)
            .collect();
        let mut platforms = Vec::new();
        for connector in connectors {
            let days = daily(&console, principal, &tenant, &connector, CAMPAIGN_DAYS, None).await?;
            if !days.days.is_empty() {
                platforms.push((connector, days));
            }
        }
        let insights: Vec<Stored> = runs.iter().flat_map(stored_insights).collect();
        let fatigue = fatigue_section(&console, principal, &tenant, &insights).await?;
        Ok::<_, ControlError>((runs, platforms, insights, fatigue))
    }
    .await;
    let (runs, platforms, insights, fatigue) = match gathered {
        Ok(gathered) => gathered,
        Err(error) => return refused(&visitor, error),
    };
    let agents = runs
        .iter()
        .map(|run| {
            let mut shown = stored_insights(run);
            shown.sort_by_key(|i| rank(&i.severity));
            AgentView {
                plugin: run.plugin.clone(),
                version: run.version.clone(),
                run: run.id.clone(),
                ended: run.ended_at.clone().unwrap_or_default(),
                insights: shown
                    .into_iter()
                    .map(|i| InsightView {
                        severity: i.severity,
                        kind: i.kind,
                        title: i.title,
                        rationale: i.rationale,
                    })
                    .collect(),
            }
        })
        .collect();
    // Every platform's charts end on the last day any platform delivered.
    let last = platforms
        .iter()
        .filter_map(|(_, d)| d.days.keys().next_back())
        .max()
        .copied();
    let (platform_views, forecasts) = match last {
        Some(to) => {
            let from = to - Duration::days(SHOWN_DAYS - 1);
            let flagged = anomalies(&insights);
            let mut total: BTreeMap<NaiveDate, f64> = BTreeMap::new();
            for (_, days) in &platforms {
                for (day, m) in days.days.range(from..=to) {
                    *total.entry(*day).or_default() += m.spend;
                }
            }
            let total: Vec<Point> = total.into_iter().map(|(d, v)| Point::at(d, v)).collect();
            let views = platforms
                .iter()
                .map(|(c, d)| platform_section(c, d, from, to, &flagged))
                .collect();
            (views, forecast_section(&insights, &total))
        }
        None => (Vec::new(), forecast_section(&insights, &[])),
    };
    render(
        StatusCode::OK,
        &InsightsPage {
            chrome: Chrome::new(&console, &visitor, Some(&tenant), "insights"),
            agents,
            forecasts,
            platforms: platform_views,
            fatigue,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_sort_most_urgent_first() {
        let mut list = vec!["info", "critical", "notice", "warning", "odd"];
        list.sort_by_key(|s| rank(s));
        assert_eq!(list, vec!["critical", "warning", "notice", "info", "odd"]);
    }
}
