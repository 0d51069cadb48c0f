//! The "agents at work" page: the tenant's latest audit entries (sync
//! batches, agent runs, proposals made, decided, executed or expired,
//! webhooks received) and its newest runs with their progress and errors,
//! each running one with a cancel button. Without JavaScript it is a page
//! with a refresh link; with it, a small script of the console's own
//! follows the live feed ([`super::live`]) and adds what happens as it
//! happens.

use super::Console;
use super::access::{self, CANCEL_RUN, FOLLOW_EVENTS, LIST_AUDIT, LIST_RUNS, START_SYNC};
use super::page::{Chrome, refusal, render};
use super::session::Notice;
use super::signin::{Plain, redirect};
use super::visitor::{ConsoleForm, Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use omnify_control::audit::AuditEntry;
use omnify_control::control::ControlError;
use omnify_control::sync::{Run, RunStatus};

/// The page's script, built into the binary.
const SCRIPT: &str = include_str!("assets/activity.js");

/// Audit entries the page shows.
const ENTRIES_SHOWN: u64 = 50;

/// Runs the page shows.
const RUNS_SHOWN: usize = 20;

/// The longest details shown for an entry (the audit page has them whole).
const DETAILS_SHOWN: usize = 160;

/// An audit entry as the page shows it.
struct EntryView {
    seq: u64,
    time: String,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    details: String,
}

/// The first `max` bytes of `text` (at a character boundary), marked
/// when cut.
fn shortened(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl From<AuditEntry> for EntryView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            seq: entry.seq,
            details: shortened(entry.details.to_string(), DETAILS_SHOWN),
            time: entry.time,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
        }
    }
}

/// One stream of a run.
struct StreamView {
    stream: String,
    records: u64,
    batches: u64,
    done: bool,
}

/// A run as the page shows it.
struct RunView {
    id: String,
    plugin: String,
    /// `sync` or `agent run`.
    kind: &'static str,
    status: &'static str,
    requested_by: String,
    started_at: String,
    ended_at: Option<String>,
    streams: Vec<StreamView>,
    attempts: u64,
    fuel: u64,
    last_error: Option<String>,
    cancelled_by: Option<String>,
    /// Still running and nobody asked to cancel it yet.
    cancellable: bool,
}

/// A run's status in words: a run still waiting in the pool reads
/// `queued`.
fn status_word(run: &Run) -> &'static str {
    match (run.status, run.queued) {
        (RunStatus::Running, true) => "queued",
        (RunStatus::Running, false) => "running",
        (RunStatus::Succeeded, _) => "succeeded",
        (RunStatus::Failed, _) => "failed",
        (RunStatus::Cancelled, _) => "cancelled",
    }
}

impl From<Run> for RunView {
    fn from(run: Run) -> Self {
        Self {
            kind: if run.task.is_some() { "agent run" } else { "sync" },
            status: status_word(&run),
            cancellable: run.status == RunStatus::Running && run.cancelled_by.is_none(),
            streams: run
                .streams
                .into_iter()
                .map(|s| StreamView {
                    stream: s.stream,
                    records: s.records_written,
                    batches: s.batches,
                    done: s.done,
                })
                .collect(),
            id: run.id,
            plugin: run.plugin,
            requested_by: run.requested_by,
            started_at: run.started_at,
            ended_at: run.ended_at,
            attempts: run.attempts,
            fuel: run.fuel,
            last_error: run.last_error,
            cancelled_by: run.cancelled_by,
        }
    }
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    chrome: Chrome,
    entries: Vec<EntryView>,
    runs: Vec<RunView>,
    /// Where the live feed resumes: the newest entry shown.
    since: u64,
    may_follow: bool,
    may_cancel: bool,
    may_sync: bool,
}

/// The latest [`ENTRIES_SHOWN`] audit entries of `tenant` (newest first)
/// and the sequence number the live feed resumes after.
async fn latest_entries(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
) -> Result<(Vec<AuditEntry>, u64), ControlError> {
    let principal = &visitor.session.principal;
    // Opening a feed reads where the chain's head is; nothing is followed.
    let head = console.control.open_feed(principal, tenant, None).await?.after;
    let since = head.saturating_sub(ENTRIES_SHOWN);
    let mut entries = console
        .control
        .audit_page(principal, tenant, since, ENTRIES_SHOWN as usize)
        .await?;
    let resume = entries.last().map_or(head, |entry| entry.seq);
    entries.reverse();
    Ok((entries, resume))
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
        for route in [LIST_AUDIT, LIST_RUNS] {
            access::allow(principal, route, Some(tenant))?;
        }
        let (entries, since) = latest_entries(console, visitor, tenant).await?;
        let runs = console.control.runs(principal, tenant, None, RUNS_SHOWN).await?;
        Ok::<_, ControlError>((entries, since, runs))
    }
    .await;
    let (entries, since, runs) = match gathered {
        Ok(gathered) => gathered,
        Err(error) => return refused(visitor, error),
    };
    let chrome = Chrome::new(console, visitor, Some(tenant), "activity").with_notice(notice);
    render(
        status,
        &ActivityPage {
            chrome,
            entries: entries.into_iter().map(EntryView::from).collect(),
            runs: runs.into_iter().map(RunView::from).collect(),
            since,
            may_follow: access::may(principal, FOLLOW_EVENTS, tenant),
            may_cancel: access::may(principal, CANCEL_RUN, tenant),
            may_sync: access::may(principal, START_SYNC, tenant),
        },
    )
}

/// `GET /console/tenants/{tenant}/activity`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    page(&console, &visitor, &tenant, StatusCode::OK, None).await
}

/// `POST /console/tenants/{tenant}/runs/{run}/cancel`: cancel a run, as
/// `POST /v1/tenants/{tenant}/runs/{run}/cancel` does.
pub async fn cancel(
    State(console): State<Console>,
    Path((tenant, run)): Path<(String, String)>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    let principal = &visitor.session.principal;
    let cancelled = match access::allow(principal, CANCEL_RUN, Some(&tenant)) {
        Ok(()) => console.control.cancel_run(principal, &tenant, &run).await,
        Err(error) => Err(error),
    };
    match cancelled {
        Ok(run) => {
            let text = match run.status {
                RunStatus::Running => format!(
                    "Cancelling run {} of {}: it stops at its next batch.",
                    run.id, run.plugin
                ),
                _ => format!("Run {} of {} is cancelled.", run.id, run.plugin),
            };
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(text));
            redirect(&format!("/console/tenants/{tenant}/activity"), &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            page(&console, &visitor, &tenant, status, Some(Notice::Refused(text))).await
        }
    }
}

/// `GET /console/assets/activity.js`: the live page's script.
pub async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut_at_a_character() {
        assert_eq!(shortened("short".into(), 10), "short");
        assert_eq!(shortened("ééééé".into(), 3), "é…");
        assert_eq!(shortened("abcdef".into(), 3), "abc…");
    }
}
