//! The object streams: `campaigns`, `ad_groups` and `ads`, read page by
//! page from the `get` endpoints and normalised.

use crate::api::{Client, Page, text};
use omnify_sdk::connector::{Batch, ReadRequest};
use omnify_sdk::{Error, Value, json};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The largest page of the `get` endpoints.
const MAX_PAGE_SIZE: u32 = 1000;

/// Image ids one `file/image/ad/info` request may name; pages of ads are
/// kept this small so that one request finds their images.
const MAX_IMAGE_IDS: usize = 100;

/// Where a stream's read stands: the next page to fetch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ListState {
    page: u32,
}

/// `campaigns`: daily budget in major units with the account's currency.
pub fn campaigns(client: &Client, request: &ReadRequest) -> Result<Batch, Error> {
    let (page_number, page) = fetch(client, "campaign/get/", request, MAX_PAGE_SIZE)?;
    let currency = currency(client)?;
    let records = page
        .list
        .iter()
        .map(|c| campaign(c, &currency))
        .collect::<Result<Vec<_>, _>>()?;
    finish(records, &page, page_number)
}

/// `ad_groups` (TikTok's ad groups).
pub fn ad_groups(client: &Client, request: &ReadRequest) -> Result<Batch, Error> {
    let (page_number, page) = fetch(client, "adgroup/get/", request, MAX_PAGE_SIZE)?;
    let records = page
        .list
        .iter()
        .map(|g| {
            Ok(json!({
                "id": required(g, "adgroup_id")?,
                "campaign_id": required(g, "campaign_id")?,
                "name": text(g, "adgroup_name"),
                "status": status(g),
                "secondary_status": text(g, "secondary_status"),
                "optimization_goal": text(g, "optimization_goal"),
                "created_time": timestamp(g, "create_time"),
                "updated_time": timestamp(g, "modify_time"),
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    finish(records, &page, page_number)
}

/// `ads`, with their creative: the ad text as body and the first image
/// (its URL looked up in `file/image/ad/info`). TikTok ads have no headline.
pub fn ads(client: &Client, request: &ReadRequest) -> Result<Batch, Error> {
    let (page_number, page) = fetch(client, "ad/get/", request, MAX_IMAGE_IDS as u32)?;
    let image_ids: Vec<String> = page.list.iter().filter_map(first_image).collect();
    let image_urls = image_urls(client, &image_ids)?;
    let records = page
        .list
        .iter()
        .map(|ad| {
            let image = first_image(ad);
            Ok(json!({
                "id": required(ad, "ad_id")?,
                "ad_group_id": required(ad, "adgroup_id")?,
                "campaign_id": required(ad, "campaign_id")?,
                "name": text(ad, "ad_name"),
                "status": status(ad),
                "secondary_status": text(ad, "secondary_status"),
                "creative": {
                    "id": image.clone().or_else(|| text(ad, "video_id")),
                    "headline": null,
                    "body": text(ad, "ad_text"),
                    "image_url": image.and_then(|id| image_urls.get(&id).cloned()),
                },
                "ad_format": text(ad, "ad_format"),
                "call_to_action": text(ad, "call_to_action"),
                "landing_page_url": text(ad, "landing_page_url"),
                "video_id": text(ad, "video_id"),
                "created_time": timestamp(ad, "create_time"),
                "updated_time": timestamp(ad, "modify_time"),
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    finish(records, &page, page_number)
}

/// The account's currency, from `advertiser/info`.
pub fn currency(client: &Client) -> Result<String, Error> {
    let advertisers: Page<Value> = client.get_advertisers("advertiser/info/")?;
    advertisers
        .list
        .iter()
        .find(|a| text(a, "advertiser_id").as_deref() == Some(client.config.advertiser_id.as_str()))
        .and_then(|a| text(a, "currency"))
        .ok_or_else(|| {
            Error::config(format!(
                "advertiser {} is not among the advertisers of this access token",
                client.config.advertiser_id
            ))
        })
}

/// Fetch the page the state points at; returns its number and the page.
fn fetch(
    client: &Client,
    endpoint: &str,
    request: &ReadRequest,
    max_page_size: u32,
) -> Result<(u32, Page<Value>), Error> {
    let page_number = request.state_as::<ListState>()?.map_or(1, |s| s.page.max(1));
    let page_size = request.limit.clamp(1, max_page_size);
    let page = client.get(
        endpoint,
        &[
            ("page", page_number.to_string()),
            ("page_size", page_size.to_string()),
        ],
    )?;
    Ok((page_number, page))
}

/// A batch of `records`, resuming at the next page when there is one.
fn finish(records: Vec<Value>, page: &Page<Value>, page_number: u32) -> Result<Batch, Error> {
    let batch = Batch {
        records,
        ..Batch::default()
    };
    if page.has_next() {
        Ok(batch
            .with_state(&ListState {
                page: page_number + 1,
            })?
            .with_more(true))
    } else {
        Ok(batch)
    }
}

fn campaign(c: &Value, currency: &str) -> Result<Value, Error> {
    let mode = text(c, "budget_mode").unwrap_or_default();
    let budget = c.get("budget").and_then(Value::as_f64);
    // Daily modes carry a daily budget; BUDGET_MODE_TOTAL a lifetime one;
    // BUDGET_MODE_INFINITE none.
    let daily = mode.contains("DAY");
    Ok(json!({
        "id": required(c, "campaign_id")?,
        "name": text(c, "campaign_name"),
        "status": status(c),
        "daily_budget": if daily { budget } else { None },
        "lifetime_budget": if mode == "BUDGET_MODE_TOTAL" { budget } else { None },
        "budget_mode": mode,
        "currency": currency,
        "objective": text(c, "objective_type"),
        "campaign_type": text(c, "campaign_type"),
        "secondary_status": text(c, "secondary_status"),
        "created_time": timestamp(c, "create_time"),
        "updated_time": timestamp(c, "modify_time"),
    }))
}

/// `operation_status` in the shared vocabulary: ENABLE is `active`,
/// DISABLE `paused`, anything else in lower case.
fn status(object: &Value) -> Option<String> {
    text(object, "operation_status").map(|s| match s.as_str() {
        "ENABLE" => "active".to_string(),
        "DISABLE" => "paused".to_string(),
        other => other.to_lowercase(),
    })
}

/// An id field that every object has.
fn required(object: &Value, name: &str) -> Result<String, Error> {
    text(object, name).ok_or_else(|| Error::internal(format!("TikTok sent an object without `{name}`")))
}

/// TikTok's `2026-06-01 12:34:56` (UTC) as RFC 3339.
fn timestamp(object: &Value, name: &str) -> Option<String> {
    let time = text(object, name)?;
    Some(match time.split_once(' ') {
        Some((day, clock)) => format!("{day}T{clock}Z"),
        None => time,
    })
}

fn first_image(ad: &Value) -> Option<String> {
    let first = ad.get("image_ids")?.as_array()?.first()?;
    first.as_str().map(str::to_string)
}

/// The URLs of images by id, at most [`MAX_IMAGE_IDS`] per request.
fn image_urls(client: &Client, ids: &[String]) -> Result<HashMap<String, String>, Error> {
    let mut urls = HashMap::new();
    for chunk in ids.chunks(MAX_IMAGE_IDS) {
        let page: Page<Value> = client.get(
            "file/image/ad/info/",
            &[("image_ids", serde_json::to_string(chunk)?)],
        )?;
        for image in &page.list {
            if let (Some(id), Some(url)) = (text(image, "image_id"), text(image, "image_url")) {
                urls.insert(id, url);
            }
        }
    }
    Ok(urls)
}
