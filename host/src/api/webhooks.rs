//! `/v1/hooks/{tenant}/{connector}`: where platforms deliver webhooks. No
//! API key: the connector verifies the delivery's signature itself.

use super::Api;
use super::error::{ApiError, ErrorBody};
use crate::control::ControlError;
use crate::webhooks::WebhookReceipt;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use tower_http::request_id::RequestId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(receive_webhook))
}

/// Receive a platform's webhook delivery for a connector of a tenant; the
/// connector verifies it (signature, age) and its events are kept in the
/// connector's `webhook_events` stream. A refused signature is 401, a
/// malformed delivery 422; neither stores anything.
#[utoipa::path(post, path = "/v1/hooks/{tenant}/{connector}", tag = "webhooks",
    params(("tenant" = String, Path), ("connector" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The delivery as the platform sent it"),
    responses((status = 200, body = WebhookReceipt), (status = "4XX", body = ErrorBody)), security(()))]
async fn receive_webhook(
    State(api): State<Api>,
    Path((tenant, connector)): Path<(String, String)>,
    request_id: Option<axum::Extension<RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let request_id = request_id
        .and_then(|id| id.header_value().to_str().ok().map(str::to_string))
        .unwrap_or_default();
    // Headers that are not text cannot carry a signature; they are left out.
    let headers = headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    // Verified events are kept even if the platform stops waiting.
    let control = api.control.clone();
    let receipt = tokio::spawn(async move {
        control
            .receive_webhook(&tenant, &connector, headers, body.to_vec(), &request_id)
            .await
    })
    .await
    .map_err(|e| ApiError::from(ControlError::Internal(format!("a webhook task failed: {e}"))))??;
    Ok(Json(receipt))
}
