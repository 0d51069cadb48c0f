//! Google Ads rows (camelCase, int64 as strings, money in micros) turned into
//! the records every ad connector emits (money as f64 in major units).

use serde_json::{Value, json};

/// The GAQL of each stream. Insight queries take the date window.
pub mod queries {
    /// Campaigns with their budget and the account's currency.
    pub const CAMPAIGNS: &str = "SELECT campaign.id, campaign.name, campaign.status, \
        campaign.advertising_channel_type, campaign.start_date, campaign_budget.id, \
        campaign_budget.amount_micros, customer.currency_code \
        FROM campaign WHERE campaign.status != 'REMOVED' ORDER BY campaign.id";

    /// Ad groups.
    pub const AD_GROUPS: &str = "SELECT ad_group.id, ad_group.name, ad_group.status, campaign.id \
        FROM ad_group WHERE ad_group.status != 'REMOVED' ORDER BY ad_group.id";

    /// Ads with their responsive search ad text.
    pub const ADS: &str = "SELECT ad_group_ad.ad.id, ad_group_ad.ad.name, ad_group_ad.status, \
        ad_group_ad.ad.final_urls, ad_group_ad.ad.responsive_search_ad.headlines, \
        ad_group_ad.ad.responsive_search_ad.descriptions, ad_group.id, campaign.id \
        FROM ad_group_ad WHERE ad_group_ad.status != 'REMOVED' ORDER BY ad_group_ad.ad.id";

    const METRICS: &str = "metrics.impressions, metrics.clicks, metrics.cost_micros, \
        metrics.conversions, metrics.conversions_value, customer.currency_code, segments.date";

    /// Daily metrics per campaign from `from` to `to`, both included.
    pub fn campaign_insights(from: &str, to: &str) -> String {
        format!(
            "SELECT campaign.id, {METRICS} FROM campaign \
             WHERE segments.date BETWEEN '{from}' AND '{to}' ORDER BY segments.date, campaign.id"
        )
    }

    /// Daily metrics per ad from `from` to `to`, both included.
    pub fn ad_insights(from: &str, to: &str) -> String {
        format!(
            "SELECT ad_group_ad.ad.id, ad_group.id, campaign.id, {METRICS} FROM ad_group_ad \
             WHERE segments.date BETWEEN '{from}' AND '{to}' ORDER BY segments.date, ad_group_ad.ad.id"
        )
    }

    /// One campaign's status, budget and the account's currency (`id` is
    /// checked to be digits).
    pub fn campaign(campaign_id: &str) -> String {
        format!(
            "SELECT campaign.id, campaign.status, campaign.campaign_budget, campaign_budget.amount_micros, \
             customer.currency_code FROM campaign WHERE campaign.id = {campaign_id}"
        )
    }

    /// The ad group ad of one ad (`id` is checked to be digits), whose
    /// resource name holds the ad group's id.
    pub fn ad_group_ad(ad_id: &str) -> String {
        format!(
            "SELECT ad_group_ad.ad.id, ad_group_ad.status, ad_group.id FROM ad_group_ad \
             WHERE ad_group_ad.ad.id = {ad_id} AND ad_group_ad.status != 'REMOVED'"
        )
    }
}

fn at<'a>(row: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(row, |value, key| &value[*key])
}

fn text(row: &Value, path: &[&str]) -> Value {
    at(row, path).as_str().map_or(Value::Null, |s| json!(s))
}

/// An int64, which Google sends as a string.
fn int(row: &Value, path: &[&str]) -> i64 {
    match at(row, path) {
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// A double; Google omits zero values.
fn float(row: &Value, path: &[&str]) -> f64 {
    at(row, path).as_f64().unwrap_or(0.0)
}

/// Micros of the account's currency in major units; exact for any amount
/// below 2^53 micros, since the one division rounds correctly.
fn money(row: &Value, path: &[&str]) -> f64 {
    int(row, path) as f64 / 1_000_000.0
}

/// `ENABLED` → `active`, `PAUSED` → `paused`, others in lower case.
fn status(row: &Value, path: &[&str]) -> Value {
    match at(row, path).as_str() {
        Some("ENABLED") => json!("active"),
        Some("PAUSED") => json!("paused"),
        Some(other) => json!(other.to_ascii_lowercase()),
        None => Value::Null,
    }
}

fn currency(row: &Value) -> Value {
    text(row, &["customer", "currencyCode"])
}

/// A `campaigns` record.
pub fn campaign(row: &Value) -> Value {
    let budget = at(row, &["campaignBudget", "amountMicros"]);
    json!({
        "id": text(row, &["campaign", "id"]),
        "name": text(row, &["campaign", "name"]),
        "status": status(row, &["campaign", "status"]),
        "daily_budget": if budget.is_null() { Value::Null } else { json!(money(row, &["campaignBudget", "amountMicros"])) },
        "currency": currency(row),
        "advertising_channel_type": text(row, &["campaign", "advertisingChannelType"]),
        "start_date": text(row, &["campaign", "startDate"]),
        "budget_id": text(row, &["campaignBudget", "id"]),
    })
}

/// An `ad_groups` record.
pub fn ad_group(row: &Value) -> Value {
    json!({
        "id": text(row, &["adGroup", "id"]),
        "campaign_id": text(row, &["campaign", "id"]),
        "name": text(row, &["adGroup", "name"]),
        "status": status(row, &["adGroup", "status"]),
    })
}

fn asset_texts(row: &Value, field: &str) -> Vec<Value> {
    at(row, &["adGroupAd", "ad", "responsiveSearchAd", field])
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|asset| asset["text"].as_str().map(|t| json!(t)))
        .collect()
}

/// An `ads` record. A Google ad is its own creative: the creative's id is the
/// ad's, its headline and body the first headline and description.
pub fn ad(row: &Value) -> Value {
    let headlines = asset_texts(row, "headlines");
    let descriptions = asset_texts(row, "descriptions");
    let ad_id = text(row, &["adGroupAd", "ad", "id"]);
    json!({
        "id": ad_id,
        "ad_group_id": text(row, &["adGroup", "id"]),
        "campaign_id": text(row, &["campaign", "id"]),
        "name": text(row, &["adGroupAd", "ad", "name"]),
        "status": status(row, &["adGroupAd", "status"]),
        "creative": {
            "id": ad_id,
            "headline": headlines.first().cloned().unwrap_or(Value::Null),
            "body": descriptions.first().cloned().unwrap_or(Value::Null),
            "image_url": Value::Null,
        },
        "headlines": headlines,
        "descriptions": descriptions,
        "final_urls": at(row, &["adGroupAd", "ad", "finalUrls"]).as_array().cloned().unwrap_or_default(),
    })
}

fn metrics(row: &Value) -> Value {
    json!({
        "date": text(row, &["segments", "date"]),
        "impressions": int(row, &["metrics", "impressions"]),
        "clicks": int(row, &["metrics", "clicks"]),
        "spend": money(row, &["metrics", "costMicros"]),
        "conversions": float(row, &["metrics", "conversions"]),
        "conversion_value": float(row, &["metrics", "conversionsValue"]),
        "currency": currency(row),
    })
}

/// A `campaign_insights` record.
pub fn campaign_insight(row: &Value) -> Value {
    let mut record = metrics(row);
    record["campaign_id"] = text(row, &["campaign", "id"]);
    record
}

/// An `ad_insights` record. The ad report has no reach, so `reach` and
/// `frequency` are null.
pub fn ad_insight(row: &Value) -> Value {
    let mut record = metrics(row);
    record["ad_id"] = text(row, &["adGroupAd", "ad", "id"]);
    record["ad_group_id"] = text(row, &["adGroup", "id"]);
    record["campaign_id"] = text(row, &["campaign", "id"]);
    record["reach"] = Value::Null;
    record["frequency"] = Value::Null;
    record
}
