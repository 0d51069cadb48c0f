//! The daily analytics streams, `campaign_insights` and `ad_insights`, from
//! the Analytics finder: `GET /rest/adAnalytics?q=analytics&pivot=CAMPAIGN`
//! (or `CREATIVE`) `&timeGranularity=DAILY&dateRange=(…)&accounts=List(…)`.
//!
//! The finder does not page: one answer holds every element of the range,
//! up to 15,000, past which LinkedIn cuts the answer short. A sync walks
//! windows of [`WINDOW_DAYS`] days from its first day to today (UTC), one
//! window a batch; an answer that reaches the cap is read again over half
//! the window, and the rest of the pass keeps the smaller window. An
//! incremental sync starts on the latest day already synced (included,
//! since that day may have been partial).

use crate::Config;
use crate::api::{Client, Page};
use crate::objects::{self, MAX_CREATIVES_PAGE};
use crate::records;
use crate::restli::{self, Query, id_of, list, urn};
use chrono::{Days, NaiveDate, Utc};
use omnify_sdk::connector::{Batch, ReadRequest, SyncMode};
use omnify_sdk::{Error, Value, json};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// The most elements one Analytics answer holds.
pub const MAX_ELEMENTS: usize = 15_000;

/// The days of a pass's first window.
pub const WINDOW_DAYS: u32 = 90;

/// The metrics asked for, with the two fields that place them.
const FIELDS: &str = "dateRange,pivotValues,impressions,clicks,costInLocalCurrency,\
                      externalWebsiteConversions,conversionValueInLocalCurrency";

/// What an analytics stream's rows are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pivot {
    /// One row per campaign and day.
    Campaign,
    /// One row per creative and day.
    Creative,
}

impl Pivot {
    fn name(self) -> &'static str {
        match self {
            Pivot::Campaign => "CAMPAIGN",
            Pivot::Creative => "CREATIVE",
        }
    }

    fn urn_kind(self) -> &'static str {
        match self {
            Pivot::Campaign => "sponsoredCampaign",
            Pivot::Creative => "sponsoredCreative",
        }
    }
}

/// The state of an analytics stream.
#[derive(Debug, Default, Serialize, Deserialize)]
struct InsightState {
    /// The latest day synced; the next incremental sync starts there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// The sync in progress, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
}

/// Where a sync in progress stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pass {
    /// The first day of the next window.
    from: String,
    /// The last day of the sync (today when it began).
    end: String,
    /// The window's length in days.
    window_days: u32,
    /// The account's currency, read when the pass began.
    currency: String,
}

fn parse_day(text: &str) -> Result<NaiveDate, Error> {
    text.parse()
        .map_err(|_| Error::invalid_input(format!("stream state: `{text}` is not a YYYY-MM-DD date")))
}

/// The last day of the window of `days` days from `from`, at most `end`.
pub fn window_end(from: NaiveDate, days: u32, end: NaiveDate) -> NaiveDate {
    from.checked_add_days(Days::new(u64::from(days.max(1)) - 1))
        .map_or(end, |last| last.min(end))
}

/// The next batch of the analytics stream of `pivot`.
pub fn read(client: &Client, config: &Config, request: &ReadRequest, pivot: Pivot) -> Result<Batch, Error> {
    let mut state: InsightState = request.state_as()?.unwrap_or_default();
    let mut pass = match state.pass.take() {
        Some(pass) => pass,
        None => {
            let today = Utc::now().date_naive();
            let from = match (request.mode, &state.cursor) {
                (SyncMode::Incremental, Some(cursor)) => parse_day(cursor)?,
                _ => config.start_date(today)?,
            };
            if from > today {
                return Batch::default().with_state(&state);
            }
            Pass {
                from: from.to_string(),
                end: today.to_string(),
                window_days: WINDOW_DAYS,
                currency: objects::currency(client)?,
            }
        }
    };
    let from = parse_day(&pass.from)?;
    let end = parse_day(&pass.end)?;
    let (elements, to) = loop {
        let to = window_end(from, pass.window_days, end);
        let elements = analytics(client, pivot, from, to)?;
        if elements.len() < MAX_ELEMENTS {
            break (elements, to);
        }
        if pass.window_days <= 1 {
            return Err(Error::internal(format!(
                "LinkedIn has {MAX_ELEMENTS} or more {} analytics elements on {from}, more than one answer holds",
                pivot.name()
            )));
        }
        omnify_sdk::info!(
            "{} elements from {from} to {to}: reading {} days at a time",
            elements.len(),
            pass.window_days / 2
        );
        pass.window_days /= 2;
    };
    let campaigns = match pivot {
        Pivot::Creative => campaigns_of(client, &elements)?,
        Pivot::Campaign => HashMap::new(),
    };
    let records = elements
        .iter()
        .map(|element| record(element, pivot, &pass.currency, &campaigns))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(latest) = records.iter().filter_map(|r| r["date"].as_str()).max()
        && state.cursor.as_deref().is_none_or(|cursor| latest > cursor)
    {
        state.cursor = Some(latest.to_string());
    }
    state.pass = to.succ_opt().filter(|_| to < end).map(|next| Pass {
        from: next.to_string(),
        ..pass
    });
    let more = state.pass.is_some();
    Ok(Batch {
        records,
        ..Batch::default()
    }
    .with_state(&state)?
    .with_more(more))
}

/// Every element of the account's daily analytics of `pivot` from `from`
/// to `to`, both included.
fn analytics(client: &Client, pivot: Pivot, from: NaiveDate, to: NaiveDate) -> Result<Vec<Value>, Error> {
    let account = urn("sponsoredAccount", client.account_id());
    let query = Query::new()
        .leaf("q", "analytics")
        .leaf("pivot", pivot.name())
        .leaf("timeGranularity", "DAILY")
        .structured("dateRange", restli::date_range(from, to))
        .structured("accounts", list([account.as_str()]))
        .structured("fields", FIELDS);
    let page: Page = client.get("adAnalytics", &query)?;
    Ok(page.elements)
}

/// The campaign of each creative of `elements`, by creative id, from the
/// creatives finder filtered to those creatives (removed ones included:
/// their delivery still counts).
fn campaigns_of(client: &Client, elements: &[Value]) -> Result<HashMap<String, String>, Error> {
    let creatives: BTreeSet<&str> = elements
        .iter()
        .filter_map(|e| e["pivotValues"][0].as_str())
        .collect();
    let creatives: Vec<&str> = creatives.into_iter().collect();
    let mut campaigns = HashMap::new();
    for chunk in creatives.chunks(MAX_CREATIVES_PAGE as usize) {
        let mut token: Option<String> = None;
        loop {
            let mut query = Query::new()
                .leaf("q", "criteria")
                .structured("creatives", list(chunk.iter().copied()))
                .leaf("pageSize", &MAX_CREATIVES_PAGE.to_string());
            if let Some(token) = &token {
                query = query.leaf("pageToken", token);
            }
            let page: Page = client.get(&format!("{}/creatives", client.account_path()), &query)?;
            for creative in &page.elements {
                let id = creative["id"]
                    .as_str()
                    .and_then(|u| id_of(u, "sponsoredCreative"));
                let campaign = creative["campaign"]
                    .as_str()
                    .and_then(|u| id_of(u, "sponsoredCampaign"));
                if let (Some(id), Some(campaign)) = (id, campaign) {
                    campaigns.insert(id.to_string(), campaign.to_string());
                }
            }
            match page.next_page_token().filter(|_| !page.elements.is_empty()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    Ok(campaigns)
}

/// An analytics element as a `campaign_insights` or `ad_insights` record.
fn record(
    element: &Value,
    pivot: Pivot,
    currency: &str,
    campaigns: &HashMap<String, String>,
) -> Result<Value, Error> {
    let value = records::pivot(element)?;
    let id = id_of(value, pivot.urn_kind()).ok_or_else(|| {
        Error::internal(format!(
            "LinkedIn sent a {} element pivoted on `{value}`",
            pivot.name()
        ))
    })?;
    let mut record = records::metrics(element, currency)?;
    match pivot {
        Pivot::Campaign => record["campaign_id"] = json!(id),
        Pivot::Creative => {
            let campaign = campaigns.get(id).map_or(Value::Null, |c| json!(c));
            record["ad_id"] = json!(id);
            record["ad_group_id"] = campaign.clone();
            record["campaign_id"] = campaign;
            // The daily report has no reach (LinkedIn's member reach is
            // approximate and not served by day).
            record["reach"] = Value::Null;
            record["frequency"] = Value::Null;
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    #[test]
    fn windows_end_at_the_passs_last_day() {
        assert_eq!(
            window_end(day("2026-04-02"), 90, day("2026-12-03")),
            day("2026-06-30")
        );
        assert_eq!(
            window_end(day("2026-11-01"), 90, day("2026-12-03")),
            day("2026-12-03")
        );
        assert_eq!(
            window_end(day("2026-06-30"), 1, day("2026-12-03")),
            day("2026-06-30")
        );
        assert_eq!(
            window_end(day("2026-06-30"), 0, day("2026-12-03")),
            day("2026-06-30")
        );
    }

    #[test]
    fn creative_rows_name_their_campaign() {
        let element = json!({
            "dateRange": {"start": {"year": 2026, "month": 6, "day": 1}},
            "pivotValues": ["urn:li:sponsoredCreative:77"], "impressions": 10,
        });
        let campaigns = HashMap::from([("77".to_string(), "5".to_string())]);
        let row = record(&element, Pivot::Creative, "USD", &campaigns).expect("a record");
        assert_eq!(
            (&row["ad_id"], &row["ad_group_id"], &row["campaign_id"]),
            (&json!("77"), &json!("5"), &json!("5"))
        );
        assert_eq!(row["reach"], Value::Null);
        assert!(record(&element, Pivot::Campaign, "USD", &campaigns).is_err());
    }
}
