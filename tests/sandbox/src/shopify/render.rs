//! The REST Admin API's JSON for orders, customers and products: ids as
//! numbers, money as decimal strings, times in the shop's time zone.

use crate::world::{Order, Product, Shop, ShopCustomer};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{Value, json};

/// Cents as Shopify's decimal string, for example `"49.00"`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// A time as Shopify renders it: in the shop's zone, with its offset.
pub fn time(at: DateTime<Utc>, zone: FixedOffset) -> String {
    at.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn gid(kind: &str, id: u64) -> String {
    format!("gid://shopify/{kind}/{id}")
}

/// A customer, as listed and as embedded in an order.
pub fn customer(customer: &ShopCustomer, shop: &Shop, zone: FixedOffset) -> Value {
    json!({
        "id": customer.id,
        "email": customer.email,
        "created_at": time(customer.created_at, zone),
        "updated_at": time(customer.updated_at, zone),
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "state": "enabled",
        "note": null,
        "verified_email": true,
        "tax_exempt": false,
        "tags": "",
        "currency": shop.currency,
        "phone": null,
        "admin_graphql_api_id": gid("Customer", customer.id),
    })
}

/// A product with its single default variant.
pub fn product(product: &Product, zone: FixedOffset) -> Value {
    let handle = product.title.to_lowercase().replace(' ', "-");
    let variant_id = product.id + 40_000_000_000;
    json!({
        "id": product.id,
        "title": product.title,
        "body_html": format!("<p>{}</p>", product.title),
        "vendor": "Omnify Demo",
        "product_type": "Apparel",
        "created_at": time(product.created_at, zone),
        "handle": handle,
        "updated_at": time(product.updated_at, zone),
        "published_at": time(product.created_at, zone),
        "status": "active",
        "tags": "",
        "admin_graphql_api_id": gid("Product", product.id),
        "variants": [{
            "id": variant_id,
            "product_id": product.id,
            "title": "Default Title",
            "price": money(product.price_cents),
            "sku": format!("SKU-{}", product.id % 1000),
            "position": 1,
            "inventory_policy": "deny",
            "compare_at_price": null,
            "created_at": time(product.created_at, zone),
            "updated_at": time(product.updated_at, zone),
            "taxable": true,
            "admin_graphql_api_id": gid("ProductVariant", variant_id),
        }],
    })
}

/// An order, with its customer and line items embedded, and its tags as
/// Shopify shows them (`"a, b"`).
pub fn order(order: &Order, shop: &Shop, zone: FixedOffset) -> Value {
    let number = order
        .name
        .trim_start_matches('#')
        .parse::<u64>()
        .unwrap_or_default();
    let customer = shop
        .customers
        .iter()
        .find(|c| c.id == order.customer_id)
        .map(|c| customer(c, shop, zone))
        .unwrap_or(Value::Null);
    let line_items: Vec<Value> = order
        .line_items
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let id = order.id * 10 + n as u64;
            let title = shop
                .products
                .iter()
                .find(|p| p.id == line.product_id)
                .map_or("", |p| p.title.as_str());
            json!({
                "id": id,
                "admin_graphql_api_id": gid("LineItem", id),
                "product_id": line.product_id,
                "variant_id": line.product_id + 40_000_000_000,
                "title": title,
                "name": title,
                "quantity": line.quantity,
                "price": money(line.price_cents),
                "total_discount": "0.00",
                "sku": format!("SKU-{}", line.product_id % 1000),
                "fulfillment_status": null,
                "taxable": true,
            })
        })
        .collect();
    json!({
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "name": order.name,
        "order_number": number,
        "number": number.saturating_sub(1000),
        "email": customer["email"],
        "created_at": time(order.created_at, zone),
        "updated_at": time(order.updated_at, zone),
        "processed_at": time(order.created_at, zone),
        "closed_at": null,
        "cancelled_at": null,
        "currency": shop.currency,
        "presentment_currency": shop.currency,
        "subtotal_price": money(order.total_cents),
        "total_line_items_price": money(order.total_cents),
        "total_discounts": "0.00",
        "total_tax": "0.00",
        "total_price": money(order.total_cents),
        "financial_status": order.financial_status,
        "fulfillment_status": null,
        "tags": order.tags.join(", "),
        "test": false,
        "customer": customer,
        "line_items": line_items,
    })
}

/// `item` with only `fields` kept (Shopify's `fields` parameter).
pub fn only_fields(item: Value, fields: Option<&[String]>) -> Value {
    match (item, fields) {
        (Value::Object(map), Some(fields)) => {
            Value::Object(map.into_iter().filter(|(k, _)| fields.contains(k)).collect())
        }
        (item, _) => item,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_time_look_like_shopify() {
        assert_eq!(money(4900), "49.00");
        assert_eq!(money(12_345), "123.45");
        assert_eq!(money(-5), "-0.05");
        let zone = FixedOffset::west_opt(4 * 3600).expect("offset");
        let at = DateTime::parse_from_rfc3339("2026-06-30T14:03:22Z").expect("time");
        assert_eq!(time(at.with_timezone(&Utc), zone), "2026-06-30T10:03:22-04:00");
    }
}
