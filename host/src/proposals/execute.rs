//! Approving a proposal and executing it through the connector's `act`.

use super::{Decision, DecisionKind, Execution, Proposal, ProposalStatus, audit_proposal, put_proposal};
use crate::audit;
use crate::control::{ControlError, ControlPlane};
use crate::invoke::Call;
use crate::store::Storage;
use crate::store::storage::{Table, scan_json};
use crate::tenant::Principal;
use serde_json::Value;
use std::sync::Arc;

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
        tokio::spawn(async move { this.execute_proposal(&principal, proposal).await })
            .await
            .map_err(|e| ControlError::Internal(format!("a proposal's execution failed: {e}")))
    }

    /// Execute every proposal left approved but not executed when the host
    /// stopped (call it at start, before requests are served); the same
    /// idempotency key makes the second attempt safe.
    pub async fn resume_approved_proposals(&self) -> Result<usize, ControlError> {
        let interrupted: Vec<Proposal> = self
            .blocking(|store| {
                Ok(
                    scan_json::<Proposal>(&*store.read()?, Table::Proposals, b"", None, usize::MAX)?
                        .into_iter()
                        .map(|(_, proposal)| proposal)
                        .filter(|proposal| proposal.status == ProposalStatus::Approved)
                        .collect(),
                )
            })
            .await?;
        let count = interrupted.len();
        for proposal in interrupted {
            tracing::info!(tenant = %proposal.tenant, proposal = %proposal.id, "executing an interrupted approval");
            self.execute_proposal(&Principal::admin(), proposal).await;
        }
        Ok(count)
    }

    /// Call the connector's `act` for an approved proposal and record the
    /// outcome; returns the proposal as recorded.
    pub(crate) async fn execute_proposal(&self, principal: &Principal, mut proposal: Proposal) -> Proposal {
        let call = Call::Act {
            name: proposal.action.clone(),
            input: proposal.input.clone(),
            idempotency_key: proposal.id.clone(),
        };
        let request_id = format!("proposal-{}", proposal.id);
        let result = self
            .invoke_enabled(
                principal,
                &proposal.tenant,
                &proposal.connector,
                call,
                &request_id,
            )
            .await;
        let attempts = proposal.execution.as_ref().map_or(0, |e| e.attempts) + 1;
        let (status, value, error) = match result {
            Ok(output) => {
                let value = serde_json::to_value(&output.value)
                    .map(|v| v["result"].clone())
                    .unwrap_or(Value::Null);
                (ProposalStatus::Executed, Some(value), None)
            }
            Err(error) => (ProposalStatus::Failed, None, Some(error.to_string())),
        };
        proposal.status = status;
        proposal.execution = Some(Execution {
            idempotency_key: proposal.id.clone(),
            attempts,
            at: audit::now(),
            result: value,
            error: error.clone(),
        });
        let recorded = proposal.clone();
        let outcome = error.map_or_else(|| "ok".to_string(), |e| format!("error: {e}"));
        let saved = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                put_proposal(&mut *tx, &recorded)?;
                audit_proposal(&mut *tx, "system", "proposal.execute", &outcome, &recorded)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = saved {
            tracing::error!(%error, proposal = proposal.id, "cannot record a proposal's execution");
        }
        proposal
    }
}
