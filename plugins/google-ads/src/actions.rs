//! The actions (pause, resume and re-budget a campaign through
//! `campaigns:mutate` and `campaignBudgets:mutate`, pause and resume an ad
//! through `adGroupAds:mutate`) and their previews.
//!
//! [`plan`] validates an input and reads its target with one GAQL search,
//! for both: a campaign or ad the configured account does not have is
//! `not-found` before anything is sent. Every action sets an absolute value,
//! so a retry with the same idempotency key changes nothing more; Google
//! Ads has no such key.

use crate::api::Client;
use crate::records::queries;
use omnify_sdk::connector::{ActionSpec, Preview};
use omnify_sdk::{Error, json};
use serde_json::Value;

/// The actions offered, with their input schemas.
pub fn specs() -> Vec<ActionSpec> {
    let campaign_id = json!({
        "type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 1,
        "description": "The campaign's numeric id"
    });
    let on_campaign = json!({
        "type": "object", "required": ["campaign_id"],
        "properties": { "campaign_id": campaign_id.clone() }
    });
    let on_ad = json!({
        "type": "object", "required": ["ad_id"],
        "properties": { "ad_id": {
            "type": ["string", "integer"], "pattern": "^[0-9]+$", "minimum": 1,
            "description": "The ad's numeric id"
        } }
    });
    vec![
        ActionSpec {
            name: "pause-campaign".into(),
            description: "Pause a campaign (status PAUSED)".into(),
            input_schema: on_campaign.clone(),
        },
        ActionSpec {
            name: "resume-campaign".into(),
            description: "Resume a paused campaign (status ENABLED)".into(),
            input_schema: on_campaign,
        },
        ActionSpec {
            name: "set-daily-budget".into(),
            description: "Set the daily amount of a campaign's budget, in the account's currency".into(),
            input_schema: json!({
                "type": "object", "required": ["campaign_id", "daily_budget"],
                "properties": {
                    "campaign_id": campaign_id,
                    "daily_budget": { "type": "number", "exclusiveMinimum": 0 }
                }
            }),
        },
        ActionSpec {
            name: "pause-ad".into(),
            description: "Pause an ad (its ad group ad's status PAUSED)".into(),
            input_schema: on_ad.clone(),
        },
        ActionSpec {
            name: "resume-ad".into(),
            description: "Resume a paused ad (its ad group ad's status ENABLED)".into(),
            input_schema: on_ad,
        },
    ]
}

/// A campaign as Google reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    /// Its id.
    pub id: String,
    /// `ENABLED`, `PAUSED`, ...
    pub status: String,
    /// The resource name of its budget, `customers/{cid}/campaignBudgets/{id}`.
    pub budget_name: Option<String>,
    /// The budget's amount in micros of the account's currency.
    pub budget_micros: Option<i64>,
    /// The account's ISO 4217 currency.
    pub currency: String,
}

/// An ad group ad as Google reports it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Ad {
    /// The ad's id.
    pub id: String,
    /// The ad group it is in, which its resource name holds.
    pub ad_group_id: String,
    /// `ENABLED`, `PAUSED`, ...
    pub status: String,
}

/// An action whose input was validated and whose target was read, before
/// anything changes: what `act` performs and `preview` describes.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Set a campaign's status to `ENABLED` or `PAUSED`.
    CampaignStatus {
        /// The campaign now.
        campaign: Campaign,
        /// The status to set.
        status: &'static str,
    },
    /// Set the amount of a campaign's budget.
    DailyBudget {
        /// The campaign now.
        campaign: Campaign,
        /// The budget's resource name.
        budget_name: String,
        /// The amount asked for, in major units.
        budget: f64,
        /// The same in micros.
        micros: i64,
    },
    /// Set an ad group ad's status to `ENABLED` or `PAUSED`.
    AdStatus {
        /// The ad now.
        ad: Ad,
        /// The status to set.
        status: &'static str,
    },
}

/// Validate `input` for action `name` and read its target: the checks
/// `act` and `preview` share. Input checks that need nothing from Google
/// run before the first request.
pub fn plan(client: &Client, name: &str, input: &Value) -> Result<Plan, Error> {
    match name {
        "pause-campaign" | "resume-campaign" => {
            let status = if name == "pause-campaign" {
                "PAUSED"
            } else {
                "ENABLED"
            };
            let campaign_id = numeric_id(input, "campaign_id", "campaign")?;
            Ok(Plan::CampaignStatus {
                campaign: campaign(client, &campaign_id)?,
                status,
            })
        }
        "set-daily-budget" => {
            let campaign_id = numeric_id(input, "campaign_id", "campaign")?;
            let budget = input
                .get("daily_budget")
                .and_then(Value::as_f64)
                .filter(|b| b.is_finite() && *b > 0.0)
                .ok_or_else(|| {
                    Error::invalid_input("`daily_budget` must be a positive number (major currency units)")
                })?;
            let micros = (budget * 1_000_000.0).round();
            if micros > i64::MAX as f64 {
                return Err(Error::invalid_input("`daily_budget` is too large"));
            }
            let micros = micros as i64;
            let campaign = campaign(client, &campaign_id)?;
            let unit = minimum_unit_micros(&campaign.currency);
            if micros % unit != 0 {
                return Err(Error::invalid_input(format!(
                    "`daily_budget` {budget} is not a whole number of {}'s smallest unit \
                     (Google refuses it as NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT)",
                    campaign.currency
                )));
            }
            // The budget is a resource of its own; the campaign names it.
            let budget_name = campaign
                .budget_name
                .clone()
                .ok_or_else(|| Error::not_found(format!("campaign {campaign_id} has no campaign budget")))?;
            Ok(Plan::DailyBudget {
                campaign,
                budget_name,
                budget,
                micros,
            })
        }
        "pause-ad" | "resume-ad" => {
            let status = if name == "pause-ad" { "PAUSED" } else { "ENABLED" };
            let ad_id = numeric_id(input, "ad_id", "ad")?;
            Ok(Plan::AdStatus {
                ad: ad(client, &ad_id)?,
                status,
            })
        }
        other => Err(Error::not_found(format!("no action `{other}`"))),
    }
}

/// Perform action `name`.
pub fn act(client: &Client, name: &str, input: &Value) -> Result<Value, Error> {
    match plan(client, name, input)? {
        Plan::CampaignStatus { campaign, status } => client.mutate(
            "campaigns",
            vec![json!({
                "update": {
                    "resourceName": format!("{}/campaigns/{}", client.customer(), campaign.id),
                    "status": status,
                },
                "updateMask": "status",
            })],
        ),
        Plan::DailyBudget {
            budget_name, micros, ..
        } => client.mutate(
            "campaignBudgets",
            vec![json!({
                "update": { "resourceName": budget_name, "amountMicros": micros.to_string() },
                "updateMask": "amountMicros",
            })],
        ),
        // An ad group ad is named by its ad group and ad.
        Plan::AdStatus { ad, status } => client.mutate(
            "adGroupAds",
            vec![json!({
                "update": {
                    "resourceName": format!("{}/adGroupAds/{}~{}", client.customer(), ad.ad_group_id, ad.id),
                    "status": status,
                },
                "updateMask": "status",
            })],
        ),
    }
}

/// Preview action `name`: campaigns in money of the account's currency
/// (`daily-budget`, or `active-daily-budget`: the budget while the campaign
/// is `ENABLED`, 0 otherwise), ads as `active` in `status`.
pub fn preview(client: &Client, name: &str, input: &Value) -> Result<Preview, Error> {
    match plan(client, name, input)? {
        Plan::CampaignStatus { campaign, status } => {
            let budget = daily_budget(&campaign, name)?;
            let delivering = |on: bool| if on { budget } else { 0.0 };
            Ok(Preview::new(
                "campaign",
                &campaign.id,
                "active-daily-budget",
                (
                    delivering(campaign.status == "ENABLED"),
                    delivering(status == "ENABLED"),
                ),
                &campaign.currency,
            ))
        }
        Plan::DailyBudget { campaign, budget, .. } => Ok(Preview::new(
            "campaign",
            &campaign.id,
            "daily-budget",
            (daily_budget(&campaign, name)?, budget),
            &campaign.currency,
        )),
        Plan::AdStatus { ad, status } => Ok(Preview::new(
            "ad",
            &ad.id,
            "active",
            (flag(ad.status == "ENABLED"), flag(status == "ENABLED")),
            "status",
        )),
    }
}

/// The campaign's budget now in major units; a campaign without an amount
/// cannot be previewed (`not-found`).
fn daily_budget(campaign: &Campaign, name: &str) -> Result<f64, Error> {
    campaign.budget_micros.map(micros_to_major).ok_or_else(|| {
        Error::not_found(format!(
            "campaign {} has no budget amount, so `{name}` cannot be previewed",
            campaign.id
        ))
    })
}

/// 1 for on, 0 for off.
fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}

/// Micros in major units; exact for any amount below 2^53 micros, since
/// the one division rounds correctly.
fn micros_to_major(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// The smallest amount of `currency` Google takes, in micros: a whole unit
/// for the zero-decimal currencies, a thousandth for the three-decimal
/// ones, a hundredth otherwise.
fn minimum_unit_micros(currency: &str) -> i64 {
    // ISO 4217 exponents 0 and 3.
    const ZERO_DECIMAL: [&str; 16] = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
        "XOF", "XPF",
    ];
    const THREE_DECIMAL: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let currency = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency.as_str()) {
        1_000_000
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        1_000
    } else {
        10_000
    }
}

/// Campaign `id` (digits) of the configured account, with its budget and
/// the account's currency.
fn campaign(client: &Client, id: &str) -> Result<Campaign, Error> {
    let rows = client.search_all(&queries::campaign(id))?;
    let row = rows
        .first()
        .ok_or_else(|| Error::not_found(format!("campaign {id} is not in this account")))?;
    let budget_micros = match &row["campaignBudget"]["amountMicros"] {
        Value::Null => None,
        amount => Some(int64(amount).ok_or_else(|| {
            Error::internal(format!(
                "Google sent a budget amount that is not an int64: {amount}"
            ))
        })?),
    };
    Ok(Campaign {
        id: id.to_string(),
        status: row["campaign"]["status"].as_str().unwrap_or_default().to_string(),
        budget_name: row["campaign"]["campaignBudget"].as_str().map(str::to_string),
        budget_micros,
        currency: row["customer"]["currencyCode"]
            .as_str()
            .ok_or_else(|| Error::internal("Google sent a campaign row without customer.currency_code"))?
            .to_string(),
    })
}

/// Ad `id` (digits) of the configured account, with its ad group.
fn ad(client: &Client, id: &str) -> Result<Ad, Error> {
    let rows = client.search_all(&queries::ad_group_ad(id))?;
    let row = rows
        .first()
        .ok_or_else(|| Error::not_found(format!("ad {id} is not in this account")))?;
    let ad_group_id = match &row["adGroup"]["id"] {
        Value::String(group) => group.clone(),
        Value::Number(group) => group.to_string(),
        _ => return Err(Error::not_found(format!("ad {id} is not in this account"))),
    };
    Ok(Ad {
        id: id.to_string(),
        ad_group_id,
        status: row["adGroupAd"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// An int64, which Google sends as a string (a number is taken too).
fn int64(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text.parse().ok(),
        other => other.as_i64(),
    }
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
            "`{field}` {id:?} is not a numeric Google Ads id"
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_must_be_whole_minimum_units() {
        assert_eq!(minimum_unit_micros("USD"), 10_000);
        assert_eq!(minimum_unit_micros("jpy"), 1_000_000);
        assert_eq!(minimum_unit_micros("KWD"), 1_000);
        assert_eq!(12_345_000 % minimum_unit_micros("USD"), 5_000);
        assert_eq!(micros_to_major(123_450_000), 123.45);
    }

    #[test]
    fn ids_are_digits_as_strings_or_numbers() {
        assert_eq!(
            numeric_id(&json!({"ad_id": 42}), "ad_id", "ad"),
            Ok("42".to_string())
        );
        assert_eq!(
            numeric_id(&json!({"ad_id": "42"}), "ad_id", "ad"),
            Ok("42".to_string())
        );
        assert!(matches!(
            numeric_id(&json!({"ad_id": "4 2"}), "ad_id", "ad"),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            numeric_id(&json!({}), "ad_id", "ad"),
            Err(Error::InvalidInput(_))
        ));
        assert_eq!(int64(&json!("5000000")), Some(5_000_000));
        assert_eq!(int64(&json!(7)), Some(7));
    }
}
