//! Outbound HTTP through the host, with query parameters, JSON bodies and
//! retries.
//!
//! Every request goes through the host, which checks the URL (and every
//! redirect) against the hosts the tenant granted to the plugin.
//!
//! ```no_run
//! # fn main() -> omnify_sdk::Result<()> {
//! use omnify_sdk::http;
//! #[derive(serde::Deserialize)]
//! struct Page { data: Vec<serde_json::Value>, next: Option<String> }
//!
//! let page: Page = http::get("https://api.example.com/v1/orders")
//!     .query("limit", 100)
//!     .bearer_auth("token")
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! # Ok(()) }
//! ```
//!
//! [`RequestBuilder::send`] retries transport failures and `5xx` responses
//! with exponential backoff. A `429` whose `Retry-After` is short is waited out
//! and retried; a longer one, or one that persists, becomes
//! [`Error::RateLimited`] so that the host's scheduler waits instead of the
//! plugin.
//!
//! In native tests under `omnify_sdk::testing::Harness` the waits between
//! attempts are recorded (see `Harness::sleeps`) rather than slept.

use crate::Error;
use crate::host::{self, Header, HttpError};

/// The request method.
pub use crate::bindings::imports::http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How [`RequestBuilder::send`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. `1` disables retries.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles for each further one.
    pub base_delay: Duration,
    /// The longest `Retry-After` waited out inside the call. A longer one is
    /// returned as [`Error::RateLimited`].
    pub max_inline_wait: Duration,
    /// Return a `429` that is not waited out as the [`Response`] rather than
    /// as [`Error::RateLimited`], for platforms whose body says how long to
    /// wait.
    pub rate_limits_to_caller: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_inline_wait: Duration::from_secs(2),
            rate_limits_to_caller: false,
        }
    }
}

impl RetryPolicy {
    /// A policy that sends once and never waits.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_inline_wait: Duration::ZERO,
            rate_limits_to_caller: false,
        }
    }
}

/// A request being built. Start one with [`get`], [`post`], [`put`],
/// [`patch`], [`delete`] or [`request`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    error: Option<Error>,
}

/// A `GET` request to `url`.
pub fn get(url: impl Into<String>) -> RequestBuilder {
    request(Method::Get, url)
}

/// A `POST` request to `url`.
pub fn post(url: impl Into<String>) -> RequestBuilder {
    request(Method::Post, url)
}

/// A `PUT` request to `url`.
pub fn put(url: impl Into<String>) -> RequestBuilder {
    request(Method::Put, url)
}

/// A `PATCH` request to `url`.
pub fn patch(url: impl Into<String>) -> RequestBuilder {
    request(Method::Patch, url)
}

/// A `DELETE` request to `url`.
pub fn delete(url: impl Into<String>) -> RequestBuilder {
    request(Method::Delete, url)
}

/// A request with any method.
pub fn request(method: Method, url: impl Into<String>) -> RequestBuilder {
    RequestBuilder {
        method,
        url: url.into(),
        query: Vec::new(),
        headers: Vec::new(),
        body: None,
        timeout: None,
        retry: RetryPolicy::default(),
        error: None,
    }
}

impl RequestBuilder {
    /// Append a query parameter; it is percent-encoded.
    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Add `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Send `value` as a JSON body, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Some(body);
                self.header("content-type", "application/json")
            }
            Err(e) => {
                self.error = Some(Error::Internal(format!("request body: {e}")));
                self
            }
        }
    }

    /// Send `fields` as an `application/x-www-form-urlencoded` body.
    pub fn form(mut self, fields: &[(&str, String)]) -> Self {
        let body = encode_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())));
        self.body = Some(body.into_bytes());
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    /// Send raw bytes as the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Limit how long one attempt may take. The host lowers it to its own cap.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Replace the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The full URL, with the query parameters appended.
    pub fn url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let query = encode_pairs(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{query}", self.url)
    }

    /// Send the request, retrying as its [`RetryPolicy`] says.
    pub fn send(self) -> Result<Response, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let request = host::Request {
            method: self.method,
            url: self.url(),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            body: self.body.clone(),
            timeout_ms: self
                .timeout
                .map(|t| u32::try_from(t.as_millis()).unwrap_or(u32::MAX)),
        };
        let policy = self.retry;
        let mut attempt = 1;
        loop {
            let last = attempt >= policy.max_attempts.max(1);
            let backoff = policy.base_delay * 2u32.saturating_pow(attempt - 1);
            match host::http_send(&request) {
                Ok(response) => {
                    let response = Response::from(response);
                    if response.status == 429 {
                        let wait = response.retry_after().unwrap_or(backoff);
                        if last || wait > policy.max_inline_wait {
                            if policy.rate_limits_to_caller {
                                return Ok(response);
                            }
                            return Err(response.rate_limited(wait));
                        }
                        host::sleep(wait);
                    } else if response.status >= 500 && !last {
                        host::sleep(backoff);
                    } else {
                        return Ok(response);
                    }
                }
                Err(error @ (HttpError::Timeout | HttpError::Transport(_))) if !last => {
                    crate::log::debug(format!("HTTP attempt {attempt} failed: {}", describe(&error)));
                    host::sleep(backoff);
                }
                Err(error) => return Err(Error::from(error)),
            }
            attempt += 1;
        }
    }
}

/// A response, after any redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl From<host::Response> for Response {
    fn from(response: host::Response) -> Self {
        Self {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name.to_ascii_lowercase(), h.value))
                .collect(),
            body: response.body,
        }
    }
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Internal(format!(
                "response from HTTP {} is not the JSON expected: {e}",
                self.status
            ))
        })
    }

    /// `Retry-After` in seconds, if present and numeric.
    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.header("retry-after")?.trim();
        value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    }

    /// The response itself if it is 2xx, otherwise the [`Error`] its status
    /// means: 401/403 `Auth`, 404 `NotFound`, 429 `RateLimited`, 5xx
    /// `Transient`, 400/422 `InvalidInput`, anything else `Internal`. The
    /// error message carries the start of the body.
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.is_success() {
            return Ok(self);
        }
        let message = self.summary();
        Err(match self.status {
            401 | 403 => Error::Auth(message),
            404 => Error::NotFound(message),
            429 => self.rate_limited(self.retry_after().unwrap_or(Duration::from_secs(60))),
            400 | 422 => Error::InvalidInput(message),
            500.. => Error::Transient(message),
            _ => Error::Internal(message),
        })
    }

    fn rate_limited(&self, wait: Duration) -> Error {
        Error::RateLimited {
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            message: self.summary(),
        }
    }

    fn summary(&self) -> String {
        let text = self.text();
        let mut end = text.len().min(500);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("HTTP {}: {}", self.status, &text[..end])
    }
}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Self {
        let message = describe(&error);
        match error {
            HttpError::HostNotAllowed(_) => Error::Config(message),
            HttpError::InvalidRequest(_) => Error::InvalidInput(message),
            HttpError::Timeout | HttpError::Transport(_) => Error::Transient(message),
            HttpError::ResponseTooLarge(_) | HttpError::TooManyRequests(_) => Error::Internal(message),
        }
    }
}

fn describe(error: &HttpError) -> String {
    match error {
        HttpError::HostNotAllowed(host) => format!(
            "host `{host}` is not in this plugin's grant: it must be in the manifest's `capabilities.http_hosts` and in the enablement's `grants.http_hosts`"
        ),
        HttpError::InvalidRequest(m) => format!("invalid HTTP request: {m}"),
        HttpError::Timeout => "HTTP request timed out".to_string(),
        HttpError::ResponseTooLarge(max) => format!("HTTP response larger than {max} bytes"),
        HttpError::TooManyRequests(max) => format!("more than {max} HTTP requests in one call"),
        HttpError::Transport(m) => format!("HTTP transport error: {m}"),
    }
}

fn encode_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
