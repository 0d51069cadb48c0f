//! Approving a proposal and executing it through the connector's `act`,
//! after previewing it again: a proposal whose target moved on the
//! platform since it was proposed goes back to people instead.

use super::autonomy::autonomy_of;
use super::impact::{VerifiedChange, moved_since};
use super::{
    Decision, DecisionKind, Execution, Proposal, ProposalStatus, audit_proposal, proposal_key, put_proposal,
};
use crate::audit;
use crate::control::{ControlError, ControlPlane};
use crate::hosts::lease::{Holder, Resource};
use crate::store::storage::{Table, get_json, scan_json};
use crate::tenant::{Principal, Role};
use omnify_runtime::invoke::call::ActionPreview;
use omnify_runtime::invoke::{Call, CallOutput, Output};
use serde_json::Value;
use std::sync::Arc;

/// What previewing a proposal again right before executing it found.
enum Recheck {
    /// Nothing to compare: the action has no stored preview.
    Unverified,
    /// The platform still matches the proposal.
    Unchanged,
    /// The platform moved: the fresh preview, and why it counts as moved.
    Moved(ActionPreview, String),
    /// The preview failed.
    Failed(String),
}

impl ControlPlane {
    /// Approve a pending proposal, with `edited_input` replacing the agent's
    /// input if given, and execute it; approving a failed one retries it.
    /// Approving one that is approved or executed changes nothing and
    /// returns it as it is, so a retried request cannot execute it twice.
    pub async fn approve_proposal(
        self: &Arc<Self>,
        principal: &Principal,
        tenant_id: &str,
        id: &str,
        edited_input: Option<Value>,
    ) -> Result<Proposal, ControlError> {
        principal.require_tenant(tenant_id)?;
        principal.require(Role::Operator)?;
        if edited_input.as_ref().is_some_and(|input| !input.is_object()) {
            return Err(ControlError::Invalid(
                "an edited input must be a JSON object".into(),
            ));
        }
        let actor = principal.actor();
        let (proposal, changed) = self
            .decide(principal, tenant_id, id, move |proposal| {
                if proposal.status == ProposalStatus::Failed {
                    proposal.status = ProposalStatus::Approved;
                    return Ok("proposal.retry");
                }
                let (kind, proposed_input) = match edited_input {
                    Some(input) if input != proposal.input => (
                        DecisionKind::Edited,
                        Some(std::mem::replace(&mut proposal.input, input)),
                    ),
                    _ => (DecisionKind::Approved, None),
                };
                proposal.decision = Some(Decision {
                    kind,
                    by: actor,
                    at: audit::now(),
                    reason: None,
                    proposed_input,
                });
                proposal.status = ProposalStatus::Approved;
                Ok("proposal.approve")
            })
            .await?;
        if !changed {
            return Ok(proposal);
        }
        // The execution runs to its end even if the caller gives up waiting
        // (a client timeout cancels the request, not the platform call).
        let (this, principal) = (Arc::clone(self), principal.clone());
        let executed = tokio::spawn(async move { this.execute_proposal(&principal, proposal).await })
            .await
            .map_err(|e| ControlError::Internal(format!("a proposal's execution failed: {e}")))?;
        if executed.status == ProposalStatus::Pending {
            return Err(ControlError::Conflict(format!(
                "proposal `{}` was not executed: {}",
                executed.id, executed.policy
            )));
        }
        Ok(executed)
    }

    /// Execute every proposal left approved but not executed when its host
    /// stopped, unless a live host is executing it (call it at start, and
    /// on a shared store now and then); the same idempotency key makes the
    /// second attempt safe.
    pub async fn resume_approved_proposals(&self) -> Result<usize, ControlError> {
        let hosts = self.hosts.clone();
        let interrupted: Vec<Proposal> = self
            .blocking(move |store| {
                let tx = store.read()?;
                let mut interrupted = Vec::new();
                for (_, proposal) in scan_json::<Proposal>(&*tx, Table::Proposals, b"", None, usize::MAX)? {
                    let lease = Resource::proposal(&proposal.tenant, &proposal.id);
                    if proposal.status == ProposalStatus::Approved
                        && hosts.holder(&*tx, &lease)? == Holder::Nobody
                    {
                        interrupted.push(proposal);
                    }
                }
                Ok(interrupted)
            })
            .await?;
        let count = interrupted.len();
        for proposal in interrupted {
            tracing::info!(tenant = %proposal.tenant, proposal = %proposal.id, "executing an interrupted approval");
            // The execution stays the decider's: the approver, or the host's
            // own policy.
            let principal = match proposal.decision.as_ref().map(|d| d.by.as_str()) {
                Some(by) if by != "policy" => Principal::on_behalf_of(by, Role::Operator, &proposal.tenant),
                _ => Principal::system("system", &proposal.tenant),
            };
            self.execute_proposal(&principal, proposal).await;
        }
        Ok(count)
    }

    /// Make `call` on the proposal's connector as `principal`.
    async fn call_connector(
        &self,
        principal: &Principal,
        proposal: &Proposal,
        call: Call,
    ) -> Result<Output, ControlError> {
        let request_id = format!("proposal-{}", proposal.id);
        self.invoke_enabled(
            principal,
            &proposal.tenant,
            &proposal.connector,
            call,
            &request_id,
        )
        .await
    }

    /// Preview `proposal` again and compare with its stored preview.
    async fn recheck(&self, principal: &Principal, proposal: &Proposal) -> Recheck {
        let Some(proposed) = &proposal.preview else {
            return Recheck::Unverified;
        };
        let call = Call::Preview {
            name: proposal.action.clone(),
            input: proposal.input.clone(),
        };
        let now = match self.call_connector(principal, proposal, call).await {
            Ok(output) => match output.value {
                CallOutput::Preview(now) => now,
                _ => return Recheck::Failed("`preview` returned another export's output".into()),
            },
            Err(error) => return Recheck::Failed(format!("the preview before executing failed: {error}")),
        };
        let tolerance = match self
            .store
            .read()
            .map_err(ControlError::from)
            .and_then(|tx| autonomy_of(&*tx, &proposal.tenant))
        {
            Ok(autonomy) => autonomy.guardrails.stale_tolerance_percent,
            Err(error) => return Recheck::Failed(error.to_string()),
        };
        match moved_since(proposed, &now, tolerance) {
            Some(why) => Recheck::Moved(now, why),
            None => Recheck::Unchanged,
        }
    }

    /// Put a proposal whose target moved back to people, with the fresh
    /// preview; the approval it had no longer applies.
    async fn requeue_stale(&self, mut proposal: Proposal, now: ActionPreview, why: String) -> Proposal {
        proposal.status = ProposalStatus::Pending;
        proposal.decision = None;
        proposal.policy = format!("stale: {why}; it waits for a new decision");
        proposal.verified = Some(VerifiedChange::of(&now));
        proposal.preview = Some(now);
        self.save_audited(&proposal, "system".into(), "proposal.stale", "requeued".into())
            .await;
        proposal
    }

    /// The approved proposal, as stored, with its execution claimed for this
    /// host; or, as `Err`, as stored when it is no longer approved or is
    /// being executed already (here, or by another host).
    async fn claim_execution(&self, proposal: &Proposal) -> Result<Result<Proposal, Proposal>, ControlError> {
        let (key, hosts) = (proposal_key(&proposal.tenant, &proposal.id), self.hosts.clone());
        let lease = Resource::proposal(&proposal.tenant, &proposal.id);
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let stored: Proposal = get_json(&*tx, Table::Proposals, &key)?
                .ok_or_else(|| ControlError::NotFound("the proposal was deleted".into()))?;
            if stored.status != ProposalStatus::Approved
                || hosts.holds(&lease)
                || !hosts.claim(&mut *tx, &lease)?
            {
                return Ok(Err(stored));
            }
            tx.commit()?;
            Ok(Ok(stored))
        })
        .await
    }

    /// Store `proposal` with an audit entry of `action` by `actor`. The
    /// platform has already acted (or been asked), so a failure to record
    /// is logged, not returned: the next approval finds the proposal as it
    /// was and the idempotency key keeps it from acting twice.
    async fn save_audited(&self, proposal: &Proposal, actor: String, action: &'static str, outcome: String) {
        let (recorded, hosts) = (proposal.clone(), self.hosts.clone());
        let saved = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                put_proposal(&mut *tx, &recorded)?;
                audit_proposal(&mut *tx, &actor, action, &outcome, &recorded)?;
                hosts.release(&mut *tx, &Resource::proposal(&recorded.tenant, &recorded.id))?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = saved {
            tracing::error!(%error, proposal = proposal.id, action, "cannot record a proposal's change");
        }
    }

    /// Preview an approved proposal again, then call the connector's `act`
    /// and record the outcome as `principal`'s; returns the proposal as
    /// recorded (pending again when it went stale).
    pub(crate) async fn execute_proposal(&self, principal: &Principal, proposal: Proposal) -> Proposal {
        let mut proposal = match self.claim_execution(&proposal).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(as_stored)) => return as_stored,
            Err(error) => {
                tracing::error!(%error, proposal = proposal.id, "cannot claim a proposal's execution");
                return proposal;
            }
        };
        let failed_recheck = match self.recheck(principal, &proposal).await {
            Recheck::Moved(now, why) => return self.requeue_stale(proposal, now, why).await,
            Recheck::Failed(error) => Some(error),
            Recheck::Unverified | Recheck::Unchanged => None,
        };
        let call = Call::Act {
            name: proposal.action.clone(),
            input: proposal.input.clone(),
            idempotency_key: proposal.id.clone(),
        };
        let result = match failed_recheck {
            Some(error) => Err(error),
            None => self
                .call_connector(principal, &proposal, call)
                .await
                .map_err(|error| error.to_string()),
        };
        let attempts = proposal.execution.as_ref().map_or(0, |e| e.attempts) + 1;
        let (status, value, error) = match result {
            Ok(output) => {
                let value = serde_json::to_value(&output.value)
                    .map(|v| v["result"].clone())
                    .unwrap_or(Value::Null);
                (ProposalStatus::Executed, Some(value), None)
            }
            Err(error) => (ProposalStatus::Failed, None, Some(error)),
        };
        proposal.status = status;
        proposal.execution = Some(Execution {
            idempotency_key: proposal.id.clone(),
            attempts,
            at: audit::now(),
            result: value,
            error: error.clone(),
        });
        let outcome = error.map_or_else(|| "ok".to_string(), |e| format!("error: {e}"));
        self.save_audited(&proposal, principal.actor(), "proposal.execute", outcome)
            .await;
        proposal
    }
}
