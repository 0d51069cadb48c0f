//! The inbox: a tenant's pending proposals, most urgent first, each with
//! the host-verified before → after of its target, and the forms that
//! approve (as proposed or with an edited input) and reject them through
//! the same façade methods as the API.

use super::Console;
use super::access::{self, APPROVE, LIST_PROPOSALS, REJECT};
use super::page::{Chrome, number, refusal, render, signed};
use super::session::Notice;
use super::signin::redirect;
use super::visitor::{ConsoleForm, CsrfForm, PageResult, Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use omnify_control::audit::{rfc3339_at, unix_seconds};
use omnify_control::control::ControlError;
use omnify_control::proposals::impact::is_currency;
use omnify_control::proposals::{Proposal, ProposalStatus};
use serde::Deserialize;
use serde_json::Value;

/// A proposal expiring sooner than this is marked urgent and listed first.
const URGENT_SECONDS: u64 = 3600;

/// How long an expired proposal stays listed below the pending ones.
const EXPIRED_SHOWN_SECONDS: u64 = 24 * 3600;

/// A proposal as the inbox shows it.
#[derive(Debug, Clone)]
pub struct ProposalView {
    id: String,
    agent: String,
    agent_version: String,
    connector: String,
    action: String,
    rationale: String,
    confidence: String,
    /// `campaign 123 · daily-budget`, from the connector's preview.
    target: Option<String>,
    before: String,
    after: String,
    change: String,
    expected: String,
    input: String,
    requires_expert: bool,
    /// When it was escalated for missing the expert SLA.
    escalated_at: Option<String>,
    /// Why the platform moved since it was proposed, when it did.
    stale: Option<String>,
    expires: String,
    expires_in: String,
    urgent: bool,
    linked: Vec<String>,
}

fn duration_words(seconds: u64) -> String {
    match seconds {
        0..60 => "under a minute".into(),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

impl ProposalView {
    fn of(proposal: &Proposal, now: u64) -> Self {
        // Money reads with its currency ("63 USD"); another unit (a
        // status) goes with the metric instead of after each value.
        let (target, before, after) = match &proposal.preview {
            Some(preview) if is_currency(&preview.unit) => (
                Some(format!(
                    "{} {} · {}",
                    preview.target_kind, preview.target_id, preview.metric
                )),
                format!("{} {}", number(preview.current), preview.unit),
                format!("{} {}", number(preview.after), preview.unit),
            ),
            Some(preview) => (
                Some(format!(
                    "{} {} · {} ({})",
                    preview.target_kind, preview.target_id, preview.metric, preview.unit
                )),
                number(preview.current),
                number(preview.after),
            ),
            None => (None, String::new(), String::new()),
        };
        let unit = proposal
            .preview
            .as_ref()
            .map(|p| p.unit.as_str())
            .unwrap_or_default();
        let change = match &proposal.verified {
            Some(change) => {
                let money = change
                    .money
                    .map(|m| format!(", {} {unit}", signed(m)))
                    .unwrap_or_default();
                format!("{}%{money}", signed(change.percent))
            }
            None => "not verified: this action cannot be previewed, so it never runs unattended".into(),
        };
        let impact = &proposal.expected_impact;
        let left = proposal.expires_at_unix.saturating_sub(now);
        Self {
            id: proposal.id.clone(),
            agent: proposal.agent.clone(),
            agent_version: proposal.agent_version.clone(),
            connector: proposal.connector.clone(),
            action: proposal.action.clone(),
            rationale: proposal.rationale.clone(),
            confidence: format!("{}%", number(proposal.confidence * 100.0)),
            target,
            before,
            after,
            change,
            expected: format!(
                "{} {} ({}%)",
                impact.metric,
                signed(impact.absolute),
                signed(impact.percent)
            ),
            input: serde_json::to_string_pretty(&proposal.input).unwrap_or_default(),
            requires_expert: proposal.requires_expert,
            escalated_at: proposal.escalated_at.clone(),
            stale: proposal
                .policy
                .strip_prefix("stale: ")
                .map(|why| why.trim_end_matches("; it waits for a new decision").to_string()),
            expires: rfc3339_at(proposal.expires_at_unix),
            expires_in: duration_words(left),
            urgent: proposal.status == ProposalStatus::Pending && left < URGENT_SECONDS,
            linked: proposal.linked.clone(),
        }
    }
}

/// Most urgent first: those expiring within the hour, then the largest
/// verified change in percent (unverified ones last), then the soonest to
/// expire.
fn by_urgency(proposals: &mut [Proposal], now: u64) {
    let size = |p: &Proposal| p.verified.map_or(-1.0, |v| v.percent.abs());
    proposals.sort_by(|a, b| {
        let soon = |p: &Proposal| p.expires_at_unix.saturating_sub(now) >= URGENT_SECONDS;
        soon(a)
            .cmp(&soon(b))
            .then(size(b).total_cmp(&size(a)))
            .then(a.expires_at_unix.cmp(&b.expires_at_unix))
            .then(a.id.cmp(&b.id))
    });
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    pending: Vec<ProposalView>,
    expired: Vec<ProposalView>,
    may_decide: bool,
    is_expert: bool,
}

/// Render the inbox of `tenant` with `status`, showing `notice` if given.
async fn page(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> PageResult {
    let principal = &visitor.session.principal;
    let listed = access::allow(principal, LIST_PROPOSALS, Some(tenant));
    let all = match listed {
        Ok(()) => console.control.proposals(principal, tenant, None).await,
        Err(error) => Err(error),
    }
    .map_err(|error| refused(visitor, error))?;
    let now = unix_seconds(std::time::SystemTime::now());
    let (mut pending, mut expired): (Vec<Proposal>, Vec<Proposal>) = all
        .into_iter()
        .filter(|p| {
            p.status == ProposalStatus::Pending
                || (p.status == ProposalStatus::Expired
                    && now.saturating_sub(p.expires_at_unix) < EXPIRED_SHOWN_SECONDS)
        })
        .partition(|p| p.status == ProposalStatus::Pending);
    by_urgency(&mut pending, now);
    expired.sort_by_key(|p| std::cmp::Reverse(p.expires_at_unix));
    let chrome = Chrome::new(console, visitor, Some(tenant), "inbox").with_notice(notice);
    let view = |list: Vec<Proposal>| list.iter().map(|p| ProposalView::of(p, now)).collect();
    Ok(render(
        status,
        &InboxPage {
            chrome,
            pending: view(pending),
            expired: view(expired),
            may_decide: access::may(principal, APPROVE, tenant),
            is_expert: principal.role >= omnify_control::tenant::Role::Expert,
        },
    ))
}

/// `GET /console/tenants/{tenant}/inbox`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    page(&console, &visitor, &tenant, StatusCode::OK, None)
        .await
        .unwrap_or_else(|refusal| refusal)
}

/// After a decision: back to the inbox with what happened, or the inbox
/// again with why it was refused (the status the API would answer).
async fn after_decision(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
    outcome: Result<String, ControlError>,
) -> Response {
    match outcome {
        Ok(done) => {
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(done));
            redirect(&format!("/console/tenants/{tenant}/inbox"), &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            page(console, visitor, tenant, status, Some(Notice::Refused(text)))
                .await
                .unwrap_or_else(|refusal| refusal)
        }
    }
}

/// The approve form: the edited input when the visitor changed it.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    csrf: Option<String>,
    input: Option<String>,
}

impl CsrfForm for ApproveForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// What became of an approved proposal, for the notice.
fn approved_outcome(proposal: &Proposal) -> String {
    match (&proposal.status, &proposal.execution) {
        (ProposalStatus::Executed, _) => format!(
            "Approved and executed: {} on {} ({}).",
            proposal.action, proposal.connector, proposal.id
        ),
        (ProposalStatus::Failed, Some(execution)) => format!(
            "Approved, but {} failed to perform it: {}. Approving again retries it.",
            proposal.connector,
            execution.error.as_deref().unwrap_or("unknown error")
        ),
        (status, _) => format!("Approved; the proposal is {status:?} now.").to_lowercase(),
    }
}

/// `POST /console/tenants/{tenant}/proposals/{proposal}/approve`.
pub async fn approve(
    State(console): State<Console>,
    Path((tenant, id)): Path<(String, String)>,
    ConsoleForm(visitor, form): ConsoleForm<ApproveForm>,
) -> Response {
    let principal = &visitor.session.principal;
    let outcome = async {
        access::allow(principal, APPROVE, Some(&tenant))?;
        let edited =
            match form.input.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|error| {
                    ControlError::Invalid(format!("the edited input is not JSON: {error}"))
                })?),
            };
        let proposal = console
            .control
            .approve_proposal(principal, &tenant, &id, edited)
            .await?;
        Ok(approved_outcome(&proposal))
    }
    .await;
    after_decision(&console, &visitor, &tenant, outcome).await
}

/// The reject form.
#[derive(Debug, Deserialize)]
pub struct RejectForm {
    csrf: Option<String>,
    reason: Option<String>,
}

impl CsrfForm for RejectForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /console/tenants/{tenant}/proposals/{proposal}/reject`.
pub async fn reject(
    State(console): State<Console>,
    Path((tenant, id)): Path<(String, String)>,
    ConsoleForm(visitor, form): ConsoleForm<RejectForm>,
) -> Response {
    let principal = &visitor.session.principal;
    let outcome = async {
        access::allow(principal, REJECT, Some(&tenant))?;
        let reason = form.reason.unwrap_or_default();
        let proposal = console
            .control
            .reject_proposal(principal, &tenant, &id, reason.trim().to_string())
            .await?;
        Ok(format!(
            "Rejected {} on {} ({}).",
            proposal.action, proposal.connector, proposal.id
        ))
    }
    .await;
    after_decision(&console, &visitor, &tenant, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(id: &str, expires_at_unix: u64, percent: Option<f64>) -> Proposal {
        let verified = percent.map(|percent| serde_json::json!({"percent": percent, "money": null}));
        serde_json::from_value(serde_json::json!({
            "id": id, "tenant": "acme", "agent": "analytics", "agent_version": "1.0.0", "run": "r",
            "connector": "meta-ads", "action": "set-daily-budget", "input": {}, "confidence": 0.9,
            "expected_impact": {"metric": "daily_budget", "absolute": 1.0, "percent": 1.0},
            "verified": verified, "rationale": "why", "status": "pending", "policy": "queued",
            "requires_expert": false, "created_at": "2026-01-01T00:00:00Z", "expires_at_unix": expires_at_unix,
        }))
        .expect("a proposal")
    }

    #[test]
    fn the_most_urgent_come_first() {
        let now = 1_000_000;
        let mut proposals = vec![
            proposal("small-late", now + 7200, Some(-2.0)),
            proposal("unverified", now + 3700, None),
            proposal("large", now + 90_000, Some(-20.0)),
            proposal("expiring", now + 600, Some(1.0)),
            proposal("small-soon", now + 5000, Some(2.0)),
        ];
        by_urgency(&mut proposals, now);
        let order: Vec<&str> = proposals.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            order,
            ["expiring", "large", "small-soon", "small-late", "unverified"]
        );
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(30), "under a minute");
        assert_eq!(duration_words(600), "10 min");
        assert_eq!(duration_words(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(duration_words(2 * 86_400 + 3600), "2 d 1 h");
    }
}
