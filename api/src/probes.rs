//! `/v1/health` and `/v1/ready`, open to anyone (load balancers and
//! orchestrators call them): alive means the process answers; ready means
//! its store answers with the schema this host writes, so a host is only
//! sent traffic it can serve.

use super::Api;
use super::error::ApiError;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

/// The probes' routes.
pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// 200 when ready; else 503 in the API's error shape, code `not_ready`.
/// Anyone may ask, so the reason (where the store is, what it said) goes
/// to the log only.
async fn ready(State(api): State<Api>) -> Result<Json<Value>, ApiError> {
    match api.control.check_ready().await {
        Ok(()) => Ok(Json(json!({ "status": "ready" }))),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the host is stopping, or its store does not answer or holds another schema; its log says which",
            ))
        }
    }
}
