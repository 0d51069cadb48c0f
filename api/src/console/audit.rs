//! The audit page: a tenant's chain, oldest first, paged and filtered by
//! action and actor, and a Verify button that checks the whole chain and
//! names the first bad entry.

use super::Console;
use super::access::{self, LIST_AUDIT, VERIFY_AUDIT};
use super::page::{Chrome, render};
use super::visitor::{Visitor, refused};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use omnify_control::audit::{AuditEntry, Verification};
use serde::Deserialize;

/// Entries per page.
const PAGE_SIZE: usize = 50;

/// Entries read from the store per step while filtering.
const SCAN_STEP: usize = 500;

/// Steps one page may take while filtering, so a filter that matches
/// little stops after `SCAN_STEP * SCAN_STEPS` entries and offers to go on.
const SCAN_STEPS: usize = 20;

/// The longest details shown in the table (the export has them whole).
const DETAILS_SHOWN: usize = 240;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Entries after this sequence number (text, so that a bad number
    /// reads as the start rather than as an error page).
    #[serde(default)]
    since: String,
    /// Only actions starting with this (`proposal.` or `proposal.approve`).
    #[serde(default)]
    action: String,
    /// Only this actor (`key:<id>`, `admin`, `system`).
    #[serde(default)]
    actor: String,
}

/// An entry as the page shows it.
struct EntryView {
    seq: u64,
    time: String,
    actor: String,
    action: String,
    target: String,
    outcome: String,
    details: String,
}

impl From<AuditEntry> for EntryView {
    fn from(entry: AuditEntry) -> Self {
        let mut details = entry.details.to_string();
        if details.len() > DETAILS_SHOWN {
            let mut end = DETAILS_SHOWN;
            while !details.is_char_boundary(end) {
                end -= 1;
            }
            details.truncate(end);
            details.push('…');
        }
        Self {
            seq: entry.seq,
            time: entry.time,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            outcome: entry.outcome,
            details,
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<EntryView>,
    action: String,
    actor: String,
    since: u64,
    /// The query string of the next page, when there may be one.
    next_query: Option<String>,
    /// Sequence numbers read without a match, when the scan stopped early.
    scanned_to: Option<u64>,
    verification: Option<Verification>,
    may_verify: bool,
}

impl AuditQuery {
    fn since(&self) -> u64 {
        self.since.trim().parse().unwrap_or(0)
    }

    fn matches(&self, entry: &AuditEntry) -> bool {
        let action = self.action.trim();
        let actor = self.actor.trim();
        entry.action.starts_with(action) && (actor.is_empty() || entry.actor == actor)
    }

    /// The query string of the page after `since`.
    fn next_query(&self, since: u64) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("since", &since.to_string())
            .append_pair("action", self.action.trim())
            .append_pair("actor", self.actor.trim())
            .finish()
    }
}

async fn page(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
    query: AuditQuery,
    verify: bool,
) -> Response {
    let principal = &visitor.session.principal;
    if let Err(error) = access::allow(principal, LIST_AUDIT, Some(tenant)) {
        return refused(visitor, error);
    }
    let verification = if verify {
        let verified = match access::allow(principal, VERIFY_AUDIT, Some(tenant)) {
            Ok(()) => console.control.verify_audit(principal, tenant).await,
            Err(error) => Err(error),
        };
        match verified {
            Ok(verification) => Some(verification),
            Err(error) => return refused(visitor, error),
        }
    } else {
        None
    };
    let mut entries = Vec::new();
    let mut cursor = query.since();
    let mut more = false;
    for _ in 0..SCAN_STEPS {
        let step = match console
            .control
            .audit_page(principal, tenant, cursor, SCAN_STEP)
            .await
        {
            Ok(step) => step,
            Err(error) => return refused(visitor, error),
        };
        let full = step.len() == SCAN_STEP;
        for entry in step {
            cursor = entry.seq;
            if query.matches(&entry) {
                entries.push(EntryView::from(entry));
                if entries.len() == PAGE_SIZE {
                    break;
                }
            }
        }
        more = full || entries.len() == PAGE_SIZE;
        if entries.len() == PAGE_SIZE || !full {
            break;
        }
    }
    let scanned_to = (more && entries.len() < PAGE_SIZE).then_some(cursor);
    render(
        StatusCode::OK,
        &AuditPage {
            chrome: Chrome::new(console, visitor, Some(tenant), "audit"),
            entries,
            scanned_to,
            since: query.since(),
            next_query: more.then(|| query.next_query(cursor)),
            verification,
            may_verify: access::may(principal, VERIFY_AUDIT, tenant),
            action: query.action,
            actor: query.actor,
        },
    )
}

/// `GET /console/tenants/{tenant}/audit`.
pub async fn show(
    State(console): State<Console>,
    visitor: Visitor,
    Path(tenant): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Response {
    page(&console, &visitor, &tenant, query, false).await
}

/// `GET /console/tenants/{tenant}/audit/verify`: the same page with the
/// chain verified (a read, so a GET form).
pub async fn verify(
    State(console): State<Console>,
    visitor: Visitor,
    Path(tenant): Path<String>,
    Query(query): Query<AuditQuery>,
) -> Response {
    page(&console, &visitor, &tenant, query, true).await
}
