//! Calls to the Stripe API: bearer key, pinned `Stripe-Version`, list
//! objects, form-encoded writes with `Idempotency-Key`, and Stripe's error
//! bodies mapped to the SDK's error kinds.

use omnify_sdk::http::{self, RequestBuilder, Response, RetryPolicy};
use omnify_sdk::{Error, secrets};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// The API version every request pins, so that object shapes cannot change
/// under the connector when the account's default version moves.
pub const API_VERSION: &str = "2025-06-30.basil";

/// How long to wait after a `429`: Stripe sends no `Retry-After`, and its
/// limits are per second.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// Retries of transport failures and `5xx` in the call; a `429` goes to the
/// host's scheduler at once, which waits [`RATE_LIMIT_WAIT`] out between
/// calls instead of inside one.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(500),
    max_inline_wait: Duration::ZERO,
    rate_limits_to_caller: false,
};

/// A page of a list endpoint.
#[derive(Debug, Deserialize)]
pub struct ListPage {
    /// The objects, newest first.
    pub data: Vec<Value>,
    /// Whether older objects follow.
    #[serde(default)]
    pub has_more: bool,
}

/// Stripe's error body: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Debug, Default, Deserialize)]
struct StripeError {
    #[serde(default, rename = "type")]
    kind: String,
    code: Option<String>,
    message: Option<String>,
    param: Option<String>,
}

/// A client for one account: where the API is and the secret key.
pub struct Client {
    base_url: String,
    api_key: String,
}

impl Client {
    /// A client for `base_url` (such as `https://api.stripe.com`) with the
    /// `api_key` secret.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let base_url = base_url.trim_end_matches('/');
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(Error::config(format!(
                "`base_url` must be an http(s) URL, not `{base_url}`"
            )));
        }
        Ok(Self {
            base_url: base_url.to_string(),
            api_key: secrets::get("api_key")?,
        })
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .bearer_auth(&self.api_key)
            .header("Stripe-Version", API_VERSION)
            .retry(RETRY)
    }

    /// One page of `GET /v1/{resource}` with `params`.
    pub fn list(&self, resource: &str, params: &[(&str, String)]) -> Result<ListPage, Error> {
        let mut request = http::get(format!("{}/v1/{resource}", self.base_url));
        for (name, value) in params {
            request = request.query(name, value);
        }
        send(self.authorized(request))?.json()
    }

    /// `GET /v1/{path}`, parsed into `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        send(self.authorized(http::get(format!("{}/v1/{path}", self.base_url))))?.json()
    }

    /// `POST /v1/{path}` with a form body, safe to retry under
    /// `idempotency_key`. Returns the object and whether Stripe replayed the
    /// result of an earlier request with the same key.
    pub fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<(Value, bool), Error> {
        let request = http::post(format!("{}/v1/{path}", self.base_url))
            .form(form)
            .header("Idempotency-Key", idempotency_key);
        let response = send(self.authorized(request))?;
        let replayed = response
            .header("idempotent-replayed")
            .is_some_and(|value| value.eq_ignore_ascii_case("true"));
        Ok((response.json()?, replayed))
    }
}

/// Send `request`; anything but a 2xx becomes the error its Stripe error
/// body means.
fn send(request: RequestBuilder) -> Result<Response, Error> {
    match request.send() {
        Ok(response) if response.is_success() => Ok(response),
        Ok(response) => Err(platform_error(
            response.status,
            &response.text(),
            response.retry_after(),
        )),
        // The SDK turns a 429 into `RateLimited` itself; give it Stripe's
        // message and a wait fit for Stripe.
        Err(Error::RateLimited {
            retry_after_ms,
            message,
        }) => {
            let body = message.strip_prefix("HTTP 429: ").unwrap_or(&message);
            let waited = Duration::from_millis(retry_after_ms).max(RATE_LIMIT_WAIT);
            Err(platform_error(429, body, Some(waited)))
        }
        Err(other) => Err(other),
    }
}

/// The error a Stripe response with `status` and `body` means.
pub fn platform_error(status: u16, body: &str, retry_after: Option<Duration>) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let error = parsed.map(|b| b.error).unwrap_or_default();
    let message = describe(status, &error, body);
    match (status, error.code.as_deref()) {
        (_, Some("resource_missing")) | (404, _) => Error::NotFound(message),
        (401 | 403, _) => Error::Auth(message),
        (429, _) | (_, Some("rate_limit")) => Error::RateLimited {
            retry_after_ms: u64::try_from(retry_after.unwrap_or(RATE_LIMIT_WAIT).as_millis())
                .unwrap_or(u64::MAX),
            message,
        },
        // A lock on the object or a concurrent request with the same
        // idempotency key: it passes on retry.
        (409, _) => Error::Transient(message),
        // 402 is a declined card or a failed request on valid parameters.
        (400 | 402 | 422, _) => Error::InvalidInput(message),
        (500.., _) => Error::Transient(message),
        _ => Error::Internal(message),
    }
}

/// `Stripe <type>/<code> (HTTP <status>): <message> [param: <param>]`, or
/// the start of the body when it is not a Stripe error.
fn describe(status: u16, error: &StripeError, body: &str) -> String {
    let Some(message) = &error.message else {
        let start: String = body.chars().take(300).collect();
        return format!("Stripe HTTP {status}: {start}");
    };
    let kind = match &error.code {
        Some(code) => format!("{}/{code}", error.kind),
        None => error.kind.clone(),
    };
    let param = error
        .param
        .as_ref()
        .map(|p| format!(" [param: {p}]"))
        .unwrap_or_default();
    format!("Stripe {kind} (HTTP {status}): {message}{param}")
}
