//! Quotas that hold across the hosts of a shared store.
//!
//! Each host counts its own running calls of a tenant, and writes the count
//! to one row of its own (`tenant \0 running \0 host`); a call is admitted
//! against the sum of every live host's row, in a write transaction, and
//! write transactions are serialised across hosts, so two hosts cannot both
//! take the last slot. Calls per minute are one row per tenant. Both go
//! through the store's group commit, so that concurrent admissions share a
//! commit. A host that dies stops renewing its own lease, and its rows stop
//! counting (and are removed) once that lapses.
//!
//! Fuel per day is counted from the usage the hosts write: each host reads
//! the tenant's total again at most [`FUEL_REFRESH`] after it last did, so a
//! tenant may go over its daily fuel by what its calls burn on the other
//! hosts within that time, besides the calls already running when it was
//! reached (which a single host allows too).

use super::{Counters, TenantCounters, lock};
use crate::control::ControlError;
use crate::hosts::Hosts;
use crate::hosts::lease::{Holder, Resource};
use crate::store::commits::JOB_OVERHEAD;
use crate::store::storage::{Table, WriteTx, get_json, key, prefix, put_json};
use crate::tenant::Quotas;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How stale a host's view of a tenant's fuel today may be.
pub const FUEL_REFRESH: Duration = Duration::from_secs(1);

/// The row of one tenant's calls in the current minute, all hosts together.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Minute {
    minute: u64,
    calls: u64,
}

fn running_key(tenant: &str, host: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), b"running", host.as_bytes()])
}

fn minute_key(tenant: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), b"minute"])
}

/// The running calls of `tenant` on every live host but this one; rows of
/// hosts that stopped are removed.
fn running_elsewhere(tx: &mut dyn WriteTx, hosts: &Hosts, tenant: &str) -> Result<u64, ControlError> {
    let rows = tx.scan(
        Table::QuotaCounters,
        &prefix(&[tenant.as_bytes(), b"running"]),
        None,
        usize::MAX,
    )?;
    let mut running = 0;
    for (row_key, value) in rows {
        let host = row_key.rsplit(|b| *b == 0).next().unwrap_or_default();
        let host = String::from_utf8_lossy(host).into_owned();
        if host == hosts.id() {
            continue;
        }
        match hosts.holder(&*tx, &Resource::Host(host))? {
            Holder::Other(_) => {
                running += serde_json::from_slice::<u64>(&value).unwrap_or(0);
            }
            Holder::Nobody | Holder::Me => {
                tx.delete(Table::QuotaCounters, &row_key)?;
            }
        }
    }
    Ok(running)
}

/// Admit one call of `tenant` against the counters of every host, or say
/// which quota is used up; the call is counted in this host's `counters`
/// once admitted.
pub(super) async fn admit(
    store: &Arc<dyn crate::store::Storage>,
    hosts: &Arc<Hosts>,
    counters: &Counters,
    tenant: &str,
    quotas: Quotas,
    seconds: u64,
) -> Result<(), ControlError> {
    // The job may be written more than once (when another job of its batch
    // fails); the call is counted on this host only the first time.
    let counted = Arc::new(AtomicBool::new(false));
    let (hosts, counters_in, tenant_id, counted_in) = (
        hosts.clone(),
        counters.clone(),
        tenant.to_string(),
        counted.clone(),
    );
    let outcome = store
        .commits()
        .commit(tenant, JOB_OVERHEAD, move |tx| -> Result<(), ControlError> {
            // The store first, so that this host's counters stay locked
            // only for the arithmetic.
            let elsewhere = match quotas.concurrent_calls {
                Some(_) => running_elsewhere(tx, &hosts, &tenant_id)?,
                None => 0,
            };
            let minute = match quotas.calls_per_minute {
                Some(limit) => {
                    let stored: Minute =
                        get_json(tx, Table::QuotaCounters, &minute_key(&tenant_id))?.unwrap_or_default();
                    let calls = if stored.minute == seconds / 60 {
                        stored.calls
                    } else {
                        0
                    };
                    if calls >= u64::from(limit) {
                        return Err(super::rate_refused(limit, seconds));
                    }
                    Some(Minute {
                        minute: seconds / 60,
                        calls: calls + 1,
                    })
                }
                None => None,
            };
            let running_here = {
                let mut all = lock(&counters_in);
                let here: &mut TenantCounters = all.entry(tenant_id.clone()).or_default();
                let already = counted_in.load(Ordering::Acquire);
                if let Some(limit) = quotas.concurrent_calls
                    && elsewhere + here.running - u64::from(already) >= u64::from(limit)
                {
                    return Err(super::concurrency_refused(limit));
                }
                if !already {
                    here.running += 1;
                    counted_in.store(true, Ordering::Release);
                }
                here.running
            };
            if let Some(minute) = &minute {
                put_json(tx, Table::QuotaCounters, &minute_key(&tenant_id), minute)?;
            }
            put_json(
                tx,
                Table::QuotaCounters,
                &running_key(&tenant_id, hosts.id()),
                &running_here,
            )?;
            Ok(())
        })
        .await;
    if outcome.is_err() && counted.load(Ordering::Acquire) {
        // Counted, then the commit failed: the call does not run.
        if let Some(here) = lock(counters).get_mut(tenant) {
            here.running = here.running.saturating_sub(1);
        }
    }
    outcome
}

/// Write this host's count of `tenant`'s running calls after one ended, in
/// the next group commit; nobody waits for it (a failed write is corrected
/// by the next admission's, or stops counting with this host's lease).
pub(super) fn publish_running(
    store: &Arc<dyn crate::store::Storage>,
    hosts: &Arc<Hosts>,
    counters: &Counters,
    tenant: &str,
) {
    let (hosts, counters, tenant_id) = (hosts.clone(), counters.clone(), tenant.to_string());
    let _unawaited = store
        .commits()
        .submit(tenant, JOB_OVERHEAD, move |tx| -> Result<(), ControlError> {
            let running = lock(&counters).get(&tenant_id).map_or(0, |c| c.running);
            put_json(
                tx,
                Table::QuotaCounters,
                &running_key(&tenant_id, hosts.id()),
                &running,
            )?;
            Ok(())
        });
}
