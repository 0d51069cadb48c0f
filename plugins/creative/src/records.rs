//! The connector records the agent reads, parsed leniently from JSON: a record
//! without its key fields is skipped and a missing optional figure defaults,
//! so one odd record never fails a review.

use chrono::NaiveDate;
use serde_json::Value;

/// One ad's delivery on one day.
#[derive(Debug, Clone, PartialEq)]
pub struct AdDay {
    /// Days since 1970-01-01.
    pub day: i64,
    /// The ad.
    pub ad_id: String,
    /// Its ad group (empty when the record does not say).
    pub ad_group_id: String,
    /// Its campaign (empty when the record does not say).
    pub campaign_id: String,
    /// Times shown.
    pub impressions: f64,
    /// Clicks (never more than impressions).
    pub clicks: f64,
    /// Spend in major currency units.
    pub spend: f64,
    /// Conversions attributed to the ad.
    pub conversions: f64,
    /// Impressions per person reached that day, when the platform reports it.
    pub frequency: Option<f64>,
    /// ISO currency of the spend.
    pub currency: Option<String>,
}

/// An ad's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Ad {
    /// The platform's id.
    pub id: String,
    /// Its ad group.
    pub ad_group_id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// Its name (the id when unnamed).
    pub name: String,
    /// `active`, `paused`, ...
    pub status: String,
    /// The creative's headline, if any.
    pub headline: Option<String>,
}

/// A campaign's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// The platform's id.
    pub id: String,
    /// Its name (the id when unnamed).
    pub name: String,
    /// `active`, `paused`, ...
    pub status: String,
    /// Daily budget in major units; `None` when budgets live elsewhere.
    pub daily_budget: Option<f64>,
    /// ISO currency of the budget.
    pub currency: Option<String>,
}

/// An ad group's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AdGroup {
    /// The platform's id.
    pub id: String,
    /// Its name (the id when unnamed).
    pub name: String,
}

/// Whether a status means "delivering"; an absent status counts as active so
/// that a connector which omits it does not hide every ad.
pub fn is_active(status: &str) -> bool {
    matches!(status.to_ascii_lowercase().as_str(), "" | "active" | "enabled")
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (or the date part of an RFC
/// 3339 time).
pub fn parse_date(text: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()?;
    Some(i64::from(date.to_epoch_days()))
}

/// `YYYY-MM-DD` of a day number from [`parse_date`] (the bare number if it is
/// off chrono's ±262,000-year calendar, which no parsed date reaches).
pub fn format_date(days: i64) -> String {
    i32::try_from(days)
        .ok()
        .and_then(NaiveDate::from_epoch_days)
        .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// A string id, also accepted as a JSON number (some platforms use numeric ids).
fn id(record: &Value, key: &str) -> Option<String> {
    match record.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, also accepted as a numeric string.
fn number(record: &Value, key: &str) -> Option<f64> {
    let value = match record.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    value.is_finite().then_some(value)
}

fn text(record: &Value, key: &str) -> Option<String> {
    record.get(key).and_then(Value::as_str).map(str::to_string)
}

/// An `ad_insights` record; `None` without a date, an ad id or impressions.
pub fn ad_day(record: &Value) -> Option<AdDay> {
    let day = parse_date(record.get("date")?.as_str()?)?;
    let ad_id = id(record, "ad_id")?;
    let impressions = number(record, "impressions")?.max(0.0);
    let clicks = number(record, "clicks").unwrap_or(0.0).clamp(0.0, impressions);
    let frequency = number(record, "frequency")
        .filter(|f| *f > 0.0)
        .or_else(|| {
            number(record, "reach")
                .filter(|r| *r > 0.0)
                .map(|r| impressions / r)
        })
        .filter(|f| *f > 0.0);
    Some(AdDay {
        day,
        ad_id,
        ad_group_id: id(record, "ad_group_id").unwrap_or_default(),
        campaign_id: id(record, "campaign_id").unwrap_or_default(),
        impressions,
        clicks,
        spend: number(record, "spend").unwrap_or(0.0).max(0.0),
        conversions: number(record, "conversions").unwrap_or(0.0).max(0.0),
        frequency,
        currency: text(record, "currency"),
    })
}

/// An `ads` record; `None` without an id.
pub fn ad(record: &Value) -> Option<Ad> {
    let id = id(record, "id")?;
    Some(Ad {
        name: text(record, "name")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.clone()),
        ad_group_id: self::id(record, "ad_group_id").unwrap_or_default(),
        campaign_id: self::id(record, "campaign_id").unwrap_or_default(),
        status: text(record, "status").unwrap_or_default(),
        headline: record
            .get("creative")
            .and_then(|c| c.get("headline"))
            .and_then(Value::as_str)
            .map(str::to_string),
        id,
    })
}

/// A `campaigns` record; `None` without an id.
pub fn campaign(record: &Value) -> Option<Campaign> {
    let id = id(record, "id")?;
    Some(Campaign {
        name: text(record, "name")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.clone()),
        status: text(record, "status").unwrap_or_default(),
        daily_budget: number(record, "daily_budget").filter(|b| *b > 0.0),
        currency: text(record, "currency"),
        id,
    })
}

/// An `ad_groups` record; `None` without an id.
pub fn ad_group(record: &Value) -> Option<AdGroup> {
    let id = id(record, "id")?;
    Some(AdGroup {
        name: text(record, "name")
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.clone()),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-06-30"), Some(20_634));
        assert_eq!(parse_date("2026-06-30T23:59:59Z"), Some(20_634));
        assert_eq!(format_date(20_634), "2026-06-30");
        assert_eq!(
            format_date(parse_date("2024-02-29").unwrap_or_default()),
            "2024-02-29"
        );
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("June"), None);
    }

    #[test]
    fn ad_days_parse_leniently() {
        let meta = json!({"date": "2026-06-30", "ad_id": "1", "ad_group_id": "g", "campaign_id": "c",
            "impressions": 1000, "clicks": 20, "spend": 12.5, "conversions": 1.0,
            "reach": 500, "frequency": null, "currency": "USD"});
        let day = ad_day(&meta).expect("day");
        assert_eq!(day.frequency, Some(2.0));
        assert_eq!(day.clicks, 20.0);
        let google = json!({"date": "2026-06-30", "ad_id": 77, "impressions": "10", "clicks": 50});
        let day = ad_day(&google).expect("day");
        assert_eq!(
            (day.ad_id.as_str(), day.clicks, day.frequency),
            ("77", 10.0, None)
        );
        assert!(ad_day(&json!({"date": "2026-06-30", "ad_id": "1"})).is_none());
        assert!(ad_day(&json!({"ad_id": "1", "impressions": 5})).is_none());
    }

    #[test]
    fn settings_parse_with_defaults() {
        let c = campaign(&json!({"id": "c1", "daily_budget": null, "status": "active"})).expect("campaign");
        assert_eq!((c.name.as_str(), c.daily_budget), ("c1", None));
        let a = ad(&json!({"id": "a1", "name": "Hero", "creative": {"headline": "Hi"}})).expect("ad");
        assert_eq!(a.headline.as_deref(), Some("Hi"));
        assert!(is_active(&a.status) && is_active("ENABLED") && !is_active("paused"));
        assert!(ad(&json!({"name": "no id"})).is_none());
    }
}
