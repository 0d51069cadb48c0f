//! The writes: pause or resume a campaign or an ad and set a campaign's daily
//! budget, each a `POST /{object_id}`. All set an absolute value, so a retry
//! with the same idempotency key is harmless and Meta needs no key of its own.

use crate::Config;
use crate::graph::{Graph, currency_offset};
use omnify_sdk::connector::ActionSpec;
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;

/// The actions offered.
pub fn specs() -> Vec<ActionSpec> {
    let campaign_id = json!({ "type": "string", "pattern": "^[0-9]+$", "description": "The campaign's id" });
    let ad_id = json!({ "type": "string", "pattern": "^[0-9]+$", "description": "The ad's id" });
    vec![
        ActionSpec {
            name: "pause-campaign".into(),
            description: "Pause a campaign (status PAUSED)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["campaign_id"],
                "properties": { "campaign_id": campaign_id },
            }),
        },
        ActionSpec {
            name: "resume-campaign".into(),
            description: "Resume a paused campaign (status ACTIVE)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["campaign_id"],
                "properties": { "campaign_id": campaign_id },
            }),
        },
        ActionSpec {
            name: "set-daily-budget".into(),
            description: "Set a campaign's daily budget, in major units of the account's currency".into(),
            input_schema: json!({
                "type": "object",
                "required": ["campaign_id", "daily_budget"],
                "properties": {
                    "campaign_id": campaign_id,
                    "daily_budget": { "type": "number", "exclusiveMinimum": 0 },
                },
            }),
        },
        ActionSpec {
            name: "pause-ad".into(),
            description: "Pause an ad (status PAUSED)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["ad_id"],
                "properties": { "ad_id": ad_id },
            }),
        },
        ActionSpec {
            name: "resume-ad".into(),
            description: "Resume a paused ad (status ACTIVE)".into(),
            input_schema: json!({
                "type": "object",
                "required": ["ad_id"],
                "properties": { "ad_id": ad_id },
            }),
        },
    ]
}

/// The campaign or ad as read before the change.
#[derive(Debug, Deserialize)]
struct Owned {
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// What an action changes.
enum Change {
    /// Set `status` to `ACTIVE` or `PAUSED`.
    Status(&'static str),
    /// Set `daily_budget`, in major units.
    DailyBudget(f64),
}

/// Perform action `name`.
pub fn act(config: &Config, name: &str, input: &Value) -> Result<Value, Error> {
    // Validate everything before the first request, so a bad input changes nothing.
    let change = match name {
        "pause-campaign" => Change::Status("PAUSED"),
        "resume-campaign" => Change::Status("ACTIVE"),
        "pause-ad" => return set_ad_status(config, input, "PAUSED"),
        "resume-ad" => return set_ad_status(config, input, "ACTIVE"),
        "set-daily-budget" => Change::DailyBudget(
            input
                .get("daily_budget")
                .and_then(Value::as_f64)
                .filter(|b| b.is_finite() && *b > 0.0)
                .ok_or_else(|| Error::invalid_input("`daily_budget` must be a positive number"))?,
        ),
        other => {
            return Err(Error::not_found(format!(
                "this connector has no action `{other}`"
            )));
        }
    };
    let campaign_id = numeric_id(input, "campaign_id", "campaign")?;
    let graph = Graph::new(config)?;
    let before = owned(&graph, config, "campaign", &campaign_id)?;
    let (field, value, shown) = match change {
        Change::Status(status) => ("status", status.to_string(), json!(status.to_ascii_lowercase())),
        Change::DailyBudget(budget) => {
            let currency = graph.account_currency(&config.account_id())?;
            (
                "daily_budget",
                minor_units(budget, &currency)?.to_string(),
                json!(budget),
            )
        }
    };
    let result = post_confirmed(&graph, &campaign_id, field, value)?;
    Ok(json!({
        "campaign_id": campaign_id,
        field: shown,
        "previous_status": before.status.map(|s| s.to_ascii_lowercase()),
        "result": result,
    }))
}

/// Set ad `ad_id`'s status to `status` (`ACTIVE` or `PAUSED`).
fn set_ad_status(config: &Config, input: &Value, status: &str) -> Result<Value, Error> {
    let ad_id = numeric_id(input, "ad_id", "ad")?;
    let graph = Graph::new(config)?;
    let before = owned(&graph, config, "ad", &ad_id)?;
    let result = post_confirmed(&graph, &ad_id, "status", status.to_string())?;
    Ok(json!({
        "ad_id": ad_id,
        "status": status.to_ascii_lowercase(),
        "previous_status": before.status.map(|s| s.to_ascii_lowercase()),
        "result": result,
    }))
}

/// `POST /{id}` with one field, requiring Meta's `{"success": true}`.
fn post_confirmed(graph: &Graph, id: &str, field: &str, value: String) -> Result<Value, Error> {
    let result: Value = graph.post(id, &[(field, value)])?;
    if result.get("success") != Some(&json!(true)) {
        return Err(Error::internal(format!(
            "Meta did not confirm the update: {result}"
        )));
    }
    Ok(result)
}

/// The numeric id in input field `field`, naming a `what`.
fn numeric_id(input: &Value, field: &str, what: &str) -> Result<String, Error> {
    input
        .get(field)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .ok_or_else(|| Error::invalid_input(format!("`{field}` must be a {what}'s numeric id, as a string")))
}

/// Refuse a campaign or ad (`what`) of another ad account: the token may
/// reach several, but this enablement is for one.
fn owned(graph: &Graph, config: &Config, what: &str, id: &str) -> Result<Owned, Error> {
    let url = graph.url(id, &[("fields", "account_id,status".to_string())]);
    let object: Owned = graph.get(&url)?;
    match &object.account_id {
        Some(account) if *account == config.account_id() => Ok(object),
        _ => Err(Error::not_found(format!(
            "{what} {id} is not in ad account act_{}",
            config.account_id()
        ))),
    }
}

/// `budget` in Meta's minor units of `currency`, refusing fractions of the
/// smallest unit rather than rounding money silently.
fn minor_units(budget: f64, currency: &str) -> Result<i64, Error> {
    let minor = budget * currency_offset(currency);
    let rounded = minor.round();
    if (minor - rounded).abs() > 1e-6 || rounded > i64::MAX as f64 {
        return Err(Error::invalid_input(format!(
            "`daily_budget` {budget} is not a whole amount of {currency}'s smallest unit"
        )));
    }
    Ok(rounded as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_convert_exactly_to_minor_units() {
        assert_eq!(minor_units(123.45, "USD"), Ok(12_345));
        assert_eq!(minor_units(5000.0, "JPY"), Ok(5000));
        assert!(minor_units(10.005, "USD").is_err());
        assert!(minor_units(10.5, "JPY").is_err());
    }
}
