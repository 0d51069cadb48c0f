//! `/v1/tenants/{tenant}/audit`: page through, verify and export a tenant's
//! audit chain; `/v1/tenants/{tenant}/usage`; and `/metrics`.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use omnify_control::audit::{AuditEntry, Verification};
use omnify_control::meter::DailyUsage;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
        .routes(routes!(export_audit))
        .routes(routes!(usage))
        .routes(routes!(metrics))
        .routes(routes!(audit_public_key))
}

/// Paging through the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct AuditPage {
    /// Entries after this sequence number: the `seq` of the last entry of
    /// the previous page (0, the default, for the first page).
    #[serde(default)]
    #[param(minimum = 0)]
    since: u64,
    /// At most this many entries (1 to 1000).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000)]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// Read a page of a tenant's audit entries, oldest first.
///
/// Pass the `seq` of a page's last entry as `since` for the next page; a
/// page shorter than `limit` is the last.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/audit", tag = "audit", params(("tenant" = String, Path), AuditPage),
    responses((status = 200, body = Vec<AuditEntry>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_audit(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(page): Query<AuditPage>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = super::cursor::page_limit(page.limit)?;
    Ok(Json(
        api.control
            .audit_page(&caller.principal, &tenant, page.since, limit)
            .await?,
    ))
}

/// Verify a tenant's audit chain.
///
/// Names the first entry that was edited, removed or reordered.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/audit/verify", tag = "audit", params(("tenant" = String, Path)),
    responses((status = 200, body = Verification), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn verify_audit(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(api.control.verify_audit(&caller.principal, &tenant).await?))
}

/// Export a tenant's whole audit chain as JSON Lines.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/audit/export", tag = "audit", params(("tenant" = String, Path)),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
async fn export_audit(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let lines = api.control.export_audit(&caller.principal, &tenant).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], lines))
}

/// Read a tenant's usage per plugin and UTC day.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/usage", tag = "usage", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<DailyUsage>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn usage(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<DailyUsage>>, ApiError> {
    Ok(Json(api.control.usage(&caller.principal, &tenant).await?))
}

/// Prometheus metrics.
///
/// Invocations, errors by kind, fuel and latency per tenant and plugin, and
/// webhook refusals.
#[utoipa::path(get, path = "/metrics", tag = "usage",
    responses((status = 200, content_type = "text/plain", body = String), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
async fn metrics(State(api): State<Api>, _caller: Caller) -> Result<impl IntoResponse, ApiError> {
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        api.control.meter().metrics().encode(),
    ))
}

/// The key that checks the audit checkpoints.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
struct AuditPublicKey {
    /// The host's ed25519 public key, hex: what `omnify audit verify
    /// --checkpoints <export> --public-key <key>` needs to check a copy of a
    /// chain kept elsewhere.
    public_key: String,
}

/// The public key that signs the audit chains' checkpoints.
#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = AuditPublicKey), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn audit_public_key(State(api): State<Api>, _caller: Caller) -> Json<AuditPublicKey> {
    Json(AuditPublicKey {
        public_key: api.control.audit_public_key(),
    })
}
