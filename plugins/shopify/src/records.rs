//! Shopify's REST objects normalised to the shapes agents read on every
//! commerce platform: ids as strings, money as `f64` in major units with
//! the `currency`, times as RFC 3339 in UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use omnify_sdk::{Error, Value, json};

/// A time as RFC 3339 in UTC (`2026-06-30T14:03:22Z`); Shopify renders
/// times in the shop's zone.
pub fn utc_time(text: &str) -> Result<String, Error> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|time| {
            time.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        })
        .map_err(|e| {
            Error::internal(format!(
                "Shopify sent the time `{text}`, which is not RFC 3339: {e}"
            ))
        })
}

/// Field `name` of `object` as a UTC time, `null` when absent or null.
fn time_field(object: &Value, name: &str) -> Result<Value, Error> {
    match object.get(name).and_then(Value::as_str) {
        Some(text) => Ok(Value::String(utc_time(text)?)),
        None => Ok(Value::Null),
    }
}

/// An id (Shopify sends numbers) as a string; `null` when absent.
fn id_field(object: &Value, name: &str) -> Value {
    match object.get(name) {
        Some(Value::Number(n)) => Value::String(n.to_string()),
        Some(Value::String(s)) => Value::String(s.clone()),
        _ => Value::Null,
    }
}

/// A decimal string such as `"49.00"` as a number in major units.
fn money_field(object: &Value, name: &str) -> Result<Value, Error> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::String(text)) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|amount| amount.is_finite())
            .map(Value::from)
            .ok_or_else(|| Error::internal(format!("Shopify sent the amount `{text}` for `{name}`"))),
        Some(Value::Number(n)) => Ok(Value::from(n.as_f64().unwrap_or_default())),
        Some(other) => Err(Error::internal(format!(
            "Shopify sent the amount {other} for `{name}`"
        ))),
    }
}

/// Shopify's comma-separated tags as a list.
fn tags_field(object: &Value) -> Vec<String> {
    object
        .get("tags")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_string)
        .collect()
}

fn text_field(object: &Value, name: &str) -> Value {
    object
        .get(name)
        .filter(|v| v.is_string())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The primary key every record needs; a record without one is refused.
fn required_id(object: &Value, kind: &str) -> Result<Value, Error> {
    match id_field(object, "id") {
        Value::Null => Err(Error::internal(format!("Shopify sent a {kind} without an id"))),
        id => Ok(id),
    }
}

/// An order.
pub fn order(order: &Value) -> Result<Value, Error> {
    let line_items = order
        .get("line_items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|line| {
            Ok(json!({
                "id": id_field(line, "id"),
                "product_id": id_field(line, "product_id"),
                "variant_id": id_field(line, "variant_id"),
                "title": text_field(line, "title"),
                "sku": text_field(line, "sku"),
                "quantity": line.get("quantity").and_then(Value::as_i64).unwrap_or_default(),
                "price": money_field(line, "price")?,
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let customer_id = order.get("customer").map_or(Value::Null, |c| id_field(c, "id"));
    Ok(json!({
        "id": required_id(order, "order")?,
        "name": text_field(order, "name"),
        "created_at": time_field(order, "created_at")?,
        "updated_at": time_field(order, "updated_at")?,
        "processed_at": time_field(order, "processed_at")?,
        "cancelled_at": time_field(order, "cancelled_at")?,
        "total_price": money_field(order, "total_price")?,
        "subtotal_price": money_field(order, "subtotal_price")?,
        "total_tax": money_field(order, "total_tax")?,
        "total_discounts": money_field(order, "total_discounts")?,
        "currency": text_field(order, "currency"),
        "financial_status": text_field(order, "financial_status"),
        "fulfillment_status": text_field(order, "fulfillment_status"),
        "customer_id": customer_id,
        "tags": tags_field(order),
        "line_items": line_items,
    }))
}

/// A customer.
pub fn customer(customer: &Value) -> Result<Value, Error> {
    Ok(json!({
        "id": required_id(customer, "customer")?,
        "email": text_field(customer, "email"),
        "first_name": text_field(customer, "first_name"),
        "last_name": text_field(customer, "last_name"),
        "state": text_field(customer, "state"),
        "verified_email": customer.get("verified_email").and_then(Value::as_bool),
        "currency": text_field(customer, "currency"),
        "tags": tags_field(customer),
        "created_at": time_field(customer, "created_at")?,
        "updated_at": time_field(customer, "updated_at")?,
    }))
}

/// A product, priced in the shop's `currency` (products do not carry it).
pub fn product(product: &Value, currency: &str) -> Result<Value, Error> {
    let variants = product
        .get("variants")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|variant| {
            Ok(json!({
                "id": id_field(variant, "id"),
                "title": text_field(variant, "title"),
                "sku": text_field(variant, "sku"),
                "price": money_field(variant, "price")?,
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    // The lowest variant price is what a shopper sees as "from".
    let price = variants
        .iter()
        .filter_map(|v| v["price"].as_f64())
        .min_by(f64::total_cmp);
    Ok(json!({
        "id": required_id(product, "product")?,
        "title": text_field(product, "title"),
        "handle": text_field(product, "handle"),
        "status": text_field(product, "status"),
        "vendor": text_field(product, "vendor"),
        "product_type": text_field(product, "product_type"),
        "price": price,
        "currency": currency,
        "tags": tags_field(product),
        "variants": variants,
        "created_at": time_field(product, "created_at")?,
        "updated_at": time_field(product, "updated_at")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_normalised() {
        let raw = json!({
            "id": 5100000000u64, "name": "#1001",
            "created_at": "2026-06-30T10:03:22-04:00", "updated_at": "2026-06-30T10:03:22-04:00",
            "total_price": "123.45", "currency": "USD", "financial_status": "paid",
            "customer": {"id": 7200000000u64}, "tags": "vip, late",
            "line_items": [{"product_id": 8300000000u64, "quantity": 2, "price": "49.00"}]
        });
        let order = order(&raw).expect("an order");
        assert_eq!(order["id"], "5100000000");
        assert_eq!(order["created_at"], "2026-06-30T14:03:22Z");
        assert_eq!(order["total_price"], 123.45);
        assert_eq!(order["customer_id"], "7200000000");
        assert_eq!(order["tags"], json!(["vip", "late"]));
        assert_eq!(order["line_items"][0]["price"], 49.0);
        assert_eq!(order["line_items"][0]["product_id"], "8300000000");
        assert!(utc_time("yesterday").is_err());
    }
}
