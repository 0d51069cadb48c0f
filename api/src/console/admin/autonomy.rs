//! A tenant's autonomy level and guardrails for the admin, with the
//! simulation before saving: "Simulate" posts the candidate to the façade
//! method of `POST …/autonomy/simulate` and shows what each level and the
//! candidate would have done with the proposals of the last 30 days; only
//! that page offers "Save", which applies the simulated candidate with the
//! façade method of `PUT …/autonomy`.

use super::{SET_AUTONOMY, SIMULATE_AUTONOMY};
use crate::console::Console;
use crate::console::access::{self, Route};
use crate::console::page::{Chrome, number, refusal, render, signed};
use crate::console::session::Notice;
use crate::console::signin::redirect;
use crate::console::visitor::{ConsoleForm, CsrfForm, Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use omnify_control::control::ControlError;
use omnify_control::proposals::simulate::{LEVELS, Outcome, Totals};
use omnify_control::proposals::{Autonomy, AutonomyLevel, AutonomyUpdate, Guardrails, Simulation};
use serde::Deserialize;

fn page_path(tenant: &str) -> String {
    format!("/console/tenants/{tenant}/admin/autonomy")
}

/// A level as the API names it.
fn level_name(level: AutonomyLevel) -> String {
    serde_json::to_value(level)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Executed => "executed",
        Outcome::QueuedForHuman => "queued for a person",
        Outcome::QueuedForExpert => "queued for an expert",
    }
}

/// The form: the level and each guardrail as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AutonomyForm {
    csrf: Option<String>,
    #[serde(default)]
    level: String,
    #[serde(default)]
    max_change_percent: String,
    #[serde(default)]
    low_impact_percent: String,
    #[serde(default)]
    max_change_absolute: String,
    #[serde(default)]
    proposal_ttl_hours: String,
    #[serde(default)]
    stale_tolerance_percent: String,
    #[serde(default)]
    expert_sla_hours: String,
}

impl CsrfForm for AutonomyForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

fn parsed<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, ControlError> {
    text.trim()
        .parse()
        .map_err(|_| ControlError::Invalid(format!("{field}: `{}` is not a number", text.trim())))
}

impl AutonomyForm {
    fn of(autonomy: &Autonomy) -> Self {
        let g = &autonomy.guardrails;
        Self {
            csrf: None,
            level: level_name(autonomy.level),
            max_change_percent: g.max_change_percent.to_string(),
            low_impact_percent: g.low_impact_percent.to_string(),
            max_change_absolute: g.max_change_absolute.map(|a| a.to_string()).unwrap_or_default(),
            proposal_ttl_hours: g.proposal_ttl_hours.to_string(),
            stale_tolerance_percent: g.stale_tolerance_percent.to_string(),
            expert_sla_hours: g.expert_sla_hours.to_string(),
        }
    }

    /// The body `PUT …/autonomy` takes; the host checks the ranges.
    fn update(&self) -> Result<AutonomyUpdate, ControlError> {
        let level: AutonomyLevel = serde_json::from_value(serde_json::Value::String(self.level.clone()))
            .map_err(|_| {
                ControlError::Invalid(format!("level: `{}` is not an autonomy level", self.level))
            })?;
        let absolute = self.max_change_absolute.trim();
        let guardrails = Guardrails {
            max_change_percent: parsed("max_change_percent", &self.max_change_percent)?,
            low_impact_percent: parsed("low_impact_percent", &self.low_impact_percent)?,
            max_change_absolute: if absolute.is_empty() {
                None
            } else {
                Some(parsed("max_change_absolute", absolute)?)
            },
            proposal_ttl_hours: parsed("proposal_ttl_hours", &self.proposal_ttl_hours)?,
            stale_tolerance_percent: parsed("stale_tolerance_percent", &self.stale_tolerance_percent)?,
            // Not on the form yet: the default SLA.
            ..Guardrails::default()
        };
        Ok(AutonomyUpdate {
            level,
            guardrails: Some(guardrails),
        })
    }
}

/// A level in the form's choice.
struct LevelChoice {
    name: String,
    selected: bool,
}

/// One line of totals.
struct TotalsRow {
    label: String,
    executed: u64,
    human: u64,
    expert: u64,
    refused: u64,
    candidate: bool,
}

impl TotalsRow {
    fn of(label: String, totals: Totals, candidate: bool) -> Self {
        Self {
            label,
            executed: totals.executed,
            human: totals.queued_for_human,
            expert: totals.queued_for_expert,
            refused: totals.refused,
            candidate,
        }
    }
}

/// One proposal of the simulation.
struct RowView {
    id: String,
    created_at: String,
    action: String,
    change: String,
    confidence: String,
    actual: &'static str,
    now: &'static str,
    now_reason: String,
    candidate: &'static str,
    candidate_reason: String,
    differs: bool,
}

/// The simulation as the page shows it.
struct SimulationView {
    since: String,
    totals: Vec<TotalsRow>,
    rows: Vec<RowView>,
    changed: usize,
}

impl From<Simulation> for SimulationView {
    fn from(s: Simulation) -> Self {
        let current = level_name(s.current.level);
        let mut totals = vec![
            TotalsRow::of("What intake did".into(), s.actual, false),
            TotalsRow::of(format!("Now ({current}, current guardrails)"), s.now, false),
            TotalsRow::of(
                format!("Candidate ({})", level_name(s.candidate.level)),
                s.candidate_totals,
                true,
            ),
        ];
        totals.extend(s.levels.iter().map(|l| {
            TotalsRow::of(
                format!("{} (current guardrails)", level_name(l.level)),
                l.totals,
                false,
            )
        }));
        let rows: Vec<RowView> = s
            .rows
            .into_iter()
            .map(|r| RowView {
                differs: r.now.outcome != r.candidate.outcome,
                change: format!(
                    "{}%{}{}",
                    signed(r.change_percent),
                    r.change_money
                        .map(|m| format!(" ({})", signed(m)))
                        .unwrap_or_default(),
                    if r.verified { "" } else { ", not verified" }
                ),
                confidence: number(r.confidence),
                actual: outcome_name(r.actual),
                now: outcome_name(r.now.outcome),
                now_reason: r.now.reason,
                candidate: outcome_name(r.candidate.outcome),
                candidate_reason: r.candidate.reason,
                action: format!("{} on {}", r.action, r.connector),
                created_at: r.created_at,
                id: r.id,
            })
            .collect();
        Self {
            since: s.since,
            changed: rows.iter().filter(|r| r.differs).count(),
            totals,
            rows,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_autonomy.html")]
struct AutonomyPage {
    chrome: Chrome,
    tenant: String,
    current_level: String,
    learned: bool,
    form: AutonomyForm,
    levels: Vec<LevelChoice>,
    simulation: Option<SimulationView>,
}

async fn page(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
    form: Option<AutonomyForm>,
    simulation: Option<Simulation>,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let principal = &visitor.session.principal;
    let current = match access::allow(principal, SET_AUTONOMY, Some(tenant)) {
        Ok(()) => console.control.autonomy(principal, tenant).await,
        Err(error) => Err(error),
    };
    let current = match current {
        Ok(current) => current,
        Err(error) => return refused(visitor, error),
    };
    let form = form.unwrap_or_else(|| AutonomyForm::of(&current));
    let levels = LEVELS
        .iter()
        .map(|&level| {
            let name = level_name(level);
            LevelChoice {
                selected: name == form.level,
                name,
            }
        })
        .collect();
    let chrome = Chrome::new(console, visitor, Some(tenant), "admin-autonomy").with_notice(notice);
    render(
        status,
        &AutonomyPage {
            chrome,
            tenant: tenant.to_string(),
            current_level: level_name(current.level),
            learned: current.learned.is_some(),
            form,
            levels,
            simulation: simulation.map(SimulationView::from),
        },
    )
}

/// `GET /console/tenants/{tenant}/admin/autonomy`.
pub async fn show(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    page(&console, &visitor, &tenant, None, None, StatusCode::OK, None).await
}

/// Check the route, then read the form as the API's body.
fn checked(
    visitor: &Visitor,
    route: Route,
    tenant: &str,
    form: &AutonomyForm,
) -> Result<AutonomyUpdate, ControlError> {
    access::allow(&visitor.session.principal, route, Some(tenant))?;
    form.update()
}

/// `POST /console/tenants/{tenant}/admin/autonomy/simulate`: the
/// simulation of the candidate, with the button that saves it.
pub async fn simulate(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    ConsoleForm(visitor, form): ConsoleForm<AutonomyForm>,
) -> Response {
    let simulated = match checked(&visitor, SIMULATE_AUTONOMY, &tenant, &form) {
        Ok(candidate) => {
            console
                .control
                .simulate_autonomy(&visitor.session.principal, &tenant, candidate)
                .await
        }
        Err(error) => Err(error),
    };
    match simulated {
        Ok(simulation) => {
            page(
                &console,
                &visitor,
                &tenant,
                Some(form),
                Some(simulation),
                StatusCode::OK,
                None,
            )
            .await
        }
        Err(ControlError::Forbidden(text)) => refused(&visitor, ControlError::Forbidden(text)),
        Err(error) => {
            let (status, text) = refusal(error);
            page(
                &console,
                &visitor,
                &tenant,
                Some(form),
                None,
                status,
                Some(Notice::Refused(text)),
            )
            .await
        }
    }
}

/// `POST /console/tenants/{tenant}/admin/autonomy`: save the candidate.
pub async fn save(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    ConsoleForm(visitor, form): ConsoleForm<AutonomyForm>,
) -> Response {
    let saved = match checked(&visitor, SET_AUTONOMY, &tenant, &form) {
        Ok(update) => {
            console
                .control
                .set_autonomy(&visitor.session.principal, &tenant, update)
                .await
        }
        Err(error) => Err(error),
    };
    match saved {
        Ok(autonomy) => {
            let text = format!(
                "Autonomy saved: {} with the guardrails simulated.",
                level_name(autonomy.level)
            );
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(text));
            redirect(&page_path(&tenant), &[])
        }
        Err(ControlError::Forbidden(text)) => refused(&visitor, ControlError::Forbidden(text)),
        Err(error) => {
            let (status, text) = refusal(error);
            page(
                &console,
                &visitor,
                &tenant,
                Some(form),
                None,
                status,
                Some(Notice::Refused(text)),
            )
            .await
        }
    }
}
