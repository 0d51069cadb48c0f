//! The TikTok Marketing API (v1.3) of the TikTok account of the world.
//!
//! Like the real API, every answer is HTTP 200 with the envelope
//! `{code, message, request_id, data}`: `code` 0 is success, anything else
//! an error (40100 rate limit, 40104/40105 missing or wrong `Access-Token`,
//! 40001 an advertiser the token may not operate, 40002 bad parameters).
//! Lists page with `page`/`page_size` and answer `data: {list, page_info}`.
//!
//! Served: `advertiser/info`, `campaign/get`, `adgroup/get`, `ad/get`,
//! `file/image/ad/info`, `report/integrated/get` (see [`report`]) and the
//! writes `campaign/status/update`, `campaign/update` and
//! `ad/status/update` (see [`writes`]).

mod objects;
mod report;
mod writes;

use crate::oauth::TokenCheck;
use crate::server::Platform;
use crate::world::{AdAccount, Platform as AdPlatform, World};
use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The access token the sandbox accepts.
pub const ACCESS_TOKEN: &str = "5d1f0c9a7be24e8f93a6c2d4b0e1f7a8c3d5e9b1";

/// The path prefix of every endpoint.
const PREFIX: &str = "/open_api/v1.3";

/// The largest `page_size` the API accepts.
const MAX_PAGE_SIZE: usize = 1000;

/// The routes of the TikTok Marketing API.
pub fn routes(platform: Arc<Platform>) -> Router {
    Router::new()
        .route(
            &format!("{PREFIX}/advertiser/info/"),
            read(objects::advertiser_info),
        )
        .route(&format!("{PREFIX}/campaign/get/"), read(objects::campaigns))
        .route(&format!("{PREFIX}/adgroup/get/"), read(objects::ad_groups))
        .route(&format!("{PREFIX}/ad/get/"), read(objects::ads))
        .route(&format!("{PREFIX}/file/image/ad/info/"), read(objects::images))
        .route(
            &format!("{PREFIX}/report/integrated/get/"),
            read(report::integrated),
        )
        .route(
            &format!("{PREFIX}/campaign/status/update/"),
            post(writes::update_status),
        )
        .route(
            &format!("{PREFIX}/campaign/update/"),
            post(writes::update_campaign),
        )
        .route(
            &format!("{PREFIX}/ad/status/update/"),
            post(writes::update_ad_status),
        )
        .with_state(platform)
}

/// The enablement request body pointing the connector at `url`. The first
/// sync starts at the world's first day: the connector's default (90 days
/// before the real today) may not overlap the seeded days.
pub fn enablement(url: &str, world: &World) -> Value {
    json!({
        "config": {
            "base_url": url,
            "advertiser_id": world.account(AdPlatform::Tiktok).account_id,
            "start_date": world.first_day.to_string(),
        },
        "secrets": { "access_token": ACCESS_TOKEN },
        "grants": {
            "http_hosts": [crate::grant_of(url)],
            "secrets": ["access_token"],
            "kv": false,
        },
    })
}

/// A refusal in TikTok's terms: a non-zero `code` and its message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    code: u32,
    message: String,
}

impl ApiError {
    /// The rate-limit signal.
    fn rate_limited() -> Self {
        Self {
            code: 40100,
            message: "Too many requests. Please retry in some time.".into(),
        }
    }

    /// Code 40002: a parameter is missing or wrong.
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: 40002,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // TikTok answers errors with HTTP 200 too; only `code` tells.
        Json(json!({
            "code": self.code,
            "message": self.message,
            "request_id": request_id(),
            "data": {},
        }))
        .into_response()
    }
}

/// What a handler answers: the envelope's `data`, or a refusal.
type ApiResult = Result<Value, ApiError>;

/// Wrap a handler's outcome in TikTok's envelope.
fn envelope(result: ApiResult) -> Response {
    match result {
        Ok(data) => Json(json!({
            "code": 0,
            "message": "OK",
            "request_id": request_id(),
            "data": data,
        }))
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// What a `GET` endpoint does with the request's headers and query.
type Read = fn(&Platform, &HeaderMap, &Params) -> ApiResult;

/// The handler of a `GET` endpoint: `serve` with the query's parameters,
/// its outcome in the envelope.
fn read(serve: Read) -> MethodRouter<Arc<Platform>> {
    get(
        move |State(platform): State<Arc<Platform>>, headers: HeaderMap, RawQuery(query): RawQuery| async move {
            envelope(serve(&platform, &headers, &Params::parse(query)))
        },
    )
}

/// A fresh request id in TikTok's style: a timestamp then hex digits.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{n:016X}", Utc::now().format("%Y%m%d%H%M%S"))
}

/// The checks every endpoint makes first: the armed rate limit, then the
/// `Access-Token` header (the fixed token, or a live one TikTok's
/// authorization server issued).
fn admit(platform: &Platform, headers: &HeaderMap) -> Result<(), ApiError> {
    if platform.take_rate_limit() {
        return Err(ApiError::rate_limited());
    }
    match headers.get("access-token").and_then(|v| v.to_str().ok()) {
        None | Some("") => Err(ApiError {
            code: 40104,
            message: "Access token is null, please check.".into(),
        }),
        Some(token) => match platform.oauth().check_or_fixed(ACCESS_TOKEN, token) {
            TokenCheck::Live => Ok(()),
            TokenCheck::Expired => Err(ApiError {
                code: 40105,
                message: "The access token is invalid or has expired".into(),
            }),
            TokenCheck::Unknown => Err(ApiError {
                code: 40105,
                message: "Access token is incorrect or has been revoked.".into(),
            }),
        },
    }
}

/// The TikTok account, when `advertiser_id` names it; code 40001 otherwise,
/// as for an advertiser the token was not authorised for.
fn account<'w>(world: &'w World, advertiser_id: &str) -> Result<&'w AdAccount, ApiError> {
    let account = world.account(AdPlatform::Tiktok);
    if account.account_id == advertiser_id {
        Ok(account)
    } else {
        Err(ApiError {
            code: 40001,
            message: format!("No permission to operate advertiser {advertiser_id}."),
        })
    }
}

/// The query parameters of a GET request. JSON-valued parameters
/// (`filtering`, `metrics`, ...) are JSON text, as in the real API.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: Option<String>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A parameter that may be absent.
    fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A parameter that must be present.
    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.optional(name)
            .ok_or_else(|| ApiError::invalid(format!("{name}: Missing data for required field.")))
    }

    /// A parameter holding a JSON value, parsed.
    fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        self.optional(name)
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|_| ApiError::invalid(format!("{name}: Not a valid JSON.")))
            })
            .transpose()
    }

    /// A parameter holding a JSON list of strings.
    fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        self.json(name)?
            .map(|value| string_list(name, &value))
            .transpose()
    }

    /// `page` (from 1) and `page_size` (1 to 1000), with TikTok's defaults.
    fn paging(&self) -> Result<(usize, usize), ApiError> {
        let number = |name: &str, default: usize, max: usize| match self.optional(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::invalid(format!("{name}: Must be between 1 and {max}."))),
        };
        Ok((
            number("page", 1, 99_999)?,
            number("page_size", 10, MAX_PAGE_SIZE)?,
        ))
    }
}

/// A JSON value that must be a list of strings (ids may also come as numbers).
fn string_list(name: &str, value: &Value) -> Result<Vec<String>, ApiError> {
    let not_a_list = || ApiError::invalid(format!("{name}: Not a valid list of strings."));
    value
        .as_array()
        .ok_or_else(not_a_list)?
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(not_a_list()),
        })
        .collect()
}

/// A required list of 1 to `max` ids, from the JSON `value` of `name`.
fn id_list(name: &str, value: Option<&Value>, max: usize) -> Result<Vec<String>, ApiError> {
    let ids = value
        .map(|value| string_list(name, value))
        .transpose()?
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("{name}: Missing data for required field.")))?;
    if ids.len() > max {
        return Err(ApiError::invalid(format!(
            "{name}: Length must be between 1 and {max}."
        )));
    }
    Ok(ids)
}

/// One page of `items` and its `page_info`, as `data`.
fn page_of(items: Vec<Value>, (page, page_size): (usize, usize)) -> Value {
    let total = items.len();
    let list: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    json!({
        "list": list,
        "page_info": {
            "page": page,
            "page_size": page_size,
            "total_number": total,
            "total_page": total.div_ceil(page_size),
        },
    })
}

/// A time as TikTok writes it: `2026-06-01 00:00:00` (UTC).
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// An amount in cents as TikTok's decimal string, for example `"12.34"`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_a_two_decimal_string() {
        assert_eq!(money(1234), "12.34");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(-250), "-2.50");
    }

    #[test]
    fn pages_report_their_totals() {
        let items: Vec<Value> = (0..25).map(|n| json!(n)).collect();
        let page = page_of(items, (3, 10));
        assert_eq!(page["list"], json!([20, 21, 22, 23, 24]));
        assert_eq!(page["page_info"]["total_page"], 3);
        assert_eq!(page["page_info"]["total_number"], 25);
    }
}
