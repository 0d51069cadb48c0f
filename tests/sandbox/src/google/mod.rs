//! The Google Ads API (REST, v21): `googleAds:search` paged with
//! `nextPageToken`, `googleAds:searchStream`, `campaigns:mutate`,
//! `campaignBudgets:mutate` and `adGroupAds:mutate`, answered from the
//! world's Google account.
//!
//! Requests need `Authorization: Bearer`, a `developer-token` header and, when
//! sent, a `login-customer-id` this user may act through. Errors are
//! `google.rpc.Status` bodies carrying a `GoogleAdsFailure`, as Google sends
//! them; the rate limit is HTTP 429 `RESOURCE_EXHAUSTED` with a `retryDelay`.

pub mod gaql;
mod mutate;
pub mod rows;

use crate::oauth::TokenCheck;
use crate::server::Platform;
use crate::world::{self, World};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

/// The API version served.
pub const API_VERSION: &str = "v21";
/// The OAuth access token the sandbox accepts.
pub const ACCESS_TOKEN: &str = "ya29.sandbox-google-ads-access-token";
/// The developer token the sandbox accepts.
pub const DEVELOPER_TOKEN: &str = "sandbox-developer-token";
/// A developer token with test access only: refused for the (production)
/// sandbox account with `DEVELOPER_TOKEN_NOT_APPROVED`.
pub const TEST_ACCESS_DEVELOPER_TOKEN: &str = "sandbox-test-access-developer-token";
/// The manager account the user may act through (`login-customer-id`).
pub const MANAGER_CUSTOMER_ID: &str = "9000000042";
/// Rows per page of `googleAds:search` (Google's is 10,000; smaller here so
/// that paging shows in tests).
pub const PAGE_SIZE: usize = 200;
/// The `retryDelay` of the rate-limit signal.
pub const RETRY_DELAY: &str = "1s";

/// The routes of the platform.
pub fn routes(platform: Arc<Platform>) -> Router {
    Router::new()
        .route("/{version}/customers/{customer_id}/{method}", post(call))
        .with_state(platform)
}

/// The enablement request body pointing the connector at `url`.
pub fn enablement(url: &str, world: &World) -> Value {
    json!({
        "config": {
            "base_url": url,
            "api_version": API_VERSION,
            "customer_id": world.account(world::Platform::Google).account_id,
            "login_customer_id": MANAGER_CUSTOMER_ID,
            "start_date": world.first_day.to_string(),
        },
        "secrets": { "access_token": ACCESS_TOKEN, "developer_token": DEVELOPER_TOKEN },
        "grants": {
            "http_hosts": [crate::grant_of(url)],
            "secrets": ["access_token", "developer_token"],
            "kv": false,
        },
    })
}

/// A refused request: a `google.rpc.Status` with a `GoogleAdsFailure`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    http: StatusCode,
    status: &'static str,
    message: String,
    /// `GoogleAdsError` objects: `{errorCode: {<kind>: <code>}, message, location?}`.
    errors: Vec<Value>,
    retry_delay: Option<&'static str>,
}

impl Failure {
    /// 400 `INVALID_ARGUMENT` with these `GoogleAdsError`s.
    pub(crate) fn invalid_argument(errors: Vec<Value>) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            status: "INVALID_ARGUMENT",
            message: "Request contains an invalid argument.".into(),
            errors,
            retry_delay: None,
        }
    }

    /// 401: `summary` is the status message, `code` the `authenticationError`.
    fn unauthenticated(summary: &str, code: &str, message: &str) -> Self {
        Self {
            http: StatusCode::UNAUTHORIZED,
            status: "UNAUTHENTICATED",
            message: format!(
                "{summary} Expected OAuth 2 access token, login cookie or other valid authentication credential."
            ),
            errors: vec![error("authenticationError", code, message)],
            retry_delay: None,
        }
    }

    fn permission_denied(code: &str, message: &str) -> Self {
        Self {
            http: StatusCode::FORBIDDEN,
            status: "PERMISSION_DENIED",
            message: "The caller does not have permission".into(),
            errors: vec![error("authorizationError", code, message)],
            retry_delay: None,
        }
    }

    fn rate_limited() -> Self {
        Self {
            http: StatusCode::TOO_MANY_REQUESTS,
            status: "RESOURCE_EXHAUSTED",
            message: "Resource has been exhausted (e.g. check quota).".into(),
            errors: vec![error(
                "quotaError",
                "RESOURCE_EXHAUSTED",
                &format!("Too many requests. Retry in {RETRY_DELAY}."),
            )],
            retry_delay: Some(RETRY_DELAY),
        }
    }

    fn not_found(message: &str) -> Self {
        Self {
            http: StatusCode::NOT_FOUND,
            status: "NOT_FOUND",
            message: message.into(),
            errors: Vec::new(),
            retry_delay: None,
        }
    }

    /// The `GoogleAdsFailure` detail, also used as a partial failure.
    pub(crate) fn failure_detail(errors: &[Value], request_id: &str) -> Value {
        json!({
            "@type": format!("type.googleapis.com/google.ads.googleads.{API_VERSION}.errors.GoogleAdsFailure"),
            "errors": errors,
            "requestId": request_id,
        })
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let request_id = request_id();
        let mut details = Vec::new();
        // Google puts the retry hint first, so clients that see only the
        // start of a body still find it.
        if let Some(delay) = self.retry_delay {
            details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}));
        }
        if !self.errors.is_empty() {
            details.push(Failure::failure_detail(&self.errors, &request_id));
        }
        let mut error = json!({
            "code": self.http.as_u16(),
            "message": self.message,
            "status": self.status,
        });
        if !details.is_empty() {
            error["details"] = Value::Array(details);
        }
        (self.http, axum::Json(json!({ "error": error }))).into_response()
    }
}

/// A `GoogleAdsError`.
pub(crate) fn error(kind: &str, code: &str, message: &str) -> Value {
    json!({ "errorCode": { kind: code }, "message": message })
}

/// A fresh `requestId`, as every Google response names one.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("sandbox-{:016x}", NEXT.fetch_add(1, AtomicOrdering::Relaxed))
}

async fn call(
    State(platform): State<Arc<Platform>>,
    Path((version, customer_id, method)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if platform.take_rate_limit() {
        return Failure::rate_limited().into_response();
    }
    match handle(&platform, &version, &customer_id, &method, &headers, &body) {
        Ok(reply) => axum::Json(reply).into_response(),
        Err(failure) => failure.into_response(),
    }
}

fn handle(
    platform: &Platform,
    version: &str,
    customer_id: &str,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Failure> {
    if version != API_VERSION {
        return Err(Failure::not_found(&format!(
            "API version `{version}` is not served."
        )));
    }
    authenticate(platform, headers)?;
    let account_id = platform
        .world()
        .account(world::Platform::Google)
        .account_id
        .clone();
    let login = header(headers, "login-customer-id");
    let may_act =
        customer_id == account_id && login.is_none_or(|l| l == account_id || l == MANAGER_CUSTOMER_ID);
    if !may_act {
        return Err(Failure::permission_denied(
            "USER_PERMISSION_DENIED",
            "User doesn't have permission to access customer. Note: If you're accessing a client customer, \
             the manager's customer id must be set in the 'login-customer-id' header.",
        ));
    }
    let request: Value = serde_json::from_slice(body).map_err(|e| {
        Failure::invalid_argument(vec![error(
            "requestError",
            "INVALID_INPUT",
            &format!("Invalid JSON payload received. {e}"),
        )])
    })?;
    match method {
        "googleAds:search" => search(platform, &request),
        "googleAds:searchStream" => search_stream(platform, &request),
        "campaigns:mutate" => mutate::campaigns(platform, &request),
        "campaignBudgets:mutate" => mutate::budgets(platform, &request),
        "adGroupAds:mutate" => mutate::ad_group_ads(platform, &request),
        _ => Err(Failure::not_found(&format!("Method `{method}` not found."))),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The OAuth token (the fixed one, or a live one Google's authorization
/// server issued), then the developer token.
fn authenticate(platform: &Platform, headers: &HeaderMap) -> Result<(), Failure> {
    let invalid = |code: &str, message: &str| {
        Failure::unauthenticated("Request had invalid authentication credentials.", code, message)
    };
    match header(headers, "authorization").and_then(|v| v.strip_prefix("Bearer ")) {
        None => {
            return Err(Failure::unauthenticated(
                "Request is missing required authentication credential.",
                "OAUTH_TOKEN_HEADER_INVALID",
                "Oauth token HTTP header is malformed.",
            ));
        }
        Some(token) => match platform.oauth().check_or_fixed(ACCESS_TOKEN, token) {
            TokenCheck::Live => {}
            TokenCheck::Expired => return Err(invalid("OAUTH_TOKEN_EXPIRED", "Oauth token is expired.")),
            TokenCheck::Unknown => return Err(invalid("OAUTH_TOKEN_INVALID", "Oauth token is invalid.")),
        },
    }
    match header(headers, "developer-token") {
        Some(DEVELOPER_TOKEN) => Ok(()),
        Some(TEST_ACCESS_DEVELOPER_TOKEN) => Err(Failure::permission_denied(
            "DEVELOPER_TOKEN_NOT_APPROVED",
            "The developer token is only approved for use with test accounts. To access non-test accounts, \
             apply for Basic or Standard access.",
        )),
        _ => Err(Failure::unauthenticated(
            "Request had invalid authentication credentials.",
            "DEVELOPER_TOKEN_INVALID",
            "The developer token is not valid.",
        )),
    }
}

fn query_failure(error: gaql::QueryError) -> Failure {
    Failure::invalid_argument(vec![self::error("queryError", error.code, &error.message)])
}

/// The rows of the request's query.
fn report(platform: &Platform, request: &Value) -> Result<rows::Report, Failure> {
    let text = request.get("query").and_then(Value::as_str).unwrap_or_default();
    let query = gaql::parse(text).map_err(query_failure)?;
    let world = platform.world();
    let landing_page = format!("https://{}/collections/all", world.shop.domain);
    rows::evaluate(&query, world.account(world::Platform::Google), &landing_page).map_err(query_failure)
}

/// A page token names the offset and the query it belongs to.
fn page_token(offset: usize, query: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{offset}:{:016x}", fingerprint(query)))
}

fn fingerprint(query: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    query.hash(&mut hasher);
    hasher.finish()
}

fn page_offset(token: &str, query: &str) -> Option<usize> {
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let (offset, print) = decoded.split_once(':')?;
    (print == format!("{:016x}", fingerprint(query))).then_some(())?;
    offset.parse().ok()
}

fn search(platform: &Platform, request: &Value) -> Result<Value, Failure> {
    if request.get("pageSize").is_some() {
        return Err(Failure::invalid_argument(vec![error(
            "requestError",
            "PAGE_SIZE_NOT_SUPPORTED",
            "Setting the page size is not supported. Search Responses will have fixed page size of 10000 rows.",
        )]));
    }
    let report = report(platform, request)?;
    let query = request.get("query").and_then(Value::as_str).unwrap_or_default();
    let offset = match request.get("pageToken").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(token) => page_offset(token, query)
            .filter(|offset| *offset <= report.rows.len())
            .ok_or_else(|| {
                Failure::invalid_argument(vec![error(
                    "requestError",
                    "INVALID_PAGE_TOKEN",
                    "Page token is invalid.",
                )])
            })?,
    };
    let end = (offset + PAGE_SIZE).min(report.rows.len());
    // Like Google, empty repeated fields and absent tokens are left out.
    let mut reply = json!({ "fieldMask": report.field_mask });
    if end > offset {
        reply["results"] = Value::Array(report.rows[offset..end].to_vec());
    }
    if end < report.rows.len() {
        reply["nextPageToken"] = json!(page_token(end, query));
    }
    if request.get("returnTotalResultsCount").and_then(Value::as_bool) == Some(true) {
        reply["totalResultsCount"] = json!(report.rows.len().to_string());
    }
    Ok(reply)
}

fn search_stream(platform: &Platform, request: &Value) -> Result<Value, Failure> {
    let report = report(platform, request)?;
    let request_id = request_id();
    let batch = |rows: &[Value]| {
        let mut batch = json!({ "fieldMask": report.field_mask, "requestId": request_id });
        if !rows.is_empty() {
            batch["results"] = Value::Array(rows.to_vec());
        }
        batch
    };
    if report.rows.is_empty() {
        return Ok(json!([batch(&[])]));
    }
    Ok(Value::Array(report.rows.chunks(PAGE_SIZE).map(batch).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_belong_to_their_query() {
        let token = page_token(200, "SELECT campaign.id FROM campaign");
        assert_eq!(page_offset(&token, "SELECT campaign.id FROM campaign"), Some(200));
        assert_eq!(page_offset(&token, "SELECT ad_group.id FROM ad_group"), None);
        assert_eq!(page_offset("garbage", "SELECT campaign.id FROM campaign"), None);
    }

    #[test]
    fn failures_carry_the_google_ads_failure_and_the_retry_hint_first() {
        let failure = Failure::rate_limited();
        assert_eq!(failure.http, StatusCode::TOO_MANY_REQUESTS);
        let detail = Failure::failure_detail(&failure.errors, "r1");
        assert_eq!(
            detail["errors"][0]["errorCode"]["quotaError"],
            "RESOURCE_EXHAUSTED"
        );
        assert!(
            detail["@type"]
                .as_str()
                .is_some_and(|t| t.contains("v21.errors.GoogleAdsFailure"))
        );
    }
}
