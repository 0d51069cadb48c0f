//! The GoHighLevel connector: a location's contacts (incremental on
//! `dateUpdated`), pipelines, opportunities and appointments from the
//! LeadConnector API v2, the `add-contact-tag` and
//! `move-opportunity-stage` actions and their previews, and verified
//! webhook deliveries (Ed25519 `X-GHL-Signature` and the legacy RSA
//! `X-WH-Signature`).
//!
//! Each stream's paging and state are in `streams.rs`, the actions in
//! `actions.rs`, the signatures in `signature.rs`.

mod actions;
mod api;
mod records;
mod signature;
mod streams;
mod time;

use actions::Plan;
use api::Client;
use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, WebhookEvent};
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;

/// How far a delivery's `timestamp` may be from the guest's clock, so that
/// a captured delivery cannot be replayed later.
const WEBHOOK_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// The tenant's settings, validated by the host against [`GoHighLevel::spec`].
#[derive(Debug, Deserialize)]
pub struct Config {
    #[serde(default = "default_base_url")]
    base_url: String,
    #[serde(default = "default_api_version")]
    api_version: String,
    /// The location (sub-account) the token is for.
    location_id: String,
    /// `YYYY-MM-DD`: the first sync reads from this day on.
    start_date: Option<String>,
    /// The location's currency, which opportunities' values are in.
    #[serde(default = "default_currency")]
    currency: String,
    /// GoHighLevel's RSA public key (PEM), for `X-WH-Signature`.
    webhook_public_key: Option<String>,
    /// GoHighLevel's Ed25519 public key (PEM), for `X-GHL-Signature`.
    webhook_ed25519_public_key: Option<String>,
}

fn default_base_url() -> String {
    api::DEFAULT_BASE_URL.to_string()
}

fn default_api_version() -> String {
    api::DEFAULT_API_VERSION.to_string()
}

fn default_currency() -> String {
    "USD".to_string()
}

impl Config {
    fn load() -> Result<Self, Error> {
        let config: Self = omnify_sdk::config::get()?;
        if config.location_id.trim().is_empty() {
            return Err(Error::config(
                "`location_id` is required: the location (sub-account) id",
            ));
        }
        Ok(config)
    }
}

struct GoHighLevel;

fn schema(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

/// The events of a verified delivery: one, of the body's `type`.
fn events(config: &Config, body: &[u8], now_ms: i64) -> Result<Vec<WebhookEvent>, Error> {
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_input(format!("the delivery's body is not JSON: {e}")))?;
    let kind = payload["type"]
        .as_str()
        .filter(|kind| !kind.is_empty())
        .ok_or_else(|| Error::invalid_input("the delivery is not a GoHighLevel event: it has no `type`"))?
        .to_string();
    if let Some(location) = payload["locationId"]
        .as_str()
        .filter(|l| *l != config.location_id)
    {
        return Err(Error::invalid_input(format!(
            "the delivery is about location {location}, not this connector's {}",
            config.location_id
        )));
    }
    if let Some(sent) = payload["timestamp"].as_str() {
        let sent = time::millis_of(sent).ok_or_else(|| {
            Error::invalid_input(format!("the delivery's `timestamp` `{sent}` is not RFC 3339"))
        })?;
        let age = now_ms - sent;
        if age.abs() > WEBHOOK_TOLERANCE_MS {
            return Err(Error::Auth(format!(
                "the delivery was sent {} s from now, outside the {} s tolerance: a replay, or a clock that is off",
                age / 1000,
                WEBHOOK_TOLERANCE_MS / 1000
            )));
        }
    }
    Ok(vec![WebhookEvent { kind, payload }])
}

impl Connector for GoHighLevel {
    fn spec() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["location_id"],
            "properties": {
                "base_url": {
                    "type": "string", "format": "uri", "default": api::DEFAULT_BASE_URL,
                    "description": "The LeadConnector API; another URL for a proxy or a sandbox"
                },
                "api_version": {
                    "type": "string", "default": api::DEFAULT_API_VERSION, "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    "description": "The `Version` header of the contacts and opportunities endpoints"
                },
                "location_id": {
                    "type": "string", "pattern": "^[A-Za-z0-9]{1,64}$",
                    "description": "The location (sub-account) the access token is for"
                },
                "start_date": {
                    "type": "string", "format": "date",
                    "description": "The first sync reads contacts changed and appointments from this day on (UTC)"
                },
                "currency": {
                    "type": "string", "pattern": "^[A-Z]{3}$", "default": "USD",
                    "description": "The location's currency, which opportunity values are in"
                },
                "webhook_public_key": {
                    "type": "string",
                    "description": "GoHighLevel's RSA public key (PEM), which X-WH-Signature is checked with"
                },
                "webhook_ed25519_public_key": {
                    "type": "string",
                    "description": "GoHighLevel's Ed25519 public key (PEM), which X-GHL-Signature is checked with"
                }
            },
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config = Config::load()?;
        if let Some(date) = &config.start_date
            && time::date_start(date).is_none()
        {
            return Err(Error::config(format!(
                "`start_date` must be a date YYYY-MM-DD, not `{date}`"
            )));
        }
        streams::pipelines(&Client::new(&config)?).map(|_| ())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        let id = json!({ "type": "string" });
        let text = json!({ "type": ["string", "null"] });
        let time = json!({ "type": ["string", "null"], "format": "date-time" });
        let tags = json!({ "type": "array", "items": { "type": "string" } });
        let contacts = schema(json!({
            "id": id, "first_name": text, "last_name": text, "name": text, "email": text, "phone": text,
            "company_name": text, "source": text, "type": text, "tags": tags, "created_at": time, "updated_at": time,
        }));
        let pipelines = schema(json!({
            "id": id, "name": text,
            "stages": { "type": "array", "items": schema(json!({
                "id": id, "name": text, "position": { "type": "integer" }
            })) },
        }));
        let opportunities = schema(json!({
            "id": id, "name": text, "status": text, "monetary_value": { "type": ["number", "null"] },
            "currency": id, "pipeline_id": text, "pipeline_name": text, "stage_id": text, "stage_name": text,
            "contact_id": text, "contact_name": text, "contact_email": text, "assigned_to": text, "source": text,
            "created_at": time, "updated_at": time, "last_status_change_at": time, "last_stage_change_at": time,
            "won_at": time,
        }));
        let appointments = schema(json!({
            "id": id, "calendar_id": text, "calendar_name": text, "contact_id": text, "title": text,
            "status": text, "assigned_user_id": text, "address": text, "start_time": time, "end_time": time,
            "created_at": time, "updated_at": time,
        }));
        Ok(vec![
            Stream::new("contacts", &["id"], contacts).incremental("updated_at"),
            Stream::new("pipelines", &["id"], pipelines),
            Stream::new("opportunities", &["id"], opportunities),
            Stream::new("appointments", &["id"], appointments).incremental("start_time"),
        ])
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config = Config::load()?;
        let client = Client::new(&config)?;
        match request.stream.as_str() {
            "contacts" => streams::contacts(&client, &config, &request),
            "pipelines" => streams::pipeline_records(&client),
            "opportunities" => streams::opportunities(&client, &config, &request),
            "appointments" => streams::appointments(&client, &config, &request),
            other => Err(Error::not_found(format!(
                "the GoHighLevel connector has no stream `{other}`"
            ))),
        }
    }

    fn actions() -> Vec<ActionSpec> {
        actions::specs()
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        let client = Client::new(&Config::load()?)?;
        // Each action does nothing when its target is already as asked,
        // so retries are safe without the key.
        Plan::new(&client, name, &input)?.act(&client)
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        let client = Client::new(&Config::load()?)?;
        Ok(Plan::new(&client, name, &input)?.preview())
    }

    fn verify_webhook(headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
        let config = Config::load()?;
        let keys = signature::Keys::from_config(
            config.webhook_public_key.as_deref(),
            config.webhook_ed25519_public_key.as_deref(),
        )?;
        keys.verify(headers, body)?;
        events(&config, body, chrono::Utc::now().timestamp_millis())
    }
}

omnify_sdk::export_connector!(GoHighLevel);

#[cfg(test)]
mod tests;
