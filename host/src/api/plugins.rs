//! `/v1/plugins`: upload a component with its manifest (admin), and list
//! the catalog.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{AdminCaller, ApiJson, Caller};
use crate::catalog::PluginVersion;
use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use base64::Engine;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The largest plugin upload, in bytes (base64 included).
const MAX_UPLOAD_BYTES: usize = 96 << 20;

pub(super) fn routes() -> OpenApiRouter<Api> {
    let (schemas, paths, upload_and_list) = routes!(upload_plugin, list_plugins);
    OpenApiRouter::new().routes((
        schemas,
        paths,
        upload_and_list.layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
    ))
}

/// A plugin upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Upload {
    /// The `plugin.toml` manifest, as TOML text.
    manifest: String,
    /// The component, base64-encoded.
    component_base64: String,
}

/// Upload a plugin version (admin). Versions are immutable.
#[utoipa::path(post, path = "/v1/plugins", tag = "plugins", request_body = Upload,
    responses((status = 201, body = PluginVersion), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn upload_plugin(
    State(api): State<Api>,
    AdminCaller(caller): AdminCaller,
    ApiJson(upload): ApiJson<Upload>,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    let component = base64::engine::general_purpose::STANDARD
        .decode(upload.component_base64.trim())
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("component_base64: {e}"),
            )
        })?;
    let version = api
        .control
        .upload_plugin(&caller.principal, &upload.manifest, component)
        .await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// List every plugin version (any key).
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses((status = 200, body = Vec<PluginVersion>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_plugins(State(api): State<Api>, _caller: Caller) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    Ok(Json(api.control.list_plugins().await?))
}
