//! The analytics agent: blended metrics across Meta, Google and TikTok
//! joined with Shopify and Stripe revenue, robust spend anomalies, spend and
//! revenue forecasts, the ROAS ranking, the revenue lag, and budget moves
//! toward the campaigns with the best marginal ROAS.
//!
//! This file reads the data and implements [`Agent`]; the analysis lives in
//! pure modules with their own tests.

pub mod anomaly;
pub mod budget;
pub mod dataset;
pub mod date;
pub mod findings;
pub mod forecast;
pub mod format;
pub mod lag;
pub mod review;
#[cfg(test)]
mod review_tests;
pub mod stats;
#[cfg(test)]
mod testutil;

use dataset::{AD_PLATFORMS, Dataset, Platform, parse_charge, parse_order, parse_won_opportunity};
use omnify_sdk::agent::{Agent, AgentInfo, RunOutput, Task, TaskSpec};
use omnify_sdk::{Error, Value, json};
use review::Options;

/// The agent.
pub struct Analytics;

/// Every record of a stream; empty (and noted as missing) when the stream is
/// not granted, so a connector the tenant has not enabled is skipped rather
/// than failing the run. Records that are not JSON are counted as skipped.
fn read_stream(data: &mut Dataset, connector: &str, stream: &str) -> Result<Vec<Value>, Error> {
    let mut records = Vec::new();
    for record in omnify_sdk::data::records::<Value>(connector, stream) {
        match record {
            Ok(record) => records.push(record),
            Err(Error::Config(message)) => {
                omnify_sdk::info!("{connector}/{stream} not readable: {message}");
                data.missing.push(format!("{connector}/{stream}"));
                return Ok(Vec::new());
            }
            Err(Error::Internal(_)) => {
                *data.skipped.entry(format!("{connector}/{stream}")).or_default() += 1;
            }
            // The record store failing is worth a retry, not an empty report.
            Err(error) => return Err(error),
        }
    }
    if records.is_empty() && !data.missing.iter().any(|m| m == &format!("{connector}/{stream}")) {
        data.missing.push(format!("{connector}/{stream}"));
    }
    Ok(records)
}

/// Reads every stream the review uses.
fn load() -> Result<Dataset, Error> {
    let mut data = Dataset::default();
    for (connector, label) in AD_PLATFORMS {
        let campaigns = read_stream(&mut data, connector, "campaigns")?;
        let insights = read_stream(&mut data, connector, "campaign_insights")?;
        data.add_platform(Platform::new(connector, label), &campaigns, &insights);
    }
    let orders = read_stream(&mut data, "shopify", "orders")?;
    data.add_revenue("shopify/orders", &orders, parse_order);
    let charges = read_stream(&mut data, "stripe", "charges")?;
    data.add_revenue("stripe/charges", &charges, parse_charge);
    // A tenant without a store sells through its CRM: its won deals are its
    // revenue. With a store they are not added, since a won deal is mostly
    // paid through the store and would count the same money twice.
    if data.revenue_sources.is_empty() {
        let deals = read_stream(&mut data, "gohighlevel", "opportunities")?;
        data.add_revenue("gohighlevel/opportunities", &deals, parse_won_opportunity);
    }
    Ok(data)
}

impl Agent for Analytics {
    fn describe() -> AgentInfo {
        AgentInfo {
            name: "analytics".into(),
            description: "Blended ad metrics with store revenue (ROAS, MER), spend anomalies, spend and \
                          revenue forecasts, the revenue lag, and budget moves toward the best marginal ROAS"
                .into(),
            tasks: vec![TaskSpec {
                kind: "daily-review".into(),
                description: "Review the last 7 and 28 days, forecast the next 7 and 30, and propose \
                              budget moves within the guardrails"
                    .into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "horizon_days": {"type": "array", "items": {"type": "integer", "minimum": 1,
                            "maximum": 90}, "default": [7, 30]},
                        "holdout_days": {"type": "integer", "minimum": 0, "maximum": 60, "default": 0,
                            "description": "Leave out the last N days, to compare a forecast with them"},
                        "min_roas_gap": {"type": "number", "minimum": 1, "default": 1.5,
                            "description": "How many times the giving campaign's ROAS the receiving one \
                                            must earn before budget moves"},
                        "guardrails": {"type": "object", "properties": {
                            "max_budget_change_percent": {"type": "number", "minimum": 0, "maximum": 100},
                            "max_change_percent": {"type": "number", "minimum": 0, "maximum": 100},
                            "max_change_absolute": {"type": ["number", "null"], "minimum": 0}
                        }}
                    }
                }),
            }],
        }
    }

    fn run(task: Task) -> Result<RunOutput, Error> {
        if task.kind != "daily-review" {
            return Err(Error::not_found(format!("no task `{}`", task.kind)));
        }
        let options = Options::from_input(&task.input).map_err(Error::invalid_input)?;
        let data = load()?;
        Ok(review::review(&data, &options))
    }
}

omnify_sdk::export_agent!(Analytics);

#[cfg(test)]
mod tests {
    use super::*;
    use omnify_sdk::testing::Harness;

    fn deals() -> Vec<Value> {
        vec![
            json!({"id": "o1", "status": "won", "monetary_value": 1200.0, "currency": "USD",
                "won_at": "2026-06-10T15:00:00Z", "updated_at": "2026-06-10T15:00:00Z"}),
            json!({"id": "o2", "status": "won", "monetary_value": 300.5, "currency": "USD",
                "won_at": "2026-06-10T20:00:00Z", "updated_at": "2026-06-11T09:00:00Z"}),
            json!({"id": "o3", "status": "open", "monetary_value": 5000.0, "currency": "USD",
                "updated_at": "2026-06-10T12:00:00Z"}),
            json!({"id": "o4", "status": "lost", "monetary_value": 800.0, "currency": "USD",
                "updated_at": "2026-06-11T12:00:00Z"}),
        ]
    }

    #[test]
    fn without_a_store_won_deals_are_the_revenue_by_the_day_they_were_won() {
        let harness = Harness::new().records("gohighlevel", "opportunities", deals());
        let data = harness.run(load).expect("the data");
        assert_eq!(
            data.revenue_sources,
            vec!["gohighlevel/opportunities".to_string()]
        );
        let day = date::parse("2026-06-10").expect("a day");
        assert_eq!(data.revenue.get(&day), Some(&1500.5));
        assert_eq!(data.revenue.len(), 1, "open and lost deals are not revenue");
        assert!(data.skipped.is_empty(), "{:?}", data.skipped);
        assert!(data.missing.contains(&"shopify/orders".to_string()));
    }

    #[test]
    fn with_a_store_won_deals_are_not_counted_twice() {
        let order = json!({"id": "5100", "created_at": "2026-06-10T10:00:00Z", "total_price": 80.0,
            "financial_status": "paid", "currency": "USD"});
        let harness = Harness::new().records("shopify", "orders", vec![order]).records(
            "gohighlevel",
            "opportunities",
            deals(),
        );
        let data = harness.run(load).expect("the data");
        assert_eq!(data.revenue_sources, vec!["shopify/orders".to_string()]);
        let day = date::parse("2026-06-10").expect("a day");
        assert_eq!(data.revenue.get(&day), Some(&80.0));
        assert!(
            !data.missing.iter().any(|m| m.starts_with("gohighlevel")),
            "not even read"
        );
    }
}
