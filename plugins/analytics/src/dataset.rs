//! The records the agent reads, parsed leniently into daily figures: a record
//! missing a field it needs is skipped (and counted), never a failure.

use crate::date;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The ad connectors, with the names rationales use.
pub const AD_PLATFORMS: [(&str, &str); 4] = [
    ("meta-ads", "Meta"),
    ("google-ads", "Google"),
    ("tiktok-ads", "TikTok"),
    ("linkedin-ads", "LinkedIn"),
];

/// Delivery figures of one campaign (or of many) on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// Money spent.
    pub spend: f64,
    /// Times shown.
    pub impressions: f64,
    /// Clicks.
    pub clicks: f64,
    /// Conversions the platform attributes.
    pub conversions: f64,
    /// Value of those conversions.
    pub value: f64,
}

impl Metrics {
    /// Adds another day or campaign.
    pub fn add(&mut self, other: &Metrics) {
        self.spend += other.spend;
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.conversions += other.conversions;
        self.value += other.value;
    }
}

/// A campaign as the platform describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Campaign {
    /// The platform's id.
    pub id: String,
    /// Its name (the id when the record has none).
    pub name: String,
    /// `active`, `paused`, ... in lower case.
    pub status: String,
    /// Its daily budget, when it has one.
    pub daily_budget: Option<f64>,
}

/// One ad platform's data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Platform {
    /// The connector, for example `meta-ads`.
    pub connector: String,
    /// The name people know, for example `Meta`.
    pub label: String,
    /// Campaigns by id.
    pub campaigns: BTreeMap<String, Campaign>,
    /// Figures by campaign id, then by day number.
    pub days: BTreeMap<String, BTreeMap<i64, Metrics>>,
}

impl Platform {
    /// An empty platform.
    pub fn new(connector: &str, label: &str) -> Self {
        Self {
            connector: connector.into(),
            label: label.into(),
            ..Self::default()
        }
    }

    /// Whether any delivery was read.
    pub fn has_data(&self) -> bool {
        self.days.values().any(|d| !d.is_empty())
    }

    /// A campaign's name, or its id when unknown.
    pub fn campaign_name(&self, id: &str) -> String {
        self.campaigns
            .get(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| id.to_string())
    }
}

/// Parses one revenue record into its day, amount and currency.
pub type RevenueParser = fn(&Value) -> Option<(i64, f64, Option<String>)>;

/// Everything the review works on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// The ad platforms, in [`AD_PLATFORMS`] order.
    pub platforms: Vec<Platform>,
    /// Store revenue (Shopify orders plus Stripe charges) by day number.
    pub revenue: BTreeMap<i64, f64>,
    /// Revenue sources that had records, for example `shopify/orders`.
    pub revenue_sources: Vec<String>,
    /// Streams that could not be read (not granted or not synced).
    pub missing: Vec<String>,
    /// Records skipped for missing or malformed fields, by stream.
    pub skipped: BTreeMap<String, usize>,
    /// Currencies seen.
    pub currencies: BTreeSet<String>,
}

/// A number, also when sent as a numeric string.
fn number(record: &Value, key: &str) -> Option<f64> {
    match record.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// A string, also when sent as a number (ids often are).
fn text(record: &Value, key: &str) -> Option<String> {
    match record.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A `campaigns` record.
pub fn parse_campaign(record: &Value) -> Option<Campaign> {
    let id = text(record, "id")?;
    Some(Campaign {
        name: text(record, "name").unwrap_or_else(|| id.clone()),
        status: text(record, "status").unwrap_or_default().to_lowercase(),
        daily_budget: number(record, "daily_budget").filter(|b| *b >= 0.0),
        id,
    })
}

/// A `campaign_insights` record: campaign id, day, figures and currency.
pub fn parse_insight(record: &Value) -> Option<(String, i64, Metrics, Option<String>)> {
    let campaign = text(record, "campaign_id")?;
    let day = date::parse(record.get("date")?.as_str()?)?;
    let metrics = Metrics {
        spend: number(record, "spend")?,
        impressions: number(record, "impressions").unwrap_or(0.0),
        clicks: number(record, "clicks").unwrap_or(0.0),
        conversions: number(record, "conversions").unwrap_or(0.0),
        value: number(record, "conversion_value").unwrap_or(0.0),
    };
    Some((
        campaign,
        day,
        metrics,
        text(record, "currency").map(|c| c.to_uppercase()),
    ))
}

/// A Shopify order's day and revenue; `None` for orders that brought no
/// money (cancelled, voided, refunded).
pub fn parse_order(record: &Value) -> Option<(i64, f64, Option<String>)> {
    let status = text(record, "financial_status").unwrap_or_default();
    let cancelled = record.get("cancelled_at").is_some_and(|v| !v.is_null());
    if cancelled || matches!(status.as_str(), "voided" | "refunded") {
        return None;
    }
    let day = date::parse(record.get("created_at")?.as_str()?)?;
    let currency = text(record, "currency").map(|c| c.to_uppercase());
    Some((day, number(record, "total_price")?, currency))
}

/// A Stripe charge's day and amount net of refunds; `None` for charges that
/// did not succeed.
pub fn parse_charge(record: &Value) -> Option<(i64, f64, Option<String>)> {
    let status = text(record, "status").unwrap_or_else(|| "succeeded".into());
    if status != "succeeded" {
        return None;
    }
    let day = date::parse(record.get("created")?.as_str()?)?;
    let amount = number(record, "amount")? - number(record, "amount_refunded").unwrap_or(0.0);
    let currency = text(record, "currency").map(|c| c.to_uppercase());
    Some((day, amount.max(0.0), currency))
}

/// A GoHighLevel opportunity's day and value if it was won: the day it was
/// won (`won_at`, else its last change), its `monetary_value` and
/// `currency`; `None` for open, lost and abandoned deals.
pub fn parse_won_opportunity(record: &Value) -> Option<(i64, f64, Option<String>)> {
    if text(record, "status")? != "won" {
        return None;
    }
    let won = record
        .get("won_at")
        .and_then(Value::as_str)
        .or_else(|| record.get("updated_at")?.as_str())?;
    let day = date::parse(won)?;
    let currency = text(record, "currency").map(|c| c.to_uppercase());
    Some((day, number(record, "monetary_value")?.max(0.0), currency))
}

impl Dataset {
    /// Counts a record skipped from `stream`.
    fn skip(&mut self, stream: &str) {
        *self.skipped.entry(stream.to_string()).or_default() += 1;
    }

    /// Adds a platform's campaigns and campaign insights.
    pub fn add_platform(&mut self, mut platform: Platform, campaigns: &[Value], insights: &[Value]) {
        let connector = platform.connector.clone();
        for record in campaigns {
            match parse_campaign(record) {
                Some(campaign) => {
                    platform.campaigns.insert(campaign.id.clone(), campaign);
                }
                None => self.skip(&format!("{connector}/campaigns")),
            }
        }
        for record in insights {
            match parse_insight(record) {
                Some((campaign, day, metrics, currency)) => {
                    // Records are upserted by (campaign, date): the last wins.
                    platform.days.entry(campaign).or_default().insert(day, metrics);
                    self.currencies.extend(currency);
                }
                None => self.skip(&format!("{connector}/campaign_insights")),
            }
        }
        self.platforms.push(platform);
    }

    /// Adds store revenue records of one source with their parser.
    pub fn add_revenue(&mut self, source: &str, records: &[Value], parse: RevenueParser) {
        if records.is_empty() {
            return;
        }
        self.revenue_sources.push(source.to_string());
        for record in records {
            match parse(record) {
                Some((day, amount, currency)) => {
                    *self.revenue.entry(day).or_default() += amount;
                    self.currencies.extend(currency);
                }
                // Cancelled orders and failed charges are expected, not errors.
                None if record.get("id").is_some() => {}
                None => self.skip(source),
            }
        }
    }

    /// The last day with ad delivery, or with revenue when there is none.
    pub fn last_day(&self) -> Option<i64> {
        let ads = self
            .platforms
            .iter()
            .flat_map(|p| p.days.values())
            .filter_map(|d| d.keys().next_back().copied())
            .max();
        ads.or_else(|| self.revenue.keys().next_back().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_lenient_records() {
        let insight = json!({"date": "2026-06-11", "campaign_id": 42, "spend": "12.5", "clicks": 3,
            "currency": "usd"});
        let (id, day, m, currency) = parse_insight(&insight).expect("insight");
        assert_eq!(
            (id.as_str(), date::format(day).as_str(), m.spend, m.clicks),
            ("42", "2026-06-11", 12.5, 3.0)
        );
        assert_eq!(m.impressions, 0.0);
        assert_eq!(currency.as_deref(), Some("USD"));
        assert!(parse_insight(&json!({"date": "2026-06-11", "campaign_id": "1"})).is_none());
        let order = json!({"id": "1", "created_at": "2026-06-11T23:00:00-04:00", "total_price": 80.0,
            "financial_status": "paid"});
        assert_eq!(parse_order(&order).map(|o| o.1), Some(80.0));
        let cancelled = json!({"id": "2", "created_at": "2026-06-11T10:00:00Z", "total_price": 80.0,
            "cancelled_at": "2026-06-11T11:00:00Z"});
        assert!(parse_order(&cancelled).is_none());
        let won = json!({"id": "o1", "status": "won", "monetary_value": 1250.5, "currency": "usd",
            "won_at": "2026-06-12T23:30:00Z", "updated_at": "2026-06-20T10:00:00Z"});
        let (day, amount, currency) = parse_won_opportunity(&won).expect("a won deal");
        assert_eq!(
            (date::format(day).as_str(), amount, currency.as_deref()),
            ("2026-06-12", 1250.5, Some("USD"))
        );
        let open = json!({"id": "o2", "status": "open", "monetary_value": 900, "updated_at": "2026-06-12T00:00:00Z"});
        assert!(parse_won_opportunity(&open).is_none());
        let unvalued =
            json!({"id": "o3", "status": "won", "monetary_value": null, "won_at": "2026-06-12T00:00:00Z"});
        assert!(parse_won_opportunity(&unvalued).is_none());
        let charge = json!({"id": "ch_1", "amount": 50.0, "amount_refunded": 20.0,
            "created": "2026-06-12T01:00:00Z", "status": "succeeded"});
        assert_eq!(parse_charge(&charge).map(|c| c.1), Some(30.0));
        let campaign = json!({"id": "7", "status": "ACTIVE", "daily_budget": null});
        let campaign = parse_campaign(&campaign).expect("campaign");
        assert_eq!(
            (campaign.name.as_str(), campaign.status.as_str()),
            ("7", "active")
        );
        assert_eq!(campaign.daily_budget, None);
    }

    #[test]
    fn counts_skipped_records_and_finds_the_last_day() {
        let mut data = Dataset::default();
        let insights = [
            json!({"date": "2026-06-10", "campaign_id": "1", "spend": 5.0}),
            json!({"date": "2026-06-11", "campaign_id": "1", "spend": 6.0}),
            json!({"campaign_id": "1", "spend": 6.0}),
        ];
        data.add_platform(Platform::new("meta-ads", "Meta"), &[], &insights);
        assert_eq!(data.skipped.get("meta-ads/campaign_insights"), Some(&1));
        assert_eq!(data.last_day().map(date::format).as_deref(), Some("2026-06-11"));
        assert_eq!(data.platforms[0].campaign_name("1"), "1");
    }
}
