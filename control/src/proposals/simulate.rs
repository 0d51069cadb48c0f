//! What each autonomy level, and a candidate setting, would have done with
//! the tenant's proposals of the last 30 days: the same policy the host
//! applies at intake ([`Autonomy::verdict`], the same daily change per
//! target, the same linking of budget moves), replayed on the stored
//! proposals in the order they came, so that an admin sees the effect of a
//! change before saving it.

use super::autonomy::{Autonomy, AutonomyLevel, AutonomyUpdate, Verdict, autonomy_of};
use super::intake::{link_budget_moves, target_of};
use super::{DecisionKind, Proposal, ProposalStatus};
use crate::audit;
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::Table;
use crate::tenant::{self, Principal};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How far back the simulation looks.
pub const SIMULATED_DAYS: u64 = 30;

/// Audit entries read at most while counting refusals (a page each).
const AUDIT_PAGE: usize = 1000;
const AUDIT_PAGES: usize = 200;

/// Every autonomy level, from the most to the least autonomous.
pub const LEVELS: [AutonomyLevel; 4] = [
    AutonomyLevel::Autonomous,
    AutonomyLevel::Guided,
    AutonomyLevel::HumanLed,
    AutonomyLevel::ExpertRequired,
];

/// What the policy does with one proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Executed without a person.
    Executed,
    /// Queued for a person with the `operator` role.
    QueuedForHuman,
    /// Queued for a person with the `expert` role.
    QueuedForExpert,
}

/// The policy's outcome for one proposal, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SimulatedVerdict {
    /// What would happen.
    pub outcome: Outcome,
    /// Why, in the policy's words.
    pub reason: String,
}

/// How many proposals each outcome got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Executed without a person.
    pub executed: u64,
    /// Queued for an operator.
    pub queued_for_human: u64,
    /// Queued for an expert.
    pub queued_for_expert: u64,
    /// Refused by the host before the policy (a proposal the agent was not
    /// granted, or whose input did not fit): the same at every level.
    pub refused: u64,
}

impl Totals {
    fn count(outcomes: impl Iterator<Item = Outcome>, refused: u64) -> Self {
        let mut totals = Self {
            refused,
            ..Self::default()
        };
        for outcome in outcomes {
            match outcome {
                Outcome::Executed => totals.executed += 1,
                Outcome::QueuedForHuman => totals.queued_for_human += 1,
                Outcome::QueuedForExpert => totals.queued_for_expert += 1,
            }
        }
        totals
    }
}

/// One level's totals, with the tenant's current guardrails.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LevelTotals {
    /// The level.
    pub level: AutonomyLevel,
    /// What it would have done.
    pub totals: Totals,
}

/// One proposal: what intake did, and what the current and the candidate
/// settings do with it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SimulationRow {
    /// The proposal.
    pub id: String,
    /// When it was made.
    pub created_at: String,
    /// The agent that proposed it.
    pub agent: String,
    /// The connector and action.
    pub connector: String,
    /// The action.
    pub action: String,
    /// The change in percent the host verified (the agent's estimate when
    /// nothing was verified).
    pub change_percent: f64,
    /// The change in money the host verified, if any.
    pub change_money: Option<f64>,
    /// Whether the host verified the change on the platform.
    pub verified: bool,
    /// The agent's confidence.
    pub confidence: f64,
    /// Where it stands now.
    pub status: ProposalStatus,
    /// What intake did with it.
    pub actual: Outcome,
    /// What the current settings do with it.
    pub now: SimulatedVerdict,
    /// What the candidate settings do with it.
    pub candidate: SimulatedVerdict,
}

/// What a candidate autonomy would have done: per proposal, in totals, and
/// for each level.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    /// The proposals simulated are those made since, RFC 3339.
    pub since: String,
    /// The tenant's settings now.
    pub current: Autonomy,
    /// The settings simulated (the current learned thresholds kept).
    pub candidate: Autonomy,
    /// What intake actually did.
    pub actual: Totals,
    /// What the current settings would do.
    pub now: Totals,
    /// What the candidate would do.
    pub candidate_totals: Totals,
    /// Each level with the current guardrails.
    pub levels: Vec<LevelTotals>,
    /// Each proposal, oldest first.
    pub rows: Vec<SimulationRow>,
}

/// What intake did with a stored proposal: run by the policy, or queued
/// for an expert or an operator.
fn actual_outcome(proposal: &Proposal) -> Outcome {
    match &proposal.decision {
        Some(decision) if decision.kind == DecisionKind::Auto => Outcome::Executed,
        _ if proposal.requires_expert => Outcome::QueuedForExpert,
        _ => Outcome::QueuedForHuman,
    }
}

/// The UTC day of an RFC 3339 time.
fn day_of(time: &str) -> &str {
    time.get(..10).unwrap_or(time)
}

/// A change a person approved and the platform executed: it counts toward
/// the target's change of that day, unless the simulated policy ran the
/// proposal itself when it came.
struct HumanExecution<'a> {
    index: usize,
    at: &'a str,
    target: String,
    percent: f64,
}

/// The verdict of `autonomy` on each of `proposals` (sorted oldest first),
/// replayed as intake would have judged them.
fn replay(autonomy: &Autonomy, proposals: &[Proposal]) -> Vec<SimulatedVerdict> {
    let mut human: Vec<HumanExecution> = proposals
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.status == ProposalStatus::Executed
                && p.decision.as_ref().is_some_and(|d| d.kind != DecisionKind::Auto)
        })
        .filter_map(|(index, p)| {
            p.execution.as_ref().map(|e| HumanExecution {
                index,
                at: e.at.as_str(),
                target: target_of(p),
                percent: p.change_percent().abs(),
            })
        })
        .collect();
    human.sort_by(|a, b| a.at.cmp(b.at));
    let mut human = human.into_iter().peekable();
    let mut changed: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut verdicts: Vec<SimulatedVerdict> = Vec::with_capacity(proposals.len());
    let mut start = 0;
    while start < proposals.len() {
        let run = &proposals[start].run;
        let end = proposals[start..]
            .iter()
            .position(|p| &p.run != run)
            .map_or(proposals.len(), |offset| start + offset);
        let created = proposals[start].created_at.as_str();
        while let Some(done) = human.next_if(|h| h.at <= created) {
            if verdicts
                .get(done.index)
                .is_some_and(|v| v.outcome != Outcome::Executed)
            {
                *changed
                    .entry((day_of(done.at).to_string(), done.target))
                    .or_default() += done.percent;
            }
        }
        let mut decided: Vec<(Proposal, Verdict)> = Vec::with_capacity(end - start);
        for proposal in &proposals[start..end] {
            let key = (day_of(&proposal.created_at).to_string(), target_of(proposal));
            let before = changed.get(&key).copied().unwrap_or(0.0);
            let change = proposal
                .verified
                .as_ref()
                .ok_or("no change was verified when it was proposed");
            let verdict = autonomy.verdict(proposal, change, before);
            if let (Verdict::Execute(_), Some(change)) = (&verdict, &proposal.verified) {
                *changed.entry(key).or_default() += change.percent.abs();
            }
            decided.push((proposal.clone(), verdict));
        }
        link_budget_moves(&mut decided);
        verdicts.extend(decided.into_iter().map(|(_, verdict)| match verdict {
            Verdict::Execute(reason) => SimulatedVerdict {
                outcome: Outcome::Executed,
                reason,
            },
            Verdict::Queue(reason) => SimulatedVerdict {
                outcome: if autonomy.level == AutonomyLevel::ExpertRequired {
                    Outcome::QueuedForExpert
                } else {
                    Outcome::QueuedForHuman
                },
                reason,
            },
        }));
        start = end;
    }
    verdicts
}

/// Proposals the host refused since `since`, from the audit chain.
fn refusals_since(
    tx: &dyn crate::store::storage::ReadTx,
    tenant: &str,
    since: &str,
) -> Result<u64, ControlError> {
    let mut refused = 0;
    let mut after = 0;
    for _ in 0..AUDIT_PAGES {
        let page = audit::list(tx, tenant, after, AUDIT_PAGE)?;
        refused += page
            .iter()
            .filter(|e| e.action == "proposal.refuse" && e.time.as_str() >= since)
            .count() as u64;
        match page.last() {
            Some(last) if page.len() == AUDIT_PAGE => after = last.seq,
            _ => break,
        }
    }
    Ok(refused)
}

impl ControlPlane {
    /// What each autonomy level, and `candidate` (the body `PUT
    /// …/autonomy` would take), would have done with the tenant's proposals
    /// of the last [`SIMULATED_DAYS`] days (admin). Changes nothing.
    pub async fn simulate_autonomy(
        &self,
        principal: &Principal,
        tenant_id: &str,
        candidate: AutonomyUpdate,
    ) -> Result<Simulation, ControlError> {
        principal.require_admin()?;
        if let Some(guardrails) = &candidate.guardrails {
            guardrails.validate()?;
        }
        let tenant_id = tenant_id.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let current = autonomy_of(&*tx, &tenant_id)?;
            let cutoff = SystemTime::now()
                .checked_sub(Duration::from_secs(SIMULATED_DAYS * 24 * 3600))
                .unwrap_or(SystemTime::UNIX_EPOCH);
            // The format of `audit::now`, so that times compare as text.
            let since = humantime::format_rfc3339_millis(cutoff).to_string();
            let mut proposals: Vec<Proposal> = tenant::rows_of(&*tx, Table::Proposals, &tenant_id)?;
            proposals.retain(|p| p.created_at >= since);
            proposals.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            let refused = refusals_since(&*tx, &tenant_id, &since)?;
            let proposed = Autonomy {
                level: candidate.level,
                guardrails: candidate.guardrails.unwrap_or_else(|| current.guardrails.clone()),
                learned: current.learned.clone(),
            };
            let levels = LEVELS
                .iter()
                .map(|&level| {
                    let at_level = Autonomy {
                        level,
                        ..current.clone()
                    };
                    let outcomes = replay(&at_level, &proposals).into_iter().map(|v| v.outcome);
                    LevelTotals {
                        level,
                        totals: Totals::count(outcomes, refused),
                    }
                })
                .collect();
            let now = replay(&current, &proposals);
            let then = replay(&proposed, &proposals);
            let rows: Vec<SimulationRow> = proposals
                .iter()
                .zip(now.iter().cloned().zip(then.iter().cloned()))
                .map(|(p, (now, candidate))| SimulationRow {
                    id: p.id.clone(),
                    created_at: p.created_at.clone(),
                    agent: p.agent.clone(),
                    connector: p.connector.clone(),
                    action: p.action.clone(),
                    change_percent: p.change_percent(),
                    change_money: p.verified.and_then(|v| v.money),
                    verified: p.verified.is_some(),
                    confidence: p.confidence,
                    status: p.status,
                    actual: actual_outcome(p),
                    now,
                    candidate,
                })
                .collect();
            Ok(Simulation {
                since,
                actual: Totals::count(rows.iter().map(|r| r.actual), refused),
                now: Totals::count(rows.iter().map(|r| r.now.outcome), refused),
                candidate_totals: Totals::count(rows.iter().map(|r| r.candidate.outcome), refused),
                current,
                candidate: proposed,
                levels,
                rows,
            })
        })
        .await
    }
}
