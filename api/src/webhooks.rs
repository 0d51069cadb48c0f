//! `/v1/hooks/{tenant}/{connector}`: where platforms deliver webhooks. No
//! API key: the connector verifies the delivery's signature itself, after
//! the host has admitted the delivery under the endpoint's own budget and
//! body cap (see [`omnify_control::webhooks`]).

use super::Api;
use super::error::{ApiError, ErrorBody};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use omnify_control::control::ControlError;
use omnify_control::webhooks::{RefusalReason, WebhookError, WebhookReceipt, whole_seconds};
use tower_http::request_id::RequestId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(receive_webhook))
}

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        let message = error.to_string();
        match error {
            WebhookError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            WebhookError::TooLarge { limit } => Self {
                details: Some(serde_json::json!({ "limit": limit })),
                ..ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
            },
            WebhookError::RateLimited { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            }
            WebhookError::Unreadable(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message),
            WebhookError::Control(error) => error.into(),
        }
    }
}

/// The response of a refused delivery, with `Retry-After` when it is over
/// the endpoint's budget.
fn refusal(error: WebhookError) -> Response {
    let retry_after = match &error {
        WebhookError::RateLimited { retry_after } => Some(whole_seconds(*retry_after)),
        _ => None,
    };
    let mut response = ApiError::from(error).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The body, refused past `limit` bytes without reading further.
async fn read_capped(body: Body, limit: usize) -> Result<Vec<u8>, WebhookError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| WebhookError::Unreadable(e.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(WebhookError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Receive a platform's webhook delivery for a connector of a tenant.
///
/// The body is the delivery exactly as the platform sent it. The connector
/// verifies it (signature, age) and its events are kept in the connector's
/// `webhook_events` stream. Every address that is not an enabled connector
/// of an active tenant is the same 404; a body over the cap is 413; over
/// the endpoint's rate or concurrency limit 429 with `Retry-After`; a
/// refused signature 401, a malformed delivery 422; none of these stores
/// anything but usage and a periodic refusal summary.
#[utoipa::path(post, path = "/v1/hooks/{tenant}/{connector}", tag = "webhooks",
    params(("tenant" = String, Path), ("connector" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The delivery as the platform sent it"),
    responses((status = 200, body = WebhookReceipt), (status = "4XX", body = ErrorBody)), security(()))]
async fn receive_webhook(
    State(api): State<Api>,
    Path((tenant, connector)): Path<(String, String)>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = request_id
        .and_then(|id| id.header_value().to_str().ok().map(str::to_string))
        .unwrap_or_default();
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let control = api.control.clone();
    let permit = match control.admit_webhook(&tenant, &connector, declared_len).await {
        Ok(permit) => permit,
        Err(error) => return refusal(error),
    };
    let limits = control.webhook_limits();
    let body = match tokio::time::timeout(limits.body_timeout, read_capped(body, limits.max_body_bytes)).await
    {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            let reason = match error {
                WebhookError::TooLarge { .. } => RefusalReason::TooLarge,
                _ => RefusalReason::BodyUnreadable,
            };
            control.refuse_webhook(&tenant, &connector, reason).await;
            return refusal(error);
        }
        Err(_) => {
            control
                .refuse_webhook(&tenant, &connector, RefusalReason::BodyUnreadable)
                .await;
            let seconds = limits.body_timeout.as_secs();
            return refusal(WebhookError::Unreadable(format!(
                "it took longer than {seconds} s"
            )));
        }
    };
    // Headers that are not text cannot carry a signature; they are left out.
    let headers = headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    // Verified events are kept even if the platform stops waiting.
    let received =
        tokio::spawn(async move { control.receive_webhook(permit, headers, body, &request_id).await }).await;
    match received {
        Ok(Ok(receipt)) => Json(receipt).into_response(),
        Ok(Err(error)) => refusal(error),
        Err(e) => refusal(ControlError::Internal(format!("a webhook task failed: {e}")).into()),
    }
}
