//! Signing tenants in to platforms: the host's OAuth clients, starting a
//! sign-in for an enablement, the callback the platforms send the person
//! back to, and the connection's state.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use omnify_control::oauth::{ConnectRequest, ConnectStart, Connection, OAuthClient, OAuthClientRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_clients))
        .routes(routes!(set_client, delete_client))
        .routes(routes!(set_tenant_client, delete_tenant_client))
        .routes(routes!(connect))
        .routes(routes!(connection))
        .routes(routes!(callback))
}

/// The host's OAuth clients, and every tenant's own.
#[utoipa::path(get, path = "/v1/oauth/clients", tag = "oauth",
    responses((status = 200, body = Vec<OAuthClient>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_clients(State(api): State<Api>, caller: Caller) -> Result<Json<Vec<OAuthClient>>, ApiError> {
    Ok(Json(api.control.oauth_clients(&caller.principal, None).await?))
}

/// Set the host's OAuth client for a provider.
///
/// Tenants sign in to the provider's platform with this client (app)
/// unless they have their own. The secret is sealed and never shown. The
/// endpoints default to the provider's published ones for `google`,
/// `meta`, `tiktok`, `shopify`, `stripe`, `linkedin` and `gohighlevel`;
/// they must be `https`, or `http` on a loopback address for a sandbox.
/// Only these endpoints ever receive the secret.
#[utoipa::path(put, path = "/v1/oauth/clients/{provider}", tag = "oauth",
    params(("provider" = String, Path)), request_body = OAuthClientRequest,
    responses((status = 200, body = OAuthClient), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn set_client(
    State(api): State<Api>,
    caller: Caller,
    Path(provider): Path<String>,
    ApiJson(request): ApiJson<OAuthClientRequest>,
) -> Result<Json<OAuthClient>, ApiError> {
    Ok(Json(
        api.control
            .set_oauth_client(&caller.principal, None, &provider, request)
            .await?,
    ))
}

/// Remove the host's OAuth client for a provider.
#[utoipa::path(delete, path = "/v1/oauth/clients/{provider}", tag = "oauth",
    params(("provider" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn delete_client(
    State(api): State<Api>,
    caller: Caller,
    Path(provider): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.control
        .delete_oauth_client(&caller.principal, None, &provider)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a tenant's own OAuth client for a provider.
///
/// Used instead of the host's client for that tenant only; the same rules
/// as for the host's apply.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/oauth/clients/{provider}", tag = "oauth",
    params(("tenant" = String, Path), ("provider" = String, Path)), request_body = OAuthClientRequest,
    responses((status = 200, body = OAuthClient), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn set_tenant_client(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, provider)): Path<(String, String)>,
    ApiJson(request): ApiJson<OAuthClientRequest>,
) -> Result<Json<OAuthClient>, ApiError> {
    Ok(Json(
        api.control
            .set_oauth_client(&caller.principal, Some(&tenant), &provider, request)
            .await?,
    ))
}

/// Remove a tenant's own OAuth client for a provider.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/oauth/clients/{provider}", tag = "oauth",
    params(("tenant" = String, Path), ("provider" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn delete_tenant_client(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, provider)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    api.control
        .delete_oauth_client(&caller.principal, Some(&tenant), &provider)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start signing a connector in to its platform.
///
/// Answers the platform's authorization URL: open it in the browser of the
/// person who signs in. The platform sends them back to
/// `/v1/oauth/callback`, which finishes the sign-in within ten minutes.
/// The connector must be enabled and declare `[oauth]` in its manifest,
/// and the host must have a client for its provider. Shopify needs the
/// body `{"shop": "name.myshopify.com"}`; the body is optional otherwise.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/connect", tag = "oauth",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body(content = Option<ConnectRequest>),
    responses((status = 200, body = ConnectStart), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn connect(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<ConnectStart>, ApiError> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        ConnectRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("request body: {e}"),
            )
        })?
    };
    Ok(Json(
        api.control
            .connect(&caller.principal, &tenant, &plugin, request)
            .await?,
    ))
}

/// A connector's sign-in.
///
/// Whether it works (`not-connected`, `connected` or `needs-reconnect`),
/// the provider, account and scopes, and when its access token expires.
/// Never a token.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins/{plugin}/connection", tag = "oauth",
    params(("tenant" = String, Path), ("plugin" = String, Path)),
    responses((status = 200, body = Connection), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn connection(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
) -> Result<Json<Connection>, ApiError> {
    Ok(Json(
        api.control
            .connection(&caller.principal, &tenant, &plugin)
            .await?,
    ))
}

/// Where a platform sends the person back after they signed in.
///
/// Needs no credential: the `state` the sign-in started with is the proof,
/// valid once and for ten minutes. A wrong, used or expired `state` is
/// refused and changes nothing. The query is the platform's: `state` and
/// `code` (TikTok's `auth_code`), or `error`; Shopify's is signed (`hmac`).
#[utoipa::path(get, path = "/v1/oauth/callback", tag = "oauth",
    responses((status = 200, body = Connection), (status = "4XX", body = ErrorBody)), security(()))]
async fn callback(State(api): State<Api>, RawQuery(query): RawQuery) -> Result<Json<Connection>, ApiError> {
    let params = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    Ok(Json(api.control.finish_connect(params).await?))
}
