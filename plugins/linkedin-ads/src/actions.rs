//! The writes: pause or resume a campaign and set its daily budget
//! (`POST /rest/adAccounts/{a}/adCampaigns/{id}`), pause or resume a creative
//! (`POST /rest/adAccounts/{a}/creatives/{urn}`), each a Rest.li partial
//! update (`X-RestLi-Method: PARTIAL_UPDATE`, `{"patch": {"$set": …}}`).
//!
//! [`plan`] validates an input and reads its target through the account's
//! path, for both `act` and `preview` (in `preview.rs`): an object of
//! another account is `not-found` before anything is written. Every write
//! sets an absolute value, so a retry under the same idempotency key leaves
//! the object as the first call did; LinkedIn takes no idempotency key.

use crate::api::Client;
use crate::money;
use crate::objects;
use crate::restli::{Query, id_of, leaf, urn};
use omnify_sdk::connector::ActionSpec;
use omnify_sdk::{Error, Value, json};

/// The actions offered, with their input schemas.
pub fn specs() -> Vec<ActionSpec> {
    let id = |what: &str| {
        json!({
            "type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 1,
            "description": format!("The {what}'s numeric id")
        })
    };
    let on_campaign = json!({
        "type": "object", "required": ["campaign_id"],
        "properties": { "campaign_id": id("campaign") }
    });
    let on_ad = json!({
        "type": "object", "required": ["ad_id"],
        "properties": { "ad_id": id("creative") }
    });
    vec![
        ActionSpec {
            name: "pause-campaign".into(),
            description: "Pause a campaign (status PAUSED)".into(),
            input_schema: on_campaign.clone(),
        },
        ActionSpec {
            name: "resume-campaign".into(),
            description: "Resume a paused campaign (status ACTIVE)".into(),
            input_schema: on_campaign,
        },
        ActionSpec {
            name: "set-daily-budget".into(),
            description: "Set a campaign's daily budget, in major units of the account's currency".into(),
            input_schema: json!({
                "type": "object", "required": ["campaign_id", "daily_budget"],
                "properties": {
                    "campaign_id": id("campaign"),
                    "daily_budget": { "type": "number", "exclusiveMinimum": 0 }
                }
            }),
        },
        ActionSpec {
            name: "pause-ad".into(),
            description: "Pause a creative (intendedStatus PAUSED)".into(),
            input_schema: on_ad.clone(),
        },
        ActionSpec {
            name: "resume-ad".into(),
            description: "Resume a paused creative (intendedStatus ACTIVE)".into(),
            input_schema: on_ad,
        },
    ]
}

/// A campaign as LinkedIn reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Its numeric id.
    pub id: String,
    /// `ACTIVE`, `PAUSED`, `DRAFT`, ...
    pub status: String,
    /// Its daily budget in major units; `None` when it has only a total
    /// budget.
    pub daily_budget: Option<f64>,
    /// The currency of its budgets: the account's.
    pub currency: String,
}

/// A creative as LinkedIn reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Creative {
    /// Its numeric id.
    pub id: String,
    /// Its `intendedStatus`: `ACTIVE`, `PAUSED`, ...
    pub status: String,
}

/// An action whose input was validated and whose target was read, before
/// anything changes: what `act` performs and `preview` describes.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Set a campaign's `status` to `ACTIVE` or `PAUSED`.
    CampaignStatus {
        /// The campaign now.
        campaign: Campaign,
        /// The status to set.
        status: &'static str,
    },
    /// Set a campaign's `dailyBudget`.
    DailyBudget {
        /// The campaign now.
        campaign: Campaign,
        /// The budget asked for, in major units.
        budget: f64,
        /// The same as LinkedIn's decimal string.
        amount: String,
    },
    /// Set a creative's `intendedStatus` to `ACTIVE` or `PAUSED`.
    CreativeStatus {
        /// The creative now.
        creative: Creative,
        /// The status to set.
        status: &'static str,
    },
}

/// Validate `input` for action `name` and read its target from the
/// configured account: the checks `act` and `preview` share. Checks that
/// need nothing from LinkedIn run before the first request.
pub fn plan(client: &Client, name: &str, input: &Value) -> Result<Plan, Error> {
    match name {
        "pause-campaign" | "resume-campaign" => {
            let status = if name == "pause-campaign" {
                "PAUSED"
            } else {
                "ACTIVE"
            };
            let id = numeric_id(input, "campaign_id", "campaign")?;
            Ok(Plan::CampaignStatus {
                campaign: campaign(client, &id)?,
                status,
            })
        }
        "set-daily-budget" => {
            let id = numeric_id(input, "campaign_id", "campaign")?;
            let budget = input
                .get("daily_budget")
                .and_then(Value::as_f64)
                .filter(|b| b.is_finite() && *b > 0.0)
                .ok_or_else(|| {
                    Error::invalid_input("`daily_budget` must be a positive number (major currency units)")
                })?;
            let campaign = campaign(client, &id)?;
            let amount = money::amount_text(budget, &campaign.currency)?;
            Ok(Plan::DailyBudget {
                campaign,
                budget,
                amount,
            })
        }
        "pause-ad" | "resume-ad" => {
            let status = if name == "pause-ad" { "PAUSED" } else { "ACTIVE" };
            let id = numeric_id(input, "ad_id", "creative")?;
            Ok(Plan::CreativeStatus {
                creative: creative(client, &id)?,
                status,
            })
        }
        other => Err(Error::not_found(format!("linkedin-ads has no action `{other}`"))),
    }
}

/// Perform action `name`; returns what changed, from what.
pub fn act(client: &Client, name: &str, input: &Value) -> Result<Value, Error> {
    match plan(client, name, input)? {
        Plan::CampaignStatus { campaign, status } => {
            client.partial_update(&campaign_path(client, &campaign.id), json!({ "status": status }))?;
            Ok(json!({
                "campaign_id": campaign.id,
                "status": status.to_ascii_lowercase(),
                "previous_status": campaign.status.to_ascii_lowercase(),
            }))
        }
        Plan::DailyBudget {
            campaign,
            budget,
            amount,
        } => {
            let daily = json!({ "amount": amount, "currencyCode": campaign.currency });
            client.partial_update(
                &campaign_path(client, &campaign.id),
                json!({ "dailyBudget": daily }),
            )?;
            Ok(json!({
                "campaign_id": campaign.id,
                "daily_budget": budget,
                "currency": campaign.currency,
                "previous_daily_budget": campaign.daily_budget,
            }))
        }
        Plan::CreativeStatus { creative, status } => {
            client.partial_update(
                &creative_path(client, &creative.id),
                json!({ "intendedStatus": status }),
            )?;
            Ok(json!({
                "ad_id": creative.id,
                "status": status.to_ascii_lowercase(),
                "previous_status": creative.status.to_ascii_lowercase(),
            }))
        }
    }
}

/// `adAccounts/{a}/adCampaigns/{id}`.
fn campaign_path(client: &Client, id: &str) -> String {
    format!("{}/adCampaigns/{id}", client.account_path())
}

/// `adAccounts/{a}/creatives/{urn}`, the URN encoded as one path segment.
fn creative_path(client: &Client, id: &str) -> String {
    format!(
        "{}/creatives/{}",
        client.account_path(),
        leaf(&urn("sponsoredCreative", id))
    )
}

/// `not-found` naming the object, for a LinkedIn 404 on the account's path.
fn not_in_account(client: &Client, what: &str, id: &str) -> impl FnOnce(Error) -> Error {
    let account = client.account_id().to_string();
    let (what, id) = (what.to_string(), id.to_string());
    move |error| match error {
        Error::NotFound(message) => {
            Error::not_found(format!("{what} {id} is not in ad account {account} ({message})"))
        }
        other => other,
    }
}

/// Campaign `id` of the configured account, with its budget.
fn campaign(client: &Client, id: &str) -> Result<Campaign, Error> {
    let object: Value = client
        .get(&campaign_path(client, id), &Query::new())
        .map_err(not_in_account(client, "campaign", id))?;
    let daily_budget = money::decimal(&object["dailyBudget"]["amount"], "dailyBudget")?;
    let currency = match object["dailyBudget"]["currencyCode"].as_str() {
        Some(currency) => currency.to_string(),
        None => objects::currency(client)?,
    };
    Ok(Campaign {
        id: id.to_string(),
        status: object["status"].as_str().unwrap_or_default().to_string(),
        daily_budget,
        currency,
    })
}

/// Creative `id` of the configured account.
fn creative(client: &Client, id: &str) -> Result<Creative, Error> {
    let object: Value = client
        .get(&creative_path(client, id), &Query::new())
        .map_err(not_in_account(client, "ad", id))?;
    // The path names the account; the creative must say it is the account's.
    let account = object["account"]
        .as_str()
        .and_then(|u| id_of(u, "sponsoredAccount"));
    if account.is_some_and(|a| a != client.account_id()) {
        return Err(Error::not_found(format!(
            "ad {id} is not in ad account {}",
            client.account_id()
        )));
    }
    Ok(Creative {
        id: id.to_string(),
        status: object["intendedStatus"].as_str().unwrap_or_default().to_string(),
    })
}

/// The id in input field `field` (naming a `what`): digits, as a string or
/// a number.
fn numeric_id(input: &Value, field: &str, what: &str) -> Result<String, Error> {
    let id = match input.get(field) {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Number(id)) if id.is_u64() => id.to_string(),
        _ => {
            return Err(Error::invalid_input(format!(
                "`{field}` is required: the {what}'s numeric id"
            )));
        }
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_input(format!(
            "`{field}` {id:?} is not a numeric LinkedIn {what} id"
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_digits_as_strings_or_numbers() {
        assert_eq!(
            numeric_id(&json!({"ad_id": 42}), "ad_id", "creative"),
            Ok("42".to_string())
        );
        assert_eq!(
            numeric_id(&json!({"campaign_id": "42"}), "campaign_id", "campaign"),
            Ok("42".to_string())
        );
        for input in [json!({"ad_id": "4 2"}), json!({"ad_id": -1}), json!({})] {
            assert!(
                matches!(numeric_id(&input, "ad_id", "creative"), Err(Error::InvalidInput(m)) if m.contains("ad_id")),
                "{input}"
            );
        }
    }
}
