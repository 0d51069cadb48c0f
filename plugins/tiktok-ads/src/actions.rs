//! The actions: pause or resume a campaign (`campaign/status/update/`) or
//! an ad (`ad/status/update/`) and set a campaign's daily budget
//! (`campaign/update/`).
//!
//! TikTok takes no idempotency key; every write sets an absolute value, so
//! a retry with the same input leaves the object as the first call did.
//! [`plan`] validates an input and reads its target (`campaign/get/`,
//! `ad/get/`) for both `act` and `preview` (in `preview.rs`).

use crate::api::{Client, Page, number, text};
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

/// A campaign as TikTok reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Its id.
    pub id: String,
    /// Its `operation_status`: `ENABLE` or `DISABLE`.
    pub status: Option<String>,
    /// Its daily budget in major units; `None` when its `budget_mode` is
    /// not a daily one (a lifetime budget, or none).
    pub daily_budget: Option<f64>,
}

/// An ad as TikTok reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Ad {
    /// Its id.
    pub id: String,
    /// Its `operation_status`: `ENABLE` or `DISABLE`.
    pub status: Option<String>,
}

/// An action whose input was validated and whose target was read, before
/// anything changes: what `act` performs and `preview` describes.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Set a campaign's `operation_status` (`ENABLE` or `DISABLE`).
    CampaignStatus {
        /// The campaign now.
        campaign: Campaign,
        /// The operation to send.
        operation: &'static str,
    },
    /// Set a campaign's daily budget, in major units (whole cents).
    DailyBudget {
        /// The campaign now.
        campaign: Campaign,
        /// The budget asked for.
        budget: f64,
    },
    /// Set an ad's `operation_status` (`ENABLE` or `DISABLE`).
    AdStatus {
        /// The ad now.
        ad: Ad,
        /// The operation to send.
        operation: &'static str,
    },
}

/// Validate `input` for action `name` and read its target from the
/// configured advertiser: the checks `act` and `preview` share. Input
/// checks run before the client is made and the first request, so a bad
/// input costs nothing. Returns the client that read the target.
pub fn plan(name: &str, input: Value) -> Result<(Client, Plan), Error> {
    match name {
        "pause-campaign" | "resume-campaign" => {
            let input: CampaignInput = parse(name, input)?;
            check_id("campaign_id", &input.campaign_id)?;
            let operation = if name == "pause-campaign" {
                "DISABLE"
            } else {
                "ENABLE"
            };
            let client = Client::from_host()?;
            let campaign = campaign(&client, &input.campaign_id)?;
            Ok((client, Plan::CampaignStatus { campaign, operation }))
        }
        "set-daily-budget" => {
            let input: BudgetInput = parse(name, input)?;
            check_id("campaign_id", &input.campaign_id)?;
            let budget = whole_cents(input.daily_budget)?;
            let client = Client::from_host()?;
            let campaign = campaign(&client, &input.campaign_id)?;
            Ok((client, Plan::DailyBudget { campaign, budget }))
        }
        "pause-ad" | "resume-ad" => {
            let input: AdInput = parse(name, input)?;
            check_id("ad_id", &input.ad_id)?;
            let operation = if name == "pause-ad" { "DISABLE" } else { "ENABLE" };
            let client = Client::from_host()?;
            let ad = ad(&client, &input.ad_id)?;
            Ok((client, Plan::AdStatus { ad, operation }))
        }
        other => Err(Error::not_found(format!("tiktok-ads has no action `{other}`"))),
    }
}

/// Perform the action `name`.
pub fn act(name: &str, input: Value) -> Result<Value, Error> {
    let (client, plan) = plan(name, input)?;
    match plan {
        Plan::CampaignStatus { campaign, operation } => client.post(
            "campaign/status/update/",
            json!({ "campaign_ids": [campaign.id], "operation_status": operation }),
        ),
        Plan::DailyBudget { campaign, budget } => client.post(
            "campaign/update/",
            json!({ "campaign_id": campaign.id, "budget": budget }),
        ),
        Plan::AdStatus { ad, operation } => client.post(
            "ad/status/update/",
            json!({ "ad_ids": [ad.id], "operation_status": operation }),
        ),
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

/// A positive budget of whole cents, as TikTok takes it: a fraction of a
/// cent is refused rather than the amount the caller asked for rounded.
fn whole_cents(budget: f64) -> Result<f64, Error> {
    if !budget.is_finite() || budget <= 0.0 {
        return Err(Error::invalid_input(format!(
            "`daily_budget` must be a positive amount, not {budget}"
        )));
    }
    let cents = (budget * 100.0).round();
    if (budget * 100.0 - cents).abs() > 1e-6 {
        return Err(Error::invalid_input(format!(
            "`daily_budget` {budget} has more than two decimals"
        )));
    }
    Ok(cents / 100.0)
}

/// The one object of `endpoint` (`campaign/get/`, `ad/get/`) whose id field
/// `field` is `id`, filtered by `filter` (`campaign_ids`, `ad_ids`).
fn find_one(
    client: &Client,
    endpoint: &str,
    filter: &str,
    field: &str,
    id: &str,
) -> Result<Option<Value>, Error> {
    let filtering = json!({ filter: [id] });
    let page: Page<Value> = client.get(
        endpoint,
        &[
            ("filtering", filtering.to_string()),
            ("page_size", "10".to_string()),
        ],
    )?;
    Ok(page
        .list
        .into_iter()
        .find(|object| text(object, field).as_deref() == Some(id)))
}

/// Campaign `id` of the configured advertiser; `not-found` for one the
/// advertiser does not have.
fn campaign(client: &Client, id: &str) -> Result<Campaign, Error> {
    let found = find_one(client, "campaign/get/", "campaign_ids", "campaign_id", id)?
        .ok_or_else(|| not_here(client, "campaign", id))?;
    let daily = text(&found, "budget_mode").is_some_and(|mode| mode.contains("DAY"));
    let budget = number(&found, "budget")?;
    Ok(Campaign {
        id: id.to_string(),
        status: text(&found, "operation_status"),
        daily_budget: if daily { budget } else { None },
    })
}

/// Ad `id` of the configured advertiser; `not-found` for one the
/// advertiser does not have.
fn ad(client: &Client, id: &str) -> Result<Ad, Error> {
    let found =
        find_one(client, "ad/get/", "ad_ids", "ad_id", id)?.ok_or_else(|| not_here(client, "ad", id))?;
    Ok(Ad {
        id: id.to_string(),
        status: text(&found, "operation_status"),
    })
}

fn not_here(client: &Client, what: &str, id: &str) -> Error {
    Error::not_found(format!(
        "{what} {id} is not in advertiser {}",
        client.config.advertiser_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_whole_cents() {
        assert_eq!(whole_cents(275.5), Ok(275.5));
        assert_eq!(whole_cents(0.1 + 0.2), Ok(0.3));
        assert!(matches!(whole_cents(80.125), Err(Error::InvalidInput(_))));
        assert!(matches!(whole_cents(-5.0), Err(Error::InvalidInput(_))));
        assert!(matches!(whole_cents(f64::NAN), Err(Error::InvalidInput(_))));
    }

    #[test]
    fn ids_are_digits() {
        assert_eq!(check_id("ad_id", "1700000000001"), Ok(()));
        assert!(check_id("ad_id", "ad one").is_err());
        assert!(check_id("ad_id", "").is_err());
    }
}
