//! The Google Ads connector: reads campaigns, ad groups, ads and daily
//! campaign and ad metrics of one customer account through the REST API's
//! `googleAds:search` (GAQL), pauses, resumes and re-budgets campaigns
//! through `campaigns:mutate` and `campaignBudgets:mutate`, pauses and
//! resumes ads through `adGroupAds:mutate`, and previews each of those
//! actions from a read of its target (see `actions.rs`).

mod actions;
mod api;
mod records;

use api::{Client, Failure, Page};
use chrono::{Days, NaiveDate, Utc};
use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, SyncMode};
use omnify_sdk::{Error, json};
use records::queries;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Days read on the first sync when `start_date` is not set.
const DEFAULT_HISTORY_DAYS: u64 = 90;

/// The tenant's settings, validated by the host against [`GoogleAds::spec`].
#[derive(Debug, Deserialize)]
pub struct Config {
    #[serde(default = "default_base_url")]
    base_url: String,
    #[serde(default = "default_api_version")]
    api_version: String,
    customer_id: String,
    login_customer_id: Option<String>,
    start_date: Option<String>,
}

fn default_base_url() -> String {
    "https://googleads.googleapis.com".to_string()
}

fn default_api_version() -> String {
    "v21".to_string()
}

impl Config {
    /// The first day of the first sync.
    fn start_date(&self, today: NaiveDate) -> Result<NaiveDate, Error> {
        match &self.start_date {
            Some(date) => date
                .parse()
                .map_err(|e| Error::config(format!("`start_date` {date:?} is not a YYYY-MM-DD date: {e}"))),
            None => Ok(today
                .checked_sub_days(Days::new(DEFAULT_HISTORY_DAYS))
                .unwrap_or(today)),
        }
    }
}

/// Where a paged stream is: the token of its next page.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PageState {
    page_token: Option<String>,
}

/// Where an insight stream is.
#[derive(Debug, Default, Serialize, Deserialize)]
struct InsightState {
    /// The newest date synced: the next incremental sync reads from it,
    /// included, since that day may have been partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    /// The window being read and the token of its next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<Window>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Window {
    from: String,
    to: String,
    page_token: String,
}

/// A search page, starting over when Google no longer knows the token (page
/// tokens expire, and a stored state may outlive one). Records are keyed, so
/// reading a page again is harmless.
fn search_resuming(client: &Client, query: &str, token: Option<&str>) -> Result<Page, Error> {
    match client.search(query, token) {
        Err(Failure::Refused(refusal))
            if token.is_some()
                && (refusal.has_code("INVALID_PAGE_TOKEN") || refusal.has_code("EXPIRED_PAGE_TOKEN")) =>
        {
            omnify_sdk::warn!("Google refused the page token; reading the query from its first page");
            Ok(client.search(query, None)?)
        }
        other => Ok(other?),
    }
}

/// The insight streams: which query and which record shape.
#[derive(Debug, Clone, Copy)]
enum Insights {
    Campaign,
    Ad,
}

struct GoogleAds;

impl GoogleAds {
    fn read_pages(
        client: &Client,
        request: &ReadRequest,
        query: &str,
        record: fn(&Value) -> Value,
    ) -> Result<Batch, Error> {
        let state = request.state_as::<PageState>()?.unwrap_or_default();
        let page = search_resuming(client, query, state.page_token.as_deref())?;
        let records: Vec<Value> = page.results.iter().map(record).collect();
        let more = page.next_page_token.is_some();
        Ok(Batch::from_records(&records)?
            .with_state(&PageState {
                page_token: page.next_page_token,
            })?
            .with_more(more))
    }

    fn read_insights(
        client: &Client,
        config: &Config,
        request: &ReadRequest,
        kind: Insights,
    ) -> Result<Batch, Error> {
        let state = request.state_as::<InsightState>()?.unwrap_or_default();
        let (from, to, token) = match state.window {
            Some(window) => (window.from, window.to, Some(window.page_token)),
            None => {
                let today = Utc::now().date_naive();
                let from = match (request.mode, &state.cursor) {
                    (SyncMode::Incremental, Some(cursor)) => cursor.clone(),
                    _ => config.start_date(today)?.to_string(),
                };
                (from, today.to_string(), None)
            }
        };
        // ISO dates compare as strings.
        if from > to {
            return Batch::from_records::<Value>(&[])?.with_state(&InsightState {
                cursor: state.cursor,
                window: None,
            });
        }
        let (query, record): (String, fn(&Value) -> Value) = match kind {
            Insights::Campaign => (queries::campaign_insights(&from, &to), records::campaign_insight),
            Insights::Ad => (queries::ad_insights(&from, &to), records::ad_insight),
        };
        let page = search_resuming(client, &query, token.as_deref())?;
        let records: Vec<Value> = page.results.iter().map(record).collect();
        let newest = records
            .iter()
            .filter_map(|r| r["date"].as_str())
            .max()
            .map(str::to_string);
        let cursor = state.cursor.into_iter().chain(newest).max();
        let window = page
            .next_page_token
            .map(|page_token| Window { from, to, page_token });
        let more = window.is_some();
        Ok(Batch::from_records(&records)?
            .with_state(&InsightState { cursor, window })?
            .with_more(more))
    }
}

fn schema(properties: Value) -> Value {
    json!({ "type": "object", "properties": properties })
}

impl Connector for GoogleAds {
    fn spec() -> Value {
        let customer_id = json!({ "type": "string", "pattern": "^[0-9]{3}-?[0-9]{3}-?[0-9]{4}$" });
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["customer_id"],
            "properties": {
                "base_url": { "type": "string", "format": "uri", "default": default_base_url() },
                "api_version": { "type": "string", "pattern": "^v[0-9]+$", "default": default_api_version() },
                "customer_id": customer_id.clone(),
                "login_customer_id": customer_id,
                "start_date": { "type": "string", "format": "date" }
            },
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config: Config = omnify_sdk::config::get()?;
        let client = Client::new(&config)?;
        client.search("SELECT customer.id, customer.currency_code FROM customer", None)?;
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        let (string, integer, number) = (
            json!({"type": "string"}),
            json!({"type": "integer"}),
            json!({"type": "number"}),
        );
        let nullable = |t: &str| json!({ "type": [t, "null"] });
        let metrics = |extra: Value| {
            let mut properties = json!({
                "date": {"type": "string", "format": "date"}, "campaign_id": string,
                "impressions": integer, "clicks": integer, "spend": number,
                "conversions": number, "conversion_value": number, "currency": string,
            });
            if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), extra) {
                all.extend(extra);
            }
            schema(properties)
        };
        Ok(vec![
            Stream::new(
                "campaigns",
                &["id"],
                schema(json!({
                    "id": string, "name": string, "status": string, "daily_budget": nullable("number"),
                    "currency": string, "advertising_channel_type": string, "start_date": string, "budget_id": string,
                })),
            ),
            Stream::new(
                "ad_groups",
                &["id"],
                schema(json!({ "id": string, "campaign_id": string, "name": string, "status": string })),
            ),
            Stream::new(
                "ads",
                &["id"],
                schema(json!({
                    "id": string, "ad_group_id": string, "campaign_id": string, "name": string, "status": string,
                    "creative": schema(json!({
                        "id": string, "headline": nullable("string"), "body": nullable("string"),
                        "image_url": nullable("string"),
                    })),
                    "headlines": {"type": "array", "items": string},
                    "descriptions": {"type": "array", "items": string},
                    "final_urls": {"type": "array", "items": string},
                })),
            ),
            Stream::new("campaign_insights", &["campaign_id", "date"], metrics(json!({})))
                .incremental("date"),
            Stream::new(
                "ad_insights",
                &["ad_id", "date"],
                metrics(json!({
                    "ad_id": string, "ad_group_id": string,
                    "reach": nullable("integer"), "frequency": nullable("number"),
                })),
            )
            .incremental("date"),
        ])
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config: Config = omnify_sdk::config::get()?;
        let client = Client::new(&config)?;
        match request.stream.as_str() {
            "campaigns" => Self::read_pages(&client, &request, queries::CAMPAIGNS, records::campaign),
            "ad_groups" => Self::read_pages(&client, &request, queries::AD_GROUPS, records::ad_group),
            "ads" => Self::read_pages(&client, &request, queries::ADS, records::ad),
            "campaign_insights" => Self::read_insights(&client, &config, &request, Insights::Campaign),
            "ad_insights" => Self::read_insights(&client, &config, &request, Insights::Ad),
            other => Err(Error::not_found(format!("no stream `{other}`"))),
        }
    }

    fn actions() -> Vec<ActionSpec> {
        actions::specs()
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        let config: Config = omnify_sdk::config::get()?;
        actions::act(&Client::new(&config)?, name, &input)
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        let config: Config = omnify_sdk::config::get()?;
        actions::preview(&Client::new(&config)?, name, &input)
    }
}

omnify_sdk::export_connector!(GoogleAds);
