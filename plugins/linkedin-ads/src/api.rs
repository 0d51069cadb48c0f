//! The versioned Marketing API client: `/rest/…` with the `LinkedIn-Version`
//! and `X-Restli-Protocol-Version` headers, the Bearer token, Rest.li
//! partial updates, and LinkedIn's error body
//! (`{"status", "serviceErrorCode", "code", "message"}`) mapped to the SDK's
//! error kinds.

use crate::Config;
use crate::restli::Query;
use chrono::{DateTime, Days, Utc};
use omnify_sdk::http::{self, RequestBuilder, Response, RetryPolicy};
use omnify_sdk::{Error, Value, json, secrets};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The real API's address.
pub const DEFAULT_BASE_URL: &str = "https://api.linkedin.com";

/// The wait on a throttled call that names none and is not a daily limit.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A client of one ad account, with the tenant's token.
#[derive(Debug, Clone)]
pub struct Client {
    /// `{base_url}/rest`, without a trailing slash.
    root: String,
    version: String,
    token: String,
    account_id: String,
}

/// One page of a finder (`q=search`, `q=criteria`): the elements and, when
/// more follow, the token of the next page.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// The page's elements.
    #[serde(default)]
    pub elements: Vec<Value>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    next_page_token: Option<String>,
}

impl Page {
    /// The token of the next page; absent (or empty) on the last one.
    pub fn next_page_token(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.next_page_token.clone())
            .filter(|token| !token.is_empty())
    }
}

impl Client {
    /// A client for the configured account, with the `access_token` secret.
    pub fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            root: format!("{}/rest", config.base_url.trim_end_matches('/')),
            version: config.api_version.clone(),
            token: secrets::get("access_token")?,
            account_id: config.account_id()?,
        })
    }

    /// The ad account's numeric id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// `adAccounts/{id}`, the prefix of the account's resources.
    pub fn account_path(&self) -> String {
        format!("adAccounts/{}", self.account_id)
    }

    /// The versioned request to `path` (under `/rest`) with `query`.
    fn request(&self, method: http::Method, path: &str, query: &Query) -> RequestBuilder {
        let query = query.encode();
        let url = if query.is_empty() {
            format!("{}/{path}", self.root)
        } else {
            format!("{}/{path}?{query}", self.root)
        };
        http::request(method, url)
            .bearer_auth(&self.token)
            .header("LinkedIn-Version", self.version.clone())
            .header("X-Restli-Protocol-Version", "2.0.0")
            // 5xx are retried here; a 429 comes back to be read, since its
            // body says whether the limit is the day's.
            .retry(RetryPolicy {
                max_inline_wait: Duration::ZERO,
                rate_limits_to_caller: true,
                ..RetryPolicy::default()
            })
    }

    /// `GET path?query`, the body parsed as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str, query: &Query) -> Result<T, Error> {
        let response = self.request(http::Method::Get, path, query).send()?;
        if !response.is_success() {
            return Err(refusal(&response, Utc::now()));
        }
        response.json()
    }

    /// A Rest.li partial update of the entity at `path`: `POST` with
    /// `X-RestLi-Method: PARTIAL_UPDATE` and `{"patch": {"$set": set}}`.
    /// LinkedIn answers `204 No Content`.
    pub fn partial_update(&self, path: &str, set: Value) -> Result<(), Error> {
        let response = self
            .request(http::Method::Post, path, &Query::new())
            .header("X-RestLi-Method", "PARTIAL_UPDATE")
            .json(&json!({ "patch": { "$set": set } }))
            .send()?;
        if !response.is_success() {
            return Err(refusal(&response, Utc::now()));
        }
        Ok(())
    }
}

/// LinkedIn's error body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    service_error_code: Option<i64>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The error a refused call means, judged by LinkedIn's `code` and the HTTP
/// status (a body that is not LinkedIn's still gives one, by status). `now`
/// places the end of a daily limit.
pub fn refusal(response: &Response, now: DateTime<Utc>) -> Error {
    let body: ErrorBody = serde_json::from_slice(&response.body).unwrap_or_default();
    let status = response.status;
    let message = match (&body.code, &body.message) {
        (None, None) => {
            let text = response.text();
            let mut end = text.len().min(300);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("LinkedIn HTTP {status}: {}", &text[..end])
        }
        (code, text) => {
            let mut details = vec![format!("HTTP {}", body.status.unwrap_or(status))];
            if let Some(service) = body.service_error_code {
                details.push(format!("serviceErrorCode {service}"));
            }
            format!(
                "LinkedIn {}: {} ({})",
                code.as_deref().unwrap_or("error"),
                text.as_deref().unwrap_or_default(),
                details.join(", ")
            )
        }
    };
    match (body.code.as_deref(), status) {
        // The version asked for is not (or no longer) served: LinkedIn
        // retires each version about a year after its release.
        (Some("NONEXISTENT_VERSION" | "VERSION_MISSING"), _) | (_, 426) => Error::config(format!(
            "{message}; set `api_version` to an active LinkedIn-Version (YYYYMM)"
        )),
        (_, 401 | 403) => Error::Auth(message),
        (_, 404) => Error::NotFound(message),
        (_, 429) => Error::RateLimited {
            retry_after_ms: u64::try_from(retry_after(response, &message, now).as_millis())
                .unwrap_or(u64::MAX),
            message,
        },
        (_, 400 | 422) => Error::InvalidInput(message),
        (_, 500..) => Error::Transient(message),
        _ => Error::Internal(message),
    }
}

/// How long a throttled call waits: `Retry-After` when LinkedIn sends it;
/// until the next midnight UTC for a daily limit (`… DAY limit for calls to
/// this resource is reached`), which only resets then; a minute otherwise.
fn retry_after(response: &Response, message: &str, now: DateTime<Utc>) -> Duration {
    if let Some(wait) = response.retry_after() {
        return wait.max(Duration::from_secs(1));
    }
    if message.contains("DAY limit") {
        let midnight = now
            .date_naive()
            .checked_add_days(Days::new(1))
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|time| time.and_utc());
        if let Some(wait) = midnight.and_then(|m| (m - now).to_std().ok()) {
            return wait.max(Duration::from_secs(1));
        }
    }
    DEFAULT_RETRY_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn response(status: u16, body: Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 30, 12, 0, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn linkedins_errors_map_to_error_kinds() {
        let body = |status: u16, code: &str, message: &str| json!({"status": status, "serviceErrorCode": 65600, "code": code, "message": message});
        let auth = refusal(
            &response(401, body(401, "INVALID_ACCESS_TOKEN", "Invalid access token")),
            noon(),
        );
        assert!(
            matches!(&auth, Error::Auth(m) if m.contains("INVALID_ACCESS_TOKEN") && m.contains("65600")),
            "{auth:?}"
        );
        let denied = refusal(
            &response(403, body(403, "ACCESS_DENIED", "Not enough permissions")),
            noon(),
        );
        assert!(matches!(denied, Error::Auth(_)));
        assert!(matches!(
            refusal(&response(404, body(404, "NOT_FOUND", "Not found")), noon()),
            Error::NotFound(_)
        ));
        assert!(matches!(
            refusal(&response(400, body(400, "ILLEGAL_ARGUMENT", "bad")), noon()),
            Error::InvalidInput(_)
        ));
        assert!(matches!(
            refusal(&response(422, body(422, "UNPROCESSABLE_ENTITY", "bad")), noon()),
            Error::InvalidInput(_)
        ));
        let version = refusal(
            &response(
                426,
                json!({"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version 20200101 is not active"}),
            ),
            noon(),
        );
        assert!(
            matches!(&version, Error::Config(m) if m.contains("api_version")),
            "{version:?}"
        );
        let outage = refusal(
            &Response {
                status: 503,
                headers: Vec::new(),
                body: b"<html>down</html>".to_vec(),
            },
            noon(),
        );
        assert!(
            matches!(&outage, Error::Transient(m) if m.contains("<html>down")),
            "{outage:?}"
        );
    }

    #[test]
    fn throttling_waits_for_retry_after_or_the_days_end() {
        let throttled = |message: &str, headers: Vec<(String, String)>| Response {
            status: 429,
            headers,
            body: json!({"status": 429, "code": "TOO_MANY_REQUESTS", "message": message})
                .to_string()
                .into_bytes(),
        };
        let wait = |error: Error| match error {
            Error::RateLimited { retry_after_ms, .. } => retry_after_ms,
            other => panic!("not rate limited: {other:?}"),
        };
        let header = vec![("retry-after".to_string(), "2".to_string())];
        assert_eq!(
            wait(refusal(&throttled("Too many requests", header), noon())),
            2_000
        );
        let daily = "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.";
        assert_eq!(
            wait(refusal(&throttled(daily, Vec::new()), noon())),
            12 * 3_600_000
        );
        assert_eq!(
            wait(refusal(&throttled("Too many requests", Vec::new()), noon())),
            60_000
        );
    }
}
