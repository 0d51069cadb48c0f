//! Rest.li partial updates: `POST` to a campaign or a creative with
//! `X-RestLi-Method: PARTIAL_UPDATE` and `{"patch": {"$set": {…}}}`,
//! answered `204 No Content`. A campaign takes `status` (`ACTIVE`,
//! `PAUSED`) and `dailyBudget` (`{amount, currencyCode}`, the account's
//! currency, at least 10.00, whole cents); a creative `intendedStatus`.
//! Every write that passes the checks of [`admit`] is logged, applied or
//! not.

use super::entities::creative_id;
use super::{LinkedInError, admit, own_account};
use crate::server::{Platform, WriteCall};
use crate::world::{Platform as AdPlatform, Status};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

/// LinkedIn's smallest daily budget, in cents of USD.
const MIN_DAILY_BUDGET_CENTS: i64 = 1_000;

/// `POST /rest/adAccounts/{id}/{collection}/{key}`.
pub async fn partial_update(
    State(platform): State<Arc<Platform>>,
    Path((account, collection, key)): Path<(String, String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(error) = admit(&platform, &headers) {
        return error.into_response();
    }
    let logged = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let outcome = apply(&platform, &account, &collection, &key, &headers, &logged);
    platform.record_write(WriteCall {
        method: "POST".into(),
        path: uri.path().to_string(),
        body: logged,
        idempotency_key: None,
        applied: outcome.is_ok(),
    });
    match outcome {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

fn apply(
    platform: &Platform,
    account: &str,
    collection: &str,
    key: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Result<(), LinkedInError> {
    own_account(platform, account)?;
    let method = headers.get("x-restli-method").and_then(|v| v.to_str().ok());
    if !method.is_some_and(|m| m.eq_ignore_ascii_case("PARTIAL_UPDATE")) {
        return Err(LinkedInError::illegal(
            "a POST to an entity is an update: send X-RestLi-Method: PARTIAL_UPDATE",
        ));
    }
    let set = patch_set(body)?;
    match collection {
        "adCampaigns" => update_campaign(platform, key, set),
        "creatives" => update_creative(platform, key, set),
        other => Err(LinkedInError::illegal(format!(
            "{other} cannot be updated in the sandbox"
        ))),
    }
}

/// The `$set` of `{"patch": {"$set": {…}}}`, the only patch served.
fn patch_set(body: &Value) -> Result<&Map<String, Value>, LinkedInError> {
    let patch = body
        .get("patch")
        .and_then(Value::as_object)
        .ok_or_else(|| LinkedInError::illegal("the body must be {\"patch\": {\"$set\": {...}}}"))?;
    if let Some(other) = patch.keys().find(|k| *k != "$set") {
        return Err(LinkedInError::illegal(format!(
            "patch operation `{other}` is not served"
        )));
    }
    patch
        .get("$set")
        .and_then(Value::as_object)
        .filter(|set| !set.is_empty())
        .ok_or_else(|| LinkedInError::illegal("the patch sets nothing: give {\"$set\": {...}}"))
}

fn status(value: &Value, field: &str) -> Result<Status, LinkedInError> {
    match value.as_str() {
        Some("ACTIVE") => Ok(Status::Active),
        Some("PAUSED") => Ok(Status::Paused),
        _ => Err(LinkedInError::illegal(format!(
            "{field} must be ACTIVE or PAUSED in the sandbox, not {value}"
        ))),
    }
}

/// A decimal amount of whole cents (`"12.34"`) in cents.
fn cents(amount: &str) -> Option<i64> {
    let (units, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    if units.is_empty()
        || fraction.len() > 2
        || !units.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let units: i64 = units.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    units.checked_mul(100)?.checked_add(fraction)
}

fn update_campaign(platform: &Platform, id: &str, set: &Map<String, Value>) -> Result<(), LinkedInError> {
    let mut world = platform.world();
    let now = world.now();
    let account = world.account_mut(AdPlatform::LinkedIn);
    let currency = account.currency.clone();
    let mut new_status = None;
    let mut new_budget = None;
    for (field, value) in set {
        match field.as_str() {
            "status" => new_status = Some(status(value, "status")?),
            "dailyBudget" => {
                let amount = value["amount"].as_str().unwrap_or_default();
                if value["currencyCode"].as_str() != Some(currency.as_str()) {
                    return Err(LinkedInError::illegal(format!(
                        "dailyBudget.currencyCode must be the account's currency, {currency}"
                    )));
                }
                let cents = cents(amount).ok_or_else(|| {
                    LinkedInError::illegal(format!(
                        "dailyBudget.amount `{amount}` is not an amount of whole cents"
                    ))
                })?;
                if cents < MIN_DAILY_BUDGET_CENTS {
                    return Err(LinkedInError::illegal(format!(
                        "dailyBudget.amount {amount} is below the minimum daily budget of 10.00 {currency}"
                    )));
                }
                new_budget = Some(cents);
            }
            other => {
                return Err(LinkedInError::illegal(format!(
                    "field `{other}` of a campaign cannot be set in the sandbox"
                )));
            }
        }
    }
    let campaign = account
        .campaign_mut(id)
        .ok_or_else(|| LinkedInError::not_found(format!("adCampaigns {id} does not exist")))?;
    if let Some(status) = new_status {
        campaign.status = status;
    }
    if let Some(cents) = new_budget {
        campaign.daily_budget_cents = cents;
    }
    campaign.updated = now.max(campaign.updated);
    Ok(())
}

fn update_creative(platform: &Platform, key: &str, set: &Map<String, Value>) -> Result<(), LinkedInError> {
    let mut new_status = None;
    for (field, value) in set {
        match field.as_str() {
            "intendedStatus" => new_status = Some(status(value, "intendedStatus")?),
            other => {
                return Err(LinkedInError::illegal(format!(
                    "field `{other}` of a creative cannot be set in the sandbox"
                )));
            }
        }
    }
    let mut world = platform.world();
    let ad = creative_id(key)
        .and_then(|id| {
            world
                .account_mut(AdPlatform::LinkedIn)
                .ads
                .iter_mut()
                .find(|a| a.id == id)
        })
        .ok_or_else(|| LinkedInError::not_found(format!("creatives {key} does not exist")))?;
    if let Some(status) = new_status {
        ad.status = status;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_whole_cents_and_patches_set() {
        assert_eq!(cents("12.34"), Some(1234));
        assert_eq!(cents("12.3"), Some(1230));
        assert_eq!(cents("12"), Some(1200));
        assert_eq!(cents("12.345"), None);
        assert_eq!(cents("-1.00"), None);
        assert_eq!(cents(".5"), None);
        assert!(patch_set(&json!({"patch": {"$set": {"status": "PAUSED"}}})).is_ok());
        assert!(patch_set(&json!({"patch": {"$unset": ["status"]}})).is_err());
        assert!(patch_set(&json!({"status": "PAUSED"})).is_err());
        assert!(patch_set(&json!({"patch": {"$set": {}}})).is_err());
    }
}
