//! The Meta Marketing API (Graph API v23.0) over the world's Meta ad account.
//!
//! - `GET /v23.0/act_{id}`: the ad account (`currency`, `name`, ...).
//! - `GET /v23.0/act_{id}/campaigns|adsets|ads`: `fields` (with `{}`
//!   expansions), `limit`, cursor paging with `paging.next`.
//! - `GET /v23.0/act_{id}/insights`: see [`insights`].
//! - `GET /v23.0/{campaign_id}` or `/{ad_id}`: one campaign or ad.
//! - `POST /v23.0/{campaign_id}`: `status` (`ACTIVE`/`PAUSED`) and/or
//!   `daily_budget` (minor units), as a form or JSON; answers `{"success":true}`.
//! - `POST /v23.0/{ad_id}`: `status` (`ACTIVE`/`PAUSED`), likewise.
//!
//! The token comes as `access_token` or `Authorization: Bearer`. Errors are
//! Meta's `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`;
//! the armed rate limit answers code 17 with `X-Business-Use-Case-Usage`.

mod graph;
mod insights;

use crate::server::{Platform, WriteCall};
use crate::world::{Ad, AdAccount, Campaign, Platform as AdPlatform, Status, World};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use graph::{Field, GraphError, Params, authenticate, page, select};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The Graph API version served.
pub const API_VERSION: &str = "v23.0";
/// The sandbox's valid access token.
pub const ACCESS_TOKEN: &str = "EAAsandboxMetaAccessToken0042";
/// The app secret webhook deliveries are signed with.
pub const APP_SECRET: &str = "sandbox-meta-app-secret";

const CAMPAIGN_FIELDS: [&str; 10] = [
    "id",
    "account_id",
    "name",
    "status",
    "configured_status",
    "effective_status",
    "daily_budget",
    "objective",
    "created_time",
    "updated_time",
];
const ADSET_FIELDS: [&str; 6] = [
    "id",
    "account_id",
    "name",
    "status",
    "effective_status",
    "campaign_id",
];
const AD_FIELDS: [&str; 8] = [
    "id",
    "account_id",
    "name",
    "status",
    "effective_status",
    "adset_id",
    "campaign_id",
    "creative",
];
const CREATIVE_FIELDS: [&str; 4] = ["id", "title", "body", "image_url"];
const ACCOUNT_FIELDS: [&str; 6] = [
    "id",
    "account_id",
    "name",
    "currency",
    "timezone_name",
    "account_status",
];

/// The routes of the Graph API.
pub fn routes(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/{version}/{node}", axum::routing::get(get_node).post(post_node))
        .route("/{version}/{node}/{edge}", axum::routing::get(get_edge))
        .with_state(platform)
}

/// The enablement request body pointing the connector at `url` with the
/// sandbox's valid credentials, reading from the world's first day.
pub fn enablement(url: &str, world: &World) -> Value {
    let account = world.account(AdPlatform::Meta);
    json!({
        "config": {
            "base_url": url,
            "api_version": API_VERSION,
            "ad_account_id": account.account_id,
            "start_date": world.first_day.to_string(),
        },
        "secrets": { "access_token": ACCESS_TOKEN, "app_secret": APP_SECRET },
        "grants": {
            "http_hosts": [crate::grant_of(url)],
            "secrets": ["access_token", "app_secret"],
            "kv": false,
        },
    })
}

/// The headers of a valid webhook delivery of `body`, signed with
/// [`APP_SECRET`] as Meta signs them.
pub fn signed_webhook(body: &[u8]) -> Vec<(String, String)> {
    use hmac::{Hmac, Mac};
    let signature = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes())
        .map(|mut mac| {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-Hub-Signature-256".into(), format!("sha256={signature}")),
    ]
}

/// The checks every request goes through, in Meta's order: throttling, the
/// version, the token.
fn admit(platform: &Platform, version: &str, headers: &HeaderMap, params: &Params) -> Result<(), GraphError> {
    if platform.take_rate_limit() {
        let account_id = platform.world().account(AdPlatform::Meta).account_id.clone();
        return Err(GraphError::rate_limited(&account_id));
    }
    if version != API_VERSION {
        return Err(GraphError::unsupported_version(version));
    }
    authenticate(platform.oauth(), headers, params)
}

async fn get_node(
    State(platform): State<Arc<Platform>>,
    Path((version, node)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let answer = admit(&platform, &version, &headers, &params).and_then(|()| {
        let world = platform.world();
        let account = world.account(AdPlatform::Meta);
        if node == format!("act_{}", account.account_id) {
            select(&account_json(account), &params.fields(&["id"]), &ACCOUNT_FIELDS)
        } else if let Some(campaign) = account.campaign(&node) {
            select(
                &campaign_json(account, campaign),
                &params.fields(&["id"]),
                &CAMPAIGN_FIELDS,
            )
        } else if let Some(ad) = account.ad(&node) {
            let fields = params.fields(&["id"]);
            select(&ad_json(account, ad, &fields)?, &fields, &AD_FIELDS)
        } else {
            Err(GraphError::unknown_object(&node, false))
        }
    });
    respond(answer)
}

async fn get_edge(
    State(platform): State<Arc<Platform>>,
    Path((version, node, edge)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.as_deref().unwrap_or(""));
    let path = format!("/{version}/{node}/{edge}");
    let answer = admit(&platform, &version, &headers, &params).and_then(|()| {
        let world = platform.world();
        let account = world.account(AdPlatform::Meta);
        if node != format!("act_{}", account.account_id) {
            return Err(GraphError::unknown_object(&node, false));
        }
        let fields = params.fields(&["id"]);
        let rows = match edge.as_str() {
            "campaigns" => account
                .campaigns
                .iter()
                .map(|c| select(&campaign_json(account, c), &fields, &CAMPAIGN_FIELDS))
                .collect::<Result<Vec<_>, _>>()?,
            "adsets" => account
                .ad_groups
                .iter()
                .map(|g| {
                    let object = object(json!({
                        "id": g.id,
                        "account_id": account.account_id,
                        "name": g.name,
                        "status": status_text(g.status),
                        "effective_status": effective(account.campaign(&g.campaign_id), None, g.status),
                        "campaign_id": g.campaign_id,
                    }));
                    select(&object, &fields, &ADSET_FIELDS)
                })
                .collect::<Result<Vec<_>, _>>()?,
            "ads" => account
                .ads
                .iter()
                .map(|ad| select(&ad_json(account, ad, &fields)?, &fields, &AD_FIELDS))
                .collect::<Result<Vec<_>, _>>()?,
            "insights" => insights::rows(account, world.last_day, &params)?,
            other => {
                return Err(GraphError::invalid_parameter(format!(
                    "Tried accessing nonexisting field ({other}) on node type (AdAccount)"
                )));
            }
        };
        page(rows, &params, &headers, &path)
    });
    respond(answer)
}

/// Update a campaign's `status` and/or `daily_budget`, or an ad's `status`.
async fn post_node(
    State(platform): State<Arc<Platform>>,
    Path((version, node)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params = Params::parse(query.as_deref().unwrap_or(""));
    let fields = body_fields(&headers, &body);
    params.0.extend(fields.0.iter().cloned());
    if let Err(error) = admit(&platform, &version, &headers, &params) {
        return error.into_response();
    }
    // The write log shows the change asked for, never the token.
    let logged: Map<String, Value> = fields
        .0
        .iter()
        .filter(|(name, _)| name != "access_token")
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    let outcome = update_node(&platform, &node, &fields);
    platform.record_write(WriteCall {
        method: "POST".into(),
        path: format!("/{version}/{node}"),
        body: Value::Object(logged),
        idempotency_key: None,
        applied: outcome.is_ok(),
    });
    respond(outcome.map(|()| json!({ "success": true })))
}

/// Apply the update to the campaign or ad `id`.
fn update_node(platform: &Platform, id: &str, fields: &Params) -> Result<(), GraphError> {
    let status = status_param(fields)?;
    let is_ad = platform.world().account(AdPlatform::Meta).ad(id).is_some();
    if is_ad {
        update_ad(platform, id, status, fields)
    } else {
        update_campaign(platform, id, status, fields)
    }
}

/// The `status` asked for, if any.
fn status_param(fields: &Params) -> Result<Option<Status>, GraphError> {
    Ok(match fields.get("status") {
        None => None,
        Some("ACTIVE") => Some(Status::Active),
        Some("PAUSED") => Some(Status::Paused),
        Some(other) => {
            return Err(GraphError::invalid_parameter(format!(
                "Param status must be one of {{ACTIVE, PAUSED, DELETED, ARCHIVED}}; the sandbox \
                 accepts ACTIVE and PAUSED, not `{other}`"
            )));
        }
    })
}

/// An ad takes only `status`; budgets live on campaigns (or ad sets).
fn update_ad(
    platform: &Platform,
    id: &str,
    status: Option<Status>,
    fields: &Params,
) -> Result<(), GraphError> {
    if fields.get("daily_budget").is_some() {
        return Err(GraphError::invalid_parameter(
            "Tried accessing nonexisting field (daily_budget) on node type (Ad)",
        ));
    }
    let status = status.ok_or_else(|| GraphError::invalid_parameter("No fields to update: give status"))?;
    let mut world = platform.world();
    let ad = world
        .account_mut(AdPlatform::Meta)
        .ads
        .iter_mut()
        .find(|ad| ad.id == id)
        .ok_or_else(|| GraphError::unknown_object(id, true))?;
    ad.status = status;
    Ok(())
}

fn update_campaign(
    platform: &Platform,
    id: &str,
    status: Option<Status>,
    fields: &Params,
) -> Result<(), GraphError> {
    let budget = match fields.get("daily_budget") {
        None => None,
        Some(text) => match text.trim().parse::<i64>() {
            Ok(cents) if cents >= 100 => Some(cents),
            Ok(_) => {
                return Err(GraphError::invalid_parameter(
                    "The daily budget must be at least 1.00 USD (100 in the account's minor unit)",
                ));
            }
            Err(_) => {
                return Err(GraphError::invalid_parameter(
                    "Param daily_budget must be an integer amount in the account's minor unit",
                ));
            }
        },
    };
    if status.is_none() && budget.is_none() {
        return Err(GraphError::invalid_parameter(
            "No fields to update: give status or daily_budget",
        ));
    }
    let mut world = platform.world();
    let now = world.now();
    let campaign = world
        .account_mut(AdPlatform::Meta)
        .campaign_mut(id)
        .ok_or_else(|| GraphError::unknown_object(id, true))?;
    if let Some(status) = status {
        campaign.status = status;
    }
    if let Some(cents) = budget {
        campaign.daily_budget_cents = cents;
    }
    campaign.updated = now;
    Ok(())
}

/// The fields of a POST body: JSON when it looks like JSON, else a form.
fn body_fields(headers: &HeaderMap, body: &[u8]) -> Params {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if is_json && let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
        let pairs = object
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect();
        return Params(pairs);
    }
    Params::parse(&String::from_utf8_lossy(body))
}

fn respond(answer: Result<Value, GraphError>) -> Response {
    match answer {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The members of a `json!({...})` literal.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(members) => members,
        _ => Map::new(),
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Active => "ACTIVE",
        Status::Paused => "PAUSED",
    }
}

/// Meta's `effective_status`: a paused parent shows through.
fn effective(campaign: Option<&Campaign>, ad_group_paused: Option<bool>, own: Status) -> &'static str {
    if campaign.is_some_and(|c| c.status == Status::Paused) {
        "CAMPAIGN_PAUSED"
    } else if ad_group_paused == Some(true) {
        "ADSET_PAUSED"
    } else {
        status_text(own)
    }
}

/// Meta's time format, for example `2026-04-02T00:00:00+0000`.
fn meta_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

fn account_json(account: &AdAccount) -> Map<String, Value> {
    object(json!({
        "id": format!("act_{}", account.account_id),
        "account_id": account.account_id,
        "name": "Omnify Demo Store",
        "currency": account.currency,
        "timezone_name": "Etc/UTC",
        "account_status": 1,
    }))
}

fn campaign_json(account: &AdAccount, campaign: &Campaign) -> Map<String, Value> {
    object(json!({
        "id": campaign.id,
        "account_id": account.account_id,
        "name": campaign.name,
        "status": status_text(campaign.status),
        "configured_status": status_text(campaign.status),
        "effective_status": status_text(campaign.status),
        // Budgets are strings in the currency's minor unit.
        "daily_budget": campaign.daily_budget_cents.to_string(),
        "objective": format!("OUTCOME_{}", campaign.objective),
        "created_time": meta_time(campaign.created),
        "updated_time": meta_time(campaign.updated),
    }))
}

fn ad_json(account: &AdAccount, ad: &Ad, fields: &[Field]) -> Result<Map<String, Value>, GraphError> {
    let group_paused = account
        .ad_groups
        .iter()
        .find(|g| g.id == ad.ad_group_id)
        .map(|g| g.status == Status::Paused);
    let creative = object(json!({
        "id": ad.creative.id,
        "title": ad.creative.headline,
        "body": ad.creative.body,
        "image_url": ad.creative.image_url,
    }));
    // Without an expansion (`creative{title,body}`) Meta returns only the id.
    let wanted = fields
        .iter()
        .find(|f| f.name == "creative")
        .map(|f| f.children.clone())
        .unwrap_or_default();
    let creative = select(&creative, &wanted, &CREATIVE_FIELDS)?;
    Ok(object(json!({
        "id": ad.id,
        "account_id": account.account_id,
        "name": ad.name,
        "status": status_text(ad.status),
        "effective_status": effective(account.campaign(&ad.campaign_id), group_paused, ad.status),
        "adset_id": ad.ad_group_id,
        "campaign_id": ad.campaign_id,
        "creative": creative,
    })))
}
