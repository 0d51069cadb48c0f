//! The connections page: per enabled connector its version, its last sync
//! with the records each stream got, the last error, its schedule, and a
//! "sync now" button.

use super::Console;
use super::access::{self, LIST_ENABLEMENTS, LIST_JOBS, LIST_RUNS, START_SYNC};
use super::page::{Chrome, refusal, render};
use super::session::Notice;
use super::signin::redirect;
use super::visitor::{ConsoleForm, Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use omnify_control::control::ControlError;
use omnify_control::scheduler::jobs::{Job, Schedule};
use omnify_control::sync::{Run, RunStatus, SyncRequest};
use omnify_control::tenant::Principal;
use omnify_registry::PluginKind;

/// Runs read per page while looking for each connector's last sync.
const RUNS_PAGE: usize = 200;

/// Pages of runs read at most, so that a tenant with a long history costs
/// a bounded read; a connector whose last sync is older shows none.
const RUNS_PAGES: usize = 5;

/// One stream of the last sync.
struct StreamView {
    stream: String,
    mode: String,
    records: u64,
    done: bool,
}

/// A connector as the page shows it.
struct ConnectionView {
    plugin: String,
    version: String,
    signer_revoked: bool,
    /// The last sync: status, when, by whom.
    last_sync: Option<String>,
    last_status: String,
    streams: Vec<StreamView>,
    last_error: Option<String>,
    schedules: Vec<String>,
}

fn status_word(run: &Run) -> &'static str {
    match (run.status, run.queued) {
        (RunStatus::Running, true) => "queued",
        (RunStatus::Running, false) => "running",
        (RunStatus::Succeeded, _) => "succeeded",
        (RunStatus::Failed, _) => "failed",
        (RunStatus::Cancelled, _) => "cancelled",
    }
}

fn schedule_words(job: &Job) -> String {
    let when = match &job.schedule {
        Schedule::Once => "once".to_string(),
        Schedule::Cron { expression, timezone } => format!("cron `{expression}` ({timezone})"),
    };
    match &job.next_due_at {
        Some(next) => format!("{when}, next at {next}"),
        None => format!("{when}, done"),
    }
}

/// The newest sync run of each of `plugins` (agent runs are skipped),
/// reading at most [`RUNS_PAGES`] pages.
async fn last_syncs(
    console: &Console,
    principal: &Principal,
    tenant: &str,
    plugins: &[String],
) -> Result<Vec<Run>, ControlError> {
    let mut found: Vec<Run> = Vec::new();
    let mut after = None;
    for _ in 0..RUNS_PAGES {
        let page = console.control.runs(principal, tenant, after, RUNS_PAGE).await?;
        let full = page.len() == RUNS_PAGE;
        after = page.last().map(|run| run.id.clone());
        for run in page {
            if run.task.is_none()
                && plugins.contains(&run.plugin)
                && !found.iter().any(|f| f.plugin == run.plugin)
            {
                found.push(run);
            }
        }
        if !full || found.len() == plugins.len() {
            break;
        }
    }
    Ok(found)
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ConnectionsPage {
    chrome: Chrome,
    connections: Vec<ConnectionView>,
    may_sync: bool,
}

async fn page(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let principal = &visitor.session.principal;
    let gathered = async {
        for route in [LIST_ENABLEMENTS, LIST_RUNS, LIST_JOBS] {
            access::allow(principal, route, Some(tenant))?;
        }
        let connectors: Vec<_> = console
            .control
            .list_enablements(principal, tenant)
            .await?
            .into_iter()
            .filter(|e| e.kind == PluginKind::Connector)
            .collect();
        let names: Vec<String> = connectors.iter().map(|e| e.plugin.clone()).collect();
        let runs = last_syncs(console, principal, tenant, &names).await?;
        let jobs = console.control.jobs(principal, tenant).await?;
        Ok::<_, ControlError>((connectors, runs, jobs))
    }
    .await;
    let (connectors, runs, jobs) = match gathered {
        Ok(gathered) => gathered,
        Err(error) => return refused(visitor, error),
    };
    let connections = connectors
        .into_iter()
        .map(|enablement| {
            let run = runs.iter().find(|r| r.plugin == enablement.plugin);
            ConnectionView {
                last_sync: run.map(|r| {
                    let ended = r
                        .ended_at
                        .as_deref()
                        .map(|at| format!(", ended {at}"))
                        .unwrap_or_default();
                    format!("started {}{ended}, by {}", r.started_at, r.requested_by)
                }),
                last_status: run.map(status_word).unwrap_or("never synced").to_string(),
                streams: run
                    .map(|r| {
                        r.streams
                            .iter()
                            .map(|s| StreamView {
                                stream: s.stream.clone(),
                                mode: serde_json::to_value(s.mode)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default(),
                                records: s.records_written,
                                done: s.done,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                last_error: run.and_then(|r| r.last_error.clone()),
                schedules: jobs
                    .iter()
                    .filter(|job| job.plugin == enablement.plugin)
                    .map(schedule_words)
                    .collect(),
                signer_revoked: enablement.signer_revoked,
                version: enablement.version,
                plugin: enablement.plugin,
            }
        })
        .collect();
    let chrome = Chrome::new(console, visitor, Some(tenant), "connections").with_notice(notice);
    render(
        status,
        &ConnectionsPage {
            chrome,
            connections,
            may_sync: access::may(principal, START_SYNC, tenant),
        },
    )
}

/// `GET /console/tenants/{tenant}/connections`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    page(&console, &visitor, &tenant, StatusCode::OK, None).await
}

/// `POST /console/tenants/{tenant}/connections/{plugin}/sync`: sync every
/// stream now.
pub async fn sync_now(
    State(console): State<Console>,
    Path((tenant, plugin)): Path<(String, String)>,
    ConsoleForm(visitor, _): ConsoleForm<super::signin::Plain>,
) -> Response {
    let principal = &visitor.session.principal;
    let started = match access::allow(principal, START_SYNC, Some(&tenant)) {
        Ok(()) => {
            console
                .control
                .start_sync(principal, &tenant, &plugin, SyncRequest::default())
                .await
        }
        Err(error) => Err(error),
    };
    match started {
        Ok(run) => {
            let text = format!("Sync of {plugin} started (run {}).", run.id);
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(text));
            redirect(&format!("/console/tenants/{tenant}/connections"), &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            page(&console, &visitor, &tenant, status, Some(Notice::Refused(text))).await
        }
    }
}
