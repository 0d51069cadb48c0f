//! `GET report/integrated/get/`: BASIC reports at the advertiser, campaign,
//! ad group or ad level, daily (`stat_time_day`) or over the whole range.
//!
//! As in the real API, a daily report covers at most 30 days, every metric
//! value is a string (`"spend": "12.34"`), days are written
//! `"2026-06-01 00:00:00"`, and only objects that delivered in the range
//! have rows: `{"dimensions": {...}, "metrics": {...}}`.
//!
//! Metrics served: `spend`, `impressions`, `clicks`, `reach`, `frequency`,
//! `ctr` (percent), `cpc`, `cpm`, `conversion`, `cost_per_conversion`,
//! `complete_payment` (purchases, the conversions here),
//! `total_complete_payment_rate` (TikTok's name, despite "rate", for the
//! total value of those purchases), `currency`, and the attribute metrics
//! naming the parents of the level (`campaign_id`, `campaign_name`,
//! `adgroup_id`, `adgroup_name`, `ad_name`, `ad_text`).

use super::{ApiError, ApiResult, Params, account, admit, money, page_of};
use crate::server::Platform;
use crate::world::{AdAccount, AdDay, Totals};
use axum::http::HeaderMap;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The most days a daily report may cover.
const MAX_DAILY_DAYS: i64 = 30;

/// The most days any report may cover.
const MAX_DAYS: i64 = 365;

/// The metrics of every level.
const METRICS: [&str; 13] = [
    "spend",
    "impressions",
    "clicks",
    "reach",
    "frequency",
    "ctr",
    "cpc",
    "cpm",
    "conversion",
    "cost_per_conversion",
    "complete_payment",
    "total_complete_payment_rate",
    "currency",
];

/// What a report's rows are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Advertiser,
    Campaign,
    AdGroup,
    Ad,
}

impl Level {
    fn parse(text: &str) -> Result<Self, ApiError> {
        Ok(match text {
            "AUCTION_ADVERTISER" => Self::Advertiser,
            "AUCTION_CAMPAIGN" => Self::Campaign,
            "AUCTION_ADGROUP" => Self::AdGroup,
            "AUCTION_AD" => Self::Ad,
            other => {
                return Err(ApiError::invalid(format!(
                    "data_level: Must be one of AUCTION_ADVERTISER, AUCTION_CAMPAIGN, AUCTION_ADGROUP, \
                     AUCTION_AD; got {other}."
                )));
            }
        })
    }

    /// The dimension that identifies a row's object.
    fn id_dimension(self) -> &'static str {
        match self {
            Self::Advertiser => "advertiser_id",
            Self::Campaign => "campaign_id",
            Self::AdGroup => "adgroup_id",
            Self::Ad => "ad_id",
        }
    }

    /// The attribute metrics that make sense at this level.
    fn attributes(self) -> &'static [&'static str] {
        match self {
            Self::Advertiser => &[],
            Self::Campaign => &["campaign_name"],
            Self::AdGroup => &["campaign_id", "campaign_name", "adgroup_name"],
            Self::Ad => &[
                "campaign_id",
                "campaign_name",
                "adgroup_id",
                "adgroup_name",
                "ad_name",
                "ad_text",
            ],
        }
    }

    /// The id of the object a day of an ad counts towards.
    fn key_of(self, account: &AdAccount, day: &AdDay) -> Option<String> {
        let ad = account.ad(&day.ad_id)?;
        Some(match self {
            Self::Advertiser => account.account_id.clone(),
            Self::Campaign => ad.campaign_id.clone(),
            Self::AdGroup => ad.ad_group_id.clone(),
            Self::Ad => ad.id.clone(),
        })
    }

    /// The value of an attribute metric of the object `id`.
    fn attribute(self, account: &AdAccount, id: &str, name: &str) -> Option<String> {
        let ad = account.ads.iter().find(|a| a.id == id);
        let group_id = match self {
            Self::AdGroup => Some(id),
            Self::Ad => ad.map(|a| a.ad_group_id.as_str()),
            _ => None,
        };
        let group = group_id.and_then(|g| account.ad_groups.iter().find(|x| x.id == g));
        let campaign_id = match self {
            Self::Campaign => Some(id),
            _ => group.map(|g| g.campaign_id.as_str()),
        };
        let campaign = campaign_id.and_then(|c| account.campaign(c));
        match name {
            "campaign_id" => campaign.map(|c| c.id.clone()),
            "campaign_name" => campaign.map(|c| c.name.clone()),
            "adgroup_id" => group.map(|g| g.id.clone()),
            "adgroup_name" => group.map(|g| g.name.clone()),
            "ad_name" => ad.map(|a| a.name.clone()),
            "ad_text" => ad.map(|a| a.creative.body.clone()),
            _ => None,
        }
    }
}

/// `GET report/integrated/get/`.
pub(super) fn integrated(platform: &Platform, headers: &HeaderMap, params: &Params) -> ApiResult {
    admit(platform, headers)?;
    if params.required("report_type")? != "BASIC" {
        return Err(ApiError::invalid(
            "report_type: only BASIC reports are served by this sandbox.",
        ));
    }
    let level = Level::parse(params.optional("data_level").unwrap_or("AUCTION_ADVERTISER"))?;
    let dimensions = params
        .string_list("dimensions")?
        .ok_or_else(|| ApiError::invalid("dimensions: Missing data for required field."))?;
    let daily = check_dimensions(level, &dimensions)?;
    let metrics = params
        .string_list("metrics")?
        .unwrap_or_else(|| vec!["spend".into(), "impressions".into()]);
    if let Some(unknown) = metrics
        .iter()
        .find(|m| !METRICS.contains(&m.as_str()) && !level.attributes().contains(&m.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "metrics: Invalid metric `{unknown}` for data_level {}.",
            params.optional("data_level").unwrap_or("AUCTION_ADVERTISER")
        )));
    }
    let start = date(params, "start_date")?;
    let end = date(params, "end_date")?;
    let days = (end - start).num_days() + 1;
    if days < 1 {
        return Err(ApiError::invalid(
            "end_date: Must be later than or equal to start_date.",
        ));
    }
    if daily && days > MAX_DAILY_DAYS {
        return Err(ApiError::invalid(format!(
            "start_date, end_date: The time range cannot exceed {MAX_DAILY_DAYS} days when stat_time_day \
             is a dimension."
        )));
    }
    if days > MAX_DAYS {
        return Err(ApiError::invalid(format!(
            "start_date, end_date: The time range cannot exceed {MAX_DAYS} days."
        )));
    }
    let paging = params.paging()?;
    let world = platform.world();
    let account = account(&world, params.required("advertiser_id")?)?;

    // Rows in (day, object) order; `None` as the day when not daily.
    let mut rows: BTreeMap<(Option<NaiveDate>, String), Totals> = BTreeMap::new();
    for day in account.days.iter().filter(|d| (start..=end).contains(&d.date)) {
        if let Some(key) = level.key_of(account, day) {
            rows.entry((daily.then_some(day.date), key)).or_default().add(day);
        }
    }
    let items = rows
        .into_iter()
        .map(|((date, id), totals)| {
            let mut dimensions = Map::new();
            dimensions.insert(level.id_dimension().into(), json!(id));
            if let Some(date) = date {
                dimensions.insert("stat_time_day".into(), json!(format!("{date} 00:00:00")));
            }
            let values: Map<String, Value> = metrics
                .iter()
                .map(|name| {
                    let value = metric(&totals, name)
                        .or_else(|| (name == "currency").then(|| account.currency.clone()))
                        .or_else(|| level.attribute(account, &id, name))
                        .unwrap_or_else(|| "-".into());
                    (name.clone(), json!(value))
                })
                .collect();
            json!({ "dimensions": dimensions, "metrics": values })
        })
        .collect();
    Ok(page_of(items, paging))
}

/// Check the dimensions: the level's id, optionally `stat_time_day`.
/// Returns whether the report is daily.
fn check_dimensions(level: Level, dimensions: &[String]) -> Result<bool, ApiError> {
    if let Some(other) = dimensions
        .iter()
        .find(|d| *d != level.id_dimension() && *d != "stat_time_day")
    {
        return Err(ApiError::invalid(format!(
            "dimensions: Invalid dimension `{other}`; this sandbox serves [\"{}\", \"stat_time_day\"].",
            level.id_dimension()
        )));
    }
    if !dimensions.iter().any(|d| d == level.id_dimension()) {
        return Err(ApiError::invalid(format!(
            "dimensions: `{}` is required for this data_level.",
            level.id_dimension()
        )));
    }
    Ok(dimensions.iter().any(|d| d == "stat_time_day"))
}

fn date(params: &Params, name: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(params.required(name)?, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(format!("{name}: Not a valid date (YYYY-MM-DD).")))
}

/// A numeric metric of `totals`, as TikTok's string; `None` for a name that
/// is not numeric.
fn metric(totals: &Totals, name: &str) -> Option<String> {
    let ratio = |numerator: f64, denominator: u64| {
        if denominator == 0 {
            "0.00".to_string()
        } else {
            format!("{:.2}", numerator / denominator as f64)
        }
    };
    let spend = totals.spend_cents as f64 / 100.0;
    Some(match name {
        "spend" => money(totals.spend_cents),
        "impressions" => totals.impressions.to_string(),
        "clicks" => totals.clicks.to_string(),
        "reach" => totals.reach.to_string(),
        "frequency" => ratio(totals.impressions as f64, totals.reach),
        "ctr" => ratio(totals.clicks as f64 * 100.0, totals.impressions),
        "cpc" => ratio(spend, totals.clicks),
        "cpm" => ratio(spend * 1000.0, totals.impressions),
        "conversion" | "complete_payment" => totals.conversions.to_string(),
        "cost_per_conversion" => ratio(spend, totals.conversions),
        "total_complete_payment_rate" => money(totals.conversion_value_cents),
        _ => return None,
    })
}
