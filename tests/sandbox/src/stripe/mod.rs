//! The Stripe API: `/v1/charges`, `/v1/customers`, `/v1/refunds`,
//! `/v1/subscriptions` and `/v1/payment_intents` listed newest first with
//! `limit`, `starting_after`/`ending_before` and `created[...]` filters,
//! `GET /v1/charges/{id}`, and `POST /v1/refunds` with idempotency keys.
//!
//! Like Stripe, every request needs `Authorization: Bearer <secret key>`,
//! errors are `{"error": {"type", "code", "message", "param"}}`, bodies are
//! form-encoded, and a rate limit is a bare `429` without `Retry-After`.
//! Unlike Stripe, a request must pin its API version with `Stripe-Version`
//! (Stripe would fall back to the account's default), so that tests see a
//! connector that forgets it; the version is echoed in the response.

mod lists;
mod objects;
mod refunds;

use crate::oauth::TokenCheck;
use crate::server::{Platform, WriteCall};
use crate::world::World;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub use objects::{charge_json, event};
pub use refunds::IdempotencyStore;

/// The secret key the sandbox accepts.
pub const API_KEY: &str = "sk_test_51OmnifySandbox0000000000000000000000Key4242";

/// The secret the sandbox signs webhook deliveries with.
pub const WEBHOOK_SECRET: &str = "whsec_omnifySandboxSigningSecret2f9c";

/// The API version the sandbox reports in the events it builds.
pub const API_VERSION: &str = "2025-06-30.basil";

/// The largest body a write may have.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The state of the Stripe server: the shared platform state and the saved
/// results of idempotent requests.
#[derive(Debug)]
pub struct Stripe {
    /// Logs, rate limit and world.
    pub platform: Arc<Platform>,
    /// Results of idempotent writes, by key.
    pub idempotency: IdempotencyStore,
}

/// The routes of the Stripe API.
pub fn routes(platform: Arc<Platform>) -> Router {
    let stripe = Arc::new(Stripe {
        platform,
        idempotency: IdempotencyStore::default(),
    });
    Router::new()
        .route("/v1/charges", get(lists::charges))
        .route("/v1/charges/{id}", get(lists::charge))
        .route("/v1/customers", get(lists::customers))
        .route("/v1/refunds", get(lists::refunds).post(refunds::create))
        .route("/v1/subscriptions", get(lists::subscriptions))
        .route("/v1/payment_intents", get(lists::payment_intents))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(stripe.clone(), gate))
        .with_state(stripe)
}

/// The enablement request body pointing the connector at `url`, with the
/// sandbox's keys.
pub fn enablement(url: &str, world: &World) -> Value {
    let _ = world;
    json!({
        "config": { "base_url": url },
        "secrets": { "api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET },
        "grants": {
            "http_hosts": [crate::grant_of(url)],
            "secrets": ["api_key", "webhook_secret"],
            "kv": false
        }
    })
}

/// The headers of a webhook delivery of `body` signed at `timestamp` (Unix
/// seconds) with the sandbox's webhook secret.
pub fn signed_webhook(body: &[u8], timestamp: i64) -> Vec<(String, String)> {
    signed_webhook_with(WEBHOOK_SECRET, body, timestamp)
}

/// The headers of a webhook delivery of `body` signed with `secret`, as
/// Stripe signs them: `Stripe-Signature: t=<timestamp>,v1=<hex HMAC-SHA256
/// of "<timestamp>.<body>">`.
pub fn signed_webhook_with(secret: &str, body: &[u8], timestamp: i64) -> Vec<(String, String)> {
    vec![
        (
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ),
        (
            "Stripe-Signature".to_string(),
            format!("t={timestamp},v1={}", webhook_signature(secret, body, timestamp)),
        ),
    ]
}

/// The hex `v1` signature of `body` at `timestamp` under `secret`.
pub fn webhook_signature(secret: &str, body: &[u8], timestamp: i64) -> String {
    use hmac::{Hmac, Mac};
    let signed = [format!("{timestamp}.").as_bytes(), body].concat();
    // HMAC takes keys of any length, so building it cannot fail.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(&signed);
    hex::encode(mac.finalize().into_bytes())
}

/// A Stripe error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `invalid_request_error`, `idempotency_error`, `api_error`, ...
    pub kind: &'static str,
    /// The machine-readable code, such as `resource_missing`.
    pub code: Option<&'static str>,
    /// The message for people.
    pub message: String,
    /// The parameter at fault.
    pub param: Option<String>,
}

impl ApiError {
    /// A `400 invalid_request_error`.
    pub fn invalid(code: Option<&'static str>, message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code,
            message: message.into(),
            param: param.map(str::to_string),
        }
    }

    /// `resource_missing` for the object `id` of type `object` named by `param`.
    pub fn missing(status: StatusCode, object: &str, id: &str, param: &str) -> Self {
        Self {
            status,
            ..Self::invalid(
                Some("resource_missing"),
                format!("No such {object}: '{id}'"),
                Some(param),
            )
        }
    }

    /// The error body, as Stripe writes it.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        if let Some(code) = self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!("https://stripe.com/docs/error-codes/{code}")),
            );
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Why the gate refused a request.
fn refusal(stripe: &Stripe, headers: &HeaderMap) -> Option<Response> {
    if stripe.platform.take_rate_limit() {
        return Some(rate_limited());
    }
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match key {
        None => {
            return Some(unauthorized(
                None,
                "You did not provide an API key. You need to provide your API key in the \
                 Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                 YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, \
                 or we can help at https://support.stripe.com/."
                    .to_string(),
            ));
        }
        // The platform's key, or an access token Connect OAuth issued.
        Some(key) => match stripe.platform.oauth().check_or_fixed(API_KEY, key) {
            TokenCheck::Live => {}
            TokenCheck::Expired => {
                return Some(unauthorized(
                    Some("api_key_expired"),
                    format!("Expired API Key provided: {}", mask_key(key)),
                ));
            }
            TokenCheck::Unknown => {
                return Some(unauthorized(
                    None,
                    format!("Invalid API Key provided: {}", mask_key(key)),
                ));
            }
        },
    }
    match headers.get("stripe-version").map(|v| v.to_str()) {
        None => Some(
            ApiError::invalid(
                None,
                "This sandbox requires a pinned API version: send the `Stripe-Version` header \
                 (for example `Stripe-Version: 2025-06-30.basil`).",
                None,
            )
            .into_response(),
        ),
        Some(Ok(version)) if is_api_version(version) => None,
        Some(version) => Some(
            ApiError::invalid(
                None,
                format!("Invalid Stripe API version: {}", version.unwrap_or("<not text>")),
                None,
            )
            .into_response(),
        ),
    }
}

/// What every request goes through: the rate limit first, then the API key
/// and the API version. Refused writes are logged too, since a test must see
/// every write that reached the platform. The response echoes the version.
async fn gate(State(stripe): State<Arc<Stripe>>, request: Request, next: Next) -> Response {
    let version = request.headers().get("stripe-version").cloned();
    let mut response = match refusal(&stripe, request.headers()) {
        Some(response) => {
            if request.method() == Method::POST {
                record_refused_write(&stripe, request).await;
            }
            response
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(version) = version.filter(|v| v.to_str().is_ok_and(is_api_version)) {
        headers.insert("stripe-version", version);
    }
    headers.insert("request-id", HeaderValue::from_static("req_omnifysandbox"));
    response
}

async fn record_refused_write(stripe: &Stripe, request: Request) {
    let path = request.uri().path().to_string();
    let idempotency_key = idempotency_key(request.headers());
    let body = to_bytes(Body::new(request.into_body()), MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    stripe.platform.record_write(WriteCall {
        method: "POST".into(),
        path,
        body: form_json(&parse_form(&body)),
        idempotency_key,
        applied: false,
    });
}

async fn unknown_route(request: Request) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        ..ApiError::invalid(
            None,
            format!(
                "Unrecognized request URL ({} {}).",
                request.method(),
                request.uri().path()
            ),
            None,
        )
    }
}

fn rate_limited() -> Response {
    ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        ..ApiError::invalid(
            Some("rate_limit"),
            "Too many requests hit the API too quickly. We recommend an exponential backoff of \
             your requests.",
            None,
        )
    }
    .into_response()
}

fn unauthorized(code: Option<&'static str>, message: String) -> Response {
    let error = ApiError {
        status: StatusCode::UNAUTHORIZED,
        ..ApiError::invalid(code, message, None)
    };
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Stripe\""),
    );
    response
}

/// A key as Stripe shows it in errors: its prefix and last four characters.
fn mask_key(key: &str) -> String {
    let prefix_len = key
        .match_indices('_')
        .nth(1)
        .map_or(0, |(index, _)| index + 1)
        .min(key.len());
    let chars: Vec<char> = key[prefix_len..].chars().collect();
    let shown = chars.len().min(4);
    let tail: String = chars[chars.len() - shown..].iter().collect();
    format!("{}{}{tail}", &key[..prefix_len], "*".repeat(chars.len() - shown))
}

/// Whether `version` looks like a Stripe API version: `YYYY-MM-DD`,
/// optionally followed by a release name such as `.basil`.
fn is_api_version(version: &str) -> bool {
    let (date, name) = version.split_once('.').unwrap_or((version, "a"));
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = date.split('-').collect();
    parts.len() == 3
        && digits(parts[0], 4)
        && digits(parts[1], 2)
        && digits(parts[2], 2)
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase())
}

/// The `Idempotency-Key` header, if any.
fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

/// The pairs of a form-encoded body or query string.
fn parse_form(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input).into_owned().collect()
}

/// Form pairs as a JSON object of strings, for the write log.
fn form_json(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked_like_stripe() {
        assert_eq!(mask_key("sk_test_abcdefxyz1"), "sk_test_******xyz1");
        assert_eq!(mask_key("abc"), "abc");
        assert_eq!(mask_key("sk_live_ab"), "sk_live_ab");
    }

    #[test]
    fn api_versions_are_dated() {
        assert!(is_api_version("2025-06-30.basil"));
        assert!(is_api_version("2024-06-20"));
        assert!(!is_api_version("latest"));
        assert!(!is_api_version("2025-06-30."));
        assert!(!is_api_version("2025-6-30"));
    }

    #[test]
    fn webhook_signatures_follow_stripe() {
        let headers = signed_webhook(b"{}", 1_700_000_000);
        let signature = &headers[1].1;
        assert!(signature.starts_with("t=1700000000,v1="), "{signature}");
        assert_eq!(signature.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(
            signed_webhook_with("whsec_other", b"{}", 1_700_000_000)[1].1,
            *signature
        );
    }

    #[test]
    fn error_bodies_have_stripes_shape() {
        let body =
            ApiError::invalid(Some("resource_missing"), "No such charge: 'ch_x'", Some("charge")).body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "resource_missing");
        assert_eq!(body["error"]["param"], "charge");
        assert!(
            ApiError::invalid(None, "m", None).body()["error"]
                .get("code")
                .is_none()
        );
    }
}
