//! `/v1/plugins` and `/v1/publishers`: publish signed packages, browse
//! versions, download, yank, and manage the trust store of publisher keys.

use super::Api;
use super::constraints;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use omnify_control::catalog::PluginVersion;
use omnify_control::catalog::owners::{NameOwner, NameTransfer};
use omnify_control::catalog::trust::{NewTrustedKey, TrustedKey};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest package, in bytes.
const MAX_PACKAGE_BYTES: usize = 96 << 20;

pub(super) fn routes() -> OpenApiRouter<Api> {
    let (schemas, paths, publish_and_list) = routes!(publish, list_plugins);
    OpenApiRouter::new()
        .routes((
            schemas,
            paths,
            publish_and_list.layer(DefaultBodyLimit::max(MAX_PACKAGE_BYTES)),
        ))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(download))
        .routes(routes!(yank))
        .routes(routes!(transfer_name))
        .routes(routes!(trust_key, list_keys))
        .routes(routes!(revoke_key))
}

/// Publish a signed plugin package.
///
/// The body is the package file as `omnify plugin pack` writes it, sent as
/// `application/octet-stream` (`omnify plugin publish` sends it for you).
/// The signature must match a trusted, unrevoked key of the package's
/// publisher (`POST /v1/publishers`); the component must target a
/// supported contract and declare in its manifest every capability it
/// imports. A published version never changes: publish a new one.
#[utoipa::path(post, path = "/v1/plugins", tag = "registry",
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = PluginVersion), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn publish(
    State(api): State<Api>,
    caller: Caller,
    package: Bytes,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    let version = api.control.publish(&caller.principal, &package).await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// List every published version of every plugin.
#[utoipa::path(get, path = "/v1/plugins", tag = "registry",
    responses((status = 200, body = Vec<PluginVersion>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_plugins(State(api): State<Api>, _caller: Caller) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    Ok(Json(api.control.list_plugins().await?))
}

/// List the versions of a plugin, oldest first.
#[utoipa::path(get, path = "/v1/plugins/{plugin}/versions", tag = "registry", params(("plugin" = String, Path)),
    responses((status = 200, body = Vec<PluginVersion>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_versions(
    State(api): State<Api>,
    _caller: Caller,
    Path(plugin): Path<String>,
) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    Ok(Json(api.control.plugin_versions(&plugin).await?))
}

/// Read one version of a plugin, with its manifest.
#[utoipa::path(get, path = "/v1/plugins/{plugin}/versions/{version}", tag = "registry",
    params(("plugin" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = PluginVersion), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn get_version(
    State(api): State<Api>,
    _caller: Caller,
    Path((plugin, version)): Path<(String, String)>,
) -> Result<Json<PluginVersion>, ApiError> {
    Ok(Json(api.control.plugin_version(&plugin, &version).await?))
}

/// Download a version's package file, as published.
#[utoipa::path(get, path = "/v1/plugins/{plugin}/versions/{version}/package", tag = "registry",
    params(("plugin" = String, Path), ("version" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
async fn download(
    State(api): State<Api>,
    _caller: Caller,
    Path((plugin, version)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = api.control.download(&plugin, &version).await?;
    let disposition = format!("attachment; filename=\"{plugin}-{version}.omnify\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    ))
}

/// Yank a version.
///
/// A yanked version is never pinned again, but tenants that pinned it keep
/// running it until they upgrade.
#[utoipa::path(post, path = "/v1/plugins/{plugin}/versions/{version}/yank", tag = "registry",
    params(("plugin" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = PluginVersion), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn yank(
    State(api): State<Api>,
    caller: Caller,
    Path((plugin, version)): Path<(String, String)>,
) -> Result<Json<PluginVersion>, ApiError> {
    Ok(Json(
        api.control.yank(&caller.principal, &plugin, &version).await?,
    ))
}

/// Give a plugin name to another publisher.
///
/// Its next versions must be signed by a key of that publisher.
#[utoipa::path(put, path = "/v1/plugins/{plugin}/owner", tag = "registry", params(("plugin" = String, Path)),
    request_body = NameTransfer,
    responses((status = 200, body = NameOwner), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn transfer_name(
    State(api): State<Api>,
    caller: Caller,
    Path(plugin): Path<String>,
    ApiJson(transfer): ApiJson<NameTransfer>,
) -> Result<Json<NameOwner>, ApiError> {
    constraints::PUBLISHER.check("publisher", &transfer.publisher)?;
    Ok(Json(
        api.control
            .transfer_name(&caller.principal, &plugin, transfer)
            .await?,
    ))
}

/// Trust a publisher's key for its packages.
#[utoipa::path(post, path = "/v1/publishers", tag = "registry", request_body = NewTrustedKey,
    responses((status = 201, body = TrustedKey), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn trust_key(
    State(api): State<Api>,
    caller: Caller,
    ApiJson(new): ApiJson<NewTrustedKey>,
) -> Result<(StatusCode, Json<TrustedKey>), ApiError> {
    // Packages are refused for any other publisher name: a key for one
    // could never be used.
    constraints::PUBLISHER.check("publisher", &new.publisher)?;
    Ok((
        StatusCode::CREATED,
        Json(api.control.trust_key(&caller.principal, new).await?),
    ))
}

/// List the trusted publisher keys.
#[utoipa::path(get, path = "/v1/publishers", tag = "registry",
    responses((status = 200, body = Vec<TrustedKey>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_keys(State(api): State<Api>, caller: Caller) -> Result<Json<Vec<TrustedKey>>, ApiError> {
    Ok(Json(api.control.trusted_keys(&caller.principal).await?))
}

/// Revoke a publisher's key.
///
/// Versions it signed are never pinned again; tenants running one see
/// `signer_revoked`.
#[utoipa::path(delete, path = "/v1/publishers/{key}", tag = "registry", params(("key" = String, Path)),
    responses((status = 200, body = TrustedKey), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn revoke_key(
    State(api): State<Api>,
    caller: Caller,
    Path(key): Path<String>,
) -> Result<Json<TrustedKey>, ApiError> {
    Ok(Json(
        api.control.revoke_trusted_key(&caller.principal, &key).await?,
    ))
}
