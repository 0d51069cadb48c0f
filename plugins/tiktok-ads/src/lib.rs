//! # tiktok-ads
//!
//! The TikTok Ads connector, on the TikTok Marketing API v1.3: campaigns,
//! ad groups, ads and daily campaign and ad insights of one advertiser,
//! and the actions pause, resume and set a campaign's daily budget, with
//! their previews. See the README for the record shapes and how errors map.

mod actions;
mod api;
mod date;
mod insights;
mod objects;
mod preview;

use api::{Client, DEFAULT_BASE_URL};
use insights::Level;
use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream};
use omnify_sdk::{Error, Value, json};

/// The connector.
struct TiktokAds;

impl Connector for TiktokAds {
    fn spec() -> Value {
        json!({
            "type": "object",
            "required": ["advertiser_id"],
            "properties": {
                "base_url": {
                    "type": "string",
                    "format": "uri",
                    "default": DEFAULT_BASE_URL,
                    "description": "The Marketing API's base URL, without /open_api/v1.3"
                },
                "advertiser_id": {
                    "type": "string",
                    "pattern": "^[0-9]+$",
                    "description": "The advertiser account to read and change"
                },
                "start_date": {
                    "type": "string",
                    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    "description": "First day of the first insight sync (YYYY-MM-DD); 90 days ago by default"
                }
            }
        })
    }

    fn check() -> Result<(), Error> {
        let client = Client::from_host()?;
        objects::currency(&client).map(|_| ())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(streams())
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let client = Client::from_host()?;
        match request.stream.as_str() {
            "campaigns" => objects::campaigns(&client, &request),
            "ad_groups" => objects::ad_groups(&client, &request),
            "ads" => objects::ads(&client, &request),
            "campaign_insights" => insights::read(&client, &request, Level::Campaign),
            "ad_insights" => insights::read(&client, &request, Level::Ad),
            other => Err(Error::not_found(format!("tiktok-ads has no stream `{other}`"))),
        }
    }

    fn actions() -> Vec<ActionSpec> {
        actions::specs()
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        // TikTok has no idempotency keys; the actions set absolute values.
        actions::act(name, input)
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        preview::preview(name, input)
    }
}

omnify_sdk::export_connector!(TiktokAds);

/// The streams and the JSON Schemas of their records.
fn streams() -> Vec<Stream> {
    let id = json!({ "type": "string" });
    let text = json!({ "type": ["string", "null"] });
    let money = json!({ "type": ["number", "null"] });
    let status = json!({ "type": ["string", "null"], "description": "active, paused, or TikTok's status in lower case" });
    let metrics = |extra: Value| {
        let mut properties = json!({
            "date": { "type": "string", "format": "date" },
            "campaign_id": text,
            "impressions": { "type": "integer" },
            "clicks": { "type": "integer" },
            "spend": { "type": "number" },
            "conversions": { "type": "number" },
            "conversion_value": { "type": "number" },
            "currency": text,
        });
        if let (Some(properties), Value::Object(extra)) = (properties.as_object_mut(), extra) {
            properties.extend(extra);
        }
        json!({ "type": "object", "properties": properties })
    };
    vec![
        Stream::new(
            "campaigns",
            &["id"],
            json!({ "type": "object", "properties": {
                "id": id, "name": text, "status": status, "daily_budget": money,
                "lifetime_budget": money, "budget_mode": text, "currency": text, "objective": text,
                "campaign_type": text, "secondary_status": text, "created_time": text, "updated_time": text,
            }}),
        ),
        Stream::new(
            "ad_groups",
            &["id"],
            json!({ "type": "object", "properties": {
                "id": id, "campaign_id": id, "name": text, "status": status, "secondary_status": text,
                "optimization_goal": text, "created_time": text, "updated_time": text,
            }}),
        ),
        Stream::new(
            "ads",
            &["id"],
            json!({ "type": "object", "properties": {
                "id": id, "ad_group_id": id, "campaign_id": id, "name": text, "status": status,
                "secondary_status": text,
                "creative": { "type": "object", "properties": {
                    "id": text, "headline": text, "body": text, "image_url": text,
                }},
                "ad_format": text, "call_to_action": text, "landing_page_url": text, "video_id": text,
                "created_time": text, "updated_time": text,
            }}),
        ),
        Stream::new("campaign_insights", &["campaign_id", "date"], metrics(json!({}))).incremental("date"),
        Stream::new(
            "ad_insights",
            &["ad_id", "date"],
            metrics(json!({
                "ad_id": id, "ad_group_id": text,
                "reach": { "type": ["integer", "null"] }, "frequency": money,
            })),
        )
        .incremental("date"),
    ]
}
