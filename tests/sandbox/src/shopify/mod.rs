//! The Shopify Admin REST API (version 2025-07) for the seeded store:
//! `orders.json`, `customers.json`, `products.json` with Shopify's filters and
//! cursor pagination (`Link: <…page_info=…>; rel="next"`), single orders
//! (read, and `PUT` to change their tags), `shop.json`, the
//! `X-Shopify-Access-Token` header, the leaky-bucket
//! `X-Shopify-Shop-Api-Call-Limit` header on every response, and `429` with
//! `Retry-After` when the rate limit is armed.
//!
//! Times are rendered in the shop's zone, a fixed `-04:00`, as Shopify
//! renders them in the shop's zone; a connector has to convert them.

mod listing;
mod render;

use crate::oauth::TokenCheck;
use crate::server::{Platform, WriteCall};
use crate::world::World;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use hmac::{Hmac, Mac};
use listing::{Invalid, Resource, Row};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The access token the sandbox accepts (`X-Shopify-Access-Token`).
pub const ACCESS_TOKEN: &str = "shpat_sandbox0123456789abcdef0123456789";
/// The secret webhooks are signed with.
pub const WEBHOOK_SECRET: &str = "shopify-sandbox-webhook-secret";
/// The API version the connector targets.
pub const API_VERSION: &str = "2025-07";
/// The shop's domain, as the `X-Shopify-Shop-Domain` header names it.
pub const SHOP_DOMAIN: &str = "omnify-demo.myshopify.com";
/// The shop's UTC offset in hours (America/La_Paz, which has no daylight saving).
pub const SHOP_UTC_OFFSET_HOURS: i32 = -4;
/// The size of the REST leaky bucket (a standard plan's 40 calls).
pub const BUCKET_SIZE: u32 = 40;
/// Shopify's refusal of a token.
pub const INVALID_TOKEN_MESSAGE: &str =
    "[API] Invalid API key or access token (unrecognized login or wrong password)";
/// Shopify's message on a `429`.
pub const RATE_LIMIT_MESSAGE: &str =
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.";

/// Calls the bucket leaks per second.
const LEAK_PER_SECOND: f64 = 2.0;

/// The leaky bucket behind `X-Shopify-Shop-Api-Call-Limit`. It is reported,
/// not enforced: tests arm the rate limit explicitly, so runs stay quick and
/// deterministic.
#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// The server's state: the platform plus what the world does not model.
#[derive(Debug)]
struct Shopify {
    platform: Arc<Platform>,
    bucket: Mutex<Bucket>,
}

impl Shopify {
    /// Count a call in the bucket; returns the `n/40` to report.
    fn fill_bucket(&self) -> String {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let leaked = bucket.at.elapsed().as_secs_f64() * LEAK_PER_SECOND;
        bucket.level = ((bucket.level - leaked).max(0.0) + 1.0).min(f64::from(BUCKET_SIZE));
        bucket.at = Instant::now();
        format!("{}/{BUCKET_SIZE}", bucket.level.ceil() as u32)
    }

    /// The checks every call passes first: the armed rate limit, then the
    /// token (the fixed one, or a live one the shop's OAuth issued; an
    /// expired or uninstalled one gets the same 401). Returns the
    /// call-limit header value on success.
    fn admit(&self, headers: &HeaderMap) -> Result<String, Box<Response>> {
        if self.platform.take_rate_limit() {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, json!(RATE_LIMIT_MESSAGE), None);
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1.0"));
            headers.insert("x-shopify-shop-api-call-limit", HeaderValue::from_static("40/40"));
            return Err(Box::new(response));
        }
        let call_limit = self.fill_bucket();
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok());
        let live = token.is_some_and(|token| {
            self.platform.oauth().check_or_fixed(ACCESS_TOKEN, token) == TokenCheck::Live
        });
        if !live {
            let refusal = error(
                StatusCode::UNAUTHORIZED,
                json!(INVALID_TOKEN_MESSAGE),
                Some(&call_limit),
            );
            return Err(Box::new(refusal));
        }
        Ok(call_limit)
    }
}

/// A call that passed [`Shopify::admit`], with the call-limit header value
/// to report; a refused call is answered before the handler runs.
struct Admitted(String);

impl FromRequestParts<Arc<Shopify>> for Admitted {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shopify: &Arc<Shopify>) -> Result<Self, Response> {
        shopify
            .admit(&parts.headers)
            .map(Self)
            .map_err(|refusal| *refusal)
    }
}

/// The shop's time zone.
fn zone() -> FixedOffset {
    FixedOffset::east_opt(SHOP_UTC_OFFSET_HOURS * 3600).expect("a constant offset within a day")
}

/// A JSON response with the call-limit header.
fn reply(status: StatusCode, body: Value, call_limit: Option<&str>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(value) = call_limit.and_then(|v| HeaderValue::from_str(v).ok()) {
        response
            .headers_mut()
            .insert("x-shopify-shop-api-call-limit", value);
    }
    response
        .headers_mut()
        .insert("x-shopify-api-version", HeaderValue::from_static(API_VERSION));
    response
}

/// Shopify's error body: `{"errors": …}`.
fn error(status: StatusCode, errors: Value, call_limit: Option<&str>) -> Response {
    reply(status, json!({ "errors": errors }), call_limit)
}

fn not_found(call_limit: &str) -> Response {
    error(StatusCode::NOT_FOUND, json!("Not Found"), Some(call_limit))
}

fn invalid(invalid: Invalid, call_limit: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        json!({ invalid.param: invalid.message }),
        Some(call_limit),
    )
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The routes of the platform.
pub fn routes(platform: Arc<Platform>) -> Router {
    let state = Arc::new(Shopify {
        platform,
        bucket: Mutex::new(Bucket {
            level: 0.0,
            at: Instant::now(),
        }),
    });
    Router::new()
        .route("/admin/api/{version}/{file}", get(list))
        .route(
            "/admin/api/{version}/orders/{file}",
            get(show_order).put(update_order),
        )
        .with_state(state)
}

/// `GET /admin/api/{version}/{orders|customers|products|shop}.json`.
async fn list(
    State(shopify): State<Arc<Shopify>>,
    Path((version, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    Admitted(call_limit): Admitted,
) -> Response {
    let world = shopify.platform.world();
    if file == "shop.json" {
        return reply(StatusCode::OK, json!({ "shop": shop(&world) }), Some(&call_limit));
    }
    let Some(resource) = Resource::from_file(&file) else {
        return not_found(&call_limit);
    };
    let query = query_pairs(query.as_deref());
    let shop = &world.shop;
    let rows: Vec<Row> = match resource {
        Resource::Orders => rows(&shop.orders, |o| (o.id, o.created_at, o.updated_at)),
        Resource::Customers => rows(&shop.customers, |c| (c.id, c.created_at, c.updated_at)),
        Resource::Products => rows(&shop.products, |p| (p.id, p.created_at, p.updated_at)),
    };
    let page = match listing::page(resource, &query, &rows, zone()) {
        Ok(page) => page,
        Err(error) => return invalid(error, &call_limit),
    };
    let items: Vec<Value> = page
        .indices
        .iter()
        .map(|&index| {
            let item = match resource {
                Resource::Orders => render::order(&shop.orders[index], shop, zone()),
                Resource::Customers => render::customer(&shop.customers[index], shop, zone()),
                Resource::Products => render::product(&shop.products[index], zone()),
            };
            render::only_fields(item, page.fields.as_deref())
        })
        .collect();
    let mut response = reply(
        StatusCode::OK,
        json!({ resource.key(): items }),
        Some(&call_limit),
    );
    if let Some(next) = &page.next {
        let mut link = format!(
            "{}/admin/api/{version}/{file}?limit={}",
            base_url(&headers),
            page.limit
        );
        if let Some(fields) = &page.fields {
            link.push_str(&format!("&fields={}", fields.join(",")));
        }
        link.push_str(&format!("&page_info={next}"));
        if let Ok(value) = HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// The rows of `items` for the listing to filter and page; `fields` gives an
/// item's id, creation and last change.
fn rows<T>(items: &[T], fields: impl Fn(&T) -> (u64, DateTime<Utc>, DateTime<Utc>)) -> Vec<Row> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let (id, created_at, updated_at) = fields(item);
            Row {
                index,
                id,
                created_at,
                updated_at,
            }
        })
        .collect()
}

/// The sandbox's own base URL, from the `Host` the client used.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn shop(world: &World) -> Value {
    json!({
        "id": 64_000_000_000u64 + world.seed % 1000,
        "name": "Omnify Demo",
        "domain": world.shop.domain,
        "myshopify_domain": world.shop.domain,
        "currency": world.shop.currency,
        "iana_timezone": "America/La_Paz",
        "timezone": "(GMT-04:00) America/La_Paz",
        "plan_name": "basic",
    })
}

/// The order id in `{id}.json`.
fn order_id(file: &str) -> Option<u64> {
    file.strip_suffix(".json")?.parse().ok()
}

/// `GET /admin/api/{version}/orders/{id}.json`.
async fn show_order(
    State(shopify): State<Arc<Shopify>>,
    Path((_version, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    Admitted(call_limit): Admitted,
) -> Response {
    let world = shopify.platform.world();
    let Some(order) = order_id(&file).and_then(|id| world.shop.orders.iter().find(|o| o.id == id)) else {
        return not_found(&call_limit);
    };
    let fields: Option<Vec<String>> = query_pairs(query.as_deref())
        .into_iter()
        .find(|(name, _)| name == "fields")
        .map(|(_, value)| value.split(',').map(|f| f.trim().to_string()).collect());
    let body = render::only_fields(render::order(order, &world.shop, zone()), fields.as_deref());
    reply(StatusCode::OK, json!({ "order": body }), Some(&call_limit))
}

/// `PUT /admin/api/{version}/orders/{id}.json` with `{"order": {"tags": "a, b"}}`:
/// the one order update served, replacing the order's tags.
async fn update_order(
    State(shopify): State<Arc<Shopify>>,
    Path((version, file)): Path<(String, String)>,
    Admitted(call_limit): Admitted,
    body: Bytes,
) -> Response {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut write = WriteCall {
        method: "PUT".into(),
        path: format!("/admin/api/{version}/orders/{file}"),
        body: parsed
            .clone()
            .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned())),
        idempotency_key: None,
        applied: false,
    };
    let outcome = apply_tags(&shopify, &file, parsed.as_ref(), &call_limit);
    write.applied = outcome.status() == StatusCode::OK;
    shopify.platform.record_write(write);
    outcome
}

fn apply_tags(shopify: &Shopify, file: &str, body: Option<&Value>, call_limit: &str) -> Response {
    let Some(fields) = body.and_then(|b| b.get("order")).and_then(Value::as_object) else {
        let errors = json!({ "order": "Required parameter missing or invalid" });
        return error(StatusCode::BAD_REQUEST, errors, Some(call_limit));
    };
    let mut world = shopify.platform.world();
    let found = order_id(file).and_then(|id| world.shop.orders.iter().position(|o| o.id == id));
    let Some(index) = found else {
        return not_found(call_limit);
    };
    let current = world.shop.orders[index].tags.clone();
    let tags = match fields.get("tags") {
        // Nothing else this sandbox models can be changed, so it is kept.
        None => current.clone(),
        Some(Value::String(tags)) => match normalise_tags(tags) {
            Ok(tags) => tags,
            Err(message) => {
                let errors = json!({ "tags": [message] });
                return error(StatusCode::UNPROCESSABLE_ENTITY, errors, Some(call_limit));
            }
        },
        Some(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "tags": ["is invalid"] }),
                Some(call_limit),
            );
        }
    };
    if tags != current {
        // A change moves `updated_at` forward, which incremental syncs see.
        let now = world.now();
        let order = &mut world.shop.orders[index];
        order.updated_at = now.max(order.updated_at + Duration::seconds(1));
        order.tags = tags;
    }
    let body = render::order(&world.shop.orders[index], &world.shop, zone());
    reply(StatusCode::OK, json!({ "order": body }), Some(call_limit))
}

/// Tags as Shopify stores them: trimmed, without blanks or repeats (shown
/// joined by `", "`); a tag longer than 255 characters is refused.
fn normalise_tags(tags: &str) -> Result<Vec<String>, &'static str> {
    let mut list: Vec<String> = Vec::new();
    for tag in tags.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if tag.chars().count() > 255 {
            return Err("is too long (maximum is 255 characters)");
        }
        if !list.iter().any(|t| t == tag) {
            list.push(tag.to_string());
        }
    }
    Ok(list)
}

/// The headers of a webhook delivery of `topic` with `body`, signed with
/// [`WEBHOOK_SECRET`] as Shopify signs them.
pub fn signed_webhook(topic: &str, body: &[u8]) -> Vec<(String, String)> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let digest = hex::encode(Sha256::new().chain_update(topic).chain_update(body).finalize());
    let webhook_id = format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    );
    vec![
        ("X-Shopify-Hmac-Sha256".into(), signature),
        ("X-Shopify-Topic".into(), topic.into()),
        ("X-Shopify-Shop-Domain".into(), SHOP_DOMAIN.into()),
        ("X-Shopify-Webhook-Id".into(), webhook_id),
        ("X-Shopify-API-Version".into(), API_VERSION.into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

/// The enablement request body pointing the connector at `url`.
pub fn enablement(url: &str, world: &World) -> Value {
    let _ = world;
    json!({
        "config": { "base_url": url, "api_version": API_VERSION },
        "secrets": { "access_token": ACCESS_TOKEN, "webhook_secret": WEBHOOK_SECRET },
        "grants": {
            "http_hosts": [crate::grant_of(url)],
            "secrets": ["access_token", "webhook_secret"],
            "kv": false,
        },
    })
}
