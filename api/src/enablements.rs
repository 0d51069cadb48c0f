//! `/v1/tenants/{tenant}/plugins`: enable, list, disable, and invoke.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use omnify_control::control::ControlError;
use omnify_control::enablement::{EnableRequest, Enablement, Repin, RepinRequest};
use omnify_runtime::invoke::{Call, CallOutput, Usage};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_enablements))
        .routes(routes!(enable_plugin, disable_plugin))
        .routes(routes!(invoke_plugin))
        .routes(routes!(upgrade_plugin))
        .routes(routes!(rollback_plugin))
}

/// The optional body of an upgrade or rollback.
fn repin_request(body: &[u8]) -> Result<RepinRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RepinRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("request body: {e}"),
        )
    })
}

/// Upgrade a plugin to the newest version its requirement allows.
///
/// Pins the newest version matching the enablement's `version`
/// requirement that is neither yanked nor signed by a revoked key. A
/// version that asks for more than the tenant granted answers 409 listing
/// what is new, until the body carries the `grants` to use from then on.
/// Calls in flight finish on the version they started with. The body is
/// optional.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/upgrade", tag = "plugins",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body(content = Option<RepinRequest>),
    responses((status = 200, body = Enablement), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn upgrade_plugin(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Enablement>, ApiError> {
    let request = repin_request(&body)?;
    Ok(Json(
        api.control
            .repin(&caller.principal, &tenant, &plugin, Repin::Upgrade, request)
            .await?,
    ))
}

/// Roll a plugin back to the version pinned before the last change.
///
/// Like an upgrade, a version that asks for more than the tenant granted
/// needs `grants` in the body. The body is optional.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/rollback", tag = "plugins",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body(content = Option<RepinRequest>),
    responses((status = 200, body = Enablement), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn rollback_plugin(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Enablement>, ApiError> {
    let request = repin_request(&body)?;
    Ok(Json(
        api.control
            .repin(&caller.principal, &tenant, &plugin, Repin::Rollback, request)
            .await?,
    ))
}

/// List the plugins enabled for a tenant.
///
/// Shows each one's pinned version, configuration, grants and limits, and
/// the names of its secrets (never their values).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins", tag = "plugins", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Enablement>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_enablements(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<Enablement>>, ApiError> {
    Ok(Json(
        api.control.list_enablements(&caller.principal, &tenant).await?,
    ))
}

/// Enable or re-configure a plugin for a tenant.
///
/// The configuration is checked against the JSON Schema of the plugin's
/// `spec` export; a mismatch answers 422 naming each failing path. Secrets
/// are stored encrypted and never returned. Sending the request again
/// replaces the version requirement, configuration, grants and limits, but
/// changes only the secrets it names: leave `secrets` out to keep them
/// all, send `{"secrets": {"api_token": "new value"}}` to replace one and
/// `{"secrets": {"api_token": null}}` to remove one.
///
/// An HTTP host outside the plugin's manifest can be granted only if the
/// host's operator made it grantable (`omnify serve --grantable-host
/// 127.0.0.1:8081`); a grant without a port means the scheme's default
/// port, `host:*` any port.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/plugins/{plugin}", tag = "plugins",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body = EnableRequest,
    responses((status = 200, body = Enablement), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn enable_plugin(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    ApiJson(request): ApiJson<EnableRequest>,
) -> Result<Json<Enablement>, ApiError> {
    if let Some(version) = &request.version {
        super::constraints::REQUIREMENT.check("version", version)?;
    }
    Ok(Json(
        api.control
            .enable(&caller.principal, &tenant, &plugin, request)
            .await?,
    ))
}

/// Disable a plugin for a tenant, erasing its secrets.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/plugins/{plugin}", tag = "plugins",
    params(("tenant" = String, Path), ("plugin" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn disable_plugin(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    api.control.disable(&caller.principal, &tenant, &plugin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A call of one export of a plugin: its name and its input.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(
    json!({"export": "check"}),
    json!({"export": "read", "input": {"stream": "greetings", "limit": 100}}),
    json!({"export": "act", "input": {"name": "add-name", "input": {"name": "Edsger"}, "idempotency_key": "add-edsger"}}),
))]
struct InvokeRequest {
    /// `spec`, `check`, `discover`, `read`, `actions`, `act`, `preview`,
    /// `verify-webhook` (connectors) or `describe`, `run` (agents).
    export: String,
    /// The export's input; left out for exports that take none. The
    /// route's description lists each export's input.
    #[serde(default)]
    #[schema(value_type = Object)]
    input: Value,
}

/// What a call returned and what it used.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InvokeResponse {
    /// `{"export": ..., "result": ...}`.
    #[schema(value_type = Object)]
    output: CallOutput,
    /// Fuel, wall time, memory, host calls and HTTP traffic.
    #[schema(value_type = Object)]
    usage: Usage,
}

/// Call one export of an enabled plugin.
///
/// The body names the export and its input:
///
/// | export | `input` | `output.result` |
/// |---|---|---|
/// | `spec` | none | the JSON Schema of the plugin's configuration |
/// | `check` | none | none: `{"export": "check"}` means the configuration and secrets work, an error says what does not |
/// | `discover` | none | the streams, with their primary keys and schemas |
/// | `read` | `{"stream": "greetings", "limit": 100}`; optional `"mode"` (`full-refresh`, the default here, or `incremental`) and `"state"` (the previous batch's) | one batch: `records`, the `state` to resume from, `has_more` |
/// | `actions` | none | the actions, with their input schemas |
/// | `preview` | `{"name": "pause-campaign", "input": {...}}` | what the action would change |
/// | `act` | `{"name": "add-name", "input": {"name": "Edsger"}, "idempotency_key": "k1"}` | the action's result |
/// | `verify-webhook` | `{"headers": [["name", "value"]], "body": "..."}` | the events the delivery carries |
/// | `describe` (agents) | none | the agent's tasks |
/// | `run` (agents) | `{"kind": "daily-review", "input": {}}` | insights and proposals |
///
/// For example `{"export": "check"}` checks the enablement's configuration
/// and secrets against the platform, and `{"export": "read", "input":
/// {"stream": "greetings", "limit": 100}}` reads the first batch of a
/// stream.
///
/// A failed call answers with a status that says what happened, the
/// plugin's typed error in `error.details.error` and the call's usage in
/// `error.details.usage`:
///
/// | the plugin's error | status | `error.code` |
/// |---|---|---|
/// | `invalid-input` | 422 | `plugin_invalid_input` |
/// | `not-found` (no such stream, action or object) | 404 | `target_not_found` |
/// | `auth` (the platform refused the credentials) | 424 | `platform_auth_refused` |
/// | `config` (the enablement's configuration is wrong) | 424 | `plugin_config_invalid` |
/// | `rate-limited` | 429, with `Retry-After` in seconds when the plugin said how long | `platform_rate_limited` |
/// | `transient` (the platform is unavailable) | 503 | `platform_unavailable` |
/// | `internal` (a bug in the plugin) | 502 | `plugin_internal` |
/// | a panic, trap or limit (fuel, memory, output, host calls) | 502 | `invocation_failed` |
/// | past its deadline | 504 | `invocation_timeout` |
/// | a failure of the host itself | 500 | `internal` |
///
/// `act`, `verify-webhook` and a `read` with a caller-supplied `state` need
/// the admin token: they would step around the tenant's approvals, forge a
/// platform's delivery, or point the connector's credentials elsewhere. A
/// direct `act`'s idempotency key is prefixed with `direct:`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/invoke", tag = "plugins",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body = InvokeRequest,
    responses(
        (status = 200, body = InvokeResponse),
        (status = 404, description = "The tenant, the enablement, or what the plugin was asked for does not exist", body = ErrorBody),
        (status = 422, description = "The request, or the input as the plugin judged it, is not acceptable", body = ErrorBody),
        (status = 424, description = "The platform refused the credentials, or the configuration is wrong", body = ErrorBody),
        (status = 429, description = "A quota of the tenant, or the platform's rate limit, was reached",
            headers(("Retry-After" = u64, description = "Seconds to wait, when known")), body = ErrorBody),
        (status = "4XX", body = ErrorBody),
        (status = 502, description = "The plugin failed: a bug, a panic, or a limit it hit", body = ErrorBody),
        (status = 503, description = "The platform is unavailable for now", body = ErrorBody),
        (status = 504, description = "The call ran past its deadline", body = ErrorBody),
        (status = "5XX", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn invoke_plugin(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    ApiJson(request): ApiJson<InvokeRequest>,
) -> Result<Json<InvokeResponse>, ApiError> {
    let mut call = Call::from_json(&request.export, request.input)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?;
    super::access::require_for_call(&caller.principal, &call)?;
    // A direct action's key lives apart from proposals' (their ids hold no
    // `:`), so it can never pre-empt or repeat a proposal's execution.
    if let Call::Act { idempotency_key, .. } = &mut call {
        *idempotency_key = format!("{}{idempotency_key}", omnify_control::dispatch::DIRECT_KEY_PREFIX);
    }
    // A call runs to its end, with its usage and audit entry, even if the
    // client goes away: a platform may already have acted on it.
    let control = api.control.clone();
    let output = tokio::spawn(async move {
        control
            .invoke_enabled(&caller.principal, &tenant, &plugin, call, &caller.request_id)
            .await
    })
    .await
    .map_err(|e| ApiError::from(ControlError::Internal(format!("an invocation task failed: {e}"))))??;
    Ok(Json(InvokeResponse {
        output: output.value,
        usage: output.usage,
    }))
}
