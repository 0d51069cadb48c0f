//! The sweep: the events of time, at the time a clock says. An
//! expert-required proposal pending past the tenant's `expert_sla_hours` is
//! escalated once (a mark on it and an audit entry, which the follower turns
//! into `proposal.escalated` deliveries); a pending proposal within
//! [`EXPIRY_WARNING`] of its expiry makes one `proposal.expiring` delivery
//! per endpoint that wants it, marked so that it is made once.

use super::follow::{Event, endpoints_of, enqueue};
use super::{Endpoint, EventKind};
use crate::audit;
use crate::control::ControlError;
use crate::proposals::{Proposal, ProposalStatus};
use crate::store::Storage;
use crate::store::storage::{ReadTx, Table, key, prefix};
use serde_json::json;
use std::time::{Duration, SystemTime};

/// How long before its expiry a pending proposal is announced as expiring.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(3600);

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Proposals escalated.
    pub escalated: usize,
    /// `proposal.expiring` deliveries made.
    pub expiring: usize,
}

fn tenants(tx: &dyn ReadTx) -> Result<Vec<String>, ControlError> {
    Ok(tx
        .scan(Table::Tenants, b"", None, usize::MAX)?
        .into_iter()
        .map(|(id, _)| String::from_utf8_lossy(&id).into_owned())
        .collect())
}

/// When `proposal` was made, in Unix seconds.
fn created_unix(proposal: &Proposal, ttl_hours: u64) -> u64 {
    humantime::parse_rfc3339_weak(&proposal.created_at)
        .map(audit::unix_seconds)
        .unwrap_or_else(|_| proposal.expires_at_unix.saturating_sub(ttl_hours * 3600))
}

/// Sweep every tenant at `now`.
pub(crate) fn sweep(store: &dyn Storage, now: SystemTime, base: &str) -> Result<Swept, ControlError> {
    let mut swept = Swept::default();
    for tenant in tenants(&*store.read()?)? {
        let one = sweep_tenant(store, &tenant, now, base)?;
        swept.escalated += one.escalated;
        swept.expiring += one.expiring;
    }
    Ok(swept)
}

fn sweep_tenant(
    store: &dyn Storage,
    tenant: &str,
    now: SystemTime,
    base: &str,
) -> Result<Swept, ControlError> {
    let now_unix = audit::unix_seconds(now);
    let mut swept = Swept::default();
    let mut tx = store.write()?;
    let autonomy = crate::proposals::autonomy::autonomy_of(&*tx, tenant)?;
    let guardrails = &autonomy.guardrails;
    let endpoints: Vec<Endpoint> = endpoints_of(&*tx, tenant)?
        .into_iter()
        .map(|e| e.endpoint)
        .collect();
    let warn_expiring = endpoints.iter().any(|e| e.wants(EventKind::ProposalExpiring));
    let pending: Vec<Proposal> = crate::store::storage::scan_json(
        &*tx,
        Table::Proposals,
        &prefix(&[tenant.as_bytes()]),
        None,
        usize::MAX,
    )?
    .into_iter()
    .map(|(_, p): (_, Proposal)| p)
    .filter(|p| p.status == ProposalStatus::Pending && now_unix < p.expires_at_unix)
    .collect();
    for mut proposal in pending {
        let waited = now_unix.saturating_sub(created_unix(&proposal, guardrails.proposal_ttl_hours));
        if proposal.requires_expert
            && proposal.escalated_at.is_none()
            && waited >= guardrails.expert_sla_hours * 3600
        {
            crate::proposals::escalate(&mut *tx, &mut proposal, audit::rfc3339_at(now_unix))?;
            swept.escalated += 1;
        }
        let mark = key(&[
            tenant.as_bytes(),
            proposal.id.as_bytes(),
            EventKind::ProposalExpiring.as_str().as_bytes(),
        ]);
        if warn_expiring
            && now_unix + EXPIRY_WARNING.as_secs() >= proposal.expires_at_unix
            && tx.get(Table::NotifyMarks, &mark)?.is_none()
        {
            let event = Event {
                id: format!("{tenant}-expiring-{}", proposal.id),
                kind: EventKind::ProposalExpiring,
                tenant: tenant.to_string(),
                time: audit::rfc3339_at(now_unix),
                summary: format!(
                    "Proposal {} ({} on {}) expires at {} without a decision",
                    proposal.id,
                    proposal.action,
                    proposal.connector,
                    audit::rfc3339_at(proposal.expires_at_unix)
                ),
                data: json!({
                    "proposal": proposal.id,
                    "agent": proposal.agent,
                    "connector": proposal.connector,
                    "action": proposal.action,
                    "requires_expert": proposal.requires_expert,
                    "expires_at": audit::rfc3339_at(proposal.expires_at_unix),
                }),
                api: format!("/v1/tenants/{tenant}/proposals/{}", proposal.id),
                console: format!("/console/tenants/{tenant}/inbox"),
            };
            swept.expiring += enqueue(&mut *tx, &endpoints, &event, base)?;
            tx.put(Table::NotifyMarks, &mark, audit::rfc3339_at(now_unix).as_bytes())?;
        }
    }
    if swept != Swept::default() {
        tx.commit()?;
    }
    Ok(swept)
}
