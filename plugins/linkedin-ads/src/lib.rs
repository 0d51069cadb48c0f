//! The LinkedIn Ads connector: reads one ad account of the LinkedIn Marketing
//! API (the versioned `/rest` API, `LinkedIn-Version: YYYYMM`, Rest.li 2.0
//! queries): the account, its campaign groups, campaigns and creatives, and
//! daily campaign and creative analytics; pauses, resumes and re-budgets
//! campaigns and pauses and resumes creatives with Rest.li partial updates,
//! and previews each of those actions from a read of its target.
//!
//! Records are normalised like every ad connector's (see `records.rs`).

mod actions;
mod api;
mod insights;
mod money;
mod objects;
mod preview;
mod records;
mod restli;

use api::{Client, DEFAULT_BASE_URL};
use chrono::{Days, NaiveDate};
use insights::Pivot;
use objects::Finder;
use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream};
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;

/// Days read on the first sync when `start_date` is not set.
const DEFAULT_HISTORY_DAYS: u64 = 90;

/// The tenant's settings, validated by the host against [`LinkedInAds::spec`].
#[derive(Debug, Deserialize)]
pub struct Config {
    #[serde(default = "default_base_url")]
    base_url: String,
    #[serde(default = "default_api_version")]
    api_version: String,
    account_id: String,
    #[serde(default)]
    start_date: Option<String>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

/// A version LinkedIn serves (each is served for about a year).
fn default_api_version() -> String {
    "202510".to_string()
}

impl Config {
    /// The configuration, checked beyond what the schema can say.
    fn load() -> Result<Self, Error> {
        let config: Config = omnify_sdk::config::get()?;
        config.account_id()?;
        let version = &config.api_version;
        if version.len() != 6 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::config(format!(
                "`api_version` must be a LinkedIn-Version as YYYYMM, not `{version}`"
            )));
        }
        if let Some(date) = &config.start_date {
            parse_start(date)?;
        }
        Ok(config)
    }

    /// The ad account's numeric id, given bare or as its URN.
    fn account_id(&self) -> Result<String, Error> {
        let id = self.account_id.trim();
        let id = restli::id_of(id, "sponsoredAccount").unwrap_or(id);
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::config(format!(
                "`account_id` must be the numeric ad account id (or urn:li:sponsoredAccount:<id>), not `{}`",
                self.account_id
            )));
        }
        Ok(id.to_string())
    }

    /// The first day of a first sync.
    fn start_date(&self, today: NaiveDate) -> Result<NaiveDate, Error> {
        match &self.start_date {
            Some(date) => parse_start(date),
            None => Ok(today
                .checked_sub_days(Days::new(DEFAULT_HISTORY_DAYS))
                .unwrap_or(today)),
        }
    }
}

fn parse_start(date: &str) -> Result<NaiveDate, Error> {
    date.trim()
        .parse()
        .map_err(|e| Error::config(format!("`start_date` {date:?} is not a YYYY-MM-DD date: {e}")))
}

struct LinkedInAds;

fn schema(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

/// The streams and the JSON Schemas of their records.
fn streams() -> Vec<Stream> {
    let (string, integer, number) = (
        json!({"type": "string"}),
        json!({"type": "integer"}),
        json!({"type": "number"}),
    );
    let nullable = |t: &str| json!({ "type": [t, "null"] });
    let metrics = |extra: Value| {
        let mut properties = json!({
            "date": {"type": "string", "format": "date"}, "campaign_id": nullable("string"),
            "impressions": integer, "clicks": integer, "spend": number,
            "conversions": number, "conversion_value": number, "currency": string,
        });
        if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), extra) {
            all.extend(extra);
        }
        schema(properties)
    };
    vec![
        Stream::new(
            "ad_accounts",
            &["id"],
            schema(json!({
                "id": string, "name": nullable("string"), "currency": string, "status": nullable("string"),
                "type": nullable("string"), "reference": nullable("string"), "test": nullable("boolean"),
            })),
        ),
        Stream::new(
            "campaign_groups",
            &["id"],
            schema(json!({
                "id": string, "name": nullable("string"), "status": nullable("string"),
                "total_budget": nullable("number"), "currency": string, "start_time": nullable("string"),
                "end_time": nullable("string"), "created_time": nullable("string"), "updated_time": nullable("string"),
            })),
        ),
        Stream::new(
            "campaigns",
            &["id"],
            schema(json!({
                "id": string, "name": nullable("string"), "status": nullable("string"),
                "daily_budget": nullable("number"), "total_budget": nullable("number"), "currency": string,
                "objective": nullable("string"), "objective_type": nullable("string"),
                "campaign_group_id": nullable("string"), "type": nullable("string"), "cost_type": nullable("string"),
                "serving_statuses": {"type": "array", "items": string}, "start_time": nullable("string"),
                "created_time": nullable("string"), "updated_time": nullable("string"),
            })),
        ),
        Stream::new(
            "ads",
            &["id"],
            schema(json!({
                "id": string, "ad_group_id": nullable("string"), "campaign_id": nullable("string"),
                "name": nullable("string"), "status": nullable("string"), "is_serving": nullable("boolean"),
                "review_status": nullable("string"),
                "creative": schema(json!({
                    "id": string, "headline": nullable("string"), "body": nullable("string"),
                    "image_url": nullable("string"),
                })),
                "landing_page": nullable("string"), "content_reference": nullable("string"),
                "created_time": nullable("string"), "updated_time": nullable("string"),
            })),
        ),
        Stream::new("campaign_insights", &["campaign_id", "date"], metrics(json!({}))).incremental("date"),
        Stream::new(
            "ad_insights",
            &["ad_id", "date"],
            metrics(json!({
                "ad_id": string, "ad_group_id": nullable("string"),
                "reach": nullable("integer"), "frequency": nullable("number"),
            })),
        )
        .incremental("date"),
    ]
}

impl Connector for LinkedInAds {
    fn spec() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["account_id"],
            "properties": {
                "base_url": {
                    "type": "string", "format": "uri", "default": default_base_url(),
                    "description": "The Marketing API's address, without /rest"
                },
                "api_version": {
                    "type": "string", "pattern": "^[0-9]{6}$", "default": default_api_version(),
                    "description": "The LinkedIn-Version header, YYYYMM"
                },
                "account_id": {
                    "type": "string", "pattern": "^(urn:li:sponsoredAccount:)?[0-9]+$",
                    "description": "The ad account, for example 507404993"
                },
                "start_date": {
                    "type": "string", "format": "date",
                    "description": "The first day of analytics a first sync reads; 90 days back when absent"
                }
            },
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config = Config::load()?;
        objects::currency(&Client::new(&config)?).map(|_| ())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(streams())
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config = Config::load()?;
        let client = Client::new(&config)?;
        match request.stream.as_str() {
            "ad_accounts" => objects::read_account(&client),
            "campaign_groups" => objects::read(&client, Finder::CampaignGroups, &request),
            "campaigns" => objects::read(&client, Finder::Campaigns, &request),
            "ads" => objects::read(&client, Finder::Creatives, &request),
            "campaign_insights" => insights::read(&client, &config, &request, Pivot::Campaign),
            "ad_insights" => insights::read(&client, &config, &request, Pivot::Creative),
            other => Err(Error::not_found(format!("linkedin-ads has no stream `{other}`"))),
        }
    }

    fn actions() -> Vec<ActionSpec> {
        actions::specs()
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        // LinkedIn takes no idempotency key; every action sets an absolute value.
        actions::act(&Client::new(&Config::load()?)?, name, &input)
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        preview::preview(&Client::new(&Config::load()?)?, name, &input)
    }
}

omnify_sdk::export_connector!(LinkedInAds);

#[cfg(test)]
mod tests;
