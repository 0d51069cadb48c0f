//! A tenant's autonomy: how much the agents may do without a person, the
//! guardrails on what runs unattended, and the confidence thresholds learned
//! by the client-learning agent. [`Autonomy::verdict`] is the policy.

use super::impact::VerifiedChange;
use super::{Proposal, size_of};
use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, get_json, prefix, put_json};
use crate::tenant::{self, Principal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How much agents may do without a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AutonomyLevel {
    /// Execute when the confidence reaches the learned threshold and the
    /// impact is inside the guardrails; queue the rest.
    Autonomous,
    /// Execute only low-impact proposals that pass the same checks.
    Guided,
    /// Queue every proposal for a person. The default.
    #[default]
    HumanLed,
    /// Queue every proposal; approving needs the `expert` role.
    ExpertRequired,
}

/// Limits on what may run without a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Guardrails {
    /// The largest change of one target (a campaign, an ad) in one UTC day,
    /// in percent of its value, that may run unattended. Agents also keep
    /// their proposals within it.
    pub max_change_percent: f64,
    /// The largest change, in percent, that `guided` counts as low impact.
    pub low_impact_percent: f64,
    /// The largest change in money that may run unattended; none for no cap.
    pub max_change_absolute: Option<f64>,
    /// Hours a pending proposal waits for a decision before it expires.
    pub proposal_ttl_hours: u64,
    /// How far, in percent, the platform's current value may move between
    /// a proposal and its execution before the proposal goes back to people
    /// as stale.
    pub stale_tolerance_percent: f64,
    /// Hours an expert-required proposal may wait for an expert before it is
    /// escalated (once: an event to the escalation endpoints and a mark on
    /// the proposal); less than `proposal_ttl_hours`, so that it escalates
    /// before it expires.
    pub expert_sla_hours: u64,
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            max_change_percent: 20.0,
            low_impact_percent: 5.0,
            max_change_absolute: None,
            proposal_ttl_hours: 72,
            stale_tolerance_percent: 1.0,
            expert_sla_hours: 4,
        }
    }
}

impl Guardrails {
    /// Whether every limit is in range (also checked by the simulation).
    pub(super) fn validate(&self) -> Result<(), ControlError> {
        let percent_ok = |p: f64| p.is_finite() && (0.0..=100.0).contains(&p);
        if !percent_ok(self.max_change_percent)
            || !percent_ok(self.low_impact_percent)
            || !percent_ok(self.stale_tolerance_percent)
        {
            return Err(ControlError::Invalid(
                "guardrails: percentages must be between 0 and 100".into(),
            ));
        }
        if self
            .max_change_absolute
            .is_some_and(|a| !a.is_finite() || a < 0.0)
        {
            return Err(ControlError::Invalid(
                "guardrails: max_change_absolute must be a non-negative amount".into(),
            ));
        }
        if self.proposal_ttl_hours == 0 || self.proposal_ttl_hours > 24 * 90 {
            return Err(ControlError::Invalid(
                "guardrails: proposal_ttl_hours must be between 1 and 2160".into(),
            ));
        }
        if self.expert_sla_hours == 0 || self.expert_sla_hours >= self.proposal_ttl_hours {
            return Err(ControlError::Invalid(format!(
                "guardrails: expert_sla_hours must be at least 1 and less than proposal_ttl_hours ({})",
                self.proposal_ttl_hours
            )));
        }
        Ok(())
    }
}

/// The confidence a proposal needs to run unattended, as learned from the
/// tenant's past decisions by the client-learning agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LearnedThresholds {
    /// For kinds without a threshold of their own.
    pub default: f64,
    /// By `<action>:<size>` or `<action>`.
    pub thresholds: BTreeMap<String, f64>,
    /// The agent run they came from.
    pub run: String,
    /// When they were learned.
    pub learned_at: String,
}

/// The confidence needed when nothing was learned yet.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// A tenant's autonomy settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Autonomy {
    /// How much agents may do alone.
    pub level: AutonomyLevel,
    /// Limits on what runs unattended.
    pub guardrails: Guardrails,
    /// Thresholds learned from past decisions, if any.
    pub learned: Option<LearnedThresholds>,
}

/// Input of [`ControlPlane::set_autonomy`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutonomyUpdate {
    /// The new level.
    pub level: AutonomyLevel,
    /// New guardrails; unchanged when absent.
    pub guardrails: Option<Guardrails>,
}

/// What the policy decided for a new proposal.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Run it now.
    Execute(String),
    /// Wait for a person, for this reason.
    Queue(String),
}

impl Autonomy {
    /// The confidence a proposal of `action` with a change of `percent`
    /// needs: learned for `<action>:<size>`, else for `<action>`, else the
    /// learned default, else [`DEFAULT_THRESHOLD`].
    pub fn threshold(&self, action: &str, percent: f64) -> f64 {
        let Some(learned) = &self.learned else {
            return DEFAULT_THRESHOLD;
        };
        let sized = format!("{action}:{}", size_of(percent));
        learned
            .thresholds
            .get(&sized)
            .or_else(|| learned.thresholds.get(action))
            .copied()
            .unwrap_or(learned.default)
    }

    /// Whether `proposal` runs now, judged by `change`, the change the host
    /// verified from the connector's preview (or why it could not), never
    /// by the agent's own estimate. `changed_today` is the percent change
    /// already executed today on the same target.
    pub fn verdict(
        &self,
        proposal: &Proposal,
        change: Result<&VerifiedChange, &str>,
        changed_today: f64,
    ) -> Verdict {
        let limit = match self.level {
            AutonomyLevel::HumanLed => {
                return Verdict::Queue("human-led: every proposal waits for a person".into());
            }
            AutonomyLevel::ExpertRequired => {
                return Verdict::Queue("expert-required: every proposal waits for an expert".into());
            }
            AutonomyLevel::Autonomous => self.guardrails.max_change_percent,
            AutonomyLevel::Guided => self
                .guardrails
                .low_impact_percent
                .min(self.guardrails.max_change_percent),
        };
        let change = match change {
            Ok(change) => change,
            Err(why) => {
                return Verdict::Queue(format!(
                    "the host could not verify this action's impact ({why}), so it never runs unattended"
                ));
            }
        };
        let percent = change.percent.abs();
        let needed = self.threshold(&proposal.action, change.percent);
        if proposal.confidence < needed {
            return Verdict::Queue(format!(
                "confidence {:.2} is below the {needed:.2} this kind of proposal needs",
                proposal.confidence
            ));
        }
        if percent + changed_today > limit {
            return Verdict::Queue(format!(
                "a {percent:.1}% change (verified on the platform; after {changed_today:.1}% today on the same target) exceeds the {limit:.1}% allowed unattended"
            ));
        }
        if let (Some(cap), Some(money)) = (self.guardrails.max_change_absolute, change.money)
            && money.abs() > cap
        {
            return Verdict::Queue(format!(
                "a change of {:.2} exceeds the {cap:.2} allowed unattended",
                money.abs()
            ));
        }
        Verdict::Execute(format!(
            "{}: confidence {:.2} ≥ {needed:.2} and a {percent:.1}% change (verified on the platform) within {limit:.1}%",
            match self.level {
                AutonomyLevel::Guided => "guided",
                _ => "autonomous",
            },
            proposal.confidence
        ))
    }
}

fn autonomy_key(tenant: &str) -> Vec<u8> {
    prefix(&[tenant.as_bytes()])
}

/// The tenant's autonomy settings (the defaults when never set).
pub(crate) fn autonomy_of(tx: &(impl ReadTx + ?Sized), tenant: &str) -> Result<Autonomy, ControlError> {
    Ok(get_json(tx, Table::Autonomy, &autonomy_key(tenant))?.unwrap_or_default())
}

impl ControlPlane {
    /// A tenant's autonomy settings (admin, or the tenant's keys).
    pub async fn autonomy(&self, principal: &Principal, tenant_id: &str) -> Result<Autonomy, ControlError> {
        principal.require_tenant(tenant_id)?;
        let tenant_id = tenant_id.to_string();
        self.read_store(move |tx| {
            tenant::require_existing(tx, &tenant_id)?;
            autonomy_of(tx, &tenant_id)
        })
        .await
    }

    /// Set a tenant's autonomy level and guardrails (admin).
    pub async fn set_autonomy(
        &self,
        principal: &Principal,
        tenant_id: &str,
        update: AutonomyUpdate,
    ) -> Result<Autonomy, ControlError> {
        principal.require_admin()?;
        if let Some(guardrails) = &update.guardrails {
            guardrails.validate()?;
        }
        let (actor, tenant_id) = (principal.actor(), tenant_id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let mut autonomy = autonomy_of(&*tx, &tenant_id)?;
            autonomy.level = update.level;
            if let Some(guardrails) = update.guardrails {
                autonomy.guardrails = guardrails;
            }
            put_json(&mut *tx, Table::Autonomy, &autonomy_key(&tenant_id), &autonomy)?;
            let details = serde_json::json!({ "level": autonomy.level, "guardrails": autonomy.guardrails });
            let event = Event {
                actor: &actor,
                action: "autonomy.set",
                target: &tenant_id,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, &tenant_id, event)?;
            tx.commit()?;
            Ok(autonomy)
        })
        .await
    }

    /// Keep the thresholds an agent run learned, for the tenant's next
    /// verdicts.
    pub(crate) async fn store_learned_thresholds(
        &self,
        tenant_id: &str,
        learned: LearnedThresholds,
    ) -> Result<(), ControlError> {
        let tenant_id = tenant_id.to_string();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut autonomy = autonomy_of(&*tx, &tenant_id)?;
            let details = serde_json::json!({ "run": learned.run, "default": learned.default, "thresholds": learned.thresholds });
            autonomy.learned = Some(learned);
            put_json(&mut *tx, Table::Autonomy, &autonomy_key(&tenant_id), &autonomy)?;
            let event = Event {
                actor: "system",
                action: "autonomy.learn",
                target: &tenant_id,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, &tenant_id, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
