//! Leases: which host holds a piece of work, and until when.
//!
//! A lease is one row of [`Table::Leases`] naming its holder and its
//! expiry. It is claimed, checked and released inside the same write
//! transactions that change the work it guards, and write transactions are
//! serialised by every store, so two hosts can never both believe they hold
//! one: the second claim sees the first. A host that stops renewing (it
//! died, or lost the store for longer than a lease lasts) loses its leases
//! when they expire, and its work passes to whichever host claims it next.

use crate::store::StoreError;
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, key, put_json};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// What a lease guards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// A host's own liveness: its counters count only while it is held.
    Host(String),
    /// A run that has not ended, queued in a host's pool or running there.
    Run {
        /// The run's tenant.
        tenant: String,
        /// The run.
        id: String,
    },
    /// A due job's run that no worker has started yet, by queue id.
    Queued(String),
    /// An event delivery being sent, by its outbox key.
    Delivery(Vec<u8>),
    /// An approved proposal being executed.
    Proposal {
        /// The proposal's tenant.
        tenant: String,
        /// The proposal.
        id: String,
    },
    /// An OAuth sign-in being refreshed, so that hosts spend its refresh
    /// token once.
    Refresh {
        /// The enablement's tenant.
        tenant: String,
        /// The connector.
        plugin: String,
    },
}

impl Resource {
    /// The run `id` of `tenant`.
    pub fn run(tenant: &str, id: &str) -> Self {
        Self::Run {
            tenant: tenant.to_string(),
            id: id.to_string(),
        }
    }

    /// The execution of proposal `id` of `tenant`.
    pub fn proposal(tenant: &str, id: &str) -> Self {
        Self::Proposal {
            tenant: tenant.to_string(),
            id: id.to_string(),
        }
    }

    /// Its key in [`Table::Leases`].
    pub(crate) fn key(&self) -> Vec<u8> {
        match self {
            Self::Host(host) => key(&[b"host", host.as_bytes()]),
            Self::Run { tenant, id } => key(&[b"run", tenant.as_bytes(), id.as_bytes()]),
            Self::Queued(id) => key(&[b"queued", id.as_bytes()]),
            Self::Delivery(outbox_key) => key(&[b"delivery", outbox_key]),
            Self::Proposal { tenant, id } => key(&[b"proposal", tenant.as_bytes(), id.as_bytes()]),
            Self::Refresh { tenant, plugin } => key(&[b"refresh", tenant.as_bytes(), plugin.as_bytes()]),
        }
    }
}

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    /// The host that holds it.
    pub host: String,
    /// When it lapses unless renewed, in Unix milliseconds.
    pub expires_ms: u64,
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Who holds a resource, as one host sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This host.
    Me,
    /// Another host, whose lease has not lapsed.
    Other(String),
    /// Nobody: no lease, or one that lapsed.
    Nobody,
}

/// The lease of `resource`, as `host` sees it at `now_ms`. When the store
/// is not shared, every other host's lease is that of a host that stopped.
pub(crate) fn holder(
    tx: &(impl ReadTx + ?Sized),
    resource: &Resource,
    host: &str,
    now_ms: u64,
    shared: bool,
) -> Result<Holder, StoreError> {
    Ok(match get_json::<Lease>(tx, Table::Leases, &resource.key())? {
        Some(lease) if lease.host == host => Holder::Me,
        Some(lease) if shared && lease.expires_ms > now_ms => Holder::Other(lease.host),
        _ => Holder::Nobody,
    })
}

/// Hold `resource` for `host` until `expires_ms`, unless another live host
/// holds it; whether `host` holds it now.
pub(crate) fn claim(
    tx: &mut (impl WriteTx + ?Sized),
    resource: &Resource,
    host: &str,
    now_ms: u64,
    expires_ms: u64,
    shared: bool,
) -> Result<bool, StoreError> {
    if let Holder::Other(_) = holder(tx, resource, host, now_ms, shared)? {
        return Ok(false);
    }
    let lease = Lease {
        host: host.to_string(),
        expires_ms,
    };
    put_json(tx, Table::Leases, &resource.key(), &lease)?;
    Ok(true)
}

/// Give up `resource` if `host` holds it.
pub(crate) fn release(
    tx: &mut (impl WriteTx + ?Sized),
    resource: &Resource,
    host: &str,
) -> Result<(), StoreError> {
    let key = resource.key();
    if get_json::<Lease>(tx, Table::Leases, &key)?.is_some_and(|lease| lease.host == host) {
        tx.delete(Table::Leases, &key)?;
    }
    Ok(())
}
