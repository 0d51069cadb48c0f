//! The daily insight streams, `campaign_insights` and `ad_insights`, read
//! from `report/integrated/get/` (BASIC reports by day).
//!
//! TikTok serves at most 30 days per daily report, so a sync walks windows
//! of 30 days from its first day to today, page by page; the state
//! remembers the window and the page. Incremental syncs start on the latest
//! day already synced (inclusive, since that day may have been partial).

use crate::api::{Client, Page, count, number, text};
use crate::date;
use chrono::{Days, NaiveDate, Utc};
use omnify_sdk::connector::{Batch, ReadRequest, SyncMode};
use omnify_sdk::{Error, Value, json};
use serde::{Deserialize, Serialize};

/// The most days TikTok serves in one daily report.
const WINDOW_DAYS: u64 = 30;

/// How far back the first sync reaches when `start_date` is not set.
const DEFAULT_LOOKBACK_DAYS: u64 = 90;

/// The largest page of a report.
const MAX_PAGE_SIZE: u32 = 1000;

/// The metrics both levels read. `conversion` counts the conversions of
/// the ad group's optimisation event; `total_complete_payment_rate` is, in
/// spite of its name, the total value of Complete Payment events.
const METRICS: [&str; 6] = [
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "total_complete_payment_rate",
    "currency",
];

/// Which report a stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// One row per campaign and day.
    Campaign,
    /// One row per ad and day.
    Ad,
}

impl Level {
    fn data_level(self) -> &'static str {
        match self {
            Self::Campaign => "AUCTION_CAMPAIGN",
            Self::Ad => "AUCTION_AD",
        }
    }

    fn id_dimension(self) -> &'static str {
        match self {
            Self::Campaign => "campaign_id",
            Self::Ad => "ad_id",
        }
    }

    /// The metrics asked for: ad rows also carry reach, frequency and their
    /// parents' ids (attribute metrics).
    fn metrics(self) -> Vec<&'static str> {
        let mut metrics = METRICS.to_vec();
        if self == Self::Ad {
            metrics.extend(["reach", "frequency", "campaign_id", "adgroup_id"]);
        }
        metrics
    }
}

/// The state of an insight stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct InsightState {
    /// The latest day synced; the next incremental sync starts there.
    #[serde(default)]
    cursor: Option<String>,
    /// The sync in progress, if one is.
    #[serde(default)]
    pass: Option<Pass>,
}

/// Where a sync in progress stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pass {
    /// The first day of the current window.
    window_start: String,
    /// The last day of the sync (today when it began).
    end: String,
    /// The next page of the current window.
    page: u32,
}

/// Read the next page of the `level` report.
pub fn read(client: &Client, request: &ReadRequest, level: Level) -> Result<Batch, Error> {
    let mut state: InsightState = request.state_as()?.unwrap_or_default();
    let pass = match state.pass.take() {
        Some(pass) => pass,
        None => {
            let today = Utc::now().date_naive();
            let start = first_day(client, request.mode, state.cursor.as_deref(), today)?;
            if start > today {
                return Batch::default().with_state(&state);
            }
            Pass {
                window_start: start.to_string(),
                end: today.to_string(),
                page: 1,
            }
        }
    };
    let window_start = date::parse_or(&pass.window_start, "stream state")?;
    let end = date::parse_or(&pass.end, "stream state")?;
    let window_end = window_start
        .checked_add_days(Days::new(WINDOW_DAYS - 1))
        .map_or(end, |last| last.min(end));

    let metrics = serde_json::to_string(&level.metrics())?;
    let dimensions = serde_json::to_string(&[level.id_dimension(), "stat_time_day"])?;
    let page: Page<Value> = client.get(
        "report/integrated/get/",
        &[
            ("report_type", "BASIC".to_string()),
            ("data_level", level.data_level().to_string()),
            ("dimensions", dimensions),
            ("metrics", metrics),
            ("start_date", window_start.to_string()),
            ("end_date", window_end.to_string()),
            ("page", pass.page.to_string()),
            ("page_size", request.limit.clamp(1, MAX_PAGE_SIZE).to_string()),
        ],
    )?;
    let records = page
        .list
        .iter()
        .map(|row| record(row, level))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(latest) = records.iter().filter_map(|r| r["date"].as_str()).max()
        && state.cursor.as_deref().is_none_or(|cursor| latest > cursor)
    {
        state.cursor = Some(latest.to_string());
    }

    state.pass = if page.has_next() {
        Some(Pass {
            page: pass.page + 1,
            ..pass
        })
    } else if window_end < end
        && let Some(next) = window_end.succ_opt()
    {
        Some(Pass {
            window_start: next.to_string(),
            page: 1,
            ..pass
        })
    } else {
        None
    };
    let more = state.pass.is_some();
    Ok(Batch {
        records,
        ..Batch::default()
    }
    .with_state(&state)?
    .with_more(more))
}

/// The first day of a new sync: the cursor in incremental mode, else the
/// configured `start_date`, else [`DEFAULT_LOOKBACK_DAYS`] before today.
fn first_day(
    client: &Client,
    mode: SyncMode,
    cursor: Option<&str>,
    today: NaiveDate,
) -> Result<NaiveDate, Error> {
    if mode == SyncMode::Incremental
        && let Some(cursor) = cursor
    {
        return date::parse_or(cursor, "stream state");
    }
    match &client.config.start_date {
        Some(start) => date::parse(start)
            .ok_or_else(|| Error::config(format!("`start_date` `{start}` is not a YYYY-MM-DD date"))),
        None => Ok(today
            .checked_sub_days(Days::new(DEFAULT_LOOKBACK_DAYS - 1))
            .unwrap_or(today)),
    }
}

/// A report row as a normalised record.
fn record(row: &Value, level: Level) -> Result<Value, Error> {
    let dimensions = &row["dimensions"];
    let metrics = &row["metrics"];
    let day = text(dimensions, "stat_time_day")
        .and_then(|t| date::parse(&t))
        .ok_or_else(|| Error::internal("a report row has no valid `stat_time_day`"))?;
    let id = text(dimensions, level.id_dimension())
        .ok_or_else(|| Error::internal(format!("a report row has no `{}`", level.id_dimension())))?;
    let mut record = json!({
        "date": day.to_string(),
        "impressions": count(metrics, "impressions")?.unwrap_or(0),
        "clicks": count(metrics, "clicks")?.unwrap_or(0),
        "spend": number(metrics, "spend")?.unwrap_or(0.0),
        "conversions": number(metrics, "conversion")?.unwrap_or(0.0),
        "conversion_value": number(metrics, "total_complete_payment_rate")?.unwrap_or(0.0),
        "currency": text(metrics, "currency"),
    });
    let fields = match level {
        Level::Campaign => json!({ "campaign_id": id }),
        Level::Ad => json!({
            "ad_id": id,
            "ad_group_id": text(metrics, "adgroup_id"),
            "campaign_id": text(metrics, "campaign_id"),
            "reach": count(metrics, "reach")?,
            "frequency": number(metrics, "frequency")?,
        }),
    };
    if let (Some(record), Value::Object(fields)) = (record.as_object_mut(), fields) {
        record.extend(fields);
    }
    Ok(record)
}
