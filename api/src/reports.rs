//! `GET /v1/tenants/{tenant}/reports/{dataset}`: a tenant's records,
//! insights, proposals or usage over a range of days, as CSV or XLSX.

use super::Api;
use super::constraints::{DAY, ID, STREAM};
use super::error::{ApiError, ErrorBody};
use super::extract::Caller;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use omnify_control::control::ControlError;
use omnify_control::reports::sheet::{self, SheetFormat};
use omnify_control::reports::{Dataset, DayRange, ReportRequest};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new().routes(routes!(report))
}

/// What the report covers and how it is written.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// `csv` (the default) or `xlsx`.
    #[serde(default)]
    format: SheetFormat,
    /// The first day, `YYYY-MM-DD` (records by their `date` field, insights
    /// by their run's start, proposals by when they were made, usage by
    /// day); open when absent.
    from: Option<String>,
    /// The last day, included.
    to: Option<String>,
    /// For `records`: the connector.
    connector: Option<String>,
    /// For `records`: its stream.
    stream: Option<String>,
}

/// Download a report.
///
/// One row per record, insight, proposal or day of a plugin's usage, with
/// every top-level field as a column (nested values as JSON). At most
/// 100 000 rows: a larger report is refused with 422; narrow the days.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/reports/{dataset}", tag = "audit",
    params(("tenant" = String, Path), ("dataset" = Dataset, Path), ReportQuery),
    responses((status = 200, description = "The report as CSV (`text/csv`) or XLSX", content_type = "text/csv"),
        (status = "4XX", body = ErrorBody)), security(("bearer" = [])))]
async fn report(
    State(api): State<Api>,
    caller: Caller,
    Path((tenant, dataset)): Path<(String, Dataset)>,
    Query(query): Query<ReportQuery>,
) -> Result<impl IntoResponse, ApiError> {
    for (name, value, rule) in [
        ("from", &query.from, DAY),
        ("to", &query.to, DAY),
        ("connector", &query.connector, ID),
        ("stream", &query.stream, STREAM),
    ] {
        if let Some(value) = value {
            rule.check(name, value)?;
        }
    }
    let request = ReportRequest {
        dataset,
        days: DayRange::parse(query.from.as_deref(), query.to.as_deref())?,
        stream: query.connector.zip(query.stream),
    };
    let report = api.control.report(&caller.principal, &tenant, &request).await?;
    let format = query.format;
    // Writing a large workbook is CPU work: off the async threads.
    let bytes = tokio::task::spawn_blocking(move || sheet::write(&report, format, dataset.as_str()))
        .await
        .map_err(|e| ControlError::Internal(e.to_string()))??;
    let file = format!("{tenant}-{}.{}", dataset.as_str(), format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        bytes,
    ))
}
