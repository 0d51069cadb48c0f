//! The usage page: calls, errors and fuel per UTC day and plugin against
//! the tenant's quotas, with a bar chart of the fuel charged per day
//! against the `fuel_per_day` line, drawn as SVG on the server.

use super::Console;
use super::access::{self, READ_TENANT, READ_USAGE};
use super::page::{Chrome, render};
use super::usage_chart::{FuelChart, fuel_chart};
use super::visitor::{Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use omnify_control::control::ControlError;
use omnify_control::meter::{DailyUsage, day_of};
use std::time::{Duration, SystemTime};

/// Days the page covers, today included.
const DAYS: u64 = 30;

/// One plugin's day.
struct UsageRow {
    day: String,
    plugin: String,
    calls: u64,
    errors: u64,
    /// Errors among calls, as a percentage for people.
    error_rate: String,
    fuel: u64,
    /// Webhook verifications among the calls, not charged to the quotas.
    webhook_calls: u64,
}

/// One quota, with what is used of it.
struct QuotaView {
    name: &'static str,
    meaning: &'static str,
    /// The limit, or `no limit`.
    limit: String,
    /// What is used now, in the quota's terms.
    used: String,
    /// Whether the use reached the limit.
    reached: bool,
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    chrome: Chrome,
    rows: Vec<UsageRow>,
    quotas: Vec<QuotaView>,
    chart: FuelChart,
    first_day: String,
    today: String,
}

/// The last [`DAYS`] UTC days, oldest first.
fn last_days(now: SystemTime) -> Vec<String> {
    (0..DAYS)
        .rev()
        .filter_map(|back| now.checked_sub(Duration::from_secs(back * 86_400)))
        .map(day_of)
        .collect()
}

/// The fuel the quota counts: webhook verifications have a budget of
/// their own.
fn charged_fuel(usage: &DailyUsage) -> u64 {
    usage.fuel.saturating_sub(usage.webhook_fuel)
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    format!("{}%", super::page::number(part as f64 * 100.0 / whole as f64))
}

fn limit_words(limit: Option<u64>) -> String {
    limit.map_or_else(|| "no limit".to_string(), |limit| limit.to_string())
}

/// `GET /console/tenants/{tenant}/usage`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    let principal = &visitor.session.principal;
    let gathered = async {
        for route in [READ_USAGE, READ_TENANT] {
            access::allow(principal, route, Some(&tenant))?;
        }
        let usage = console.control.usage(principal, &tenant).await?;
        let found = console.control.tenant(principal, &tenant).await?;
        Ok::<_, ControlError>((usage, found))
    }
    .await;
    let (usage, found) = match gathered {
        Ok(gathered) => gathered,
        Err(error) => return refused(&visitor, error),
    };
    let days = last_days(SystemTime::now());
    let today = days.last().cloned().unwrap_or_default();
    let first_day = days.first().cloned().unwrap_or_default();
    let fuel_per_day: Vec<(String, u64)> = days
        .iter()
        .map(|day| {
            let fuel = usage.iter().filter(|u| &u.day == day).map(charged_fuel).sum();
            (day.clone(), fuel)
        })
        .collect();
    let quotas = found.quotas;
    let fuel_today = fuel_per_day.last().map_or(0, |(_, fuel)| *fuel);
    let calls_today: u64 = usage
        .iter()
        .filter(|u| u.day == today)
        .map(|u| u.calls.saturating_sub(u.webhook_calls))
        .sum();
    let running = console.control.meter().running_calls(&tenant);
    let quota_views = vec![
        QuotaView {
            name: "fuel_per_day",
            meaning: "fuel all the tenant's calls may use per UTC day",
            limit: limit_words(quotas.fuel_per_day),
            used: match quotas.fuel_per_day {
                Some(limit) => format!("{fuel_today} today ({})", percent(fuel_today, limit)),
                None => format!("{fuel_today} today"),
            },
            reached: quotas.fuel_per_day.is_some_and(|limit| fuel_today >= limit),
        },
        QuotaView {
            name: "calls_per_minute",
            meaning: "calls per minute",
            limit: limit_words(quotas.calls_per_minute.map(u64::from)),
            used: format!("{calls_today} calls today"),
            reached: false,
        },
        QuotaView {
            name: "concurrent_calls",
            meaning: "calls running at the same time",
            limit: limit_words(quotas.concurrent_calls.map(u64::from)),
            used: format!("{running} running now"),
            reached: quotas
                .concurrent_calls
                .is_some_and(|limit| running >= u64::from(limit)),
        },
    ];
    let mut rows: Vec<UsageRow> = usage
        .iter()
        .filter(|u| u.day >= first_day)
        .map(|u| UsageRow {
            day: u.day.clone(),
            plugin: u.plugin.clone(),
            calls: u.calls,
            errors: u.errors,
            error_rate: percent(u.errors, u.calls),
            fuel: u.fuel,
            webhook_calls: u.webhook_calls,
        })
        .collect();
    rows.sort_by(|a, b| b.day.cmp(&a.day).then_with(|| a.plugin.cmp(&b.plugin)));
    render(
        StatusCode::OK,
        &UsagePage {
            chrome: Chrome::new(&console, &visitor, Some(&tenant), "usage"),
            rows,
            quotas: quota_views,
            chart: fuel_chart(&fuel_per_day, quotas.fuel_per_day),
            first_day,
            today,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_days_end_today_and_are_consecutive() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(40 * 86_400 + 5);
        let days = last_days(now);
        assert_eq!(days.len(), DAYS as usize);
        assert_eq!(days.last().map(String::as_str), Some("1970-02-10"));
        assert_eq!(days.first().map(String::as_str), Some("1970-01-12"));
    }

    #[test]
    fn percentages_read_well() {
        assert_eq!(percent(1, 4), "25%");
        assert_eq!(percent(1, 0), "0%");
        assert_eq!(percent(2, 3), "66.67%");
    }
}
