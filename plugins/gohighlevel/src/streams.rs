//! Reading the four streams, one page (or one calendar window) per batch:
//!
//! - `contacts`: `POST /contacts/search` sorted by `dateUpdated` ascending,
//!   paged with each contact's `searchAfter`; an incremental listing
//!   filters `dateUpdated` from the highest time synced, inclusive, so
//!   contacts sharing the boundary time are read again rather than lost.
//! - `pipelines`: `GET /opportunities/pipelines`, in one batch.
//! - `opportunities`: `GET /opportunities/search`, paged with
//!   `meta.startAfter`/`meta.startAfterId`. That endpoint filters on the
//!   creation date only, so a stage move or a win on an old deal would not
//!   show in an incremental listing: the stream is full refresh.
//! - `appointments`: `GET /calendars/events`, which needs a calendar and a
//!   time range and does not page: each calendar of the location
//!   (`GET /calendars/`) is read in windows of [`WINDOW_DAYS`] days.

use crate::api::Client;
use crate::records::{self, Pipelines};
use crate::{Config, time};
use omnify_sdk::connector::{Batch, ReadRequest, SyncMode};
use omnify_sdk::{Error, Value, json};
use serde::{Deserialize, Serialize};

/// The largest `pageLimit` of a contact search.
pub const MAX_CONTACTS_PAGE: u32 = 100;
/// The largest `limit` of an opportunity search.
pub const MAX_OPPORTUNITIES_PAGE: u32 = 100;
/// The days of one calendar-events request.
pub const WINDOW_DAYS: i64 = 31;
/// How far ahead appointments are read: they are booked in advance.
pub const DAYS_AHEAD: i64 = 90;
/// The history read on a first sync without `start_date`.
pub const DEFAULT_HISTORY_DAYS: i64 = 90;
/// How far before the last sync an incremental appointments sync starts
/// again: an appointment's status (showed, no-show) is set after it.
pub const APPOINTMENT_LOOKBACK_DAYS: i64 = 7;

/// Where the contacts stream is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ContactsState {
    /// The highest `dateUpdated` synced (UTC), the next incremental
    /// listing's lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    /// The listing being paged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listing: Option<ContactsListing>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContactsListing {
    /// Its lower bound on `dateUpdated`, if any.
    since: Option<String>,
    /// The `searchAfter` of the last contact read.
    search_after: Value,
}

/// The configured `start_date` as Unix milliseconds.
fn start(config: &Config) -> Result<Option<i64>, Error> {
    config
        .start_date
        .as_deref()
        .map(|date| {
            time::date_start(date)
                .ok_or_else(|| Error::config(format!("`start_date` must be a date YYYY-MM-DD, not `{date}`")))
        })
        .transpose()
}

/// One page of `contacts`.
pub fn contacts(client: &Client, config: &Config, request: &ReadRequest) -> Result<Batch, Error> {
    let state: ContactsState = request.state_as()?.unwrap_or_default();
    let limit = request.limit.clamp(1, MAX_CONTACTS_PAGE);
    let (since, search_after) = match state.listing {
        Some(listing) => (listing.since, Some(listing.search_after)),
        None => {
            let synced = match request.mode {
                SyncMode::Incremental => state.updated_at.clone(),
                SyncMode::FullRefresh => None,
            };
            let since = synced.or(start(config)?.and_then(time::from_millis));
            (since, None)
        }
    };
    let mut body = json!({
        "locationId": client.location_id,
        "pageLimit": limit,
        "sort": [{ "field": "dateUpdated", "direction": "asc" }],
    });
    if let Some(since) = &since {
        body["filters"] = json!([{ "field": "dateUpdated", "operator": "range", "value": { "gte": since } }]);
    }
    if let Some(after) = &search_after {
        body["searchAfter"] = after.clone();
    }
    let page = client.post("/contacts/search", &body)?;
    let items = page
        .get("contacts")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::internal("GoHighLevel's answer has no `contacts` list"))?;
    let records = items
        .iter()
        .map(records::contact)
        .collect::<Result<Vec<_>, _>>()?;
    let highest = records
        .iter()
        .filter_map(|r| r["updated_at"].as_str().and_then(time::millis_of))
        .chain(state.updated_at.as_deref().and_then(time::millis_of))
        .max()
        .and_then(time::from_millis);
    // A full page may have a next one; GoHighLevel says so only by
    // returning the page's last `searchAfter`.
    let next = items
        .last()
        .and_then(|last| last.get("searchAfter"))
        .filter(|after| after.as_array().is_some_and(|a| !a.is_empty()))
        .filter(|_| items.len() as u32 >= limit)
        .cloned();
    let more = next.is_some();
    let state = ContactsState {
        updated_at: highest,
        listing: next.map(|search_after| ContactsListing { since, search_after }),
    };
    Ok(Batch {
        records,
        ..Batch::default()
    }
    .with_state(&state)?
    .with_more(more))
}

/// The location's pipelines.
pub fn pipelines(client: &Client) -> Result<Pipelines, Error> {
    let body = client.get(
        "/opportunities/pipelines",
        &[("locationId", client.location_id.clone())],
    )?;
    Pipelines::from_body(&body)
}

/// `pipelines`, in one batch.
pub fn pipeline_records(client: &Client) -> Result<Batch, Error> {
    Batch::from_records(&pipelines(client)?.records())
}

/// Where the opportunities listing is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct OpportunitiesState {
    /// `meta.startAfter` of the last page read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_after: Option<i64>,
    /// `meta.startAfterId` of the last page read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_after_id: Option<String>,
}

/// A number GoHighLevel may send as a number or as a numeric string.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One page of `opportunities`, named with the pipelines read alongside.
pub fn opportunities(client: &Client, config: &Config, request: &ReadRequest) -> Result<Batch, Error> {
    let state: OpportunitiesState = request.state_as()?.unwrap_or_default();
    let pipelines = pipelines(client)?;
    let mut query = vec![
        ("location_id", client.location_id.clone()),
        // Without it GoHighLevel lists open opportunities only.
        ("status", "all".to_string()),
        (
            "limit",
            request.limit.clamp(1, MAX_OPPORTUNITIES_PAGE).to_string(),
        ),
    ];
    if let (Some(after), Some(id)) = (state.start_after, &state.start_after_id) {
        query.push(("startAfter", after.to_string()));
        query.push(("startAfterId", id.clone()));
    }
    let page = client.get("/opportunities/search", &query)?;
    let items = page
        .get("opportunities")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::internal("GoHighLevel's answer has no `opportunities` list"))?;
    let records = items
        .iter()
        .map(|o| records::opportunity(o, &pipelines, &config.currency))
        .collect::<Result<Vec<_>, _>>()?;
    let meta = &page["meta"];
    let next = match (integer(&meta["startAfter"]), meta["startAfterId"].as_str()) {
        (Some(after), Some(id)) if !items.is_empty() && !meta["nextPageUrl"].is_null() => {
            Some((after, id.to_string()))
        }
        _ => None,
    };
    let more = next.is_some();
    let (start_after, start_after_id) = next.unzip();
    Ok(Batch {
        records,
        ..Batch::default()
    }
    .with_state(&OpportunitiesState {
        start_after,
        start_after_id,
    })?
    .with_more(more))
}

/// Where the appointments stream is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AppointmentsState {
    /// Midnight UTC of the day the last complete listing ran (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<i64>,
    /// The listing being read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listing: Option<EventsListing>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EventsListing {
    /// The location's calendars when the listing started: `(id, name)`.
    calendars: Vec<(String, String)>,
    /// The calendar being read.
    calendar: usize,
    /// The range read, Unix ms, `to` excluded.
    from: i64,
    to: i64,
    /// The start of the next window of that calendar.
    window: i64,
    /// The day the listing started, the next cursor.
    started: i64,
}

/// The location's calendars, `(id, name)`.
fn calendars(client: &Client) -> Result<Vec<(String, String)>, Error> {
    let body = client.get_calendars("/calendars/", &[("locationId", client.location_id.clone())])?;
    let list = body
        .get("calendars")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::internal("GoHighLevel's answer has no `calendars` list"))?;
    Ok(list
        .iter()
        .filter_map(|c| {
            let id = c.get("id")?.as_str()?.to_string();
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Some((id, name))
        })
        .collect())
}

/// One calendar window of `appointments`.
pub fn appointments(client: &Client, config: &Config, request: &ReadRequest) -> Result<Batch, Error> {
    let state: AppointmentsState = request.state_as()?.unwrap_or_default();
    let mut listing = match state.listing {
        Some(listing) => listing,
        None => {
            let today = time::today_start();
            let from = match (request.mode, state.cursor) {
                (SyncMode::Incremental, Some(cursor)) => cursor - APPOINTMENT_LOOKBACK_DAYS * time::DAY_MS,
                _ => start(config)?.unwrap_or(today - DEFAULT_HISTORY_DAYS * time::DAY_MS),
            };
            EventsListing {
                calendars: calendars(client)?,
                calendar: 0,
                from,
                to: today + (DAYS_AHEAD + 1) * time::DAY_MS,
                window: from,
                started: today,
            }
        }
    };
    let mut records = Vec::new();
    if let Some((calendar_id, calendar_name)) = listing.calendars.get(listing.calendar) {
        let end = (listing.window + WINDOW_DAYS * time::DAY_MS).min(listing.to);
        let body = client.get_calendars(
            "/calendars/events",
            &[
                ("locationId", client.location_id.clone()),
                ("calendarId", calendar_id.clone()),
                ("startTime", listing.window.to_string()),
                // Both ends are inclusive.
                ("endTime", (end - 1).to_string()),
            ],
        )?;
        let events = body
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::internal("GoHighLevel's answer has no `events` list"))?;
        records = events
            .iter()
            .map(|e| records::appointment(e, Some(calendar_name)))
            .collect::<Result<Vec<_>, _>>()?;
        listing.window = end;
        if listing.window >= listing.to {
            listing.calendar += 1;
            listing.window = listing.from;
        }
    }
    let batch = Batch {
        records,
        ..Batch::default()
    };
    if listing.calendar < listing.calendars.len() {
        let state = AppointmentsState {
            cursor: state.cursor,
            listing: Some(listing),
        };
        return Ok(batch.with_state(&state)?.with_more(true));
    }
    batch.with_state(&AppointmentsState {
        cursor: Some(listing.started),
        listing: None,
    })
}
