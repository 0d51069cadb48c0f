//! Stripe objects normalised for agents: money as `f64` in major units plus
//! an upper-case ISO `currency`, times as RFC 3339, ids as strings.

use crate::time::rfc3339;
use omnify_sdk::Error;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Currencies without a minor unit: an amount of 500 JPY is `500`.
const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof",
    "xpf",
];

/// Currencies Stripe counts in thousandths: 1.500 KWD is `1500`.
const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// How many minor units make one major unit of `currency`.
pub fn minor_units(currency: &str) -> f64 {
    let currency = currency.to_ascii_lowercase();
    if ZERO_DECIMAL.contains(&currency.as_str()) {
        1.0
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        1000.0
    } else {
        100.0
    }
}

/// A Stripe amount in the currency's smallest unit, in major units.
pub fn major(amount: i64, currency: &str) -> f64 {
    amount as f64 / minor_units(currency)
}

/// A reference that is an id, or the object itself when expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Expandable {
    Id(String),
    Object { id: String },
}

fn id_of(reference: Option<Expandable>) -> Option<String> {
    reference.map(|r| match r {
        Expandable::Id(id) | Expandable::Object { id } => id,
    })
}

fn parse<T: DeserializeOwned>(object: Value, what: &str) -> Result<T, Error> {
    serde_json::from_value(object)
        .map_err(|e| Error::internal(format!("Stripe sent a {what} of an unexpected shape: {e}")))
}

#[derive(Deserialize)]
struct Charge {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_refunded: i64,
    currency: String,
    created: i64,
    customer: Option<Expandable>,
    payment_intent: Option<Expandable>,
    status: String,
    #[serde(default)]
    refunded: bool,
    description: Option<String>,
}

/// A charge: `{id, amount, amount_refunded, currency, created, customer,
/// payment_intent, status, refunded, description}`.
pub fn charge(object: Value) -> Result<Value, Error> {
    let c: Charge = parse(object, "charge")?;
    Ok(json!({
        "id": c.id,
        "amount": major(c.amount, &c.currency),
        "amount_refunded": major(c.amount_refunded, &c.currency),
        "currency": c.currency.to_ascii_uppercase(),
        "created": rfc3339(c.created),
        "customer": id_of(c.customer),
        "payment_intent": id_of(c.payment_intent),
        "status": c.status,
        "refunded": c.refunded,
        "description": c.description,
    }))
}

#[derive(Deserialize)]
struct Customer {
    id: String,
    created: i64,
    email: Option<String>,
    name: Option<String>,
    currency: Option<String>,
    #[serde(default)]
    delinquent: Option<bool>,
}

/// A customer: `{id, email, name, currency, delinquent, created}`.
pub fn customer(object: Value) -> Result<Value, Error> {
    let c: Customer = parse(object, "customer")?;
    Ok(json!({
        "id": c.id,
        "email": c.email,
        "name": c.name,
        "currency": c.currency.map(|c| c.to_ascii_uppercase()),
        "delinquent": c.delinquent,
        "created": rfc3339(c.created),
    }))
}

#[derive(Deserialize)]
struct Refund {
    id: String,
    amount: i64,
    currency: String,
    created: i64,
    charge: Option<Expandable>,
    payment_intent: Option<Expandable>,
    reason: Option<String>,
    status: Option<String>,
}

/// A refund: `{id, charge, payment_intent, amount, currency, reason,
/// status, created}`.
pub fn refund(object: Value) -> Result<Value, Error> {
    let r: Refund = parse(object, "refund")?;
    Ok(json!({
        "id": r.id,
        "charge": id_of(r.charge),
        "payment_intent": id_of(r.payment_intent),
        "amount": major(r.amount, &r.currency),
        "currency": r.currency.to_ascii_uppercase(),
        "reason": r.reason,
        "status": r.status,
        "created": rfc3339(r.created),
    }))
}

#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_received: i64,
    currency: String,
    created: i64,
    customer: Option<Expandable>,
    latest_charge: Option<Expandable>,
    status: String,
    description: Option<String>,
}

/// A payment intent: `{id, amount, amount_received, currency, customer,
/// latest_charge, status, description, created}`.
pub fn payment_intent(object: Value) -> Result<Value, Error> {
    let p: PaymentIntent = parse(object, "payment intent")?;
    Ok(json!({
        "id": p.id,
        "amount": major(p.amount, &p.currency),
        "amount_received": major(p.amount_received, &p.currency),
        "currency": p.currency.to_ascii_uppercase(),
        "customer": id_of(p.customer),
        "latest_charge": id_of(p.latest_charge),
        "status": p.status,
        "description": p.description,
        "created": rfc3339(p.created),
    }))
}

#[derive(Deserialize)]
struct Subscription {
    id: String,
    customer: Option<Expandable>,
    status: String,
    created: i64,
    currency: String,
    #[serde(default)]
    cancel_at_period_end: bool,
    canceled_at: Option<i64>,
    items: ItemList,
}

#[derive(Deserialize)]
struct ItemList {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    price: Price,
    quantity: Option<i64>,
}

#[derive(Deserialize)]
struct Price {
    unit_amount: Option<i64>,
    recurring: Option<Recurring>,
}

#[derive(Deserialize)]
struct Recurring {
    interval: String,
    #[serde(default = "one")]
    interval_count: i64,
}

fn one() -> i64 {
    1
}

/// A subscription: `{id, customer, status, currency, amount, interval,
/// interval_count, items, cancel_at_period_end, canceled_at, created}`, where
/// `amount` is what one billing period costs over all items (`null` when a
/// price has no unit amount, as with tiered prices).
pub fn subscription(object: Value) -> Result<Value, Error> {
    let s: Subscription = parse(object, "subscription")?;
    let amount = s
        .items
        .data
        .iter()
        .map(|item| {
            item.price
                .unit_amount
                .map(|unit| unit * item.quantity.unwrap_or(1))
        })
        .sum::<Option<i64>>();
    let recurring = s
        .items
        .data
        .first()
        .and_then(|item| item.price.recurring.as_ref());
    Ok(json!({
        "id": s.id,
        "customer": id_of(s.customer),
        "status": s.status,
        "currency": s.currency.to_ascii_uppercase(),
        "amount": amount.map(|a| major(a, &s.currency)),
        "interval": recurring.map(|r| r.interval.clone()),
        "interval_count": recurring.map(|r| r.interval_count),
        "items": s.items.data.len(),
        "cancel_at_period_end": s.cancel_at_period_end,
        "canceled_at": s.canceled_at.and_then(rfc3339),
        "created": rfc3339(s.created),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_follow_the_currency_exponent() {
        assert_eq!(major(4999, "usd"), 49.99);
        assert_eq!(major(500, "JPY"), 500.0);
        assert_eq!(major(1500, "kwd"), 1.5);
    }

    #[test]
    fn a_charge_is_normalised() {
        let record = charge(json!({
            "id": "ch_1", "object": "charge", "amount": 4999, "amount_refunded": 1000, "currency": "usd",
            "created": 1_782_863_999, "customer": {"id": "cus_1", "object": "customer"}, "payment_intent": "pi_1",
            "refunded": false, "status": "succeeded", "description": null
        }))
        .expect("a charge");
        assert_eq!(record["amount"], 49.99);
        assert_eq!(record["amount_refunded"], 10.0);
        assert_eq!(record["currency"], "USD");
        assert_eq!(record["created"], "2026-06-30T23:59:59Z");
        assert_eq!(record["customer"], "cus_1");
        assert_eq!(record["payment_intent"], "pi_1");
    }
}
