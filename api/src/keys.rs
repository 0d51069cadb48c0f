//! `/v1/tenants/{tenant}/keys`: create, list (by prefix) and revoke API keys.

use super::Api;
use super::constraints;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use omnify_control::tenant::{ApiKey, Role};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

/// The body of a key creation: the key's role and a label.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// `viewer`, `operator` or `expert`.
    role: Role,
    /// A note to recognise the key by (at most 200 characters).
    #[serde(default)]
    label: String,
}

/// A new key: the only time the key itself is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatedKey {
    /// The key to send as `Authorization: Bearer <key>`. Store it now.
    key: String,
    /// The key's record.
    record: ApiKey,
}

/// Create an API key for a tenant.
///
/// The response holds the key itself, shown this once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/keys", tag = "keys", params(("tenant" = String, Path)),
    request_body = NewKey, responses((status = 201, body = CreatedKey), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn create_key(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(new): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    constraints::LABEL.check("label", &new.label)?;
    let (record, key) = api
        .control
        .create_key(&caller.principal, &tenant, new.role, new.label)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, record })))
}

/// List a tenant's keys, by prefix (never the keys themselves).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/keys", tag = "keys", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<ApiKey>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_keys(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(api.control.list_keys(&caller.principal, &tenant).await?))
}

/// Revoke a tenant's key.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/keys/{key}", tag = "keys",
    params(("tenant" = String, Path), ("key" = String, Path, description = "The key's id")),
    responses((status = 200, body = ApiKey), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn revoke_key(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, key)): Path<(String, String)>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(
        api.control.revoke_key(&caller.principal, &tenant, &key).await?,
    ))
}
