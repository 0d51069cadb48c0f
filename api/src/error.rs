//! The one error shape of the API, `{"error":{"code","message","request_id"}}`,
//! and how control-plane errors map to HTTP statuses.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omnify_control::control::ControlError;
use omnify_runtime::invoke::{InvokeErrorKind, PluginError};
use serde::Serialize;
use serde_json::Value;
use tower_http::request_id::RequestId;

/// An API error, before the request id is added.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Structured facts, such as a plugin's typed error and usage.
    pub details: Option<Value>,
    /// Seconds to wait before trying again, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorContent,
}

/// The content of an error response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorContent {
    /// A stable, machine-readable code, such as `not_found`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The request's id, also in the `x-request-id` header.
    pub request_id: String,
    /// Structured facts, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        let message = error.to_string();
        let (status, code) = match &error {
            ControlError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ControlError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ControlError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ControlError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ControlError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ControlError::Load(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_component"),
            ControlError::QuotaExceeded {
                quota,
                limit,
                resets_at,
            } => {
                // A quota that resets at a time says when to try again.
                let retry_after = humantime::parse_rfc3339(resets_at).ok().map(|at| {
                    at.duration_since(std::time::SystemTime::now())
                        .map_or(1, |wait| wait.as_secs().max(1))
                });
                return Self {
                    details: Some(
                        serde_json::json!({ "quota": quota, "limit": limit, "resets_at": resets_at }),
                    ),
                    retry_after,
                    ..Self::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
                };
            }
            ControlError::Invoke(failure) => {
                let (status, code) = invoke_status(&failure.kind);
                let retry_after = match &failure.kind {
                    InvokeErrorKind::Plugin(PluginError::RateLimited { retry_after_ms, .. })
                        if *retry_after_ms > 0 =>
                    {
                        Some(retry_after_ms.div_ceil(1000))
                    }
                    _ => None,
                };
                return Self {
                    details: Some(serde_json::json!({ "error": failure.kind, "usage": failure.usage })),
                    retry_after,
                    ..Self::new(status, code, message)
                };
            }
            ControlError::Store(omnify_control::store::StoreError::Unavailable(_)) => {
                // Where the store is and why it failed is for the log, not
                // for callers; the store coming back is worth retrying for.
                tracing::error!(%error, "the store is unavailable");
                return Self {
                    retry_after: Some(1),
                    ..Self::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "store_unavailable",
                        "the host cannot reach its store; nothing was changed, try again shortly",
                    )
                };
            }
            ControlError::Store(_) | ControlError::Vault(_) | ControlError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        Self::new(status, code, message)
    }
}

/// The status and code of a failed plugin call: what the plugin said
/// happened (a platform's refusal, rate limit or outage, a missing object,
/// bad input), a plugin's own fault as 502 (504 past its deadline), and only
/// a failure of the host itself as 500.
pub fn invoke_status(kind: &InvokeErrorKind) -> (StatusCode, &'static str) {
    match kind {
        InvokeErrorKind::Plugin(error) => match error {
            PluginError::Config { .. } => (StatusCode::FAILED_DEPENDENCY, "plugin_config_invalid"),
            PluginError::Auth { .. } => (StatusCode::FAILED_DEPENDENCY, "platform_auth_refused"),
            PluginError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "platform_rate_limited"),
            PluginError::Transient { .. } => (StatusCode::SERVICE_UNAVAILABLE, "platform_unavailable"),
            PluginError::NotFound { .. } => (StatusCode::NOT_FOUND, "target_not_found"),
            PluginError::InvalidInput { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "plugin_invalid_input"),
            PluginError::Internal { .. } => (StatusCode::BAD_GATEWAY, "plugin_internal"),
        },
        InvokeErrorKind::Deadline { .. } => (StatusCode::GATEWAY_TIMEOUT, "invocation_timeout"),
        InvokeErrorKind::WrongWorld { .. } | InvokeErrorKind::NotInContract { .. } => {
            (StatusCode::BAD_REQUEST, "wrong_export")
        }
        InvokeErrorKind::Host { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        InvokeErrorKind::OutOfFuel { .. }
        | InvokeErrorKind::Memory { .. }
        | InvokeErrorKind::StackOverflow
        | InvokeErrorKind::OutputTooLarge { .. }
        | InvokeErrorKind::HostCallLimit { .. }
        | InvokeErrorKind::Panic { .. }
        | InvokeErrorKind::Trap { .. }
        | InvokeErrorKind::InvalidOutput { .. } => (StatusCode::BAD_GATEWAY, "invocation_failed"),
    }
}

/// Log an error response at the level of what it is: a fault of the host
/// (500) at `error`, a plugin's or platform's failure (other 5xx) at `warn`,
/// a plugin's typed answer (such as `not-found`) at `info`, and the
/// caller's own mistakes at `debug`.
fn log(status: StatusCode, error: &ApiError) {
    let (code, message) = (error.code, error.message.as_str());
    let plugin_answer = error
        .details
        .as_ref()
        .is_some_and(|details| details.get("error").is_some_and(|e| e.get("kind").is_some()));
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(status = status.as_u16(), code, message, "host error");
    } else if status.is_server_error() {
        tracing::warn!(
            status = status.as_u16(),
            code,
            message,
            "plugin or platform failure"
        );
    } else if plugin_answer {
        tracing::info!(
            status = status.as_u16(),
            code,
            message,
            "the plugin refused the call"
        );
    } else {
        tracing::debug!(status = status.as_u16(), code, message, "request refused");
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by `error_envelope`, which knows the request id.
        let mut response = self.status.into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self);
        response
    }
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => "timeout",
        _ => "error",
    }
}

/// The most of a rejection's text kept as the error's message.
const REJECTION_BYTES: usize = 4096;

/// Give every error response the JSON error shape with the request id,
/// including errors produced outside the handlers (unknown route, body too
/// large, timeout).
pub async fn error_envelope(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => error,
        None => {
            // An extractor's rejection (a query or path that does not parse)
            // says in its short plain-text body what is wrong: keep that.
            let (parts, body) = response.into_parts();
            let said = match axum::body::to_bytes(body, REJECTION_BYTES).await {
                Ok(bytes) if status.is_client_error() && !bytes.is_empty() => {
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
            };
            response = Response::from_parts(parts, axum::body::Body::empty());
            ApiError::new(status, code_for(status), said)
        }
    };
    log(status, &error);
    let body = ErrorBody {
        error: ErrorContent {
            code: error.code.to_string(),
            message: error.message,
            request_id,
            details: error.details,
        },
    };
    let mut rebuilt = (status, axum::Json(body)).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}
