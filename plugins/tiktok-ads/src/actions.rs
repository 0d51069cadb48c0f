//! The actions: pause or resume a campaign (`campaign/status/update/`) or
//! an ad (`ad/status/update/`) and set a campaign's daily budget
//! (`campaign/update/`).
//!
//! TikTok takes no idempotency key; every write sets an absolute value, so
//! a retry with the same input leaves the object as the first call did.

use crate::api::Client;
use omnify_sdk::connector::ActionSpec;
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;

/// Input of `pause-campaign` and `resume-campaign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignInput {
    campaign_id: String,
}

/// Input of `pause-ad` and `resume-ad`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdInput {
    ad_id: String,
}

/// Input of `set-daily-budget`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetInput {
    campaign_id: String,
    daily_budget: f64,
}

/// The actions offered, with their input schemas.
pub fn specs() -> Vec<ActionSpec> {
    let campaign_id = json!({ "type": "string", "pattern": "^[0-9]+$", "description": "The campaign's id" });
    let campaign_only = json!({
        "type": "object",
        "required": ["campaign_id"],
        "properties": { "campaign_id": campaign_id },
        "additionalProperties": false,
    });
    let ad_only = json!({
        "type": "object",
        "required": ["ad_id"],
        "properties": {
            "ad_id": { "type": "string", "pattern": "^[0-9]+$", "description": "The ad's id" },
        },
        "additionalProperties": false,
    });
    vec![
        ActionSpec {
            name: "pause-campaign".into(),
            description: "Pause a campaign (operation status DISABLE)".into(),
            input_schema: campaign_only.clone(),
        },
        ActionSpec {
            name: "resume-campaign".into(),
            description: "Resume a paused campaign (operation status ENABLE)".into(),
            input_schema: campaign_only,
        },
        ActionSpec {
            name: "set-daily-budget".into(),
            description: "Set a campaign's daily budget, in the account's currency (major units)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["campaign_id", "daily_budget"],
                "properties": {
                    "campaign_id": campaign_id,
                    "daily_budget": { "type": "number", "exclusiveMinimum": 0 },
                },
                "additionalProperties": false,
            }),
        },
        ActionSpec {
            name: "pause-ad".into(),
            description: "Pause an ad (operation status DISABLE)".into(),
            input_schema: ad_only.clone(),
        },
        ActionSpec {
            name: "resume-ad".into(),
            description: "Resume a paused ad (operation status ENABLE)".into(),
            input_schema: ad_only,
        },
    ]
}

/// Perform the action `name`.
pub fn act(name: &str, input: Value) -> Result<Value, Error> {
    match name {
        "pause-campaign" => set_status(parse::<CampaignInput>(name, input)?, "DISABLE"),
        "resume-campaign" => set_status(parse::<CampaignInput>(name, input)?, "ENABLE"),
        "set-daily-budget" => set_budget(parse(name, input)?),
        "pause-ad" => set_ad_status(parse(name, input)?, "DISABLE"),
        "resume-ad" => set_ad_status(parse(name, input)?, "ENABLE"),
        other => Err(Error::not_found(format!("tiktok-ads has no action `{other}`"))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(action: &str, input: Value) -> Result<T, Error> {
    serde_json::from_value(input).map_err(|e| Error::invalid_input(format!("`{action}` input: {e}")))
}

/// TikTok ids are decimal digits; anything else would only come back as a
/// less clear parameter error.
fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_input(format!(
            "`{field}` must be TikTok's numeric id, not `{id}`"
        )));
    }
    Ok(())
}

fn set_status(input: CampaignInput, operation: &str) -> Result<Value, Error> {
    check_id("campaign_id", &input.campaign_id)?;
    let client = Client::from_host()?;
    client.post(
        "campaign/status/update/",
        json!({ "campaign_ids": [input.campaign_id], "operation_status": operation }),
    )
}

fn set_ad_status(input: AdInput, operation: &str) -> Result<Value, Error> {
    check_id("ad_id", &input.ad_id)?;
    let client = Client::from_host()?;
    client.post(
        "ad/status/update/",
        json!({ "ad_ids": [input.ad_id], "operation_status": operation }),
    )
}

fn set_budget(input: BudgetInput) -> Result<Value, Error> {
    check_id("campaign_id", &input.campaign_id)?;
    let budget = input.daily_budget;
    if !budget.is_finite() || budget <= 0.0 {
        return Err(Error::invalid_input(format!(
            "`daily_budget` must be a positive amount, not {budget}"
        )));
    }
    // Budgets are in cents at most: refuse a fraction of a cent rather than
    // round the amount the caller asked for.
    let cents = (budget * 100.0).round();
    if (budget * 100.0 - cents).abs() > 1e-6 {
        return Err(Error::invalid_input(format!(
            "`daily_budget` {budget} has more than two decimals"
        )));
    }
    let client = Client::from_host()?;
    client.post(
        "campaign/update/",
        json!({ "campaign_id": input.campaign_id, "budget": cents / 100.0 }),
    )
}
