//! `create-refund` and its preview. [`plan`] validates the input and reads
//! the charge (`GET /v1/charges/{id}`) for both, so an unknown charge is
//! `not-found` before anything is sent.
//!
//! The action leaves the check against what remains to refund to Stripe,
//! so that a retry under the same idempotency key replays the first refund
//! rather than being refused for the refund it made. The preview, which has
//! no key, makes that check itself, as Stripe would for a new refund.

use crate::api::Client;
use crate::records;
use omnify_sdk::connector::Preview;
use omnify_sdk::{Error, json};
use serde::Deserialize;
use serde_json::Value;

/// The reasons Stripe accepts.
pub const REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// The input of `create-refund`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundInput {
    charge: String,
    amount: Option<f64>,
    reason: Option<String>,
}

/// A charge as Stripe reports it now, amounts in its smallest unit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Charge {
    /// `ch_...`.
    pub id: String,
    /// Lower-case ISO 4217 currency.
    pub currency: String,
    /// What was captured (Stripe refunds only that).
    pub amount_captured: i64,
    /// What was refunded so far.
    #[serde(default)]
    pub amount_refunded: i64,
}

impl Charge {
    /// What is left to refund, in the smallest unit.
    pub fn remaining(&self) -> i64 {
        self.amount_captured - self.amount_refunded
    }

    /// `minor` in major units of the charge's currency.
    fn major(&self, minor: i64) -> f64 {
        records::major(minor, &self.currency)
    }
}

/// A refund checked against its input and the charge, before anything is
/// sent: what `act` performs and `preview` describes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The charge now.
    pub charge: Charge,
    /// The amount asked for in the smallest unit; `None` for all that remains.
    pub amount: Option<i64>,
    /// Why, one of [`REFUND_REASONS`].
    pub reason: Option<String>,
}

/// Validate `input` and read the charge: the checks `act` and `preview`
/// share. The input is checked before the client is made and the first
/// request. Returns the client that read the charge.
pub fn plan(input: Value) -> Result<(Client, Plan), Error> {
    let input: RefundInput = serde_json::from_value(input)
        .map_err(|e| Error::invalid_input(format!("create-refund input: {e}")))?;
    let charge = input.charge.trim();
    // The id goes into a URL path, so only what Stripe ids are made of.
    if charge.is_empty() || !charge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::invalid_input(format!(
            "`charge` must be a charge id such as ch_..., not `{charge}`"
        )));
    }
    if let Some(reason) = input.reason.as_deref().filter(|r| !REFUND_REASONS.contains(r)) {
        return Err(Error::invalid_input(format!(
            "`reason` must be one of {}, not `{reason}`",
            REFUND_REASONS.join(", ")
        )));
    }
    if let Some(amount) = input.amount.filter(|a| !(a.is_finite() && *a > 0.0)) {
        return Err(Error::invalid_input(format!(
            "`amount` must be a positive number, not {amount}"
        )));
    }
    let client = crate::client()?;
    let found: Value = client.get(&format!("charges/{charge}"))?;
    let charge: Charge = serde_json::from_value(found).map_err(|e| {
        Error::internal(format!(
            "Stripe sent a charge {charge} of an unexpected shape: {e}"
        ))
    })?;
    let amount = input
        .amount
        .map(|amount| minor_amount(amount, &charge.currency))
        .transpose()?;
    let plan = Plan {
        charge,
        amount,
        reason: input.reason,
    };
    Ok((client, plan))
}

/// `amount` in the smallest unit of `currency`, refusing a fraction of it.
fn minor_amount(amount: f64, currency: &str) -> Result<i64, Error> {
    let minor = amount * records::minor_units(currency);
    if (minor - minor.round()).abs() > 1e-6 * minor.max(1.0) || minor.round() > i64::MAX as f64 {
        return Err(Error::invalid_input(format!(
            "`amount` {amount} has more decimals than {} allows",
            currency.to_ascii_uppercase()
        )));
    }
    Ok(minor.round() as i64)
}

/// Refund the charge, under `idempotency_key`.
pub fn act(input: Value, idempotency_key: &str) -> Result<Value, Error> {
    let (client, plan) = plan(input)?;
    let mut form = vec![("charge", plan.charge.id)];
    if let Some(amount) = plan.amount {
        form.push(("amount", amount.to_string()));
    }
    if let Some(reason) = plan.reason {
        form.push(("reason", reason));
    }
    let (refund, replayed) = client.post("refunds", &form, idempotency_key)?;
    let mut record = records::refund(refund)?;
    record["replayed"] = json!(replayed);
    Ok(record)
}

/// Preview the refund: `net-charge-amount` (captured minus refunded, in
/// major units of the charge's currency) now and after it. Refused as
/// Stripe refuses a refund of a charge with nothing left, or of more than
/// is left.
pub fn preview(input: Value) -> Result<Preview, Error> {
    let (_, plan) = plan(input)?;
    let charge = &plan.charge;
    let remaining = charge.remaining();
    let unit = charge.currency.to_ascii_uppercase();
    if remaining <= 0 {
        return Err(Error::invalid_input(format!(
            "Charge {} has already been refunded (nothing is left to refund)",
            charge.id
        )));
    }
    let refund = plan.amount.unwrap_or(remaining);
    if refund > remaining {
        return Err(Error::invalid_input(format!(
            "Refund amount ({} {unit}) is greater than unrefunded amount on charge ({} {unit})",
            charge.major(refund),
            charge.major(remaining)
        )));
    }
    Ok(Preview::new(
        "charge",
        &charge.id,
        "net-charge-amount",
        (charge.major(remaining), charge.major(remaining - refund)),
        &unit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_convert_to_the_smallest_unit_exactly() {
        assert_eq!(minor_amount(10.5, "usd"), Ok(1050));
        assert_eq!(minor_amount(500.0, "jpy"), Ok(500));
        assert_eq!(minor_amount(1.5, "kwd"), Ok(1500));
        assert!(matches!(minor_amount(10.005, "usd"), Err(Error::InvalidInput(_))));
        assert!(matches!(minor_amount(2.5, "jpy"), Err(Error::InvalidInput(_))));
    }

    #[test]
    fn what_remains_is_captured_minus_refunded() {
        let charge = Charge {
            id: "ch_1".into(),
            currency: "usd".into(),
            amount_captured: 4999,
            amount_refunded: 1000,
        };
        assert_eq!(charge.remaining(), 3999);
        assert_eq!(charge.major(charge.remaining()), 39.99);
    }
}
