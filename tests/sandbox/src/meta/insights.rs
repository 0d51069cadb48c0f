//! `GET /act_{id}/insights` with `level=campaign|ad` and `time_increment=1`:
//! one row per object and day, every metric a string as Meta sends them.

use super::graph::{Field, GraphError, Params, money};
use crate::world::{AdAccount, AdDay, Totals};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The insight fields the sandbox serves.
pub const FIELDS: [&str; 18] = [
    "account_id",
    "account_currency",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "impressions",
    "clicks",
    "spend",
    "reach",
    "frequency",
    "ctr",
    "actions",
    "action_values",
    "date_start",
    "date_stop",
];

/// What Meta returns when `fields` is absent.
const DEFAULT_FIELDS: [&str; 4] = ["impressions", "spend", "date_start", "date_stop"];

#[derive(Deserialize)]
struct TimeRange {
    since: NaiveDate,
    until: NaiveDate,
}

/// The level rows are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Campaign,
    Ad,
}

/// Every row the request asks for, in date then object order, each with
/// only the requested fields.
pub fn rows(account: &AdAccount, last_day: NaiveDate, params: &Params) -> Result<Vec<Value>, GraphError> {
    let level = match params.get("level").unwrap_or("ad") {
        "campaign" => Level::Campaign,
        "ad" => Level::Ad,
        other => {
            return Err(GraphError::invalid_parameter(format!(
                "The sandbox serves level=campaign and level=ad, not `{other}`"
            )));
        }
    };
    match params.get("time_increment") {
        Some("1") => {}
        _ => {
            return Err(GraphError::invalid_parameter(
                "The sandbox serves time_increment=1 only",
            ));
        }
    }
    let range = match params.get("time_range") {
        Some(text) => serde_json::from_str::<TimeRange>(text).map_err(|e| {
            GraphError::invalid_parameter(format!(
                "Param time_range must be a JSON object with since and until dates: {e}"
            ))
        })?,
        // Meta's default is `date_preset=last_30d`.
        None => TimeRange {
            since: last_day - chrono::Duration::days(29),
            until: last_day,
        },
    };
    if range.since > range.until {
        return Err(GraphError::invalid_parameter(
            "Param time_range: since must not be after until",
        ));
    }
    let mut fields = params.fields(&DEFAULT_FIELDS);
    // Meta returns the day of every row whatever the fields asked for.
    for always in ["date_start", "date_stop"] {
        if !fields.iter().any(|f| f.name == always) {
            fields.push(Field::plain(always));
        }
    }
    let days = account
        .days
        .iter()
        .filter(|d| d.date >= range.since && d.date <= range.until);
    let mut rows = Vec::new();
    match level {
        Level::Ad => {
            let mut by_date: Vec<&AdDay> = days.collect();
            by_date.sort_by(|a, b| (a.date, &a.ad_id).cmp(&(b.date, &b.ad_id)));
            for day in by_date {
                let mut totals = Totals::default();
                totals.add(day);
                rows.push(super::graph::select(
                    &row(account, day.date, &day.ad_id, &totals, level),
                    &fields,
                    &FIELDS,
                )?);
            }
        }
        Level::Campaign => {
            let mut by_campaign: BTreeMap<(NaiveDate, String), Totals> = BTreeMap::new();
            for day in days {
                if let Some(ad) = account.ad(&day.ad_id) {
                    by_campaign
                        .entry((day.date, ad.campaign_id.clone()))
                        .or_default()
                        .add(day);
                }
            }
            for ((date, campaign_id), totals) in by_campaign {
                rows.push(super::graph::select(
                    &row(account, date, &campaign_id, &totals, level),
                    &fields,
                    &FIELDS,
                )?);
            }
        }
    }
    Ok(rows)
}

/// Every field of one row; [`super::graph::select`] keeps those asked for.
fn row(
    account: &AdAccount,
    date: NaiveDate,
    object_id: &str,
    totals: &Totals,
    level: Level,
) -> Map<String, Value> {
    let mut row = Map::new();
    let mut put = |name: &str, value: Value| {
        row.insert(name.to_string(), value);
    };
    put("account_id", json!(account.account_id));
    put("account_currency", json!(account.currency));
    let campaign_id = match level {
        Level::Campaign => object_id.to_string(),
        Level::Ad => account
            .ad(object_id)
            .map(|ad| ad.campaign_id.clone())
            .unwrap_or_default(),
    };
    if let Some(campaign) = account.campaign(&campaign_id) {
        put("campaign_id", json!(campaign.id));
        put("campaign_name", json!(campaign.name));
    }
    if level == Level::Ad
        && let Some(ad) = account.ad(object_id)
    {
        put("ad_id", json!(ad.id));
        put("ad_name", json!(ad.name));
        put("adset_id", json!(ad.ad_group_id));
        if let Some(group) = account.ad_groups.iter().find(|g| g.id == ad.ad_group_id) {
            put("adset_name", json!(group.name));
        }
    }
    put("impressions", json!(totals.impressions.to_string()));
    put("clicks", json!(totals.clicks.to_string()));
    put("spend", json!(money(totals.spend_cents)));
    put("reach", json!(totals.reach.to_string()));
    if totals.reach > 0 {
        put(
            "frequency",
            json!(format!("{:.6}", totals.impressions as f64 / totals.reach as f64)),
        );
    }
    if totals.impressions > 0 {
        put(
            "ctr",
            json!(format!(
                "{:.6}",
                100.0 * totals.clicks as f64 / totals.impressions as f64
            )),
        );
    }
    // Meta lists only the action types that happened, link clicks among them.
    let mut actions = Vec::new();
    let mut values = Vec::new();
    if totals.clicks > 0 {
        actions.push(json!({"action_type": "link_click", "value": totals.clicks.to_string()}));
    }
    if totals.conversions > 0 {
        actions.push(json!({"action_type": "purchase", "value": totals.conversions.to_string()}));
        values.push(json!({"action_type": "purchase", "value": money(totals.conversion_value_cents)}));
    }
    if !actions.is_empty() {
        put("actions", json!(actions));
    }
    if !values.is_empty() {
        put("action_values", json!(values));
    }
    put("date_start", json!(date.to_string()));
    put("date_stop", json!(date.to_string()));
    row
}
