//! The world's payments as Stripe's JSON objects.

use super::API_VERSION;
use crate::world::{Charge, Payments, Refund, StripeCustomer, Subscription};
use serde_json::{Value, json};

/// A charge as `GET /v1/charges` returns it.
pub fn charge_json(charge: &Charge) -> Value {
    json!({
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount,
        "amount_refunded": charge.amount_refunded,
        "balance_transaction": format!("txn_{}", charge.id.trim_start_matches("ch_")),
        "captured": true,
        "created": charge.created,
        "currency": charge.currency,
        "customer": charge.customer,
        "description": charge.description,
        "livemode": false,
        "metadata": {},
        "paid": true,
        "payment_intent": charge.payment_intent,
        "refunded": charge.amount_refunded >= charge.amount,
        "status": "succeeded"
    })
}

/// The payment intent a charge settles, derived from the charge.
pub fn payment_intent_json(charge: &Charge) -> Value {
    json!({
        "id": charge.payment_intent,
        "object": "payment_intent",
        "amount": charge.amount,
        "amount_capturable": 0,
        "amount_received": charge.amount,
        "capture_method": "automatic",
        "created": charge.created,
        "currency": charge.currency,
        "customer": charge.customer,
        "description": charge.description,
        "latest_charge": charge.id,
        "livemode": false,
        "metadata": {},
        "payment_method_types": ["card"],
        "status": "succeeded"
    })
}

/// A customer.
pub fn customer_json(customer: &StripeCustomer, currency: &str) -> Value {
    json!({
        "id": customer.id,
        "object": "customer",
        "created": customer.created,
        "currency": currency,
        "delinquent": false,
        "description": null,
        "email": customer.email,
        "livemode": false,
        "metadata": {},
        "name": null
    })
}

/// A refund; its payment intent is its charge's.
pub fn refund_json(refund: &Refund, payments: &Payments) -> Value {
    let charge = payments.charge(&refund.charge);
    json!({
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "charge": refund.charge,
        "created": refund.created,
        "currency": charge.map_or(payments.currency.as_str(), |c| c.currency.as_str()),
        "metadata": {},
        "payment_intent": charge.map(|c| c.payment_intent.clone()),
        "reason": refund.reason,
        "status": "succeeded"
    })
}

/// A monthly subscription with one item, shaped like API version
/// `2025-03-31.basil` and later (billing periods live on the items).
pub fn subscription_json(subscription: &Subscription, currency: &str) -> Value {
    const MONTH: i64 = 30 * 86_400;
    let suffix = subscription.id.trim_start_matches("sub_");
    let canceled = subscription.status == "canceled";
    json!({
        "id": subscription.id,
        "object": "subscription",
        "cancel_at_period_end": false,
        "canceled_at": if canceled { Some(subscription.created + MONTH) } else { None },
        "created": subscription.created,
        "currency": currency,
        "customer": subscription.customer,
        "ended_at": if canceled { Some(subscription.created + MONTH) } else { None },
        "items": {
            "object": "list",
            "data": [{
                "id": format!("si_{suffix}"),
                "object": "subscription_item",
                "created": subscription.created,
                "current_period_start": subscription.created,
                "current_period_end": subscription.created + MONTH,
                "price": {
                    "id": format!("price_{}", subscription.amount),
                    "object": "price",
                    "active": true,
                    "currency": currency,
                    "product": "prod_omnifymembership",
                    "recurring": { "interval": "month", "interval_count": 1 },
                    "type": "recurring",
                    "unit_amount": subscription.amount
                },
                "quantity": 1,
                "subscription": subscription.id
            }],
            "has_more": false,
            "url": format!("/v1/subscription_items?subscription={}", subscription.id)
        },
        "livemode": false,
        "metadata": {},
        "start_date": subscription.created,
        "status": subscription.status
    })
}

/// A webhook event of type `kind` (such as `charge.refunded`) about
/// `object`, created at `created` (Unix seconds).
pub fn event(kind: &str, object: Value, created: i64) -> Value {
    json!({
        "id": format!("evt_omnify{created}"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind
    })
}
