//! What the host does with an agent run's output: keeps learned confidence
//! thresholds, records each proposal, and executes those the tenant's
//! autonomy policy lets run unattended.

use super::autonomy::{Verdict, autonomy_of};
use super::{
    Decision, DecisionKind, Impact, LearnedThresholds, Proposal, ProposalStatus, audit_proposal, put_proposal,
};
use crate::audit;
use crate::control::{ControlError, ControlPlane};
use crate::store::Storage;
use crate::store::storage::Table;
use crate::sync::Run;
use crate::tenant::{self, Principal};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The action budget moves are made of.
const BUDGET_ACTION: &str = "set-daily-budget";

/// The insight kind the client-learning agent reports thresholds with.
const THRESHOLDS_INSIGHT: &str = "confidence-thresholds";

/// A proposal as an agent run's output carries it.
#[derive(Debug, Deserialize)]
struct Proposed {
    connector: String,
    action: String,
    input: Value,
    confidence: f64,
    impact_metric: String,
    impact_absolute: f64,
    impact_percent: f64,
    rationale: String,
}

#[derive(Debug, Deserialize)]
struct Thresholds {
    default: Option<f64>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
}

/// The campaign or ad an action changes, to add up a day's changes.
fn target_of(proposal: &Proposal) -> String {
    let id = ["campaign_id", "ad_id", "ad_group_id", "charge"]
        .iter()
        .find_map(|field| proposal.input.get(*field))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .unwrap_or_default();
    format!("{}/{id}", proposal.connector)
}

/// Budget changes of one run on one connector that add up to nothing move
/// budget between campaigns: they are linked, and run together or wait
/// together, so that a platform's total never changes by half a move.
fn link_budget_moves(decided: &mut [(Proposal, Verdict)]) {
    let mut moves: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (proposal, _)) in decided.iter().enumerate() {
        if proposal.action == BUDGET_ACTION {
            moves.entry(proposal.connector.as_str()).or_default().push(index);
        }
    }
    let groups: Vec<Vec<usize>> = moves
        .into_values()
        .filter(|members| {
            let net: f64 = members
                .iter()
                .map(|&i| decided[i].0.expected_impact.absolute)
                .sum();
            let largest = members
                .iter()
                .map(|&i| decided[i].0.expected_impact.absolute.abs())
                .fold(0.0, f64::max);
            members.len() > 1 && net.abs() <= 0.01 * largest.max(1.0)
        })
        .collect();
    for members in groups {
        let ids: Vec<String> = members.iter().map(|&i| decided[i].0.id.clone()).collect();
        let waiting = members.iter().find_map(|&i| match &decided[i].1 {
            Verdict::Queue(reason) => Some((decided[i].0.id.clone(), reason.clone())),
            Verdict::Execute(_) => None,
        });
        for &i in &members {
            let (proposal, verdict) = &mut decided[i];
            proposal.linked = ids.iter().filter(|id| **id != proposal.id).cloned().collect();
            if let (Some((id, reason)), Verdict::Execute(_)) = (&waiting, &verdict) {
                *verdict = Verdict::Queue(format!(
                    "part of a budget move with {id}, which waits for a person: {reason}"
                ));
            }
        }
    }
}

fn is_probability(value: f64) -> bool {
    value.is_finite() && (0.0..=1.0).contains(&value)
}

impl ControlPlane {
    /// Act on the output of a finished agent run.
    pub(crate) async fn receive_agent_output(&self, run: &Run) -> Result<(), ControlError> {
        let Some(output) = &run.output else {
            return Ok(());
        };
        for insight in output["insights"].as_array().into_iter().flatten() {
            if insight["kind"] == THRESHOLDS_INSIGHT {
                self.learn_thresholds(run, &insight["data"]).await?;
            }
        }
        let proposed: Vec<Proposed> = output["proposals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| match serde_json::from_value(p.clone()) {
                Ok(p) => Some(p),
                Err(error) => {
                    tracing::warn!(%error, run = run.id, "an agent proposal is malformed; skipped");
                    None
                }
            })
            .collect();
        if proposed.is_empty() {
            return Ok(());
        }
        let run = run.clone();
        let to_execute = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                let autonomy = autonomy_of(&*tx, &run.tenant)?;
                let existing: Vec<Proposal> = tenant::rows_of(&*tx, Table::Proposals, &run.tenant)?;
                let now = std::time::SystemTime::now();
                let today = audit::now()[..10].to_string();
                let mut changed_today: BTreeMap<String, f64> = BTreeMap::new();
                for done in existing.iter().filter(|p| {
                    p.status == ProposalStatus::Executed
                        && p.execution.as_ref().is_some_and(|e| e.at.starts_with(&today))
                }) {
                    *changed_today.entry(target_of(done)).or_default() += done.expected_impact.percent.abs();
                }
                let mut decided = Vec::new();
                for item in proposed {
                    if !is_probability(item.confidence)
                        || !item.impact_percent.is_finite()
                        || !item.impact_absolute.is_finite()
                    {
                        tracing::warn!(run = run.id, "an agent proposal has non-finite numbers; skipped");
                        continue;
                    }
                    let proposal = Proposal {
                        id: crate::vault::random_hex(8)?,
                        tenant: run.tenant.clone(),
                        agent: run.plugin.clone(),
                        agent_version: run.version.clone(),
                        run: run.id.clone(),
                        connector: item.connector,
                        action: item.action,
                        input: item.input,
                        confidence: item.confidence,
                        expected_impact: Impact {
                            metric: item.impact_metric,
                            absolute: item.impact_absolute,
                            percent: item.impact_percent,
                        },
                        rationale: item.rationale,
                        status: ProposalStatus::Pending,
                        policy: String::new(),
                        requires_expert: autonomy.level == super::AutonomyLevel::ExpertRequired,
                        linked: Vec::new(),
                        decision: None,
                        execution: None,
                        created_at: audit::now(),
                        expires_at_unix: audit::unix_seconds(now)
                            + autonomy.guardrails.proposal_ttl_hours * 3600,
                    };
                    let target = target_of(&proposal);
                    let before = changed_today.get(&target).copied().unwrap_or(0.0);
                    let verdict = autonomy.verdict(&proposal, before);
                    if matches!(verdict, Verdict::Execute(_)) {
                        *changed_today.entry(target).or_default() += proposal.expected_impact.percent.abs();
                    }
                    decided.push((proposal, verdict));
                }
                link_budget_moves(&mut decided);
                let mut to_execute = Vec::new();
                for (mut proposal, verdict) in decided {
                    match verdict {
                        Verdict::Execute(reason) => {
                            proposal.status = ProposalStatus::Approved;
                            proposal.decision = Some(Decision {
                                kind: DecisionKind::Auto,
                                by: "policy".into(),
                                at: audit::now(),
                                reason: Some(reason.clone()),
                                proposed_input: None,
                            });
                            proposal.policy = reason;
                            to_execute.push(proposal.clone());
                        }
                        Verdict::Queue(reason) => proposal.policy = reason,
                    }
                    put_proposal(&mut *tx, &proposal)?;
                    audit_proposal(&mut *tx, "system", "proposal.create", "ok", &proposal)?;
                }
                tx.commit()?;
                Ok(to_execute)
            })
            .await?;
        for proposal in to_execute {
            self.execute_proposal(&Principal::admin(), proposal).await;
        }
        Ok(())
    }

    async fn learn_thresholds(&self, run: &Run, data: &Value) -> Result<(), ControlError> {
        let parsed: Thresholds = match serde_json::from_value(data.clone()) {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::warn!(%error, run = run.id, "confidence thresholds are malformed; ignored");
                return Ok(());
            }
        };
        let default = parsed
            .default
            .filter(|d| is_probability(*d))
            .unwrap_or(super::autonomy::DEFAULT_THRESHOLD);
        let thresholds = parsed
            .thresholds
            .into_iter()
            .filter(|(_, t)| is_probability(*t))
            .collect();
        let learned = LearnedThresholds {
            default,
            thresholds,
            run: run.id.clone(),
            learned_at: audit::now(),
        };
        self.store_learned_thresholds(&run.tenant, learned).await
    }
}
