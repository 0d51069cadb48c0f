//! A tenant's live feed: what happens in it, as it happens, for the console
//! and any frontend (`GET /v1/tenants/{t}/events`).
//!
//! The feed is the tenant's audit chain followed live (every sync batch,
//! agent run, proposal made, decided or executed, webhook received, change
//! of settings) plus the progress of its newest runs. Following the chain
//! rather than a channel of its own means the feed shows only what was
//! committed, in the order it was, and a client that reconnects resumes
//! from the last sequence number it saw without missing anything.

use crate::audit::{self, AuditEntry};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::ReadTx;
use crate::sync::{Run, RunStatus};
use crate::tenant::{Principal, keys};
use serde::Serialize;
use std::collections::HashMap;
use tokio::sync::watch;

/// The most audit entries one step of the feed reads.
const ENTRIES_PER_STEP: usize = 200;

/// How many of the newest runs the feed watches for progress.
const RUNS_WATCHED: usize = 20;

/// One item of a tenant's feed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedItem {
    /// A new entry of the audit chain.
    Audit(Box<AuditEntry>),
    /// A run that started, made progress or ended (without an agent run's
    /// output, which `GET …/runs/{id}` has).
    Run(Box<Run>),
}

/// Where a feed is: the last audit entry sent and what each watched run
/// looked like when last sent.
#[derive(Debug)]
pub struct FeedCursor {
    tenant: String,
    principal: Principal,
    /// The sequence number of the last audit entry sent.
    pub after: u64,
    runs: HashMap<String, RunMark>,
    /// Whether a step has run: after it, every run not seen before is new.
    primed: bool,
}

/// What makes a run worth sending again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunMark {
    status: RunStatus,
    batches: u64,
    attempts: u64,
}

fn mark(run: &Run) -> RunMark {
    RunMark {
        status: run.status,
        batches: run.streams.iter().map(|s| s.batches).sum(),
        attempts: run.attempts,
    }
}

impl ControlPlane {
    /// Open `tenant`'s feed for `principal`, after audit entry `since` (or
    /// from now on); its first step also sends the runs still running.
    pub async fn open_feed(
        &self,
        principal: &Principal,
        tenant: &str,
        since: Option<u64>,
    ) -> Result<FeedCursor, ControlError> {
        principal.require_tenant(tenant)?;
        let tenant_id = tenant.to_string();
        let after = self
            .blocking(move |store| {
                let tx = store.read()?;
                crate::audit::queries::require_chain(&*tx, &tenant_id)?;
                Ok(match since {
                    Some(seq) => seq,
                    None => audit::head_seq(&*tx, &tenant_id)?,
                })
            })
            .await?;
        Ok(FeedCursor {
            tenant: tenant.to_string(),
            principal: principal.clone(),
            after,
            runs: HashMap::new(),
            primed: false,
        })
    }

    /// What happened since the cursor's last step: new audit entries, then
    /// runs that changed. Empty when nothing did.
    pub async fn feed_step(&self, cursor: &mut FeedCursor) -> Result<Vec<FeedItem>, ControlError> {
        let (tenant, after, principal) = (cursor.tenant.clone(), cursor.after, cursor.principal.clone());
        let (entries, runs) = self
            .blocking(move |store| {
                let tx = store.read()?;
                // Checked on every step: a key revoked while the feed is
                // open ends it.
                keys::still_valid(&*tx, &principal)?;
                crate::audit::queries::require_chain(&*tx, &tenant)?;
                let entries = audit::list(&*tx, &tenant, after, ENTRIES_PER_STEP)?;
                let runs = newest_runs(&*tx, &tenant)?;
                Ok((entries, runs))
            })
            .await?;
        let mut items = Vec::with_capacity(entries.len());
        if let Some(last) = entries.last() {
            cursor.after = last.seq;
        }
        items.extend(entries.into_iter().map(|entry| FeedItem::Audit(Box::new(entry))));
        let first_step = !std::mem::replace(&mut cursor.primed, true);
        for mut run in runs {
            let now = mark(&run);
            let before = cursor.runs.insert(run.id.clone(), now);
            let changed = match before {
                Some(before) => before != now,
                // A run seen for the first time: every new one, and on the
                // first step the ones still running.
                None => !first_step || run.status == RunStatus::Running,
            };
            if changed {
                run.output = None;
                items.push(FeedItem::Run(Box::new(run)));
            }
        }
        Ok(items)
    }

    /// A receiver that sees a new value after every commit to the store.
    pub fn watch_commits(&self) -> watch::Receiver<u64> {
        self.store.watch_commits()
    }
}

fn newest_runs(tx: &dyn ReadTx, tenant: &str) -> Result<Vec<Run>, ControlError> {
    crate::sync::newest_runs(tx, tenant, RUNS_WATCHED)
}
