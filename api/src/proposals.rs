//! `/v1/tenants/{tenant}/proposals`: list, read, approve and reject the
//! actions agents proposed; `/v1/tenants/{tenant}/autonomy`: the level and
//! guardrails that decide which proposals run unattended.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use super::{constraints, cursor};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use omnify_control::proposals::{Autonomy, AutonomyUpdate, Proposal, ProposalPage, ProposalStatus};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(list_proposals))
        .routes(routes!(get_proposal))
        .routes(routes!(approve_proposal))
        .routes(routes!(reject_proposal))
        .routes(routes!(get_autonomy, set_autonomy))
}

/// Which proposals to list, a page at a time.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ProposalFilter {
    /// Only proposals in this status.
    #[param(value_type = Option<ProposalStatus>)]
    status: Option<ProposalStatus>,
    /// At most this many proposals, newest first (1 to 1000).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000)]
    limit: usize,
    /// Only proposals older than this one: the `id` of the last proposal of
    /// the previous page.
    after: Option<String>,
}

fn default_limit() -> usize {
    100
}

/// List a tenant's proposals, newest first.
///
/// Pass the last id of a page as `after` for the next page.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/proposals", tag = "proposals",
    params(("tenant" = String, Path), ProposalFilter),
    responses((status = 200, body = Vec<Proposal>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_proposals(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<ProposalFilter>,
) -> Result<Json<Vec<Proposal>>, ApiError> {
    let limit = cursor::page_limit(filter.limit)?;
    if let Some(after) = &filter.after
        && let Err(refused) = constraints::HEX16.check("after", after)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            format!("{}: the `id` of a page's last proposal", refused.message),
        ));
    }
    let page = ProposalPage {
        status: filter.status,
        after: filter.after,
        limit,
    };
    Ok(Json(
        api.control
            .proposals_page(&caller.principal, &tenant, page)
            .await?,
    ))
}

/// Read one proposal.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/proposals/{proposal}", tag = "proposals",
    params(("tenant" = String, Path), ("proposal" = String, Path)),
    responses((status = 200, body = Proposal), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn get_proposal(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, proposal)): Path<(String, String)>,
) -> Result<Json<Proposal>, ApiError> {
    Ok(Json(
        api.control
            .proposal(&caller.principal, &tenant, &proposal)
            .await?,
    ))
}

/// An approval, optionally with an edited input.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Approval {
    /// Replaces the agent's input when given.
    #[schema(value_type = Option<Object>)]
    input: Option<Value>,
}

/// Approve a proposal and execute it through its connector.
///
/// Approving it again changes nothing. A proposal that needs an expert
/// needs an `expert` key. If the target's value moved since the proposal
/// was made, answers 409 and puts the proposal back to `pending` with a
/// fresh preview.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/proposals/{proposal}/approve", tag = "proposals",
    params(("tenant" = String, Path), ("proposal" = String, Path)), request_body = Approval,
    responses((status = 200, body = Proposal), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn approve_proposal(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, proposal)): Path<(String, String)>,
    ApiJson(approval): ApiJson<Approval>,
) -> Result<Json<Proposal>, ApiError> {
    Ok(Json(
        api.control
            .approve_proposal(&caller.principal, &tenant, &proposal, approval.input)
            .await?,
    ))
}

/// A rejection.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Rejection {
    /// Why (1 to 2000 characters, not only blanks); kept in the audit log
    /// and learned from.
    reason: String,
}

/// Reject a proposal; it never runs.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/proposals/{proposal}/reject", tag = "proposals",
    params(("tenant" = String, Path), ("proposal" = String, Path)), request_body = Rejection,
    responses((status = 200, body = Proposal), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn reject_proposal(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, proposal)): Path<(String, String)>,
    ApiJson(rejection): ApiJson<Rejection>,
) -> Result<Json<Proposal>, ApiError> {
    super::constraints::REASON.check("reason", &rejection.reason)?;
    Ok(Json(
        api.control
            .reject_proposal(&caller.principal, &tenant, &proposal, rejection.reason)
            .await?,
    ))
}

/// Read a tenant's autonomy level, guardrails and learned thresholds.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/autonomy", tag = "proposals", params(("tenant" = String, Path)),
    responses((status = 200, body = Autonomy), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn get_autonomy(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Autonomy>, ApiError> {
    Ok(Json(api.control.autonomy(&caller.principal, &tenant).await?))
}

/// Set a tenant's autonomy level and guardrails.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/autonomy", tag = "proposals", params(("tenant" = String, Path)),
    request_body = AutonomyUpdate,
    responses((status = 200, body = Autonomy), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn set_autonomy(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(update): ApiJson<AutonomyUpdate>,
) -> Result<Json<Autonomy>, ApiError> {
    Ok(Json(
        api.control
            .set_autonomy(&caller.principal, &tenant, update)
            .await?,
    ))
}
