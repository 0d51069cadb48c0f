//! `/v1/tenants`: create, list, read, suspend, resume, set quotas, delete.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use omnify_control::tenant::{NewTenant, Quotas, Tenant, TenantStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(get_tenant, delete_tenant))
        .routes(routes!(suspend_tenant))
        .routes(routes!(resume_tenant))
        .routes(routes!(set_quotas))
}

/// Create a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn create_tenant(
    State(api): State<Api>,
    caller: Caller,
    ApiJson(new): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(api.control.create_tenant(&caller.principal, new).await?),
    ))
}

/// List every tenant.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<Tenant>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_tenants(State(api): State<Api>, caller: Caller) -> Result<Json<Vec<Tenant>>, ApiError> {
    Ok(Json(api.control.list_tenants(&caller.principal).await?))
}

/// Read a tenant: its status and quotas.
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants", params(("tenant" = String, Path)),
    responses((status = 200, body = Tenant), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn get_tenant(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(api.control.tenant(&caller.principal, &tenant).await?))
}

/// Delete a tenant and erase its data.
///
/// Its records, KV, configuration, secrets and keys are erased; its audit
/// log is kept, so its id stays taken.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", tag = "tenants", params(("tenant" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn delete_tenant(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.control.delete_tenant(&caller.principal, &tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Suspend a tenant: its plugins stop running until it is resumed.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/suspend", tag = "tenants", params(("tenant" = String, Path)),
    responses((status = 200, body = Tenant), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn suspend_tenant(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(
        api.control
            .set_tenant_status(&caller.principal, &tenant, TenantStatus::Suspended)
            .await?,
    ))
}

/// Resume a suspended tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/resume", tag = "tenants", params(("tenant" = String, Path)),
    responses((status = 200, body = Tenant), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn resume_tenant(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(
        api.control
            .set_tenant_status(&caller.principal, &tenant, TenantStatus::Active)
            .await?,
    ))
}

/// Replace a tenant's quotas.
///
/// A quota left out is not limited. A call over a quota answers 429 with
/// `details.quota` and `details.resets_at`.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/quotas", tag = "tenants", params(("tenant" = String, Path)),
    request_body = Quotas, responses((status = 200, body = Tenant), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn set_quotas(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(quotas): ApiJson<Quotas>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(
        api.control.set_quotas(&caller.principal, &tenant, quotas).await?,
    ))
}
