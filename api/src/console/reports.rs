//! The reports page: download a tenant's records, insights, proposals or
//! usage over a range of days as CSV or XLSX, the same files as
//! `GET /v1/tenants/{t}/reports/{dataset}`.

use super::Console;
use super::access::{self, DOWNLOAD_REPORT, LIST_ENABLEMENTS};
use super::page::{Chrome, render};
use super::visitor::{Visitor, refused};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnify_control::control::ControlError;
use omnify_control::reports::sheet::{self, SheetFormat};
use omnify_control::reports::{Dataset, DayRange, ReportRequest};
use omnify_registry::PluginKind;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    chrome: Chrome,
    /// The enabled connectors, whose streams a records report reads.
    connectors: Vec<String>,
}

/// `GET /console/tenants/{tenant}/reports`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    let principal = &visitor.session.principal;
    let listed = async {
        access::allow(principal, DOWNLOAD_REPORT, Some(&tenant))?;
        access::allow(principal, LIST_ENABLEMENTS, Some(&tenant))?;
        console.control.list_enablements(principal, &tenant).await
    }
    .await;
    let enablements = match listed {
        Ok(enablements) => enablements,
        Err(error) => return refused(&visitor, error),
    };
    let connectors = enablements
        .into_iter()
        .filter(|e| e.kind == PluginKind::Connector)
        .map(|e| e.plugin)
        .collect();
    render(
        StatusCode::OK,
        &ReportsPage {
            chrome: Chrome::new(&console, &visitor, Some(&tenant), "reports"),
            connectors,
        },
    )
}

/// The download form.
#[derive(Debug, Deserialize)]
pub struct Download {
    dataset: Dataset,
    #[serde(default)]
    format: SheetFormat,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// `connector/stream`, for records.
    #[serde(default)]
    stream: String,
}

/// `GET /console/tenants/{tenant}/reports/download`: the file.
pub async fn download(
    State(console): State<Console>,
    visitor: Visitor,
    Path(tenant): Path<String>,
    Query(form): Query<Download>,
) -> Response {
    let principal = &visitor.session.principal;
    let built = async {
        access::allow(principal, DOWNLOAD_REPORT, Some(&tenant))?;
        let given = |text: &str| (!text.is_empty()).then(|| text.to_string());
        let request = ReportRequest {
            dataset: form.dataset,
            days: DayRange::parse(given(&form.from).as_deref(), given(&form.to).as_deref())?,
            stream: form
                .stream
                .split_once('/')
                .map(|(connector, stream)| (connector.to_string(), stream.to_string())),
        };
        let report = console.control.report(principal, &tenant, &request).await?;
        let (format, dataset) = (form.format, form.dataset);
        tokio::task::spawn_blocking(move || sheet::write(&report, format, dataset.as_str()))
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?
    }
    .await;
    match built {
        Ok(bytes) => {
            let file = format!("{tenant}-{}.{}", form.dataset.as_str(), form.format.extension());
            (
                [
                    (header::CONTENT_TYPE, form.format.content_type().to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}\""),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(error) => refused(&visitor, error),
    }
}
