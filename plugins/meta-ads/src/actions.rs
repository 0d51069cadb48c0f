//! The writes: pause or resume a campaign or an ad and set a campaign's daily
//! budget, each a `POST /{object_id}`. All set an absolute value, so a retry
//! with the same idempotency key is harmless and Meta needs no key of its own.
//! [`plan`] validates an input and reads its target for both `act` and
//! `preview` (in `preview.rs`).

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

/// The campaign or ad as Meta reports it now, read before a change.
#[derive(Debug, Deserialize)]
pub struct Owned {
    #[serde(default)]
    account_id: Option<String>,
    /// The object's own status: `ACTIVE`, `PAUSED`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// A campaign's daily budget in minor units (a string); absent when
    /// its ad sets or a lifetime budget hold the budget.
    #[serde(default)]
    daily_budget: Option<Value>,
}

impl Owned {
    /// Whether the object's own status is `ACTIVE`.
    pub fn is_active(&self) -> bool {
        self.status.as_deref() == Some("ACTIVE")
    }

    /// The campaign's daily budget in minor units, if it has one.
    pub fn daily_budget_minor(&self) -> Result<Option<i64>, Error> {
        let minor = match &self.daily_budget {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.trim().parse::<i64>().map_err(|_| {
                Error::internal(format!(
                    "Meta sent a daily_budget that is not an amount: `{text}`"
                ))
            })?),
            Some(Value::Number(number)) => Some(number.as_i64().ok_or_else(|| {
                Error::internal(format!(
                    "Meta sent a daily_budget that is not an amount: {number}"
                ))
            })?),
            Some(other) => {
                return Err(Error::internal(format!(
                    "Meta sent a daily_budget that is not an amount: {other}"
                )));
            }
        };
        // Meta shows "0" on a campaign whose budget lives elsewhere.
        Ok(minor.filter(|m| *m > 0))
    }
}

/// What an action changes, checked against its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Set a campaign's `status` to `ACTIVE` or `PAUSED`.
    CampaignStatus(&'static str),
    /// Set a campaign's `daily_budget`: `major` units of the account's
    /// currency, `minor` as Meta takes it.
    DailyBudget {
        /// The budget asked for, in major units.
        major: f64,
        /// The same in Meta's minor units.
        minor: i64,
    },
    /// Set an ad's `status` to `ACTIVE` or `PAUSED`.
    AdStatus(&'static str),
}

/// An action whose input was validated and whose target was read, before
/// anything changes: what `act` performs and `preview` describes.
#[derive(Debug)]
pub struct Plan {
    /// The client that read the target.
    pub graph: Graph,
    /// What the action changes.
    pub change: Change,
    /// The campaign's or the ad's id.
    pub id: String,
    /// The target as Meta reports it now.
    pub before: Owned,
    /// The account's currency, when the change needed it (a budget).
    pub currency: Option<String>,
}

/// Validate `input` for action `name` and read its target, refusing an
/// object of another ad account: the checks `act` and `preview` share.
/// Every input check runs before the first request, so a bad input costs
/// nothing.
pub fn plan(config: &Config, name: &str, input: &Value) -> Result<Plan, Error> {
    enum Asked {
        CampaignStatus(&'static str),
        DailyBudget(f64),
        AdStatus(&'static str),
    }
    let asked = match name {
        "pause-campaign" => Asked::CampaignStatus("PAUSED"),
        "resume-campaign" => Asked::CampaignStatus("ACTIVE"),
        "pause-ad" => Asked::AdStatus("PAUSED"),
        "resume-ad" => Asked::AdStatus("ACTIVE"),
        "set-daily-budget" => Asked::DailyBudget(
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
    let (field, what) = match asked {
        Asked::AdStatus(_) => ("ad_id", "ad"),
        Asked::CampaignStatus(_) | Asked::DailyBudget(_) => ("campaign_id", "campaign"),
    };
    let id = numeric_id(input, field, what)?;
    let graph = Graph::new(config)?;
    let before = owned(&graph, config, what, &id)?;
    let (change, currency) = match asked {
        Asked::CampaignStatus(status) => (Change::CampaignStatus(status), None),
        Asked::AdStatus(status) => (Change::AdStatus(status), None),
        Asked::DailyBudget(budget) => {
            let currency = graph.account_currency(&config.account_id())?;
            let minor = minor_units(budget, &currency)?;
            (Change::DailyBudget { major: budget, minor }, Some(currency))
        }
    };
    Ok(Plan {
        graph,
        change,
        id,
        before,
        currency,
    })
}

/// Perform action `name`.
pub fn act(config: &Config, name: &str, input: &Value) -> Result<Value, Error> {
    let plan = plan(config, name, input)?;
    let (id_field, field, value, shown) = match plan.change {
        Change::CampaignStatus(status) => (
            "campaign_id",
            "status",
            status.to_string(),
            json!(status.to_ascii_lowercase()),
        ),
        Change::AdStatus(status) => (
            "ad_id",
            "status",
            status.to_string(),
            json!(status.to_ascii_lowercase()),
        ),
        Change::DailyBudget { major, minor } => {
            ("campaign_id", "daily_budget", minor.to_string(), json!(major))
        }
    };
    let result = post_confirmed(&plan.graph, &plan.id, field, value)?;
    Ok(json!({
        id_field: plan.id,
        field: shown,
        "previous_status": plan.before.status.map(|s| s.to_ascii_lowercase()),
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
    // Only campaigns have a daily budget; Meta refuses a field a node lacks.
    let fields = match what {
        "campaign" => "account_id,status,daily_budget",
        _ => "account_id,status",
    };
    let url = graph.url(id, &[("fields", fields.to_string())]);
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

    #[test]
    fn daily_budgets_are_read_from_metas_strings() {
        let read = |object: Value| {
            serde_json::from_value::<Owned>(object)
                .map_err(|e| e.to_string())
                .and_then(|owned| owned.daily_budget_minor().map_err(|e| e.to_string()))
        };
        assert_eq!(
            read(json!({"status": "ACTIVE", "daily_budget": "12345"})),
            Ok(Some(12_345))
        );
        assert_eq!(read(json!({"daily_budget": 500})), Ok(Some(500)));
        // Meta shows "0", or nothing, when the ad sets hold the budget.
        assert_eq!(read(json!({"daily_budget": "0"})), Ok(None));
        assert_eq!(read(json!({"status": "PAUSED"})), Ok(None));
        assert!(read(json!({"daily_budget": "12.5"})).is_err());
        assert!(read(json!({"daily_budget": true})).is_err());
    }
}
