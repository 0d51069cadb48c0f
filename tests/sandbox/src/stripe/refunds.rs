//! `POST /v1/refunds`: refund part or all of a charge, made safe to retry by
//! `Idempotency-Key` like Stripe: the same key with the same parameters
//! replays the first result (`Idempotent-Replayed: true`) without refunding
//! again, and the same key with other parameters is an `idempotency_error`.

use super::objects::refund_json;
use super::{ApiError, Stripe, form_json, idempotency_key, parse_form};
use crate::server::{SharedWorld, WriteCall};
use crate::world::{Refund, World};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const PATH: &str = "/v1/refunds";

/// The reasons Stripe accepts.
const REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

/// A saved result: what was asked, where, and what was answered.
#[derive(Debug, Clone, PartialEq)]
struct Saved {
    path: String,
    /// The parameters, sorted, so that their order does not matter.
    params: Vec<(String, String)>,
    body: Value,
}

/// The results of idempotent writes, by key. As on Stripe, only a request
/// that ran is saved; one refused for its parameters can be retried with the
/// same key once corrected.
#[derive(Debug, Default)]
pub struct IdempotencyStore {
    saved: Mutex<HashMap<String, Saved>>,
}

/// What became of a refund request.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Created(Value),
    Replayed(Value),
    Refused(ApiError),
}

/// `POST /v1/refunds`.
pub(super) async fn create(State(stripe): State<Arc<Stripe>>, headers: HeaderMap, body: Bytes) -> Response {
    let key = idempotency_key(&headers);
    let params = parse_form(&body);
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_none_or(|value| value.starts_with("application/x-www-form-urlencoded"));
    let outcome = if form_encoded {
        create_refund(
            &stripe.idempotency,
            &stripe.platform.world,
            key.as_deref(),
            &params,
        )
    } else {
        Outcome::Refused(ApiError::invalid(
            None,
            "Invalid request: Stripe bodies are form-encoded (Content-Type: \
             application/x-www-form-urlencoded).",
            None,
        ))
    };
    stripe.platform.record_write(WriteCall {
        method: "POST".into(),
        path: PATH.into(),
        body: form_json(&params),
        idempotency_key: key.clone(),
        applied: matches!(outcome, Outcome::Created(_)),
    });
    let (mut response, replayed) = match outcome {
        Outcome::Created(refund) => (Json(refund).into_response(), false),
        Outcome::Replayed(refund) => (Json(refund).into_response(), true),
        Outcome::Refused(error) => (error.into_response(), false),
    };
    if let Some(key) = key.and_then(|key| HeaderValue::from_str(&key).ok()) {
        let headers = response.headers_mut();
        headers.insert("idempotency-key", key);
        if replayed {
            headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
    }
    response
}

fn create_refund(
    store: &IdempotencyStore,
    world: &SharedWorld,
    key: Option<&str>,
    params: &[(String, String)],
) -> Outcome {
    let mut sorted = params.to_vec();
    sorted.sort();
    // Held across the refund, so that two requests with one key cannot
    // both refund.
    let mut saved = store
        .saved
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(previous) = key.and_then(|key| saved.get(key)) {
        return if previous.path == PATH && previous.params == sorted {
            Outcome::Replayed(previous.body.clone())
        } else {
            Outcome::Refused(ApiError {
                kind: "idempotency_error",
                ..ApiError::invalid(
                    None,
                    format!(
                        "Keys for idempotent requests can only be used with the same parameters \
                         they were first used with. Try using a key other than '{}' if you meant \
                         to execute a different request.",
                        key.unwrap_or_default()
                    ),
                    None,
                )
            })
        };
    }
    let mut world = world.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match refund(&mut world, params) {
        Ok(body) => {
            if let Some(key) = key {
                saved.insert(
                    key.to_string(),
                    Saved {
                        path: PATH.into(),
                        params: sorted,
                        body: body.clone(),
                    },
                );
            }
            Outcome::Created(body)
        }
        Err(error) => Outcome::Refused(error),
    }
}

/// The parameters of a refund.
#[derive(Debug, Default)]
struct RefundParams {
    charge: Option<String>,
    payment_intent: Option<String>,
    amount: Option<String>,
    reason: Option<String>,
}

fn parse_params(params: &[(String, String)]) -> Result<RefundParams, ApiError> {
    let mut refund = RefundParams::default();
    for (name, value) in params {
        let value = Some(value.clone());
        match name.as_str() {
            "charge" => refund.charge = value,
            "payment_intent" => refund.payment_intent = value,
            "amount" => refund.amount = value,
            "reason" => refund.reason = value,
            // Metadata and expansion are accepted and change nothing here.
            other if other.starts_with("metadata[") || other.starts_with("expand[") => {}
            _ => {
                return Err(ApiError::invalid(
                    Some("parameter_unknown"),
                    format!("Received unknown parameter: {name}"),
                    Some(name),
                ));
            }
        }
    }
    Ok(refund)
}

fn dollars(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// Refund a charge in `world`: push a refund and raise the charge's
/// `amount_refunded`. Returns the refund object.
fn refund(world: &mut World, params: &[(String, String)]) -> Result<Value, ApiError> {
    let request = parse_params(params)?;
    let charges = &world.payments.charges;
    let index = match (&request.charge, &request.payment_intent) {
        (Some(id), _) => charges
            .iter()
            .position(|c| &c.id == id)
            .ok_or_else(|| ApiError::missing(StatusCode::BAD_REQUEST, "charge", id, "charge"))?,
        (None, Some(id)) => charges
            .iter()
            .position(|c| &c.payment_intent == id)
            .ok_or_else(|| {
                ApiError::missing(StatusCode::BAD_REQUEST, "payment_intent", id, "payment_intent")
            })?,
        (None, None) => {
            return Err(ApiError::invalid(
                Some("parameter_missing"),
                "One of `charge` or `payment_intent` is required.",
                None,
            ));
        }
    };
    let charge = &charges[index];
    let remaining = charge.amount - charge.amount_refunded;
    if remaining <= 0 {
        return Err(ApiError::invalid(
            Some("charge_already_refunded"),
            format!("Charge {} has already been refunded.", charge.id),
            None,
        ));
    }
    let amount = match &request.amount {
        None => remaining,
        Some(text) => text.trim().parse::<i64>().map_err(|_| {
            ApiError::invalid(
                Some("parameter_invalid_integer"),
                format!("Invalid integer: {text}"),
                Some("amount"),
            )
        })?,
    };
    if amount < 1 {
        return Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            "This value must be greater than or equal to 1.",
            Some("amount"),
        ));
    }
    if amount > remaining {
        return Err(ApiError::invalid(
            Some("amount_too_large"),
            format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                dollars(amount),
                dollars(remaining)
            ),
            Some("amount"),
        ));
    }
    if let Some(reason) = request.reason.as_deref().filter(|r| !REASONS.contains(r)) {
        return Err(ApiError::invalid(
            None,
            format!(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer (got {reason})"
            ),
            Some("reason"),
        ));
    }
    // A refund made now is newer than every refund in the world, even those
    // the generator dated into the morning after its last day.
    let latest = world
        .payments
        .refunds
        .iter()
        .map(|r| r.created)
        .max()
        .unwrap_or_default();
    let refund = Refund {
        id: format!("re_{:x}w{:07}", world.seed, world.payments.refunds.len()),
        charge: charge.id.clone(),
        amount,
        reason: request.reason,
        created: world.now().timestamp().max(latest + 1),
    };
    world.payments.charges[index].amount_refunded += amount;
    let body = refund_json(&refund, &world.payments);
    world.payments.refunds.push(refund);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Scenario;
    use chrono::NaiveDate;

    struct Server {
        store: IdempotencyStore,
        world: SharedWorld,
    }

    impl Server {
        fn world(&self) -> std::sync::MutexGuard<'_, World> {
            self.world.lock().expect("the world")
        }

        fn create(&self, key: Option<&str>, params: &[(String, String)]) -> Outcome {
            create_refund(&self.store, &self.world, key, params)
        }
    }

    fn stripe() -> Server {
        let world = World::generate(
            42,
            Scenario::Control,
            NaiveDate::from_ymd_opt(2026, 6, 30).expect("a date"),
        );
        Server {
            store: IdempotencyStore::default(),
            world: Arc::new(Mutex::new(world)),
        }
    }

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn unrefunded(stripe: &Server) -> (String, i64) {
        let world = stripe.world();
        let charge = world
            .payments
            .charges
            .iter()
            .find(|c| c.amount_refunded == 0)
            .expect("a charge");
        (charge.id.clone(), charge.amount)
    }

    #[test]
    fn the_same_key_replays_and_other_parameters_are_refused() {
        let stripe = stripe();
        let (charge, amount) = unrefunded(&stripe);
        let refunds_before = stripe.world().payments.refunds.len();
        let params = pairs(&[("charge", &charge), ("amount", "500")]);
        let Outcome::Created(first) = stripe.create(Some("k1"), &params) else {
            panic!("the first request refunds")
        };
        let reordered = pairs(&[("amount", "500"), ("charge", &charge)]);
        assert_eq!(
            stripe.create(Some("k1"), &reordered),
            Outcome::Replayed(first.clone())
        );
        let Outcome::Refused(error) = stripe.create(Some("k1"), &pairs(&[("charge", &charge)])) else {
            panic!("other parameters under the same key are refused")
        };
        assert_eq!(error.kind, "idempotency_error");
        let world = stripe.world();
        assert_eq!(world.payments.refunds.len(), refunds_before + 1);
        let refunded = world.payments.charge(&charge).expect("the charge");
        assert_eq!(refunded.amount_refunded, 500);
        assert_eq!(first["amount"], 500);
        assert!(amount > 500);
    }

    #[test]
    fn refunding_more_than_remains_is_refused() {
        let stripe = stripe();
        let (charge, amount) = unrefunded(&stripe);
        let too_much = (amount + 1).to_string();
        let Outcome::Refused(error) =
            stripe.create(None, &pairs(&[("charge", &charge), ("amount", &too_much)]))
        else {
            panic!("too large")
        };
        assert_eq!(error.code, Some("amount_too_large"));
        assert!(matches!(
            stripe.create(None, &pairs(&[("charge", &charge)])),
            Outcome::Created(_)
        ));
        let Outcome::Refused(error) = stripe.create(None, &pairs(&[("charge", &charge)])) else {
            panic!("already refunded")
        };
        assert_eq!(error.code, Some("charge_already_refunded"));
    }

    #[test]
    fn bad_parameters_change_nothing() {
        let stripe = stripe();
        let (charge, _) = unrefunded(&stripe);
        let before = stripe.world().payments.clone();
        for params in [
            pairs(&[("charge", "ch_nope")]),
            pairs(&[("charge", &charge), ("amount", "4.99")]),
            pairs(&[("charge", &charge), ("amount", "0")]),
            pairs(&[("charge", &charge), ("reason", "because")]),
            pairs(&[("charge", &charge), ("colour", "red")]),
            pairs(&[("amount", "100")]),
        ] {
            let Outcome::Refused(error) = stripe.create(Some("k"), &params) else {
                panic!("{params:?} is refused")
            };
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{params:?}");
        }
        assert_eq!(stripe.world().payments, before);
    }
}
