//! The one error shape of the API, `{"error":{"code","message","request_id"}}`,
//! and how control-plane errors map to HTTP statuses.

use crate::control::ControlError;
use crate::invoke::InvokeErrorKind;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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
                return Self {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "quota_exceeded",
                    message,
                    details: Some(
                        serde_json::json!({ "quota": quota, "limit": limit, "resets_at": resets_at }),
                    ),
                };
            }
            ControlError::Invoke(failure) => {
                let (status, code) = match &failure.kind {
                    InvokeErrorKind::Deadline { .. } => (StatusCode::GATEWAY_TIMEOUT, "invocation_timeout"),
                    InvokeErrorKind::WrongWorld { .. } | InvokeErrorKind::NotInContract { .. } => {
                        (StatusCode::BAD_REQUEST, "wrong_export")
                    }
                    _ => (StatusCode::BAD_GATEWAY, "invocation_failed"),
                };
                return Self {
                    status,
                    code,
                    message,
                    details: Some(serde_json::json!({ "error": failure.kind, "usage": failure.usage })),
                };
            }
            ControlError::Store(_) | ControlError::Vault(_) | ControlError::Internal(_) => {
                tracing::error!(error = %message, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The body is written by `error_envelope`, which knows the request id.
        let mut response = self.status.into_response();
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
    let error = response.extensions_mut().remove::<ApiError>().unwrap_or_else(|| {
        let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
        ApiError::new(status, code_for(status), reason)
    });
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
