//! Calls to the GoHighLevel API v2 (`services.leadconnectorhq.com`): the
//! location token as `Authorization: Bearer`, the `Version` header every
//! endpoint requires, and GoHighLevel's error bodies and rate-limit
//! headers mapped to the SDK's error kinds.

use crate::Config;
use omnify_sdk::http::{self, RequestBuilder, Response, RetryPolicy};
use omnify_sdk::{Error, Value, secrets};
use std::time::Duration;

/// Where the API is.
pub const DEFAULT_BASE_URL: &str = "https://services.leadconnectorhq.com";

/// The API version sent to the contacts and opportunities endpoints.
pub const DEFAULT_API_VERSION: &str = "2021-07-28";

/// The calendar endpoints document one version of their own.
pub const CALENDARS_API_VERSION: &str = "2021-04-15";

/// The burst window GoHighLevel counts requests in (100 per 10 s per
/// location) when a `429` names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How long to wait once the day's quota (200,000 requests per location)
/// is spent: GoHighLevel does not say when its day ends.
const DAILY_QUOTA_WAIT: Duration = Duration::from_secs(3600);

/// Transport failures and `5xx` are retried in the call, and a `429`
/// whose `Retry-After` is short is waited out there; a longer one comes
/// back to be read, since GoHighLevel's own headers say how long to wait.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(500),
    max_inline_wait: Duration::from_secs(2),
    rate_limits_to_caller: true,
};

/// A client for one location.
pub struct Client {
    base: String,
    version: String,
    token: String,
    /// The location (sub-account) every call is about.
    pub location_id: String,
}

impl Client {
    /// A client for the configured location, with the tenant's token.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::config(format!(
                "`base_url` must be an http(s) URL, not `{base}`"
            )));
        }
        Ok(Self {
            base: base.to_string(),
            version: config.api_version.clone(),
            token: secrets::get("access_token")?,
            location_id: config.location_id.clone(),
        })
    }

    /// The URL of `path` (which starts with `/`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn send(&self, request: RequestBuilder, version: &str) -> Result<Value, Error> {
        let response = request
            .bearer_auth(&self.token)
            .header("Version", version)
            .header("Accept", "application/json")
            .retry(RETRY)
            .send()?;
        check(&response)?;
        response.json()
    }

    /// `GET path?query` of the contacts or opportunities API.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        let mut request = http::get(self.url(path));
        for (name, value) in query {
            request = request.query(name, value);
        }
        self.send(request, &self.version)
    }

    /// `GET path?query` of the calendars API, with its own version.
    pub fn get_calendars(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        let mut request = http::get(self.url(path));
        for (name, value) in query {
            request = request.query(name, value);
        }
        self.send(request, CALENDARS_API_VERSION)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.send(http::post(self.url(path)).json(body), &self.version)
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.send(http::put(self.url(path)).json(body), &self.version)
    }
}

/// Nothing if `response` is a 2xx, otherwise the error its status means,
/// with GoHighLevel's own message.
pub fn check(response: &Response) -> Result<(), Error> {
    if response.is_success() {
        return Ok(());
    }
    let message = describe(response.status, &response.text());
    Err(match response.status {
        // 401: a wrong, expired or revoked token ("Invalid JWT"); 403: a
        // token of another location, or without the scope.
        401 | 403 => Error::Auth(message),
        404 => Error::NotFound(message),
        400 | 422 => Error::InvalidInput(message),
        429 => Error::RateLimited {
            retry_after_ms: u64::try_from(rate_limit_wait(response).as_millis()).unwrap_or(u64::MAX),
            message,
        },
        500.. => Error::Transient(message),
        _ => Error::Internal(message),
    })
}

/// How long a `429` asks to wait: `Retry-After` when sent; otherwise until
/// the day's quota or the burst window frees a request, as the
/// `X-RateLimit-*` headers say.
pub fn rate_limit_wait(response: &Response) -> Duration {
    if let Some(wait) = response.retry_after() {
        return wait;
    }
    let number = |name: &str| response.header(name).and_then(|v| v.trim().parse::<u64>().ok());
    if number("x-ratelimit-daily-remaining") == Some(0) {
        return DAILY_QUOTA_WAIT;
    }
    number("x-ratelimit-interval-milliseconds")
        .filter(|ms| *ms > 0)
        .map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

/// `GoHighLevel HTTP <status> [<error>]: <message>` from GoHighLevel's
/// error body `{"statusCode", "message", "error"}`, whose `message` is a
/// string or a list of validation messages; the start of the body when it
/// is not one.
fn describe(status: u16, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|b| b.get("message").or_else(|| b.get("msg")));
    let text = match message {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map_or_else(|| item.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => body.chars().take(300).collect(),
    };
    match parsed.as_ref().and_then(|b| b["error"].as_str()) {
        Some(error) => format!("GoHighLevel HTTP {status} {error}: {text}"),
        None => format!("GoHighLevel HTTP {status}: {text}"),
    }
}

/// The id in input field `field` (naming a `what`), checked to be what
/// GoHighLevel ids are made of, since it goes into a URL path.
pub fn path_id(input: &Value, field: &str, what: &str) -> Result<String, Error> {
    let id = input
        .get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::invalid_input(format!(
            "`{field}` must be a GoHighLevel {what} id such as \"nmFmQEsNgz6AVpgLVUJ0\""
        )));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnify_sdk::json;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_bodies_become_kinds_with_ghls_message() {
        let auth = check(&response(
            401,
            &[],
            r#"{"statusCode":401,"message":"Invalid JWT"}"#,
        ));
        assert_eq!(auth, Err(Error::Auth("GoHighLevel HTTP 401: Invalid JWT".into())));
        let invalid = check(&response(
            422,
            &[],
            r#"{"statusCode":422,"message":["pipelineStageId must be a string","name should not be empty"],"error":"Unprocessable Entity"}"#,
        ));
        assert_eq!(
            invalid,
            Err(Error::InvalidInput(
                "GoHighLevel HTTP 422 Unprocessable Entity: pipelineStageId must be a string; name should not be empty"
                    .into()
            ))
        );
        assert!(matches!(
            check(&response(400, &[], "{}")),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(check(&response(404, &[], "")), Err(Error::NotFound(_))));
        assert!(
            matches!(check(&response(503, &[], "<html>")), Err(Error::Transient(m)) if m.contains("<html>"))
        );
        assert_eq!(check(&response(200, &[], "{}")), Ok(()));
    }

    #[test]
    fn rate_limits_wait_as_the_headers_say() {
        let limited = |headers: &[(&str, &str)]| match check(&response(
            429,
            headers,
            r#"{"message":"Too Many Requests"}"#,
        )) {
            Err(Error::RateLimited { retry_after_ms, .. }) => retry_after_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!(limited(&[("retry-after", "3")]), 3000);
        assert_eq!(
            limited(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-interval-milliseconds", "10000")
            ]),
            10_000
        );
        assert_eq!(limited(&[("x-ratelimit-daily-remaining", "0")]), 3_600_000);
        assert_eq!(limited(&[]), 10_000);
    }

    #[test]
    fn ids_in_paths_are_checked() {
        assert_eq!(
            path_id(&json!({"id": " abc123 "}), "id", "contact"),
            Ok("abc123".into())
        );
        for bad in [
            json!({"id": "a/b"}),
            json!({"id": ""}),
            json!({"id": 5}),
            json!({}),
        ] {
            assert!(
                matches!(path_id(&bad, "id", "contact"), Err(Error::InvalidInput(m)) if m.contains("`id`"))
            );
        }
    }
}
