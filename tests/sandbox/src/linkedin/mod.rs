//! The LinkedIn Marketing API (versioned `/rest`, Rest.li 2.0) over the
//! world's LinkedIn ad account.
//!
//! - `GET /rest/adAccounts/{id}`: the ad account.
//! - `GET /rest/adAccounts/{id}/adCampaignGroups?q=search` and
//!   `/adCampaigns?q=search` (`search=(status:(values:List(…)),…)`), and
//!   `/creatives?q=criteria` (`campaigns`, `creatives`, `intendedStatuses`):
//!   cursor paging with `pageSize` and `pageToken`, the next token in
//!   `metadata.nextPageToken`; see [`entities`].
//! - `GET /rest/adAccounts/{id}/adCampaigns/{id}`, `/adCampaignGroups/{id}`
//!   and `/creatives/{urn}`: one entity.
//! - `POST` to a campaign or a creative with `X-RestLi-Method:
//!   PARTIAL_UPDATE` and `{"patch": {"$set": …}}`: `status` and
//!   `dailyBudget` of a campaign, `intendedStatus` of a creative; `204`.
//!   See [`writes`].
//! - `GET /rest/adAnalytics?q=analytics`: see [`analytics`].
//!
//! Every request needs `Authorization: Bearer` (the fixed [`ACCESS_TOKEN`]
//! or a live one LinkedIn's OAuth issued), an active `LinkedIn-Version`
//! and `X-Restli-Protocol-Version: 2.0.0`. Errors are LinkedIn's
//! `{"status", "serviceErrorCode", "code", "message"}`; the armed rate
//! limit answers 429 `TOO_MANY_REQUESTS` with `Retry-After: 1`.

mod analytics;
mod entities;
pub mod restli;
mod writes;

use crate::oauth::TokenCheck;
use crate::server::Platform;
use crate::world::{Platform as AdPlatform, World};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;

/// The sandbox's valid access token.
pub const ACCESS_TOKEN: &str = "AQVsandboxLinkedInAccessToken0042";
/// The `LinkedIn-Version` the enablement names.
pub const API_VERSION: &str = "202510";
/// The oldest and newest versions served (LinkedIn serves each about a year).
const VERSIONS: std::ops::RangeInclusive<u32> = 202504..=202610;

/// A refusal in LinkedIn's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedInError {
    status: StatusCode,
    service_error_code: Option<u32>,
    code: &'static str,
    message: String,
    retry_after: Option<u32>,
}

impl LinkedInError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            service_error_code: None,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `ILLEGAL_ARGUMENT`: a parameter or body LinkedIn cannot take.
    pub fn illegal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ILLEGAL_ARGUMENT", message)
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 403 `ACCESS_DENIED` (serviceErrorCode 100): an ad account the
    /// token's member has no role on.
    fn access_denied(resource: &str) -> Self {
        Self {
            service_error_code: Some(100),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "ACCESS_DENIED",
                format!("Not enough permissions to access: {resource}.GET.20251001"),
            )
        }
    }

    fn unauthorized(service: u32, code: &'static str, message: &str) -> Self {
        Self {
            service_error_code: Some(service),
            ..Self::new(StatusCode::UNAUTHORIZED, code, message)
        }
    }

    fn rate_limited() -> Self {
        Self {
            service_error_code: Some(101),
            retry_after: Some(1),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "Resource level throttle APPLICATION limit for calls to this resource is reached. Retry later.",
            )
        }
    }
}

impl IntoResponse for LinkedInError {
    fn into_response(self) -> Response {
        let mut body = json!({ "status": self.status.as_u16(), "code": self.code, "message": self.message });
        if let Some(service) = self.service_error_code {
            body["serviceErrorCode"] = json!(service);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}

/// What a handler answers: a JSON body, or a refusal.
type Answer = Result<Value, LinkedInError>;

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The routes of the Marketing API.
pub fn routes(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/rest/adAccounts/{account}", get(entities::account))
        .route("/rest/adAccounts/{account}/{collection}", get(entities::finder))
        .route(
            "/rest/adAccounts/{account}/{collection}/{key}",
            get(entities::entity).post(writes::partial_update),
        )
        .route("/rest/adAnalytics", get(analytics::analytics))
        .with_state(platform)
}

/// The enablement request body pointing the connector at `url` with the
/// sandbox's valid token, reading from the world's first day.
pub fn enablement(url: &str, world: &World) -> Value {
    json!({
        "config": {
            "base_url": url,
            "api_version": API_VERSION,
            "account_id": world.account(AdPlatform::LinkedIn).account_id,
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

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The Bearer token: the fixed [`ACCESS_TOKEN`], or a live one the
/// platform's OAuth server issued; an expired issued one gets LinkedIn's
/// expired-token error.
fn authorized(platform: &Platform, headers: &HeaderMap) -> Result<(), LinkedInError> {
    let token = header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| platform.oauth().check_or_fixed(ACCESS_TOKEN, t)) {
        None => Err(LinkedInError::unauthorized(
            65604,
            "EMPTY_ACCESS_TOKEN",
            "Empty oauth2 access token",
        )),
        Some(TokenCheck::Live) => Ok(()),
        Some(TokenCheck::Expired) => Err(LinkedInError::unauthorized(
            65601,
            "EXPIRED_ACCESS_TOKEN",
            "The token used in the request has expired",
        )),
        Some(TokenCheck::Unknown) => Err(LinkedInError::unauthorized(
            65600,
            "INVALID_ACCESS_TOKEN",
            "Invalid access token",
        )),
    }
}

/// An active `LinkedIn-Version`: `YYYYMM`, or `YYYYMM.RR` for a revision.
fn versioned(headers: &HeaderMap) -> Result<(), LinkedInError> {
    let Some(version) = header(headers, "linkedin-version") else {
        return Err(LinkedInError::new(
            StatusCode::BAD_REQUEST,
            "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
        ));
    };
    let month = version.split_once('.').map_or(version, |(month, _)| month);
    match month.parse::<u32>() {
        Ok(month) if month.to_string().len() == 6 && VERSIONS.contains(&month) => Ok(()),
        _ => Err(LinkedInError::new(
            StatusCode::UPGRADE_REQUIRED,
            "NONEXISTENT_VERSION",
            format!("Requested version {month}01 is not active"),
        )),
    }
}

/// The checks every request goes through: the token, the version, the
/// Rest.li protocol, then the armed rate limit.
fn admit(platform: &Platform, headers: &HeaderMap) -> Result<(), LinkedInError> {
    authorized(platform, headers)?;
    versioned(headers)?;
    if header(headers, "x-restli-protocol-version") != Some("2.0.0") {
        return Err(LinkedInError::illegal(
            "Rest.li 2.0 query syntax (List(...), (key:value)) needs the header X-Restli-Protocol-Version: 2.0.0",
        ));
    }
    if platform.take_rate_limit() {
        return Err(LinkedInError::rate_limited());
    }
    Ok(())
}

/// The world's LinkedIn account id when `account` names it; a 403 for any
/// other account, which the token's member has no role on.
fn own_account(platform: &Platform, account: &str) -> Result<String, LinkedInError> {
    let id = platform.world().account(AdPlatform::LinkedIn).account_id.clone();
    if account == id {
        Ok(id)
    } else {
        Err(LinkedInError::access_denied("adAccounts"))
    }
}

/// A numeric id as LinkedIn writes it: a JSON number.
fn number(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// `urn:li:{kind}:{id}`.
fn urn(kind: &str, id: &str) -> String {
    format!("urn:li:{kind}:{id}")
}

/// Cents as LinkedIn's decimal string, for example `"123.45"`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_money_read_like_linkedins() {
        let mut headers = HeaderMap::new();
        assert_eq!(versioned(&headers).map_err(|e| e.code), Err("VERSION_MISSING"));
        for (version, ok) in [
            ("202510", true),
            ("202510.01", true),
            ("202401", false),
            ("2025-10", false),
        ] {
            headers.insert("linkedin-version", HeaderValue::from_static(version));
            assert_eq!(versioned(&headers).is_ok(), ok, "{version}");
        }
        assert_eq!(money(12_345), "123.45");
        assert_eq!(money(5), "0.05");
        assert_eq!(number("510000001"), json!(510000001));
    }
}
