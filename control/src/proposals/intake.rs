//! What the host does with an agent run's output. Each proposal is checked
//! first: its numbers, the agent's grant for `connector:action`, that the
//! tenant enabled the connector, that the connector offers the action and
//! the input fits its schema. A proposal that fails is refused: recorded on
//! the run with its reason and audited, never stored or executed. The rest
//! are previewed by their connector, judged by the tenant's autonomy policy
//! on the change the host verified, stored, and executed when the policy
//! allows. Learned thresholds are kept only from an agent granted them.

use super::autonomy::{DEFAULT_THRESHOLD, Verdict, autonomy_of};
use super::impact::VerifiedChange;
use super::{
    Decision, DecisionKind, Impact, LearnedThresholds, Proposal, ProposalStatus, audit_proposal, put_proposal,
};
use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::enablement::{GrantSpec, require_enablement};
use crate::store::storage::Table;
use crate::sync::Run;
use crate::tenant::{self, Principal};
use omnify_registry::PluginKind;
use omnify_runtime::invoke::call::{ActionPreview, ActionSpec};
use omnify_runtime::invoke::{Call, CallOutput, InvokeErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The action budget moves are made of.
const BUDGET_ACTION: &str = "set-daily-budget";

/// The insight kind the client-learning agent reports thresholds with.
const THRESHOLDS_INSIGHT: &str = "confidence-thresholds";

/// A proposal (or a thresholds insight) the host refused, as the run
/// records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refusal {
    /// The connector named, if any.
    pub connector: String,
    /// The action named, or the insight's kind.
    pub action: String,
    /// Why it was refused.
    pub reason: String,
}

/// A proposal as an agent run's output carries it. A number the guest made
/// NaN or infinite arrives as `null`, hence the options.
#[derive(Debug, Deserialize)]
struct Proposed {
    connector: String,
    action: String,
    input: Value,
    confidence: Option<f64>,
    impact_metric: String,
    impact_absolute: Option<f64>,
    impact_percent: Option<f64>,
    rationale: String,
}

/// A proposal that passed the checks, with its preview (or why there is
/// none).
struct Checked {
    proposed: Proposed,
    confidence: f64,
    impact: Impact,
    preview: Result<ActionPreview, String>,
}

#[derive(Debug, Deserialize)]
struct Thresholds {
    default: Option<f64>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
}

/// The campaign or ad an action changes, to add up a day's changes.
pub(super) fn target_of(proposal: &Proposal) -> String {
    if let Some(preview) = &proposal.preview {
        return format!(
            "{}/{}/{}",
            proposal.connector, preview.target_kind, preview.target_id
        );
    }
    let id = ["campaign_id", "ad_id", "ad_group_id", "charge"]
        .iter()
        .find_map(|field| proposal.input.get(*field))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
        .unwrap_or_default();
    format!("{}/{id}", proposal.connector)
}

/// The money a proposal moves, as verified (or, unverified, as claimed).
fn money_of(proposal: &Proposal) -> f64 {
    proposal
        .verified
        .and_then(|change| change.money)
        .unwrap_or(proposal.expected_impact.absolute)
}

/// Budget changes of one run on one connector that add up to nothing move
/// budget between campaigns: they are linked, and run together or wait
/// together, so that a platform's total never changes by half a move.
pub(super) fn link_budget_moves(decided: &mut [(Proposal, Verdict)]) {
    let mut moves: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (proposal, _)) in decided.iter().enumerate() {
        if proposal.action == BUDGET_ACTION {
            moves.entry(proposal.connector.as_str()).or_default().push(index);
        }
    }
    let groups: Vec<Vec<usize>> = moves
        .into_values()
        .filter(|members| {
            let net: f64 = members.iter().map(|&i| money_of(&decided[i].0)).sum();
            let largest = members
                .iter()
                .map(|&i| money_of(&decided[i].0).abs())
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
    /// Act on the output of a finished agent run; returns what it refused.
    pub(crate) async fn receive_agent_output(&self, run: &Run) -> Result<Vec<Refusal>, ControlError> {
        let Some(output) = &run.output else {
            return Ok(Vec::new());
        };
        let (tenant_id, plugin) = (run.tenant.clone(), run.plugin.clone());
        let grants = self
            .read_store(move |tx| Ok(require_enablement(tx, &tenant_id, &plugin)?.grants))
            .await?;
        let mut refusals = Vec::new();
        for insight in output["insights"].as_array().into_iter().flatten() {
            if insight["kind"] != THRESHOLDS_INSIGHT {
                continue;
            }
            if grants.learns_thresholds {
                self.learn_thresholds(run, &insight["data"]).await?;
            } else {
                refusals.push(Refusal {
                    connector: String::new(),
                    action: THRESHOLDS_INSIGHT.into(),
                    reason: format!(
                        "`{}` is not granted `learns_thresholds`; the tenant's thresholds are unchanged",
                        run.plugin
                    ),
                });
            }
        }
        let system = Principal::system("system", &run.tenant);
        let mut actions: BTreeMap<String, Result<Vec<ActionSpec>, String>> = BTreeMap::new();
        let mut checked = Vec::new();
        // At most `MAX_PROPOSALS_PER_RUN`: the host refuses a longer output.
        for raw in output["proposals"].as_array().into_iter().flatten() {
            match self
                .check_proposal(&system, run, &grants, raw, &mut actions)
                .await
            {
                Ok(proposal) => checked.push(proposal),
                Err(reason) => refusals.push(Refusal {
                    connector: raw["connector"].as_str().unwrap_or_default().to_string(),
                    action: raw["action"].as_str().unwrap_or_default().to_string(),
                    reason,
                }),
            }
        }
        let to_execute = self.record_proposals(run, checked, &refusals).await?;
        for proposal in to_execute {
            self.execute_proposal(&system, proposal).await;
        }
        Ok(refusals)
    }

    /// Every check a proposal must pass before it is stored, then its
    /// preview; the reason of the first check it fails.
    async fn check_proposal(
        &self,
        system: &Principal,
        run: &Run,
        grants: &GrantSpec,
        raw: &Value,
        actions: &mut BTreeMap<String, Result<Vec<ActionSpec>, String>>,
    ) -> Result<Checked, String> {
        let proposed: Proposed =
            serde_json::from_value(raw.clone()).map_err(|e| format!("the proposal is malformed: {e}"))?;
        let confidence = proposed
            .confidence
            .filter(|c| is_probability(*c))
            .ok_or("the confidence must be a number from 0 to 1")?;
        let (Some(absolute), Some(percent)) = (
            proposed.impact_absolute.filter(|n| n.is_finite()),
            proposed.impact_percent.filter(|n| n.is_finite()),
        ) else {
            return Err("the expected impact must be finite numbers".into());
        };
        let pair = format!("{}:{}", proposed.connector, proposed.action);
        if !grants.allows_proposal(&proposed.connector, &proposed.action) {
            return Err(format!(
                "`{}` is not granted to propose `{pair}` (granted: {:?})",
                run.plugin, grants.proposes
            ));
        }
        let (tenant_id, connector) = (run.tenant.clone(), proposed.connector.clone());
        let enabled = self
            .read_store(move |tx| require_enablement(tx, &tenant_id, &connector))
            .await
            .map_err(|_| {
                format!(
                    "connector `{}` is not enabled for this tenant",
                    proposed.connector
                )
            })?;
        if enabled.kind != PluginKind::Connector {
            return Err(format!("`{}` is not a connector", proposed.connector));
        }
        if !actions.contains_key(&proposed.connector) {
            let offered = match self
                .invoke_enabled(system, &run.tenant, &proposed.connector, Call::Actions, &run.id)
                .await
            {
                Ok(output) => match output.value {
                    CallOutput::Actions(specs) => Ok(specs),
                    _ => Err("`actions` returned another export's output".to_string()),
                },
                Err(error) => Err(format!("its actions could not be listed: {error}")),
            };
            actions.insert(proposed.connector.clone(), offered);
        }
        let spec = match &actions[&proposed.connector] {
            Ok(specs) => specs
                .iter()
                .find(|spec| spec.name == proposed.action)
                .ok_or_else(|| format!("`{}` has no action `{}`", proposed.connector, proposed.action))?,
            Err(why) => return Err(format!("`{}`: {why}", proposed.connector)),
        };
        let problems = crate::schema::problems(spec.input_schema.get(), &proposed.input)
            .map_err(|e| format!("the action's input schema: {e}"))?;
        if !problems.is_empty() {
            return Err(format!(
                "the input does not fit the action's schema: {}",
                problems.join("; ")
            ));
        }
        let call = Call::Preview {
            name: proposed.action.clone(),
            input: proposed.input.clone(),
        };
        let preview = self
            .invoke_enabled(system, &run.tenant, &proposed.connector, call, &run.id)
            .await;
        let preview = match preview {
            Ok(output) => match output.value {
                CallOutput::Preview(preview) => Ok(preview),
                _ => Err("`preview` returned another export's output".to_string()),
            },
            Err(ControlError::Invoke(failure)) => Err(match failure.kind {
                InvokeErrorKind::NotInContract { contract, .. } => {
                    format!(
                        "`{}` is built against contract {contract}, which has no preview",
                        proposed.connector
                    )
                }
                kind => format!("its preview failed: {kind}"),
            }),
            Err(error) => Err(format!("its preview failed: {error}")),
        };
        Ok(Checked {
            impact: Impact {
                metric: proposed.impact_metric.clone(),
                absolute,
                percent,
            },
            confidence,
            proposed,
            preview,
        })
    }

    /// Judge, store and audit the checked proposals and the refusals of one
    /// run in one transaction; returns the proposals to execute now.
    async fn record_proposals(
        &self,
        run: &Run,
        checked: Vec<Checked>,
        refusals: &[Refusal],
    ) -> Result<Vec<Proposal>, ControlError> {
        if checked.is_empty() && refusals.is_empty() {
            return Ok(Vec::new());
        }
        let (run, refusals) = (run.clone(), refusals.to_vec());
        self.blocking(move |store| {
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
                *changed_today.entry(target_of(done)).or_default() += done.change_percent().abs();
            }
            let mut decided = Vec::new();
            for item in checked {
                let verified = item.preview.as_ref().map(VerifiedChange::of);
                let proposal = Proposal {
                    id: crate::vault::random_hex(8)?,
                    tenant: run.tenant.clone(),
                    agent: run.plugin.clone(),
                    agent_version: run.version.clone(),
                    run: run.id.clone(),
                    connector: item.proposed.connector,
                    action: item.proposed.action,
                    input: item.proposed.input,
                    confidence: item.confidence,
                    expected_impact: item.impact,
                    preview: item.preview.as_ref().ok().cloned(),
                    verified: verified.as_ref().ok().copied(),
                    rationale: item.proposed.rationale,
                    status: ProposalStatus::Pending,
                    policy: String::new(),
                    requires_expert: autonomy.level == super::AutonomyLevel::ExpertRequired,
                    linked: Vec::new(),
                    decision: None,
                    execution: None,
                    created_at: audit::now(),
                    expires_at_unix: audit::unix_seconds(now) + autonomy.guardrails.proposal_ttl_hours * 3600,
                    escalated_at: None,
                };
                let target = target_of(&proposal);
                let before = changed_today.get(&target).copied().unwrap_or(0.0);
                let verdict = autonomy.verdict(&proposal, verified.as_ref().map_err(|why| why.as_str()), before);
                if let (Verdict::Execute(_), Ok(change)) = (&verdict, &verified) {
                    *changed_today.entry(target).or_default() += change.percent.abs();
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
            for refusal in &refusals {
                let event = Event {
                    actor: "system",
                    action: "proposal.refuse",
                    target: &refusal.connector,
                    outcome: "refused",
                    details: serde_json::json!({
                        "run": run.id, "agent": run.plugin, "action": refusal.action, "reason": refusal.reason,
                    }),
                };
                audit::append(&mut *tx, &run.tenant, event)?;
            }
            tx.commit()?;
            Ok(to_execute)
        })
        .await
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
            .unwrap_or(DEFAULT_THRESHOLD);
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
