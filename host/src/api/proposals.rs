//! `/v1/tenants/{tenant}/proposals`: list, read, approve and reject the
//! actions agents proposed; `/v1/tenants/{tenant}/autonomy`: the level and
//! guardrails that decide which proposals run unattended.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use crate::proposals::{Autonomy, AutonomyUpdate, Proposal, ProposalStatus};
use axum::Json;
use axum::extract::{Path, Query, State};
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

/// Which proposals to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ProposalFilter {
    /// Only proposals in this status.
    #[param(value_type = Option<ProposalStatus>)]
    status: Option<ProposalStatus>,
}

/// List a tenant's proposals, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/proposals", tag = "proposals",
    params(("tenant" = String, Path), ProposalFilter),
    responses((status = 200, body = Vec<Proposal>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_proposals(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(filter): Query<ProposalFilter>,
) -> Result<Json<Vec<Proposal>>, ApiError> {
    Ok(Json(
        api.control
            .proposals(&caller.principal, &tenant, filter.status)
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
