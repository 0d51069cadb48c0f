//! `/v1/tenants/{tenant}/…/sync`, `/runs` and `/records`: start syncs, follow
//! their runs, and read the synced records.

use super::Api;
use super::constraints;
use super::cursor::{self, CursorKind};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use omnify_control::scheduler::jobs::{Job, NewJob, Schedule};
use omnify_control::sync::{RecordPage, RecordQuery, Run, SyncRequest};
use omnify_runtime::invoke::Task;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(start_sync))
        .routes(routes!(start_agent_run))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
        .routes(routes!(cancel_run))
        .routes(routes!(read_records))
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(delete_job))
}

/// Schedule runs of a plugin.
///
/// Once, or on a cron schedule (five fields) in a time zone.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/jobs", tag = "sync", params(("tenant" = String, Path)),
    request_body = NewJob, responses((status = 201, body = Job), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn create_job(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(new): ApiJson<NewJob>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    check_streams(&new.sync)?;
    if let Schedule::Cron { expression, timezone } = &new.schedule {
        constraints::CRON.check("schedule.expression", expression)?;
        constraints::TIME_ZONE.check("schedule.timezone", timezone)?;
    }
    Ok((
        StatusCode::CREATED,
        Json(api.control.create_job(&caller.principal, &tenant, new).await?),
    ))
}

/// List a tenant's scheduled jobs.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/jobs", tag = "sync", params(("tenant" = String, Path)),
    responses((status = 200, body = Vec<Job>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_jobs(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<Job>>, ApiError> {
    Ok(Json(api.control.jobs(&caller.principal, &tenant).await?))
}

/// Delete a scheduled job.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/jobs/{job}", tag = "sync",
    params(("tenant" = String, Path), ("job" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn delete_job(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, job)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    api.control.delete_job(&caller.principal, &tenant, &job).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sync a connector into the tenant's record store.
///
/// Answers 202 with the run; it goes on in the background: follow it at
/// `/v1/tenants/{tenant}/runs/{run}` and read its records at
/// `/v1/tenants/{tenant}/records/{connector}/{stream}`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/sync", tag = "sync",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body = SyncRequest,
    responses((status = 202, body = Run), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn start_sync(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    ApiJson(request): ApiJson<SyncRequest>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    check_streams(&request)?;
    let run = api
        .control
        .start_sync(&caller.principal, &tenant, &plugin, request)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// The stream names of `request` against the documented rule.
fn check_streams(request: &SyncRequest) -> Result<(), ApiError> {
    for stream in request.streams.iter().flatten() {
        constraints::STREAM.check("streams[]", stream)?;
    }
    Ok(())
}

/// Run a task of an agent on the tenant's synced data.
///
/// The body is the task, for example `{"kind": "daily-review", "input": {}}`.
/// Answers 202 with the run; its insights and proposals are in
/// `/v1/tenants/{tenant}/runs/{run}` when it ends.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/run", tag = "sync",
    params(("tenant" = String, Path), ("plugin" = String, Path)), request_body = Object,
    responses((status = 202, body = Run), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn start_agent_run(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, plugin)): Path<(String, String)>,
    ApiJson(task): ApiJson<Task>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let run = api
        .control
        .start_agent_run(&caller.principal, &tenant, &plugin, task)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// Paging through runs.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    /// At most this many runs, newest first (1 to 1000).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000)]
    limit: usize,
    /// Only runs older than this run: the `id` of the last run of the
    /// previous page.
    after: Option<String>,
}

fn default_limit() -> usize {
    100
}

/// List a tenant's runs, newest first.
///
/// Pass the last id of a page as `after` for the next page.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/runs", tag = "sync", params(("tenant" = String, Path), RunsQuery),
    responses((status = 200, body = Vec<Run>), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn list_runs(
    State(api): State<Api>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let limit = cursor::page_limit(query.limit)?;
    if let Some(after) = &query.after
        && let Err(refused) = constraints::RUN_ID.check("after", after)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            format!("{}: the `id` of a page's last run", refused.message),
        ));
    }
    Ok(Json(
        api.control
            .runs(&caller.principal, &tenant, query.after, limit)
            .await?,
    ))
}

/// Read one run, with its progress per stream.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/runs/{run}", tag = "sync",
    params(("tenant" = String, Path), ("run" = String, Path)),
    responses((status = 200, body = Run), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn get_run(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, run)): Path<(String, String)>,
) -> Result<Json<Run>, ApiError> {
    Ok(Json(api.control.run(&caller.principal, &tenant, &run).await?))
}

/// Cancel a run that has not ended.
///
/// One waiting for a worker ends at once, a running one at its next batch
/// boundary, as `cancelled`. A run that has already ended answers 409.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/runs/{run}/cancel", tag = "sync",
    params(("tenant" = String, Path), ("run" = String, Path)),
    responses((status = 202, body = Run), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn cancel_run(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, run)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let run = api.control.cancel_run(&caller.principal, &tenant, &run).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// Paging and filtering records.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    /// The `next` of the previous page, as it was: an opaque token.
    after: Option<String>,
    /// At most this many records (1 to 1000).
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000)]
    limit: usize,
    /// Only records whose top-level field equals a value: `field:value`
    /// (the value is JSON when it parses, text otherwise).
    filter: Option<String>,
}

/// Read a page of a stream's synced records, in primary-key order.
///
/// Pass a page's `next` as `after`, unchanged, for the next page: it is an
/// opaque, URL-safe token. One that this list did not give answers 400
/// `invalid_cursor`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/records/{connector}/{stream}", tag = "sync",
    params(("tenant" = String, Path), ("connector" = String, Path), ("stream" = String, Path), RecordsQuery),
    responses((status = 200, body = RecordPage), (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn read_records(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, connector, stream)): Path<(String, String, String)>,
    Query(query): Query<RecordsQuery>,
) -> Result<Json<RecordPage>, ApiError> {
    let filter = match query.filter {
        None => None,
        Some(filter) => {
            constraints::FILTER.check("filter", &filter)?;
            let (field, value) = filter.split_once(':').ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    "filter must be `field:value`",
                )
            })?;
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
            Some((field.to_string(), value))
        }
    };
    let after = query
        .after
        .map(|token| cursor::decode(CursorKind::Records, &token))
        .transpose()?;
    let query = RecordQuery {
        connector,
        stream,
        after,
        limit: cursor::page_limit(query.limit)?,
        filter,
    };
    let mut page = api.control.records(&caller.principal, &tenant, query).await?;
    page.next = page.next.map(|key| cursor::encode(CursorKind::Records, &key));
    Ok(Json(page))
}
