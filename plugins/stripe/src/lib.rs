//! The Stripe connector: charges, customers, refunds, subscriptions and
//! payment intents from the Stripe API (pinned to [`api::API_VERSION`]),
//! the `create-refund` action made safe to retry with `Idempotency-Key` and
//! its preview, and verification of Stripe's signed webhook deliveries.
//!
//! Stripe lists objects newest first, so a listing cannot stop part-way and
//! resume from "the newest seen": an incremental listing reads everything
//! created at or after the cursor (`created[gte]`), paging with
//! `starting_after`, and only when the listing is done does the cursor move
//! to the newest `created` it saw (kept in the state while paging).

mod api;
mod records;
mod refund;
mod signature;
mod time;

use api::Client;
use omnify_sdk::connector::{
    ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, SyncMode, WebhookEvent,
};
use omnify_sdk::{Error, json, secrets, webhook};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the real API is.
const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// The most objects Stripe returns per page.
const MAX_PAGE: u32 = 100;

#[derive(Deserialize)]
struct Config {
    #[serde(default = "default_base_url")]
    base_url: String,
    /// `YYYY-MM-DD`: read nothing created before it. Everything when unset.
    start_date: Option<String>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

impl Config {
    fn load() -> Result<Self, Error> {
        omnify_sdk::config::get()
    }

    /// `start_date` as Unix seconds.
    fn start(&self) -> Result<Option<i64>, Error> {
        self.start_date
            .as_deref()
            .map(|date| {
                time::date_start(date).ok_or_else(|| {
                    Error::config(format!("`start_date` must be a date YYYY-MM-DD, not `{date}`"))
                })
            })
            .transpose()
    }
}

/// The listed resources; each is a stream of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Charges,
    Customers,
    Refunds,
    Subscriptions,
    PaymentIntents,
}

impl Resource {
    const ALL: [Self; 5] = [
        Self::Charges,
        Self::Customers,
        Self::Refunds,
        Self::Subscriptions,
        Self::PaymentIntents,
    ];

    /// The stream's name, which is also the path under `/v1`.
    fn name(self) -> &'static str {
        match self {
            Self::Charges => "charges",
            Self::Customers => "customers",
            Self::Refunds => "refunds",
            Self::Subscriptions => "subscriptions",
            Self::PaymentIntents => "payment_intents",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Parameters every listing of the resource needs: Stripe leaves
    /// canceled subscriptions out unless asked for `status=all`.
    fn fixed_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Subscriptions => &[("status", "all")],
            _ => &[],
        }
    }

    fn normalise(self, object: Value) -> Result<Value, Error> {
        match self {
            Self::Charges => records::charge(object),
            Self::Customers => records::customer(object),
            Self::Refunds => records::refund(object),
            Self::Subscriptions => records::subscription(object),
            Self::PaymentIntents => records::payment_intent(object),
        }
    }

    fn properties(self) -> Value {
        let money = json!({"type": "number"});
        let text = json!({"type": ["string", "null"]});
        let time = json!({"type": "string", "format": "date-time"});
        match self {
            Self::Charges => json!({
                "id": {"type": "string"}, "amount": money, "amount_refunded": money, "currency": {"type": "string"},
                "created": time, "customer": text, "payment_intent": text, "status": {"type": "string"},
                "refunded": {"type": "boolean"}, "description": text
            }),
            Self::Customers => json!({
                "id": {"type": "string"}, "email": text, "name": text, "currency": text,
                "delinquent": {"type": ["boolean", "null"]}, "created": time
            }),
            Self::Refunds => json!({
                "id": {"type": "string"}, "charge": text, "payment_intent": text, "amount": money,
                "currency": {"type": "string"}, "reason": text, "status": text, "created": time
            }),
            Self::Subscriptions => json!({
                "id": {"type": "string"}, "customer": text, "status": {"type": "string"},
                "currency": {"type": "string"}, "amount": {"type": ["number", "null"]}, "interval": text,
                "interval_count": {"type": ["integer", "null"]}, "items": {"type": "integer"},
                "cancel_at_period_end": {"type": "boolean"},
                "canceled_at": {"type": ["string", "null"], "format": "date-time"}, "created": time
            }),
            Self::PaymentIntents => json!({
                "id": {"type": "string"}, "amount": money, "amount_received": money, "currency": {"type": "string"},
                "customer": text, "latest_charge": text, "status": {"type": "string"}, "description": text,
                "created": time
            }),
        }
    }
}

/// A stream's position.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StreamState {
    /// The newest `created` of the last complete listing: the next
    /// incremental listing starts there (inclusive, as Stripe's times are
    /// whole seconds and more objects may share the second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<i64>,
    /// The listing in progress, when a batch ended mid-listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listing: Option<Listing>,
}

/// Where a listing stopped.
#[derive(Debug, Serialize, Deserialize)]
struct Listing {
    /// Its `created[gte]`, if any.
    since: Option<i64>,
    /// The id of the last object read, to page on with `starting_after`.
    starting_after: String,
    /// The newest `created` seen in it so far.
    max_created: Option<i64>,
}

struct Stripe;

/// A client of the configured API.
fn client() -> Result<Client, Error> {
    Client::new(&Config::load()?.base_url)
}

impl Connector for Stripe {
    fn spec() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "base_url": {
                    "type": "string",
                    "format": "uri",
                    "default": DEFAULT_BASE_URL,
                    "description": "The Stripe API, without /v1; another URL for a proxy or a sandbox"
                },
                "start_date": {
                    "type": "string",
                    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    "description": "Read only objects created on or after this day (UTC); everything when unset"
                }
            },
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config = Config::load()?;
        config.start()?;
        Client::new(&config.base_url)?.list("customers", &[("limit", "1".to_string())])?;
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(Resource::ALL
            .into_iter()
            .map(|resource| {
                let schema = json!({
                    "type": "object",
                    "required": ["id", "created"],
                    "properties": resource.properties()
                });
                Stream::new(resource.name(), &["id"], schema).incremental("created")
            })
            .collect())
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let resource = Resource::from_name(&request.stream).ok_or_else(|| {
            Error::not_found(format!("the Stripe connector has no stream `{}`", request.stream))
        })?;
        let config = Config::load()?;
        let start = config.start()?;
        let client = Client::new(&config.base_url)?;
        let state: StreamState = request.state_as()?.unwrap_or_default();
        let (since, starting_after, max_so_far) = match state.listing {
            Some(listing) => (listing.since, Some(listing.starting_after), listing.max_created),
            None => {
                let cursor = match request.mode {
                    SyncMode::Incremental => state.cursor,
                    SyncMode::FullRefresh => None,
                };
                (cursor.max(start), None, None)
            }
        };
        let mut params = vec![("limit", request.limit.clamp(1, MAX_PAGE).to_string())];
        params.extend(resource.fixed_params().iter().map(|(k, v)| (*k, v.to_string())));
        if let Some(since) = since {
            params.push(("created[gte]", since.to_string()));
        }
        if let Some(after) = starting_after {
            params.push(("starting_after", after));
        }
        let page = client.list(resource.name(), &params)?;
        let max_created = page
            .data
            .iter()
            .filter_map(|object| object["created"].as_i64())
            .max()
            .max(max_so_far);
        let last_id = page
            .data
            .last()
            .and_then(|o| o["id"].as_str())
            .map(str::to_string);
        let records = page
            .data
            .into_iter()
            .map(|object| resource.normalise(object))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = Batch {
            records,
            ..Batch::default()
        };
        match last_id.filter(|_| page.has_more) {
            Some(starting_after) => {
                let listing = Listing {
                    since,
                    starting_after,
                    max_created,
                };
                let state = StreamState {
                    cursor: state.cursor,
                    listing: Some(listing),
                };
                Ok(batch.with_state(&state)?.with_more(true))
            }
            None => {
                let state = StreamState {
                    cursor: state.cursor.max(max_created),
                    listing: None,
                };
                batch.with_state(&state)
            }
        }
    }

    fn actions() -> Vec<ActionSpec> {
        vec![ActionSpec {
            name: "create-refund".into(),
            description: "Refund a charge, in full or in part (amount in major units of the charge's \
                          currency); retrying with the same idempotency key never refunds twice"
                .into(),
            input_schema: json!({
                "type": "object",
                "required": ["charge"],
                "properties": {
                    "charge": {"type": "string", "description": "The charge id, ch_..."},
                    "amount": {"type": "number", "exclusiveMinimum": 0, "description": "Default: what remains unrefunded"},
                    "reason": {"type": "string", "enum": refund::REFUND_REASONS}
                },
                "additionalProperties": false
            }),
        }]
    }

    fn act(name: &str, input: Value, idempotency_key: &str) -> Result<Value, Error> {
        match name {
            "create-refund" => refund::act(input, idempotency_key),
            other => Err(Error::not_found(format!(
                "the Stripe connector has no action `{other}`"
            ))),
        }
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        match name {
            "create-refund" => refund::preview(input),
            other => Err(Error::not_found(format!(
                "the Stripe connector has no action `{other}`"
            ))),
        }
    }

    fn verify_webhook(headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
        let secret = secrets::get("webhook_secret")?;
        let header = webhook::header(headers, "stripe-signature")
            .ok_or_else(|| Error::Auth("the delivery has no Stripe-Signature header".into()))?;
        signature::verify(&secret, header, body, chrono::Utc::now().timestamp())?;
        let payload: Value = serde_json::from_slice(body)
            .map_err(|e| Error::invalid_input(format!("the delivery's body is not JSON: {e}")))?;
        let kind = payload["type"]
            .as_str()
            .filter(|kind| !kind.is_empty())
            .ok_or_else(|| Error::invalid_input("the delivery is not a Stripe event: it has no `type`"))?
            .to_string();
        Ok(vec![WebhookEvent { kind, payload }])
    }
}

omnify_sdk::export_connector!(Stripe);
