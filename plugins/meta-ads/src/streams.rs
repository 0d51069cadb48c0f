//! Reading the streams: campaigns, ad sets (`ad_groups`), ads, and daily
//! insights at campaign and ad level, normalised to the shapes every ad
//! connector shares. One Graph page is one batch; the state carries the
//! `paging.next` URL (without the token) to the next batch.

use crate::dates;
use crate::graph::{Graph, Page, currency_offset, without_token};
use crate::{Config, DEFAULT_START_DAYS};
use chrono::{Days, Utc};
use omnify_sdk::connector::{Batch, ReadRequest, SyncMode};
use omnify_sdk::{Error, Value, json};
use serde::{Deserialize, Serialize};

/// The largest page asked of Meta.
const MAX_PAGE: u32 = 500;

/// The state of a campaigns, ad sets or ads read in progress.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ObjectsState {
    /// The next page's URL.
    next: Option<String>,
    /// The account's currency, read before the first page of campaigns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

/// The objects behind `campaigns`, `ad_groups` and `ads`.
#[derive(Debug, Clone, Copy)]
pub enum Objects {
    /// Campaigns.
    Campaigns,
    /// Ad sets.
    AdGroups,
    /// Ads.
    Ads,
}

impl Objects {
    fn edge(self) -> &'static str {
        match self {
            Objects::Campaigns => "campaigns",
            Objects::AdGroups => "adsets",
            Objects::Ads => "ads",
        }
    }

    fn fields(self) -> &'static str {
        match self {
            Objects::Campaigns => {
                "id,name,status,effective_status,daily_budget,objective,created_time,updated_time"
            }
            Objects::AdGroups => "id,name,status,effective_status,campaign_id",
            Objects::Ads => {
                "id,name,status,effective_status,adset_id,campaign_id,creative{id,title,body,image_url}"
            }
        }
    }
}

/// The next batch of campaigns, ad sets or ads.
pub fn read_objects(config: &Config, objects: Objects, request: &ReadRequest) -> Result<Batch, Error> {
    let graph = Graph::new(config)?;
    let mut state: ObjectsState = request.state_as()?.unwrap_or_default();
    let url = match state.next.take() {
        Some(next) => next,
        None => graph.url(
            &format!("act_{}/{}", config.account_id(), objects.edge()),
            &[
                ("fields", objects.fields().to_string()),
                ("limit", request.limit.clamp(1, MAX_PAGE).to_string()),
            ],
        ),
    };
    if matches!(objects, Objects::Campaigns) && state.currency.is_none() {
        state.currency = Some(graph.account_currency(&config.account_id())?);
    }
    let page: Page<Value> = graph.get(&url)?;
    let records = page
        .data
        .iter()
        .map(|object| match objects {
            Objects::Campaigns => campaign(object, state.currency.as_deref().unwrap_or_default()),
            Objects::AdGroups => Ok(ad_group(object)),
            Objects::Ads => Ok(ad(object)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let next = page.next().filter(|_| !page.data.is_empty()).map(without_token);
    let has_more = next.is_some();
    let batch = Batch {
        records,
        ..Batch::default()
    };
    Ok(batch
        .with_state(&ObjectsState {
            next,
            currency: state.currency,
        })?
        .with_more(has_more))
}

fn text(object: &Value, field: &str) -> Value {
    object
        .get(field)
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| json!(s))
}

/// Meta's upper-case statuses in lower case (`active`, `paused`,
/// `campaign_paused`, ...).
fn status(object: &Value, field: &str) -> Value {
    object
        .get(field)
        .and_then(Value::as_str)
        .map_or(Value::Null, |s| json!(s.to_ascii_lowercase()))
}

/// Meta's time (`2026-04-02T00:00:00+0000`) as RFC 3339.
fn rfc3339(object: &Value, field: &str) -> Value {
    let Some(time) = object.get(field).and_then(Value::as_str) else {
        return Value::Null;
    };
    let (head, zone) = time.split_at(time.len().saturating_sub(5));
    let is_offset = zone.len() == 5
        && (zone.starts_with('+') || zone.starts_with('-'))
        && zone[1..].bytes().all(|b| b.is_ascii_digit());
    if is_offset {
        json!(format!("{head}{}:{}", &zone[..3], &zone[3..]))
    } else {
        json!(time)
    }
}

fn campaign(object: &Value, currency: &str) -> Result<Value, Error> {
    let daily_budget = match object.get("daily_budget").and_then(Value::as_str) {
        Some(minor) => {
            let minor: i64 = minor.parse().map_err(|_| {
                Error::internal(format!(
                    "Meta sent a daily_budget that is not an integer: {minor}"
                ))
            })?;
            json!(minor as f64 / currency_offset(currency))
        }
        // Campaigns whose ad sets hold the budgets have none of their own.
        None => Value::Null,
    };
    let objective = object.get("objective").and_then(Value::as_str);
    Ok(json!({
        "id": text(object, "id"),
        "name": text(object, "name"),
        "status": status(object, "status"),
        "effective_status": status(object, "effective_status"),
        "daily_budget": daily_budget,
        "currency": currency,
        // `OUTCOME_SALES` reads as `sales`, like the other platforms' objectives.
        "objective": objective.map(|o| o.trim_start_matches("OUTCOME_").to_ascii_lowercase()),
        "meta_objective": objective,
        "created_time": rfc3339(object, "created_time"),
        "updated_time": rfc3339(object, "updated_time"),
    }))
}

fn ad_group(object: &Value) -> Value {
    json!({
        "id": text(object, "id"),
        "campaign_id": text(object, "campaign_id"),
        "name": text(object, "name"),
        "status": status(object, "status"),
        "effective_status": status(object, "effective_status"),
    })
}

fn ad(object: &Value) -> Value {
    let creative = object.get("creative").cloned().unwrap_or(Value::Null);
    json!({
        "id": text(object, "id"),
        "ad_group_id": text(object, "adset_id"),
        "campaign_id": text(object, "campaign_id"),
        "name": text(object, "name"),
        "status": status(object, "status"),
        "effective_status": status(object, "effective_status"),
        "creative": {
            "id": text(&creative, "id"),
            "headline": text(&creative, "title"),
            "body": text(&creative, "body"),
            "image_url": text(&creative, "image_url"),
        },
    })
}

/// The level of an insights stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `campaign_insights`.
    Campaign,
    /// `ad_insights`.
    Ad,
}

/// The state of an insights stream. Between syncs only `date` is set: the
/// latest day synced, read again next time since it may have been partial.
#[derive(Debug, Default, Serialize, Deserialize)]
struct InsightsState {
    /// The latest day a finished sync read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    /// The next page of the sync in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The latest day seen so far by the sync in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latest: Option<String>,
}

/// The next batch of daily insights.
pub fn read_insights(config: &Config, level: Level, request: &ReadRequest) -> Result<Batch, Error> {
    let graph = Graph::new(config)?;
    let state: InsightsState = request.state_as()?.unwrap_or_default();
    let url = match &state.next {
        Some(next) => next.clone(),
        None => first_insights_url(&graph, config, level, request, state.date.as_deref())?,
    };
    let page: Page<Value> = graph.get(&url)?;
    let records = page
        .data
        .iter()
        .map(|row| insight(row, level))
        .collect::<Result<Vec<_>, _>>()?;
    let latest = records
        .iter()
        .filter_map(|r| r["date"].as_str())
        .chain(state.latest.as_deref())
        .max()
        .map(str::to_string);
    let next = page.next().filter(|_| !page.data.is_empty()).map(without_token);
    let batch = Batch {
        records,
        ..Batch::default()
    };
    match next {
        Some(next) => batch
            .with_state(&InsightsState {
                date: state.date,
                next: Some(next),
                latest,
            })
            .map(|b| b.with_more(true)),
        // Finished: the cursor moves to the latest day with data, never back.
        None => batch.with_state(&InsightsState {
            date: latest.into_iter().chain(state.date).max(),
            next: None,
            latest: None,
        }),
    }
}

fn first_insights_url(
    graph: &Graph,
    config: &Config,
    level: Level,
    request: &ReadRequest,
    cursor: Option<&str>,
) -> Result<String, Error> {
    let today = Utc::now().date_naive();
    let since = match (request.mode, cursor) {
        (SyncMode::Incremental, Some(date)) => dates::parse(date)
            .ok_or_else(|| Error::invalid_input(format!("stream state: `{date}` is not a date")))?,
        _ => match &config.start_date {
            Some(date) => dates::parse_setting("start_date", date)?,
            None => today
                .checked_sub_days(Days::new(DEFAULT_START_DAYS))
                .unwrap_or(today),
        },
    };
    let until = today.max(since);
    let (level_name, fields) = match level {
        Level::Campaign => (
            "campaign",
            "campaign_id,campaign_name,impressions,clicks,spend,actions,action_values,account_currency",
        ),
        Level::Ad => (
            "ad",
            "ad_id,adset_id,campaign_id,impressions,clicks,spend,reach,frequency,actions,action_values,\
             account_currency",
        ),
    };
    Ok(graph.url(
        &format!("act_{}/insights", config.account_id()),
        &[
            ("level", level_name.to_string()),
            ("fields", fields.to_string()),
            (
                "time_range",
                json!({"since": since.to_string(), "until": until.to_string()}).to_string(),
            ),
            ("time_increment", "1".to_string()),
            ("limit", request.limit.clamp(1, MAX_PAGE).to_string()),
        ],
    ))
}

/// A metric Meta sends as a string (`"123.45"`), or as a number.
fn metric(row: &Value, field: &str) -> Result<Option<f64>, Error> {
    match row.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| Error::internal(format!("Meta sent `{field}` = `{s}`, not a number"))),
        Some(other) => Err(Error::internal(format!(
            "Meta sent `{field}` = {other}, not a number"
        ))),
    }
}

fn count(row: &Value, field: &str) -> Result<i64, Error> {
    Ok(metric(row, field)?.map_or(0, |v| v.round() as i64))
}

/// Purchases from an `actions`/`action_values` list. Meta reports the same
/// purchases under several overlapping types, so the first present of these
/// is taken, never their sum.
fn purchases(row: &Value, field: &str) -> Result<f64, Error> {
    const PURCHASE_TYPES: [&str; 3] = [
        "omni_purchase",
        "purchase",
        "offsite_conversion.fb_pixel_purchase",
    ];
    let Some(actions) = row.get(field).and_then(Value::as_array) else {
        return Ok(0.0);
    };
    for kind in PURCHASE_TYPES {
        if let Some(action) = actions.iter().find(|a| a["action_type"] == kind) {
            return Ok(metric(action, "value")?.unwrap_or(0.0));
        }
    }
    Ok(0.0)
}

fn insight(row: &Value, level: Level) -> Result<Value, Error> {
    let mut record = json!({
        "date": text(row, "date_start"),
        "campaign_id": text(row, "campaign_id"),
        "impressions": count(row, "impressions")?,
        "clicks": count(row, "clicks")?,
        "spend": metric(row, "spend")?.unwrap_or(0.0),
        "conversions": purchases(row, "actions")?,
        "conversion_value": purchases(row, "action_values")?,
        "currency": text(row, "account_currency"),
    });
    match level {
        Level::Campaign => record["campaign_name"] = text(row, "campaign_name"),
        Level::Ad => {
            record["ad_id"] = text(row, "ad_id");
            record["ad_group_id"] = text(row, "adset_id");
            record["reach"] = metric(row, "reach")?.map_or(Value::Null, |v| json!(v.round() as i64));
            record["frequency"] = metric(row, "frequency")?.map_or(Value::Null, |v| json!(v));
        }
    }
    if record["date"].is_null() {
        return Err(Error::internal("Meta sent an insights row without date_start"));
    }
    Ok(record)
}
