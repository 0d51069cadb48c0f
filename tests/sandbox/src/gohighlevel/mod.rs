//! The GoHighLevel (LeadConnector) API v2 for the world's CRM location:
//! `POST /contacts/search` with `searchAfter` paging, a contact and its
//! tags, the pipelines, `GET /opportunities/search` with
//! `startAfter`/`startAfterId` paging, an opportunity and its update, the
//! calendars and their events.
//!
//! Like GoHighLevel, every request needs `Authorization: Bearer <token>`
//! (the sandbox's fixed location token, or a live one its OAuth issued) and
//! a `Version` header (`2021-07-28`; the calendar endpoints document
//! `2021-04-15`), errors are `{"statusCode", "message"[, "error"]}`, and
//! every response reports the `X-RateLimit-*` headers of the burst window
//! (100 requests per 10 s) and the day (200,000). An armed rate limit
//! answers `429` with those headers and `Retry-After`. Deliveries of
//! webhooks are signed as GoHighLevel signs them (`signing.rs`).

mod calendars;
mod contacts;
mod opportunities;
mod signing;

use crate::oauth::TokenCheck;
use crate::server::{Platform, WriteCall};
use crate::world::World;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use signing::{
    ED25519_SEED, RSA_PRIVATE_KEY_PEM, RSA_PUBLIC_KEY_PEM, ed25519_public_key_pem, ed25519_signature, event,
    rsa_signature, signed_webhook,
};

/// The location token the sandbox accepts.
pub const ACCESS_TOKEN: &str = "pit-omnify-sandbox-6f1c2a9e-4b7d-4e21-9c3f-8a5d0b7e1f42";
/// The `Version` of the contacts and opportunities endpoints.
pub const API_VERSION: &str = "2021-07-28";
/// The `Version` the calendar endpoints document.
pub const CALENDARS_API_VERSION: &str = "2021-04-15";
/// The location's UTC offset in hours (America/Bogota, no daylight saving):
/// calendar events are rendered in it.
pub const LOCATION_UTC_OFFSET_HOURS: i32 = -5;
/// Requests per burst window.
pub const BURST_MAX: u32 = 100;
/// The burst window.
pub const BURST_WINDOW: Duration = Duration::from_secs(10);
/// Requests per day.
pub const DAILY_MAX: u32 = 200_000;
/// GoHighLevel's refusal of a token it does not know.
pub const INVALID_TOKEN_MESSAGE: &str = "Invalid token: access token is invalid";
/// GoHighLevel's refusal of an expired token.
pub const EXPIRED_TOKEN_MESSAGE: &str = "Invalid JWT";

/// The largest write body read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Calls counted for the `X-RateLimit-*` headers (reported, not enforced:
/// tests arm the rate limit explicitly, so runs stay quick).
#[derive(Debug)]
struct Window {
    started: Instant,
    in_window: u32,
    today: u32,
}

/// The server's state.
#[derive(Debug)]
pub struct GoHighLevel {
    /// Logs, rate limit and world.
    pub platform: Arc<Platform>,
    window: Mutex<Window>,
}

impl GoHighLevel {
    /// Count a call; the values of `X-RateLimit-Remaining` and
    /// `X-RateLimit-Daily-Remaining`.
    fn count(&self) -> (u32, u32) {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.started.elapsed() >= BURST_WINDOW {
            window.started = Instant::now();
            window.in_window = 0;
        }
        window.in_window += 1;
        window.today += 1;
        (
            BURST_MAX.saturating_sub(window.in_window),
            DAILY_MAX.saturating_sub(window.today),
        )
    }
}

/// The routes of the API.
pub fn routes(platform: Arc<Platform>) -> Router {
    let state = Arc::new(GoHighLevel {
        platform,
        window: Mutex::new(Window {
            started: Instant::now(),
            in_window: 0,
            today: 0,
        }),
    });
    Router::new()
        .route("/contacts/search", post(contacts::search))
        .route("/contacts/{id}", get(contacts::show))
        .route("/contacts/{id}/tags", post(contacts::add_tags))
        .route("/opportunities/pipelines", get(opportunities::pipelines))
        .route("/opportunities/search", get(opportunities::search))
        .route(
            "/opportunities/{id}",
            get(opportunities::show).put(opportunities::update),
        )
        .route("/calendars/", get(calendars::list))
        .route("/calendars/events", get(calendars::events))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// GoHighLevel's error body.
pub(crate) fn error(status: StatusCode, message: impl Into<Value>) -> Response {
    let mut body = json!({ "statusCode": status.as_u16(), "message": message.into() });
    if matches!(status.as_u16(), 401 | 422) {
        body["error"] = json!(status.canonical_reason().unwrap_or_default());
    }
    (status, Json(body)).into_response()
}

/// A `422` with GoHighLevel's list of validation messages.
pub(crate) fn unprocessable(message: &str) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, json!([message]))
}

/// A `403` for a location the token is not for.
pub(crate) fn forbidden_location(location: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        format!("The token does not have access to this location: {location}"),
    )
}

/// Whether `presented` is a bearer token the API accepts; an expired one
/// the sandbox's OAuth issued is told apart.
fn authorized(platform: &Platform, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match token.map(|t| platform.oauth().check_or_fixed(ACCESS_TOKEN, t)) {
        Some(TokenCheck::Live) => Ok(()),
        Some(TokenCheck::Expired) => Err(Box::new(error(StatusCode::UNAUTHORIZED, EXPIRED_TOKEN_MESSAGE))),
        _ => Err(Box::new(error(StatusCode::UNAUTHORIZED, INVALID_TOKEN_MESSAGE))),
    }
}

/// The version `path` requires: the calendar endpoints document their own.
fn required_version(path: &str) -> &'static str {
    if path.starts_with("/calendars") {
        CALENDARS_API_VERSION
    } else {
        API_VERSION
    }
}

/// Why the gate refuses a request, if it does.
fn refusal(ghl: &GoHighLevel, request: &Request) -> Option<Response> {
    if ghl.platform.take_rate_limit() {
        let mut response = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        return Some(response);
    }
    if let Err(refused) = authorized(&ghl.platform, request.headers()) {
        return Some(*refused);
    }
    let wanted = required_version(request.uri().path());
    match request.headers().get("version").map(|v| v.to_str()) {
        None => Some(error(StatusCode::BAD_REQUEST, "Version header was not found")),
        Some(Ok(version)) if version == wanted => None,
        Some(version) => Some(error(
            StatusCode::BAD_REQUEST,
            format!(
                "Version {} is not supported by this endpoint; it takes {wanted}",
                version.unwrap_or("<not text>")
            ),
        )),
    }
}

/// Whether `method` `path` is one of the writes.
fn is_write(method: &Method, path: &str) -> bool {
    *method == Method::PUT || (*method == Method::POST && path.ends_with("/tags"))
}

/// What every request goes through: the rate limit, the token and the
/// version, then the rate-limit headers on the answer. A refused write is
/// logged too, since a test must see every write that reached the platform.
async fn gate(State(ghl): State<Arc<GoHighLevel>>, request: Request, next: Next) -> Response {
    let (remaining, daily) = ghl.count();
    let mut response = match refusal(&ghl, &request) {
        Some(response) => {
            if is_write(request.method(), request.uri().path()) {
                let method = request.method().to_string();
                let path = request.uri().path().to_string();
                let body = to_bytes(Body::new(request.into_body()), MAX_BODY_BYTES)
                    .await
                    .unwrap_or_default();
                ghl.platform.record_write(WriteCall {
                    method,
                    path,
                    body: json_or_text(&body),
                    idempotency_key: None,
                    applied: false,
                });
            }
            response
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit-daily", DAILY_MAX),
        ("x-ratelimit-daily-remaining", daily),
        (
            "x-ratelimit-interval-milliseconds",
            BURST_WINDOW.as_millis() as u32,
        ),
        ("x-ratelimit-max", BURST_MAX),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    headers
        .entry("x-ratelimit-remaining")
        .or_insert(HeaderValue::from(remaining));
    response
}

async fn unknown_route(request: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("Cannot {} {}", request.method(), request.uri().path()),
    )
}

/// A body as JSON, or as text when it is not JSON, for the write log.
pub(crate) fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The pairs of a query string.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// Query parameter `name`.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// A time as GoHighLevel renders most: UTC with milliseconds.
pub(crate) fn iso(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A time in the location's zone, as calendar events are rendered.
pub(crate) fn local(time: DateTime<Utc>) -> String {
    let zone =
        FixedOffset::east_opt(LOCATION_UTC_OFFSET_HOURS * 3600).expect("a constant offset within a day");
    time.with_timezone(&zone)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The enablement request body pointing the connector at `url`, with the
/// sandbox's token and webhook keys.
pub fn enablement(url: &str, world: &World) -> Value {
    json!({
        "config": {
            "base_url": url,
            "location_id": world.crm.location_id,
            "start_date": world.first_day.to_string(),
            "currency": world.crm.currency,
            "webhook_public_key": RSA_PUBLIC_KEY_PEM,
            "webhook_ed25519_public_key": ed25519_public_key_pem(),
        },
        "secrets": { "access_token": ACCESS_TOKEN },
        "grants": {
            "http_hosts": [crate::grant_of(url)],
            "secrets": ["access_token"],
            "kv": false,
        },
    })
}

#[cfg(test)]
mod tests;
