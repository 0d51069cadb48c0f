//! Stripe's list endpoints: list objects newest first, paged with `limit`
//! and `starting_after`/`ending_before`, filtered on `created[...]` and a
//! few per-resource parameters.

use super::objects::{charge_json, customer_json, payment_intent_json, refund_json, subscription_json};
use super::{ApiError, Stripe, parse_form};
use crate::world::World;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The resources that can be listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Charges,
    Customers,
    Refunds,
    Subscriptions,
    PaymentIntents,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Charges => "/v1/charges",
            Self::Customers => "/v1/customers",
            Self::Refunds => "/v1/refunds",
            Self::Subscriptions => "/v1/subscriptions",
            Self::PaymentIntents => "/v1/payment_intents",
        }
    }

    /// The object's name in `resource_missing` messages.
    fn object(self) -> &'static str {
        match self {
            Self::Charges => "charge",
            Self::Customers => "customer",
            Self::Refunds => "refund",
            Self::Subscriptions => "subscription",
            Self::PaymentIntents => "payment_intent",
        }
    }

    /// The parameters that filter on a field of the same name.
    fn field_filters(self) -> &'static [&'static str] {
        match self {
            Self::Charges | Self::PaymentIntents => &["customer"],
            Self::Customers => &["email"],
            Self::Refunds => &["charge", "payment_intent"],
            Self::Subscriptions => &["customer", "status"],
        }
    }
}

/// One object of a listing and where it sorts.
struct Listed {
    created: i64,
    id: String,
    json: Value,
}

impl Listed {
    fn key(&self) -> (i64, &str) {
        (self.created, &self.id)
    }
}

fn objects(world: &World, kind: Kind) -> Vec<Listed> {
    let payments = &world.payments;
    let listed = |created: i64, id: &str, json: Value| Listed {
        created,
        id: id.to_string(),
        json,
    };
    match kind {
        Kind::Charges => payments
            .charges
            .iter()
            .map(|c| listed(c.created, &c.id, charge_json(c)))
            .collect(),
        Kind::PaymentIntents => payments
            .charges
            .iter()
            .map(|c| listed(c.created, &c.payment_intent, payment_intent_json(c)))
            .collect(),
        Kind::Customers => payments
            .customers
            .iter()
            .map(|c| listed(c.created, &c.id, customer_json(c, &payments.currency)))
            .collect(),
        Kind::Refunds => payments
            .refunds
            .iter()
            .map(|r| listed(r.created, &r.id, refund_json(r, payments)))
            .collect(),
        Kind::Subscriptions => payments
            .subscriptions
            .iter()
            .map(|s| listed(s.created, &s.id, subscription_json(s, &payments.currency)))
            .collect(),
    }
}

/// Bounds on `created`, all inclusive or exclusive as named.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Created {
    gt: Option<i64>,
    gte: Option<i64>,
    lt: Option<i64>,
    lte: Option<i64>,
}

impl Created {
    fn contains(&self, t: i64) -> bool {
        self.gt.is_none_or(|b| t > b)
            && self.gte.is_none_or(|b| t >= b)
            && self.lt.is_none_or(|b| t < b)
            && self.lte.is_none_or(|b| t <= b)
    }
}

/// The parameters of a list request.
#[derive(Debug, Default)]
struct ListParams {
    limit: usize,
    starting_after: Option<String>,
    ending_before: Option<String>,
    created: Created,
    /// `(field, value)` equality filters.
    filters: Vec<(String, String)>,
}

fn integer(name: &str, value: &str) -> Result<i64, ApiError> {
    value.trim().parse().map_err(|_| {
        ApiError::invalid(
            Some("parameter_invalid_integer"),
            format!("Invalid integer: {value}"),
            Some(name),
        )
    })
}

fn parse_params(kind: Kind, query: &str) -> Result<ListParams, ApiError> {
    let mut params = ListParams {
        limit: 10,
        ..ListParams::default()
    };
    for (name, value) in parse_form(query.as_bytes()) {
        match name.as_str() {
            "limit" => {
                params.limit = match integer(&name, &value)? {
                    n @ 1..=100 => n as usize,
                    _ => {
                        return Err(ApiError::invalid(
                            None,
                            "Invalid limit: must be between 1 and 100",
                            Some("limit"),
                        ));
                    }
                }
            }
            "starting_after" => params.starting_after = Some(value),
            "ending_before" => params.ending_before = Some(value),
            "created" => {
                let t = integer(&name, &value)?;
                params.created.gte = Some(t);
                params.created.lte = Some(t);
            }
            "created[gt]" => params.created.gt = Some(integer(&name, &value)?),
            "created[gte]" => params.created.gte = Some(integer(&name, &value)?),
            "created[lt]" => params.created.lt = Some(integer(&name, &value)?),
            "created[lte]" => params.created.lte = Some(integer(&name, &value)?),
            // Expansion changes nothing here: every object is already whole.
            expand if expand.starts_with("expand[") => {}
            field if kind.field_filters().contains(&field) => params.filters.push((name, value)),
            _ => {
                return Err(ApiError::invalid(
                    Some("parameter_unknown"),
                    format!("Received unknown parameter: {name}"),
                    Some(&name),
                ));
            }
        }
    }
    if params.starting_after.is_some() && params.ending_before.is_some() {
        return Err(ApiError::invalid(
            None,
            "You may only specify one of these parameters: ending_before, starting_after.",
            None,
        ));
    }
    if kind == Kind::Subscriptions {
        validate_subscription_status(&params.filters)?;
    }
    Ok(params)
}

const SUBSCRIPTION_STATUSES: [&str; 10] = [
    "active",
    "all",
    "canceled",
    "ended",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "paused",
    "trialing",
    "unpaid",
];

fn validate_subscription_status(filters: &[(String, String)]) -> Result<(), ApiError> {
    match filters.iter().find(|(name, _)| name == "status") {
        Some((_, status)) if !SUBSCRIPTION_STATUSES.contains(&status.as_str()) => Err(ApiError::invalid(
            None,
            format!(
                "Invalid status: must be one of {}",
                SUBSCRIPTION_STATUSES.join(", ")
            ),
            Some("status"),
        )),
        _ => Ok(()),
    }
}

/// Whether `object` passes the equality filters. Subscriptions are special,
/// as on Stripe: without `status`, canceled ones are left out; `all` shows
/// every one and `ended` the canceled and expired ones.
fn matches(kind: Kind, filters: &[(String, String)], object: &Value) -> bool {
    let status = object["status"].as_str().unwrap_or_default();
    if kind == Kind::Subscriptions
        && !filters.iter().any(|(name, _)| name == "status")
        && status == "canceled"
    {
        return false;
    }
    filters
        .iter()
        .all(|(name, value)| match (kind, name.as_str(), value.as_str()) {
            (Kind::Subscriptions, "status", "all") => true,
            (Kind::Subscriptions, "status", "ended") => matches!(status, "canceled" | "incomplete_expired"),
            _ => object[name].as_str() == Some(value.as_str()),
        })
}

/// The list object for `query` over `kind` in `world`.
pub(super) fn list(world: &World, kind: Kind, query: &str) -> Result<Value, ApiError> {
    let params = parse_params(kind, query)?;
    let mut objects = objects(world, kind);
    objects.sort_by(|a, b| b.key().cmp(&a.key()));
    let cursor = |id: &str, param: &str| {
        objects
            .iter()
            .find(|o| o.id == id)
            .map(|o| (o.created, o.id.clone()))
            .ok_or_else(|| ApiError::missing(StatusCode::BAD_REQUEST, kind.object(), id, param))
    };
    let before = params
        .ending_before
        .as_deref()
        .map(|id| cursor(id, "ending_before"))
        .transpose()?;
    let after = params
        .starting_after
        .as_deref()
        .map(|id| cursor(id, "starting_after"))
        .transpose()?;
    let selected: Vec<&Listed> = objects
        .iter()
        .filter(|o| params.created.contains(o.created) && matches(kind, &params.filters, &o.json))
        .filter(|o| after.as_ref().is_none_or(|(t, id)| o.key() < (*t, id.as_str())))
        .filter(|o| before.as_ref().is_none_or(|(t, id)| o.key() > (*t, id.as_str())))
        .collect();
    // Paging back with `ending_before` yields the objects just newer than
    // the cursor, still newest first.
    let (page, has_more) = if before.is_some() {
        let start = selected.len().saturating_sub(params.limit);
        (&selected[start..], start > 0)
    } else {
        let end = selected.len().min(params.limit);
        (&selected[..end], selected.len() > end)
    };
    Ok(json!({
        "object": "list",
        "data": page.iter().map(|o| o.json.clone()).collect::<Vec<_>>(),
        "has_more": has_more,
        "url": kind.path()
    }))
}

fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

fn list_response(stripe: &Stripe, kind: Kind, query: Option<String>) -> Response {
    respond(list(
        &stripe.platform.world(),
        kind,
        query.as_deref().unwrap_or_default(),
    ))
}

/// `GET /v1/charges`.
pub(super) async fn charges(State(stripe): State<Arc<Stripe>>, RawQuery(query): RawQuery) -> Response {
    list_response(&stripe, Kind::Charges, query)
}

/// `GET /v1/customers`.
pub(super) async fn customers(State(stripe): State<Arc<Stripe>>, RawQuery(query): RawQuery) -> Response {
    list_response(&stripe, Kind::Customers, query)
}

/// `GET /v1/refunds`.
pub(super) async fn refunds(State(stripe): State<Arc<Stripe>>, RawQuery(query): RawQuery) -> Response {
    list_response(&stripe, Kind::Refunds, query)
}

/// `GET /v1/subscriptions`.
pub(super) async fn subscriptions(State(stripe): State<Arc<Stripe>>, RawQuery(query): RawQuery) -> Response {
    list_response(&stripe, Kind::Subscriptions, query)
}

/// `GET /v1/payment_intents`.
pub(super) async fn payment_intents(
    State(stripe): State<Arc<Stripe>>,
    RawQuery(query): RawQuery,
) -> Response {
    list_response(&stripe, Kind::PaymentIntents, query)
}

/// `GET /v1/charges/{id}`.
pub(super) async fn charge(State(stripe): State<Arc<Stripe>>, Path(id): Path<String>) -> Response {
    let world = stripe.platform.world();
    respond(
        world
            .payments
            .charge(&id)
            .map(charge_json)
            .ok_or_else(|| ApiError::missing(StatusCode::NOT_FOUND, "charge", &id, "id")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Scenario;
    use chrono::NaiveDate;

    fn world() -> World {
        World::generate(
            42,
            Scenario::Control,
            NaiveDate::from_ymd_opt(2026, 6, 30).expect("a date"),
        )
    }

    fn ids(list: &Value) -> Vec<String> {
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|o| o["id"].as_str().expect("id").to_string())
            .collect()
    }

    #[test]
    fn paging_with_starting_after_visits_every_charge_once_newest_first() {
        let world = world();
        let mut seen = Vec::new();
        let mut query = "limit=100".to_string();
        loop {
            let page = list(&world, Kind::Charges, &query).expect("a page");
            assert_eq!(page["object"], "list");
            assert_eq!(page["url"], "/v1/charges");
            seen.extend(ids(&page));
            if !page["has_more"].as_bool().expect("has_more") {
                break;
            }
            query = format!("limit=100&starting_after={}", seen.last().expect("an id"));
        }
        let mut expected: Vec<&crate::world::Charge> = world.payments.charges.iter().collect();
        expected.sort_by(|a, b| (b.created, &b.id).cmp(&(a.created, &a.id)));
        assert_eq!(seen, expected.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn ending_before_pages_back_to_the_newer_objects() {
        let world = world();
        let first = ids(&list(&world, Kind::Charges, "limit=5").expect("a page"));
        let second = list(
            &world,
            Kind::Charges,
            &format!("limit=5&starting_after={}", first[4]),
        )
        .expect("a page");
        let back = list(
            &world,
            Kind::Charges,
            &format!("limit=3&ending_before={}", ids(&second)[0]),
        )
        .expect("a page");
        assert_eq!(ids(&back), first[2..].to_vec());
        assert_eq!(back["has_more"], true);
    }

    #[test]
    fn created_bounds_filter_inclusively_and_exclusively() {
        let world = world();
        let t = world.payments.charges[10].created;
        let gte = list(&world, Kind::Charges, &format!("limit=100&created%5Bgte%5D={t}")).expect("a page");
        let gt = list(&world, Kind::Charges, &format!("limit=100&created[gt]={t}")).expect("a page");
        let newer = world.payments.charges.iter().filter(|c| c.created >= t).count();
        assert!(newer > 100, "the world has more than a page of charges after #10");
        assert_eq!(ids(&gte).len(), 100);
        assert!(ids(&gt).iter().all(|id| id != &world.payments.charges[10].id));
        let exact = list(&world, Kind::Charges, &format!("created={t}")).expect("a page");
        assert!(ids(&exact).contains(&world.payments.charges[10].id));
    }

    #[test]
    fn bad_parameters_are_refused_like_stripe() {
        let world = world();
        for (query, param) in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit")] {
            let error = list(&world, Kind::Charges, query).expect_err(query);
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
            assert_eq!(error.kind, "invalid_request_error");
            assert_eq!(error.param.as_deref(), Some(param));
        }
        let missing = list(&world, Kind::Refunds, "starting_after=re_nope").expect_err("unknown cursor");
        assert_eq!(missing.code, Some("resource_missing"));
        assert_eq!(missing.message, "No such refund: 're_nope'");
        let unknown = list(&world, Kind::Customers, "colour=red").expect_err("unknown parameter");
        assert_eq!(unknown.code, Some("parameter_unknown"));
        assert!(list(&world, Kind::Charges, "created[gte]=soon").is_err());
    }

    #[test]
    fn canceled_subscriptions_are_listed_only_when_asked_for() {
        let world = world();
        let canceled = world
            .payments
            .subscriptions
            .iter()
            .filter(|s| s.status == "canceled")
            .count();
        assert!(canceled > 0);
        let default = ids(&list(&world, Kind::Subscriptions, "limit=100").expect("a page"));
        let all = ids(&list(&world, Kind::Subscriptions, "limit=100&status=all").expect("a page"));
        assert_eq!(all.len(), world.payments.subscriptions.len());
        assert_eq!(default.len(), all.len() - canceled);
        let subscription = &list(&world, Kind::Subscriptions, "limit=1").expect("a page")["data"][0];
        assert!(subscription["items"]["data"][0]["price"]["unit_amount"].is_i64());
    }

    #[test]
    fn payment_intents_mirror_charges() {
        let world = world();
        let intents = list(&world, Kind::PaymentIntents, "limit=3").expect("a page");
        let charges = list(&world, Kind::Charges, "limit=3").expect("a page");
        for (intent, charge) in intents["data"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(charges["data"].as_array().into_iter().flatten())
        {
            assert_eq!(intent["id"], charge["payment_intent"]);
            assert_eq!(intent["latest_charge"], charge["id"]);
            assert_eq!(intent["amount"], charge["amount"]);
        }
    }
}
