//! `/v1/tenants/{tenant}/endpoints`: the tenant's webhook endpoints for
//! events out, and their deliveries (see [`omnify_control::notify`]).

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use omnify_control::notify::{CreatedEndpoint, Delivery, Endpoint, NewEndpoint};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(delete_endpoint))
        .routes(routes!(list_deliveries))
}

/// Register a webhook endpoint for a tenant's events.
///
/// The URL must pass the egress rules (a private or loopback address only
/// for a host the operator made grantable), else 400 and nothing is stored.
/// The response holds the endpoint's signing secret, shown this once: every
/// delivery carries `X-Omnify-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
/// "<unix>.<body>" under the secret>`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/endpoints", tag = "endpoints",
    params(("tenant" = String, Path)), request_body = NewEndpoint,
    responses((status = 201, body = CreatedEndpoint), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn create_endpoint(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(new): ApiJson<NewEndpoint>,
) -> Result<(StatusCode, Json<CreatedEndpoint>), ApiError> {
    if let Err(why) = api.control.check_endpoint_url(&new.url).await {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_url",
            format!("url: {why}"),
        ));
    }
    let created = api
        .control
        .create_endpoint(&caller.principal, &tenant, new)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List a tenant's endpoints (never their secrets, nor their URLs' paths).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints", tag = "endpoints", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Endpoint>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_endpoints(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<Endpoint>>, ApiError> {
    Ok(Json(api.control.endpoints(&caller.principal, &tenant).await?))
}

/// Delete an endpoint and its deliveries; nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/endpoints/{endpoint}", tag = "endpoints",
    params(("tenant" = String, Path), ("endpoint" = String, Path, description = "The endpoint's id")),
    responses((status = 200, body = Endpoint), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn delete_endpoint(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, endpoint)): Path<(String, String)>,
) -> Result<Json<Endpoint>, ApiError> {
    Ok(Json(
        api.control
            .delete_endpoint(&caller.principal, &tenant, &endpoint)
            .await?,
    ))
}

/// An endpoint's recent deliveries, newest first.
///
/// Each has its outcome, every attempt with its status code, and the next
/// retry (at most 100 are listed).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/endpoints/{endpoint}/deliveries", tag = "endpoints",
    params(("tenant" = String, Path), ("endpoint" = String, Path, description = "The endpoint's id")),
    responses((status = 200, body = Vec<Delivery>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_deliveries(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, endpoint)): Path<(String, String)>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(
        api.control
            .deliveries(&caller.principal, &tenant, &endpoint)
            .await?,
    ))
}
