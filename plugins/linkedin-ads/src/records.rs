//! LinkedIn's entities (numeric ids, URNs for references, decimal-string
//! money, epoch milliseconds) turned into the records every ad connector
//! emits: ids as strings, statuses in lower case, money as numbers in major
//! units with `currency`, days as `YYYY-MM-DD`, times as RFC 3339.
//!
//! LinkedIn's hierarchy is account → campaign group → campaign → creative.
//! The campaign holds the budget, the bid and the targeting, like Google's
//! campaign or Meta's ad set, so it is the shared `campaigns` record; a
//! creative is the shared `ads` record, and since creatives compete inside
//! their campaign, its `ad_group_id` is the campaign's id.

use crate::money;
use crate::restli::id_of;
use chrono::{DateTime, NaiveDate};
use omnify_sdk::{Error, Value, json};

/// A string, or null.
fn text(object: &Value, field: &str) -> Value {
    object
        .get(field)
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| json!(s))
}

/// LinkedIn's numeric `id` as a string.
pub fn numeric_id(object: &Value) -> Result<String, Error> {
    match object.get("id") {
        Some(Value::Number(id)) => Ok(id.to_string()),
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(Error::internal(format!(
            "LinkedIn sent an entity without an id: {object}"
        ))),
    }
}

/// The id of the URN in `field` (of `kind`), or null.
fn reference(object: &Value, field: &str, kind: &str) -> Value {
    object
        .get(field)
        .and_then(Value::as_str)
        .and_then(|urn| id_of(urn, kind))
        .map_or(Value::Null, |id| json!(id))
}

/// `ACTIVE` → `active`, `PAUSED` → `paused`, other statuses in lower case.
fn status(object: &Value, field: &str) -> Value {
    object
        .get(field)
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| json!(s.to_ascii_lowercase()))
}

/// Epoch milliseconds as RFC 3339 (UTC), or null.
fn time(value: &Value) -> Value {
    value
        .as_i64()
        .and_then(DateTime::from_timestamp_millis)
        .map_or(Value::Null, |t| json!(t.to_rfc3339()))
}

/// `changeAuditStamps.{created|lastModified}.time` as RFC 3339.
fn audit_time(object: &Value, stamp: &str) -> Value {
    time(&object["changeAuditStamps"][stamp]["time"])
}

/// A `{amount, currencyCode}` in major units, or null.
fn budget(object: &Value, field: &str) -> Result<Value, Error> {
    Ok(money::decimal(&object[field]["amount"], field)?.map_or(Value::Null, |a| json!(a)))
}

/// The `ad_accounts` record.
pub fn ad_account(object: &Value) -> Result<Value, Error> {
    Ok(json!({
        "id": numeric_id(object)?,
        "name": text(object, "name"),
        "currency": text(object, "currency"),
        "status": status(object, "status"),
        "type": text(object, "type"),
        "reference": text(object, "reference"),
        "test": object.get("test").and_then(Value::as_bool),
    }))
}

/// A `campaign_groups` record; `currency` is the account's.
pub fn campaign_group(object: &Value, currency: &str) -> Result<Value, Error> {
    Ok(json!({
        "id": numeric_id(object)?,
        "name": text(object, "name"),
        "status": status(object, "status"),
        "total_budget": budget(object, "totalBudget")?,
        "currency": currency,
        "start_time": time(&object["runSchedule"]["start"]),
        "end_time": time(&object["runSchedule"]["end"]),
        "created_time": audit_time(object, "created"),
        "updated_time": audit_time(object, "lastModified"),
    }))
}

/// A `campaigns` record; `currency` is the account's, which a budget's own
/// `currencyCode` always equals.
pub fn campaign(object: &Value, currency: &str) -> Result<Value, Error> {
    let objective = object.get("objectiveType").and_then(Value::as_str);
    Ok(json!({
        "id": numeric_id(object)?,
        "name": text(object, "name"),
        "status": status(object, "status"),
        "daily_budget": budget(object, "dailyBudget")?,
        "total_budget": budget(object, "totalBudget")?,
        "currency": object["dailyBudget"]["currencyCode"].as_str().unwrap_or(currency),
        // `LEAD_GENERATION` reads as `lead_generation`, like the other
        // platforms' objectives; `objective_type` keeps LinkedIn's name.
        "objective": objective.map(str::to_ascii_lowercase),
        "objective_type": objective,
        "campaign_group_id": reference(object, "campaignGroup", "sponsoredCampaignGroup"),
        "type": text(object, "type"),
        "cost_type": text(object, "costType"),
        "serving_statuses": object.get("servingStatuses").cloned().unwrap_or(json!([])),
        "start_time": time(&object["runSchedule"]["start"]),
        "created_time": audit_time(object, "created"),
        "updated_time": audit_time(object, "lastModified"),
    }))
}

/// An `ads` record from a creative. A text ad's headline and description
/// are its creative's; Sponsored Content keeps its text in the post it
/// references (`content_reference`), so its headline and body are null.
pub fn ad(object: &Value) -> Result<Value, Error> {
    let urn = object.get("id").and_then(Value::as_str).unwrap_or_default();
    let id = id_of(urn, "sponsoredCreative")
        .ok_or_else(|| Error::internal(format!("LinkedIn sent a creative whose id is `{urn}`")))?;
    let campaign = reference(object, "campaign", "sponsoredCampaign");
    let text_ad = &object["content"]["textAd"];
    Ok(json!({
        "id": id,
        "ad_group_id": campaign,
        "campaign_id": campaign,
        "name": text(object, "name"),
        "status": status(object, "intendedStatus"),
        "is_serving": object.get("isServing").and_then(Value::as_bool),
        "review_status": object["review"]["status"].as_str(),
        "creative": {
            "id": id,
            "headline": text(text_ad, "headline"),
            "body": text(text_ad, "description"),
            "image_url": Value::Null,
        },
        "landing_page": text(text_ad, "landingPage"),
        "content_reference": object["content"]["reference"].as_str(),
        "created_time": time(&object["createdAt"]),
        "updated_time": time(&object["lastModifiedAt"]),
    }))
}

/// The day of an analytics element: `dateRange.start`, which daily
/// elements share with `dateRange.end`.
pub fn day(element: &Value) -> Result<NaiveDate, Error> {
    let start = &element["dateRange"]["start"];
    let part = |name: &str| start[name].as_u64().and_then(|n| u32::try_from(n).ok());
    part("year")
        .and_then(|year| i32::try_from(year).ok())
        .zip(part("month").zip(part("day")))
        .and_then(|(year, (month, day))| NaiveDate::from_ymd_opt(year, month, day))
        .ok_or_else(|| {
            Error::internal(format!(
                "LinkedIn sent an analytics element without a valid dateRange: {element}"
            ))
        })
}

/// A count metric, 0 when LinkedIn leaves it out.
fn count(element: &Value, field: &str) -> Result<i64, Error> {
    match &element[field] {
        Value::Null => Ok(0),
        value => value
            .as_i64()
            .or_else(|| value.as_f64().map(|v| v.round() as i64))
            .ok_or_else(|| Error::internal(format!("LinkedIn sent {field} = {value}, not a count"))),
    }
}

/// The metrics of an analytics element, with its `date` and the account's
/// `currency` (the `…InLocalCurrency` metrics are in it).
pub fn metrics(element: &Value, currency: &str) -> Result<Value, Error> {
    Ok(json!({
        "date": day(element)?.to_string(),
        "impressions": count(element, "impressions")?,
        "clicks": count(element, "clicks")?,
        "spend": money::decimal(&element["costInLocalCurrency"], "costInLocalCurrency")?.unwrap_or(0.0),
        "conversions": count(element, "externalWebsiteConversions")? as f64,
        "conversion_value": money::decimal(&element["conversionValueInLocalCurrency"], "conversionValueInLocalCurrency")?
            .unwrap_or(0.0),
        "currency": currency,
    }))
}

/// The first pivot value of an analytics element, a URN.
pub fn pivot(element: &Value) -> Result<&str, Error> {
    element["pivotValues"][0].as_str().ok_or_else(|| {
        Error::internal(format!(
            "LinkedIn sent an analytics element without pivotValues: {element}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaigns_read_like_every_ad_connectors() {
        let object = json!({
            "id": 510000001, "name": "Lead gen", "status": "ACTIVE", "objectiveType": "LEAD_GENERATION",
            "campaignGroup": "urn:li:sponsoredCampaignGroup:520000001", "type": "SPONSORED_UPDATES",
            "dailyBudget": {"amount": "150.00", "currencyCode": "USD"}, "costType": "CPM",
            "changeAuditStamps": {"created": {"time": 1_775_088_000_000_i64}, "lastModified": {"time": 1_775_088_000_000_i64}},
        });
        let record = campaign(&object, "EUR").expect("a record");
        assert_eq!(record["id"], "510000001");
        assert_eq!(record["status"], "active");
        assert_eq!(record["daily_budget"], 150.0);
        assert_eq!(record["currency"], "USD");
        assert_eq!(record["objective"], "lead_generation");
        assert_eq!(record["campaign_group_id"], "520000001");
        assert_eq!(record["total_budget"], Value::Null);
        assert_eq!(record["created_time"], "2026-04-02T00:00:00+00:00");
        let unbudgeted = campaign(&json!({"id": 7, "status": "DRAFT"}), "EUR").expect("a record");
        assert_eq!(unbudgeted["daily_budget"], Value::Null);
        assert_eq!(unbudgeted["currency"], "EUR");
        assert_eq!(unbudgeted["status"], "draft");
    }

    #[test]
    fn creatives_are_ads_of_their_campaign() {
        let object = json!({
            "id": "urn:li:sponsoredCreative:530000101", "campaign": "urn:li:sponsoredCampaign:510000001",
            "intendedStatus": "PAUSED", "name": "Ad 1",
            "content": {"textAd": {"headline": "Hello", "description": "World", "landingPage": "https://x.test"}},
        });
        let record = ad(&object).expect("a record");
        assert_eq!(record["id"], "530000101");
        assert_eq!(record["ad_group_id"], "510000001");
        assert_eq!(record["campaign_id"], "510000001");
        assert_eq!(record["status"], "paused");
        assert_eq!(record["creative"]["headline"], "Hello");
        assert_eq!(record["creative"]["body"], "World");
        let post =
            ad(&json!({"id": "urn:li:sponsoredCreative:9", "content": {"reference": "urn:li:share:1"}}))
                .expect("a record");
        assert_eq!(post["creative"]["headline"], Value::Null);
        assert_eq!(post["content_reference"], "urn:li:share:1");
        assert!(ad(&json!({"id": 9})).is_err());
    }

    #[test]
    fn analytics_elements_give_daily_metrics() {
        let element = json!({
            "dateRange": {"start": {"year": 2026, "month": 6, "day": 1}, "end": {"year": 2026, "month": 6, "day": 1}},
            "pivotValues": ["urn:li:sponsoredCampaign:5"], "impressions": 1200, "clicks": 14,
            "costInLocalCurrency": "48.17", "externalWebsiteConversions": 2,
            "conversionValueInLocalCurrency": "310.00",
        });
        let record = metrics(&element, "USD").expect("a record");
        assert_eq!(
            record,
            json!({"date": "2026-06-01", "impressions": 1200, "clicks": 14, "spend": 48.17,
                "conversions": 2.0, "conversion_value": 310.0, "currency": "USD"})
        );
        assert_eq!(pivot(&element).ok(), Some("urn:li:sponsoredCampaign:5"));
        let sparse = json!({"dateRange": {"start": {"year": 2026, "month": 2, "day": 28}}});
        assert_eq!(metrics(&sparse, "USD").expect("a record")["spend"], 0.0);
        assert!(day(&json!({"dateRange": {"start": {"year": 2026, "month": 2, "day": 30}}})).is_err());
    }
}
