//! Proposals: actions agents propose on a tenant's connectors. Each is
//! executed at once or queued by the tenant's [`autonomy`] policy; a queued
//! one waits for a person to approve (possibly with an edited input) or
//! reject it. Execution goes through the connector's `act` with the
//! proposal's id as idempotency key, so a retried approval cannot apply it
//! twice. Every step is audited, and every proposal is mirrored as a record
//! of stream `omnify/proposals` so that the client-learning agent can learn
//! from the decisions.

pub mod autonomy;
mod execute;
pub mod impact;
mod intake;
pub mod simulate;

use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{Table, WriteTx, get_json, key, prefix, put_json};
use crate::tenant::{self, Principal};
use omnify_runtime::invoke::call::ActionPreview;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use autonomy::{Autonomy, AutonomyLevel, AutonomyUpdate, Guardrails, LearnedThresholds, Verdict};
pub use impact::VerifiedChange;
pub use intake::Refusal;
pub use simulate::Simulation;

/// The connector name under which the host publishes its own records.
pub const HOST_CONNECTOR: &str = "omnify";

/// The stream agents read past proposals and their decisions from.
pub const PROPOSALS_STREAM: &str = "proposals";

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProposalStatus {
    /// Waiting for a person.
    Pending,
    /// Approved; being executed.
    Approved,
    /// Rejected; it never runs.
    Rejected,
    /// The connector performed it.
    Executed,
    /// The connector failed to perform it; approving again retries with the
    /// same idempotency key.
    Failed,
    /// Nobody decided in time.
    Expired,
}

/// How a proposal was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    /// Approved as proposed.
    Approved,
    /// Approved with a changed input.
    Edited,
    /// Rejected.
    Rejected,
    /// Executed by the autonomy policy, without a person.
    Auto,
}

/// Who decided what, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// How.
    pub kind: DecisionKind,
    /// Who: `key:<id>`, `admin`, or `policy`.
    pub by: String,
    /// When, RFC 3339.
    pub at: String,
    /// Why (a rejection's reason, or the policy's).
    pub reason: Option<String>,
    /// The input the agent proposed, when an approval changed it.
    #[schema(value_type = Option<Object>)]
    pub proposed_input: Option<Value>,
}

/// The effect of a proposal as the agent estimated it: shown to people,
/// never used by the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Impact {
    /// What changes, for example `daily_budget`.
    pub metric: String,
    /// The change in the metric's unit (money in the account's currency).
    pub absolute: f64,
    /// The change in percent of the current value.
    pub percent: f64,
}

/// What executing a proposal gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Execution {
    /// Sent to the connector's `act`; the same on every attempt.
    pub idempotency_key: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the last attempt ended.
    pub at: String,
    /// The platform's result.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The last attempt's error.
    pub error: Option<String>,
}

/// An action an agent proposed on a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Proposal {
    /// Unique within the tenant.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The agent that proposed it.
    pub agent: String,
    /// That agent's version.
    pub agent_version: String,
    /// The agent run that proposed it.
    pub run: String,
    /// The connector that would perform it.
    pub connector: String,
    /// One of the connector's actions.
    pub action: String,
    /// The action's input (as approved, when an approval edited it).
    #[schema(value_type = Object)]
    pub input: Value,
    /// The agent's confidence, 0 to 1.
    pub confidence: f64,
    /// The effect the agent expects (its claim, for people).
    pub expected_impact: Impact,
    /// What the connector's preview read from the platform: the target,
    /// its value now and after. None when the action cannot be previewed.
    #[serde(default)]
    pub preview: Option<ActionPreview>,
    /// The change the host computed from `preview`; what the policy and the
    /// guardrails judge.
    #[serde(default)]
    pub verified: Option<VerifiedChange>,
    /// The agent's reasoning, with numbers.
    pub rationale: String,
    /// Where it stands.
    pub status: ProposalStatus,
    /// Why the policy executed or queued it.
    pub policy: String,
    /// Whether approving needs the `expert` role.
    pub requires_expert: bool,
    /// Proposals of the same budget move (which keeps a platform's total):
    /// the policy runs them together or queues them together.
    #[serde(default)]
    pub linked: Vec<String>,
    /// The decision, once made.
    pub decision: Option<Decision>,
    /// The execution, once attempted.
    pub execution: Option<Execution>,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// When a pending proposal expires (Unix seconds).
    pub expires_at_unix: u64,
    /// When a proposal that needs an expert was escalated for waiting past
    /// the tenant's `expert_sla_hours` (RFC 3339); none until then.
    #[serde(default)]
    pub escalated_at: Option<String>,
}

/// `small` for a change of at most 10%, else `large`: the size buckets
/// preferences are learned by.
pub fn size_of(percent: f64) -> &'static str {
    if percent.abs() <= 10.0 { "small" } else { "large" }
}

impl Proposal {
    /// The change in percent the host verified, or (for a proposal made
    /// before previews existed) the agent's estimate.
    pub fn change_percent(&self) -> f64 {
        self.verified
            .map_or(self.expected_impact.percent, |change| change.percent)
    }
}

fn proposal_key(tenant: &str, id: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), id.as_bytes()])
}

/// Store `proposal` and its record in `omnify/proposals`.
fn put_proposal(tx: &mut dyn WriteTx, proposal: &Proposal) -> Result<(), ControlError> {
    put_json(
        tx,
        Table::Proposals,
        &proposal_key(&proposal.tenant, &proposal.id),
        proposal,
    )?;
    let record = json!({
        "id": proposal.id,
        "agent": proposal.agent,
        "connector": proposal.connector,
        "action": proposal.action,
        "input": proposal.input,
        "confidence": proposal.confidence,
        "impact": proposal.expected_impact,
        "verified": proposal.verified,
        "size": size_of(proposal.change_percent()),
        "status": proposal.status,
        "decision": proposal.decision.as_ref().map(|d| d.kind),
        "decided_at": proposal.decision.as_ref().map(|d| &d.at),
        "created_at": proposal.created_at,
    });
    let stream = prefix(&[
        proposal.tenant.as_bytes(),
        HOST_CONNECTOR.as_bytes(),
        PROPOSALS_STREAM.as_bytes(),
    ]);
    put_json(
        tx,
        Table::Records,
        &[stream.as_slice(), proposal.id.as_bytes()].concat(),
        &record,
    )?;
    Ok(())
}

fn audit_proposal(
    tx: &mut dyn WriteTx,
    actor: &str,
    action: &str,
    outcome: &str,
    proposal: &Proposal,
) -> Result<(), ControlError> {
    let details = json!({
        "proposal": proposal.id,
        "agent": proposal.agent,
        "action": proposal.action,
        "input": proposal.input,
        "confidence": proposal.confidence,
        "impact": proposal.expected_impact,
        "preview": proposal.preview,
        "status": proposal.status,
        "policy": proposal.policy,
    });
    let event = Event {
        actor,
        action,
        target: &proposal.connector,
        outcome,
        details,
    };
    audit::append(tx, &proposal.tenant, event)?;
    Ok(())
}

/// Mark a pending expert-required proposal as escalated at `at`, with its
/// audit entry `proposal.escalate` (which the notifier turns into
/// `proposal.escalated` deliveries), inside `tx`.
pub(crate) fn escalate(
    tx: &mut dyn WriteTx,
    proposal: &mut Proposal,
    at: String,
) -> Result<(), ControlError> {
    proposal.escalated_at = Some(at);
    put_proposal(tx, proposal)?;
    audit_proposal(tx, "system", "proposal.escalate", "ok", proposal)
}

/// Which of a tenant's proposals to list.
#[derive(Debug, Clone, Default)]
pub struct ProposalPage {
    /// Only those in this status.
    pub status: Option<ProposalStatus>,
    /// Only those older than this proposal (the last of the previous page).
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// The order proposals are listed in: newest first, by id when made in the
/// same millisecond.
fn newest_first(a: &Proposal, b: &Proposal) -> std::cmp::Ordering {
    b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))
}

/// A pending proposal past its expiry reads as expired.
fn with_expiry(mut proposal: Proposal, now: u64) -> Proposal {
    if proposal.status == ProposalStatus::Pending && now >= proposal.expires_at_unix {
        proposal.status = ProposalStatus::Expired;
    }
    proposal
}

impl ControlPlane {
    /// A tenant's proposals, newest first, optionally only those in
    /// `status` (admin, or the tenant's keys).
    pub async fn proposals(
        &self,
        principal: &Principal,
        tenant_id: &str,
        status: Option<ProposalStatus>,
    ) -> Result<Vec<Proposal>, ControlError> {
        let page = ProposalPage {
            status,
            after: None,
            limit: usize::MAX,
        };
        self.proposals_page(principal, tenant_id, page).await
    }

    /// One page of a tenant's proposals, newest first (admin, or the
    /// tenant's keys). A page after a proposal that does not exist is
    /// refused rather than read as the first page.
    pub async fn proposals_page(
        &self,
        principal: &Principal,
        tenant_id: &str,
        page: ProposalPage,
    ) -> Result<Vec<Proposal>, ControlError> {
        principal.require_tenant(tenant_id)?;
        let tenant_id = tenant_id.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let now = audit::unix_seconds(std::time::SystemTime::now());
            let after = |id: &str| {
                get_json::<Proposal>(&*tx, Table::Proposals, &proposal_key(&tenant_id, id))?.ok_or_else(
                    || {
                        ControlError::Invalid(format!(
                            "`after`: tenant `{tenant_id}` has no proposal `{id}` to page after"
                        ))
                    },
                )
            };
            let after = page.after.as_deref().map(after).transpose()?;
            let mut proposals: Vec<Proposal> = tenant::rows_of(&*tx, Table::Proposals, &tenant_id)?
                .into_iter()
                .map(|p| with_expiry(p, now))
                .filter(|p: &Proposal| page.status.is_none_or(|s| p.status == s))
                .filter(|p| after.as_ref().is_none_or(|after| newest_first(p, after).is_gt()))
                .collect();
            proposals.sort_by(newest_first);
            proposals.truncate(page.limit);
            Ok(proposals)
        })
        .await
    }

    /// One proposal (admin, or the tenant's keys).
    pub async fn proposal(
        &self,
        principal: &Principal,
        tenant_id: &str,
        id: &str,
    ) -> Result<Proposal, ControlError> {
        principal.require_tenant(tenant_id)?;
        let (tenant_id, id) = (tenant_id.to_string(), id.to_string());
        self.blocking(move |store| {
            let tx = store.read()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let now = audit::unix_seconds(std::time::SystemTime::now());
            get_json::<Proposal>(&*tx, Table::Proposals, &proposal_key(&tenant_id, &id))?
                .map(|p| with_expiry(p, now))
                .ok_or_else(|| ControlError::NotFound(format!("tenant `{tenant_id}` has no proposal `{id}`")))
        })
        .await
    }

    /// Reject a pending proposal with a reason; it never runs.
    pub async fn reject_proposal(
        &self,
        principal: &Principal,
        tenant_id: &str,
        id: &str,
        reason: String,
    ) -> Result<Proposal, ControlError> {
        principal.require_tenant(tenant_id)?;
        if reason.trim().is_empty() {
            return Err(ControlError::Invalid("a rejection needs a reason".into()));
        }
        let actor = principal.actor();
        self.decide(principal, tenant_id, id, move |proposal| {
            proposal.status = ProposalStatus::Rejected;
            proposal.decision = Some(Decision {
                kind: DecisionKind::Rejected,
                by: actor,
                at: audit::now(),
                reason: Some(reason),
                proposed_input: None,
            });
            Ok("proposal.reject")
        })
        .await
        .map(|(proposal, _)| proposal)
    }

    /// Change a pending proposal in one transaction with `change`, after
    /// checking that it may still be decided by `principal`; audited under
    /// the action `change` returns. Returns the proposal and whether it
    /// changed (a repeated approval of an approved proposal does not).
    async fn decide(
        &self,
        principal: &Principal,
        tenant_id: &str,
        id: &str,
        change: impl FnOnce(&mut Proposal) -> Result<&'static str, ControlError> + Send + 'static,
    ) -> Result<(Proposal, bool), ControlError> {
        let (actor, role, tenant_id, id) = (
            principal.actor(),
            principal.role,
            tenant_id.to_string(),
            id.to_string(),
        );
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let mut proposal: Proposal = get_json(&*tx, Table::Proposals, &proposal_key(&tenant_id, &id))?
                .ok_or_else(|| {
                    ControlError::NotFound(format!("tenant `{tenant_id}` has no proposal `{id}`"))
                })?;
            if role < tenant::Role::Operator {
                return Err(ControlError::Forbidden(
                    "deciding a proposal needs the `operator` role".into(),
                ));
            }
            if proposal.requires_expert && role < tenant::Role::Expert {
                return Err(ControlError::Forbidden(format!(
                    "proposal `{id}` needs an expert's decision (tenant autonomy: expert-required)"
                )));
            }
            let now = audit::unix_seconds(std::time::SystemTime::now());
            match proposal.status {
                ProposalStatus::Pending if now >= proposal.expires_at_unix => {
                    proposal.status = ProposalStatus::Expired;
                    put_proposal(&mut *tx, &proposal)?;
                    audit_proposal(&mut *tx, "system", "proposal.expire", "ok", &proposal)?;
                    tx.commit()?;
                    return Err(ControlError::Conflict(format!(
                        "proposal `{id}` expired before a decision"
                    )));
                }
                ProposalStatus::Pending | ProposalStatus::Failed => {}
                // Approving again while it runs, or after it ran, changes
                // nothing: this is what makes a retried approval safe.
                ProposalStatus::Approved | ProposalStatus::Executed => return Ok((proposal, false)),
                ProposalStatus::Rejected => {
                    return Err(ControlError::Conflict(format!("proposal `{id}` was rejected")));
                }
                ProposalStatus::Expired => {
                    return Err(ControlError::Conflict(format!(
                        "proposal `{id}` expired before a decision"
                    )));
                }
            }
            let action = change(&mut proposal)?;
            put_proposal(&mut *tx, &proposal)?;
            audit_proposal(&mut *tx, &actor, action, "ok", &proposal)?;
            tx.commit()?;
            Ok((proposal, true))
        })
        .await
    }
}
