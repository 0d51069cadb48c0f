//! `POST /v1/tenants/{tenant}/autonomy/simulate`: what each autonomy level,
//! and a candidate level and guardrails, would have done with the tenant's
//! proposals of the last 30 days, before the candidate is saved with
//! `PUT …/autonomy`.

use super::Api;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use omnify_control::proposals::{AutonomyUpdate, Simulation};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(simulate_autonomy))
}

/// Simulate a candidate autonomy level and guardrails before saving them.
///
/// The body is the one `PUT /v1/tenants/{tenant}/autonomy` takes. Over the
/// tenant's proposals of the last 30 days, the answer says, per proposal and
/// in totals, what intake did, what the current settings and the candidate
/// would do (executed, queued for a person, queued for an expert), and the
/// totals of each of the four levels with the current guardrails; proposals
/// the host refused before the policy count the same at every level. The
/// policy replayed is the one intake applies; nothing is changed or executed.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/autonomy/simulate", tag = "proposals",
    params(("tenant" = String, Path)),
    request_body = AutonomyUpdate,
    responses((status = 200, body = Simulation), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn simulate_autonomy(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(candidate): ApiJson<AutonomyUpdate>,
) -> Result<Json<Simulation>, ApiError> {
    Ok(Json(
        api.control
            .simulate_autonomy(&caller.principal, &tenant, candidate)
            .await?,
    ))
}
