//! The writes: `POST campaign/status/update/` and `POST ad/status/update/`
//! (ENABLE/DISABLE) and `POST campaign/update/` (daily budget in major
//! units, name). Each is
//! all-or-nothing, changes the world, and is logged with whether it was
//! applied. TikTok has no idempotency keys; both writes set absolute values,
//! so a replay changes nothing further.

use super::objects::campaign_json;
use super::{ApiError, ApiResult, PREFIX, account, admit, envelope, id_list};
use crate::server::{Platform, WriteCall};
use crate::world::{Platform as AdPlatform, Status};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

/// Campaigns one status update may name.
const MAX_CAMPAIGN_IDS: usize = 20;

/// Ads one status update may name.
const MAX_AD_IDS: usize = 20;

/// The smallest daily campaign budget TikTok accepts, in cents.
const MIN_DAILY_BUDGET_CENTS: i64 = 5_000;

/// The longest campaign name, in characters.
const MAX_NAME_CHARS: usize = 512;

/// The `POST campaign/status/update/` handler.
pub(super) async fn update_status(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    envelope(write(
        &platform,
        &headers,
        "campaign/status/update/",
        &body,
        set_status,
    ))
}

/// The `POST ad/status/update/` handler.
pub(super) async fn update_ad_status(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    envelope(write(
        &platform,
        &headers,
        "ad/status/update/",
        &body,
        set_ad_status,
    ))
}

/// The `POST campaign/update/` handler.
pub(super) async fn update_campaign(
    State(platform): State<Arc<Platform>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    envelope(write(&platform, &headers, "campaign/update/", &body, update))
}

/// Admit the request, apply the write and log it with its outcome.
fn write(
    platform: &Platform,
    headers: &HeaderMap,
    endpoint: &str,
    raw: &[u8],
    apply: fn(&Platform, &Value) -> ApiResult,
) -> ApiResult {
    admit(platform, headers)?;
    let (body, outcome) = match serde_json::from_slice::<Value>(raw) {
        Ok(body) if body.is_object() => {
            let outcome = apply(platform, &body);
            (body, outcome)
        }
        _ => (
            Value::String(String::from_utf8_lossy(raw).into_owned()),
            Err(ApiError::invalid("Request body is not a valid JSON object.")),
        ),
    };
    platform.record_write(WriteCall {
        method: "POST".into(),
        path: format!("{PREFIX}/{endpoint}"),
        body,
        idempotency_key: None,
        applied: outcome.is_ok(),
    });
    outcome
}

fn required_str<'b>(body: &'b Value, name: &str) -> Result<&'b str, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("{name}: Missing data for required field.")))
}

fn set_status(platform: &Platform, body: &Value) -> ApiResult {
    let advertiser_id = required_str(body, "advertiser_id")?;
    let ids = id_list("campaign_ids", body.get("campaign_ids"), MAX_CAMPAIGN_IDS)?;
    let (operation, status) = operation_status(body)?;
    let mut world = platform.world();
    let now = world.now();
    let account = account(&world, advertiser_id)?;
    // Check every id before changing any, so that a refusal changes nothing.
    if let Some(missing) = ids.iter().find(|id| account.campaign(id).is_none()) {
        return Err(ApiError::invalid(format!(
            "campaign_ids: Campaign {missing} does not exist."
        )));
    }
    let account = world.account_mut(AdPlatform::Tiktok);
    for id in &ids {
        if let Some(campaign) = account.campaign_mut(id) {
            campaign.status = status;
            campaign.updated = now;
        }
    }
    Ok(json!({ "campaign_ids": ids, "status": operation }))
}

/// The `operation_status` asked for and the status it sets.
fn operation_status(body: &Value) -> Result<(&'static str, Status), ApiError> {
    match body.get("operation_status").and_then(Value::as_str) {
        Some("ENABLE") => Ok(("ENABLE", Status::Active)),
        Some("DISABLE") => Ok(("DISABLE", Status::Paused)),
        _ => Err(ApiError::invalid(
            "operation_status: Must be one of ENABLE, DISABLE.",
        )),
    }
}

fn set_ad_status(platform: &Platform, body: &Value) -> ApiResult {
    let advertiser_id = required_str(body, "advertiser_id")?;
    let ids = id_list("ad_ids", body.get("ad_ids"), MAX_AD_IDS)?;
    let (operation, status) = operation_status(body)?;
    let mut world = platform.world();
    let account = account(&world, advertiser_id)?;
    // Check every id before changing any, so that a refusal changes nothing.
    if let Some(missing) = ids.iter().find(|id| account.ad(id).is_none()) {
        return Err(ApiError::invalid(format!("ad_ids: Ad {missing} does not exist.")));
    }
    let account = world.account_mut(AdPlatform::Tiktok);
    for ad in account.ads.iter_mut().filter(|ad| ids.contains(&ad.id)) {
        ad.status = status;
    }
    Ok(json!({ "ad_ids": ids, "status": operation }))
}

fn update(platform: &Platform, body: &Value) -> ApiResult {
    let advertiser_id = required_str(body, "advertiser_id")?;
    let campaign_id = required_str(body, "campaign_id")?;
    let budget_cents = body.get("budget").map(budget_cents).transpose()?;
    let name = match body.get("campaign_name") {
        None => None,
        Some(Value::String(name)) if (1..=MAX_NAME_CHARS).contains(&name.chars().count()) => {
            Some(name.clone())
        }
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "campaign_name: Length must be between 1 and {MAX_NAME_CHARS}."
            )));
        }
    };
    if budget_cents.is_none() && name.is_none() {
        return Err(ApiError::invalid("budget: Missing data for required field."));
    }
    let mut world = platform.world();
    let now = world.now();
    let currency = account(&world, advertiser_id)?.currency.clone();
    if budget_cents.is_some_and(|cents| cents < MIN_DAILY_BUDGET_CENTS) {
        return Err(ApiError::invalid(format!(
            "budget: The daily budget must be at least {}.{:02} {currency}.",
            MIN_DAILY_BUDGET_CENTS / 100,
            MIN_DAILY_BUDGET_CENTS % 100
        )));
    }
    let account = world.account_mut(AdPlatform::Tiktok);
    let campaign = account
        .campaign_mut(campaign_id)
        .ok_or_else(|| ApiError::invalid(format!("campaign_id: Campaign {campaign_id} does not exist.")))?;
    if let Some(cents) = budget_cents {
        campaign.daily_budget_cents = cents;
    }
    if let Some(name) = name {
        campaign.name = name;
    }
    campaign.updated = now;
    let campaign = campaign.clone();
    Ok(campaign_json(world.account(AdPlatform::Tiktok), &campaign))
}

/// A budget in major units as cents; at most two decimals.
fn budget_cents(value: &Value) -> Result<i64, ApiError> {
    let budget = value
        .as_f64()
        .filter(|b| b.is_finite() && *b >= 0.0 && *b < 1e12)
        .ok_or_else(|| ApiError::invalid("budget: Not a valid number."))?;
    let cents = (budget * 100.0).round();
    if (budget * 100.0 - cents).abs() > 1e-6 {
        return Err(ApiError::invalid(
            "budget: At most two decimal places are allowed.",
        ));
    }
    Ok(cents as i64)
}
