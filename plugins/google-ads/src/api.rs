//! The Google Ads REST API: `googleAds:search` and the mutate services, with
//! Google's error bodies (`google.rpc.Status` carrying a `GoogleAdsFailure`)
//! mapped to the SDK's error kinds.

use crate::Config;
use omnify_sdk::http::{self, RetryPolicy};
use omnify_sdk::{Error, secrets};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// How long to wait on a quota error that names no `retryDelay`.
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(30);

/// A client for one customer account.
pub struct Client {
    base: String,
    customer_id: String,
    login_customer_id: Option<String>,
    access_token: String,
    developer_token: String,
}

/// One page of `googleAds:search`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The rows; Google leaves the field out when there are none.
    #[serde(default)]
    pub results: Vec<Value>,
    /// The token of the next page; absent on the last one.
    pub next_page_token: Option<String>,
}

/// A request Google refused, as its error body says.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    http_status: u16,
    /// The `google.rpc.Code` name, for example `INVALID_ARGUMENT`.
    status: String,
    /// `(kind, code)` of each `GoogleAdsError`, for example
    /// `("queryError", "UNRECOGNIZED_FIELD")`.
    codes: Vec<(String, String)>,
    /// The whole message, for people.
    message: String,
    retry_delay: Option<Duration>,
}

impl Refusal {
    /// Whether one of the errors has this code.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes.iter().any(|(_, c)| c == code)
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        let message = refusal.message;
        match (refusal.status.as_str(), refusal.http_status) {
            ("RESOURCE_EXHAUSTED", _) | (_, 429) => Error::RateLimited {
                retry_after_ms: millis(refusal.retry_delay.unwrap_or(DEFAULT_RETRY_DELAY)),
                message,
            },
            ("UNAUTHENTICATED" | "PERMISSION_DENIED", _) | (_, 401 | 403) => Error::Auth(message),
            ("NOT_FOUND", _) | (_, 404) => Error::NotFound(message),
            // A mutate of an id the account does not have is INVALID_ARGUMENT
            // for Google, but the caller needs to know it is missing.
            _ if refusal.codes.iter().any(|(_, c)| c == "RESOURCE_NOT_FOUND") => Error::NotFound(message),
            ("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE", _) | (_, 400) => {
                Error::InvalidInput(message)
            }
            ("UNAVAILABLE" | "INTERNAL" | "DEADLINE_EXCEEDED" | "ABORTED", _) | (_, 500..) => {
                Error::Transient(message)
            }
            _ => Error::Internal(message),
        }
    }
}

/// Why a call failed: Google refused it, or it never got an answer.
#[derive(Debug)]
pub enum Failure {
    /// Google answered with an error.
    Refused(Refusal),
    /// The call failed before Google answered (transport, allowlist, ...).
    Sdk(Error),
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Refused(refusal) => refusal.into(),
            Failure::Sdk(error) => error,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Digits only: Google shows customer ids as `123-456-7890`, the API wants `1234567890`.
fn digits(id: &str) -> String {
    id.chars().filter(char::is_ascii_digit).collect()
}

impl Client {
    /// A client for the configured account, with the tenant's credentials.
    pub fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            base: format!("{}/{}", config.base_url.trim_end_matches('/'), config.api_version),
            customer_id: digits(&config.customer_id),
            login_customer_id: config.login_customer_id.as_deref().map(digits),
            access_token: secrets::get("access_token")?,
            developer_token: secrets::get("developer_token")?,
        })
    }

    /// `customers/{id}`, the prefix of every resource name of the account.
    pub fn customer(&self) -> String {
        format!("customers/{}", self.customer_id)
    }

    /// One page of the rows of `query`.
    pub fn search(&self, query: &str, page_token: Option<&str>) -> Result<Page, Failure> {
        let mut body = json!({ "query": query });
        if let Some(token) = page_token {
            body["pageToken"] = json!(token);
        }
        let reply = self.call("googleAds:search", &body)?;
        serde_json::from_value(reply).map_err(|e| Failure::Sdk(Error::internal(format!("search reply: {e}"))))
    }

    /// Every row of `query`, following the pages; for small lookups.
    pub fn search_all(&self, query: &str) -> Result<Vec<Value>, Error> {
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.search(query, token.as_deref())?;
            rows.extend(page.results);
            match page.next_page_token {
                Some(next) => token = Some(next),
                None => return Ok(rows),
            }
        }
    }

    /// Update resources of `service` (`campaigns`, `campaignBudgets`) with
    /// `operations`; all or nothing.
    pub fn mutate(&self, service: &str, operations: Vec<Value>) -> Result<Value, Error> {
        Ok(self.call(&format!("{service}:mutate"), &json!({ "operations": operations }))?)
    }

    fn call(&self, method: &str, body: &Value) -> Result<Value, Failure> {
        let mut request = http::post(format!("{}/customers/{}/{method}", self.base, self.customer_id))
            .bearer_auth(&self.access_token)
            .header("developer-token", self.developer_token.clone())
            .json(body)
            // 5xx are retried here; a quota error comes back to be read,
            // since only its body says how long to wait.
            .retry(RetryPolicy {
                max_inline_wait: Duration::ZERO,
                rate_limits_to_caller: true,
                ..RetryPolicy::default()
            });
        if let Some(login) = &self.login_customer_id {
            request = request.header("login-customer-id", login.clone());
        }
        let response = request.send().map_err(Failure::Sdk)?;
        if response.is_success() {
            return response.json().map_err(Failure::Sdk);
        }
        Err(Failure::Refused(refusal(response.status, &response.text())))
    }
}

/// The first `"retryDelay": "<seconds>s"` in `text` (a `google.rpc.RetryInfo`
/// or a quota error's details), even in a truncated body.
fn retry_delay(text: &str) -> Option<Duration> {
    let after = &text[text.find("\"retryDelay\"")? + "\"retryDelay\"".len()..];
    let value = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let seconds: f64 = value.get(..value.find('"')?)?.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Status,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Value>,
}

/// Google's error body as a [`Refusal`]; a body that is not Google's JSON
/// still gives one, from the HTTP status.
fn refusal(http_status: u16, body: &str) -> Refusal {
    let Ok(ErrorBody { error }) = serde_json::from_str::<ErrorBody>(body) else {
        let mut end = body.len().min(300);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        return Refusal {
            http_status,
            status: String::new(),
            codes: Vec::new(),
            message: format!("Google Ads HTTP {http_status}: {}", &body[..end]),
            retry_delay: None,
        };
    };
    let mut codes = Vec::new();
    let mut messages = Vec::new();
    let mut request_id = None;
    for detail in &error.details {
        request_id = request_id.or(detail.get("requestId").and_then(Value::as_str));
        for failure in detail
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let code = failure
                .get("errorCode")
                .and_then(Value::as_object)
                .and_then(|c| c.iter().next())
                .map(|(kind, code)| (kind.clone(), code.as_str().unwrap_or_default().to_string()));
            let text = failure.get("message").and_then(Value::as_str).unwrap_or_default();
            match &code {
                Some((kind, code)) => messages.push(format!("{kind} {code}: {text}")),
                None => messages.push(text.to_string()),
            }
            codes.extend(code);
        }
    }
    let mut message = format!("Google Ads {} ({http_status}): {}", error.status, error.message);
    if !messages.is_empty() {
        message.push_str(&format!(" [{}]", messages.join("; ")));
    }
    if let Some(id) = request_id {
        message.push_str(&format!(" (request {id})"));
    }
    Refusal {
        http_status,
        status: error.status,
        codes,
        message,
        retry_delay: retry_delay(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_retry_delay_even_from_a_cut_body() {
        let body = r#"{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay": "1.5s"},{"errors":[{"message":"Too many"#;
        assert_eq!(retry_delay(body), Some(Duration::from_millis(1500)));
        assert_eq!(retry_delay(r#"{"retryDelay":"soon"}"#), None);
        assert_eq!(retry_delay("HTTP 429: quota"), None);
    }

    #[test]
    fn maps_google_failures_to_error_kinds() {
        let body = |status: &str, kind: &str, code: &str| {
            json!({"error": {"code": 400, "message": "Request contains an invalid argument.", "status": status,
                "details": [{"@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
                    "errors": [{"errorCode": {kind: code}, "message": "Oauth token is invalid."}], "requestId": "r1"}]}})
            .to_string()
        };
        let auth = Error::from(refusal(
            401,
            &body("UNAUTHENTICATED", "authenticationError", "OAUTH_TOKEN_INVALID"),
        ));
        assert!(
            matches!(&auth, Error::Auth(m) if m.contains("OAUTH_TOKEN_INVALID") && m.contains("Oauth token is invalid.") && m.contains("r1")),
            "{auth:?}"
        );
        let query = refusal(400, &body("INVALID_ARGUMENT", "queryError", "UNRECOGNIZED_FIELD"));
        assert!(query.has_code("UNRECOGNIZED_FIELD"));
        assert!(matches!(Error::from(query), Error::InvalidInput(_)));
        let missing = Error::from(refusal(
            400,
            &body("INVALID_ARGUMENT", "mutateError", "RESOURCE_NOT_FOUND"),
        ));
        assert!(matches!(missing, Error::NotFound(_)));
        let quota = Error::from(refusal(
            429,
            r#"{"error":{"status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"2s"}]}}"#,
        ));
        assert!(matches!(
            quota,
            Error::RateLimited {
                retry_after_ms: 2000,
                ..
            }
        ));
        assert!(matches!(Error::from(refusal(503, "<html>")), Error::Transient(_)));
    }
}
