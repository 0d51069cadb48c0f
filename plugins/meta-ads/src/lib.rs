//! The Meta Ads connector: campaigns, ad sets, ads and daily insights of one
//! ad account from the Graph API (Marketing API v23.0), the campaign writes
//! an agent proposes (pause, resume, daily budget) and their previews, and
//! signed webhook deliveries.
//!
//! Records are normalised like every ad connector's: ids as strings,
//! statuses in lower case, money as major units of `currency`.

mod actions;
mod dates;
mod graph;
mod preview;
mod streams;
mod webhook;

use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, WebhookEvent};
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;
use streams::{Level, Objects};

/// Days of insights a first sync reads when `start_date` is not set.
pub(crate) const DEFAULT_START_DAYS: u64 = 90;

/// The tenant's configuration (validated by the host against [`MetaAds::spec`]).
#[derive(Debug, Deserialize)]
pub(crate) struct Config {
    #[serde(default = "default_base_url")]
    base_url: String,
    #[serde(default = "default_api_version")]
    api_version: String,
    ad_account_id: String,
    #[serde(default)]
    start_date: Option<String>,
}

fn default_base_url() -> String {
    "https://graph.facebook.com".into()
}

fn default_api_version() -> String {
    "v23.0".into()
}

impl Config {
    /// The configuration, checked beyond what the schema can say.
    fn load() -> Result<Self, Error> {
        let config: Config = omnify_sdk::config::get()?;
        let id = config.account_id();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::config(format!(
                "`ad_account_id` must be the numeric ad account id (with or without `act_`), not `{}`",
                config.ad_account_id
            )));
        }
        if let Some(date) = &config.start_date {
            dates::parse_setting("start_date", date)?;
        }
        Ok(config)
    }

    /// The ad account's id without the `act_` prefix.
    pub(crate) fn account_id(&self) -> String {
        let id = self.ad_account_id.trim();
        id.strip_prefix("act_").unwrap_or(id).to_string()
    }
}

struct MetaAds;

fn string() -> Value {
    json!({ "type": "string" })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn object_schema(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

fn insights_schema(level: Level) -> Value {
    let mut properties = json!({
        "date": { "type": "string", "format": "date" },
        "campaign_id": string(),
        "impressions": { "type": "integer" },
        "clicks": { "type": "integer" },
        "spend": { "type": "number" },
        "conversions": { "type": "number" },
        "conversion_value": { "type": "number" },
        "currency": string(),
    });
    match level {
        Level::Campaign => properties["campaign_name"] = nullable("string"),
        Level::Ad => {
            properties["ad_id"] = string();
            properties["ad_group_id"] = string();
            properties["reach"] = nullable("integer");
            properties["frequency"] = nullable("number");
        }
    }
    object_schema(properties)
}

impl Connector for MetaAds {
    fn spec() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["ad_account_id"],
            "properties": {
                "base_url": {
                    "type": "string", "format": "uri", "default": default_base_url(),
                    "description": "The Graph API's address"
                },
                "api_version": {
                    "type": "string", "pattern": "^v[0-9]+\\.[0-9]+$", "default": default_api_version(),
                    "description": "The Graph API version"
                },
                "ad_account_id": {
                    "type": "string", "pattern": "^(act_)?[0-9]+$",
                    "description": "The ad account, for example act_1234567890"
                },
                "start_date": {
                    "type": "string", "format": "date",
                    "description": "The first day of insights a first sync reads; 90 days back when absent"
                }
            },
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config = Config::load()?;
        graph::Graph::new(&config)?.account_currency(&config.account_id())?;
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(vec![
            Stream::new(
                "campaigns",
                &["id"],
                object_schema(json!({
                    "id": string(), "name": string(), "status": string(), "effective_status": string(),
                    "daily_budget": nullable("number"), "currency": string(), "objective": nullable("string"),
                    "meta_objective": nullable("string"), "created_time": nullable("string"),
                    "updated_time": nullable("string"),
                })),
            ),
            Stream::new(
                "ad_groups",
                &["id"],
                object_schema(json!({
                    "id": string(), "campaign_id": string(), "name": string(), "status": string(),
                    "effective_status": string(),
                })),
            ),
            Stream::new(
                "ads",
                &["id"],
                object_schema(json!({
                    "id": string(), "ad_group_id": string(), "campaign_id": string(), "name": string(),
                    "status": string(), "effective_status": string(),
                    "creative": object_schema(json!({
                        "id": nullable("string"), "headline": nullable("string"),
                        "body": nullable("string"), "image_url": nullable("string"),
                    })),
                })),
            ),
            Stream::new(
                "campaign_insights",
                &["campaign_id", "date"],
                insights_schema(Level::Campaign),
            )
            .incremental("date"),
            Stream::new("ad_insights", &["ad_id", "date"], insights_schema(Level::Ad)).incremental("date"),
        ])
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config = Config::load()?;
        match request.stream.as_str() {
            "campaigns" => streams::read_objects(&config, Objects::Campaigns, &request),
            "ad_groups" => streams::read_objects(&config, Objects::AdGroups, &request),
            "ads" => streams::read_objects(&config, Objects::Ads, &request),
            "campaign_insights" => streams::read_insights(&config, Level::Campaign, &request),
            "ad_insights" => streams::read_insights(&config, Level::Ad, &request),
            other => Err(Error::not_found(format!("no stream `{other}`"))),
        }
    }

    fn actions() -> Vec<ActionSpec> {
        actions::specs()
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        actions::act(&Config::load()?, name, &input)
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        preview::preview(&Config::load()?, name, &input)
    }

    fn verify_webhook(headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
        webhook::verify(headers, body)
    }
}

omnify_sdk::export_connector!(MetaAds);
