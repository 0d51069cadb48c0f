//! Several hosts on one shared store. Each host has an id of its own for
//! as long as it runs, and holds what it works on (its runs, the due jobs
//! it took) by [`lease`]s that a heartbeat renews. Work whose lease lapsed
//! belongs to a host that stopped, and the next host to look claims it.
//!
//! On the embedded store there is only ever one host, so a lease another
//! host left behind is taken at once rather than after it lapses.

mod drain;
pub mod lease;

use crate::store::storage::{Table, WriteTx, get_json, put_json};
use crate::store::{Storage, StoreError};
use lease::{Holder, Lease, Resource};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a lease lasts unless renewed, by default. A host that stops
/// hands its work to the others this long after its last renewal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// This host among the hosts of one store.
#[derive(Debug)]
pub struct Hosts {
    id: String,
    lease: Duration,
    shared: bool,
    /// What this host believes it holds; the heartbeat renews these, and
    /// drops those another host has taken.
    held: Mutex<BTreeSet<Resource>>,
    /// Set once the host is stopping: it claims nothing more.
    stopping: AtomicBool,
}

impl Hosts {
    /// A new host id; leases last `lease`; `shared` when other hosts may
    /// use the store at once.
    pub fn new(lease: Duration, shared: bool) -> Result<Self, StoreError> {
        let mut bytes = [0u8; 6];
        crate::vault::random_bytes(&mut bytes)
            .map_err(|e| StoreError::Unavailable(format!("cannot make a host id: {e}")))?;
        Ok(Self {
            id: format!("h-{}", hex::encode(bytes)),
            lease: lease.max(Duration::from_secs(1)),
            shared,
            held: Mutex::default(),
            stopping: AtomicBool::new(false),
        })
    }

    /// This host's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How long a lease lasts unless renewed.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Whether other hosts may use the store at once.
    pub fn shared(&self) -> bool {
        self.shared
    }

    fn held(&self) -> MutexGuard<'_, BTreeSet<Resource>> {
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this host holds `resource` (has it queued or running).
    pub fn holds(&self, resource: &Resource) -> bool {
        self.held().contains(resource)
    }

    /// What this host holds now.
    pub fn holding(&self) -> Vec<Resource> {
        self.held().iter().cloned().collect()
    }

    fn expiry(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX))
    }

    /// Who holds `resource`, as this host sees it.
    pub(crate) fn holder(
        &self,
        tx: &(impl crate::store::storage::ReadTx + ?Sized),
        resource: &Resource,
    ) -> Result<Holder, StoreError> {
        lease::holder(tx, resource, &self.id, lease::now_ms(), self.shared)
    }

    /// Claim `resource` in `tx` unless another live host holds it; whether
    /// this host holds it. A claim that does not commit is dropped by the
    /// next renewal.
    pub(crate) fn claim(
        &self,
        tx: &mut (impl WriteTx + ?Sized),
        resource: &Resource,
    ) -> Result<bool, StoreError> {
        if self.is_stopping() {
            return Ok(false);
        }
        let now = lease::now_ms();
        let claimed = lease::claim(tx, resource, &self.id, now, self.expiry(now), self.shared)?;
        if claimed {
            self.held().insert(resource.clone());
        }
        Ok(claimed)
    }

    /// Give up `resource` in `tx`.
    pub(crate) fn release(
        &self,
        tx: &mut (impl WriteTx + ?Sized),
        resource: &Resource,
    ) -> Result<(), StoreError> {
        lease::release(tx, resource, &self.id)?;
        self.held().remove(resource);
        Ok(())
    }

    /// Renew every lease this host holds, in one transaction; returns those
    /// it had lost (another host claimed them after they lapsed).
    pub fn renew(&self, store: &dyn Storage) -> Result<Vec<Resource>, StoreError> {
        let held = self.holding();
        let mut tx = store.write()?;
        let now = lease::now_ms();
        let mut lost = Vec::new();
        for resource in held {
            let key = resource.key();
            match get_json::<Lease>(&*tx, Table::Leases, &key)? {
                Some(mut lease) if lease.host == self.id => {
                    lease.expires_ms = self.expiry(now);
                    put_json(&mut *tx, Table::Leases, &key, &lease)?;
                }
                _ => lost.push(resource),
            }
        }
        tx.commit()?;
        let mut held = self.held();
        for resource in &lost {
            held.remove(resource);
        }
        Ok(lost)
    }

    /// Whether the host is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Claim nothing from now on (the host is stopping).
    pub fn stop_claiming(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Give up every lease this host holds, so that other hosts take its
    /// work at once (a host that is stopping).
    pub fn release_all(&self, store: &dyn Storage) -> Result<usize, StoreError> {
        let held = self.holding();
        let mut tx = store.write()?;
        for resource in &held {
            lease::release(&mut *tx, resource, &self.id)?;
        }
        tx.commit()?;
        self.held().clear();
        Ok(held.len())
    }
}

/// Renews this host's leases a few times per lease period; stopped (and
/// joined) when dropped.
pub(crate) struct Heartbeat {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    /// Claim this host's own lease and keep renewing everything it holds.
    pub(crate) fn start(store: Arc<dyn Storage>, hosts: Arc<Hosts>) -> Result<Self, StoreError> {
        let mut tx = store.write()?;
        hosts.claim(&mut *tx, &Resource::Host(hosts.id().to_string()))?;
        tx.commit()?;
        let (stop, stopped) = channel::<()>();
        let every = hosts.lease() / 3;
        let thread = std::thread::Builder::new()
            .name("omnify-heartbeat".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match hosts.renew(&*store) {
                        Ok(lost) => {
                            for resource in lost {
                                tracing::warn!(host = hosts.id(), ?resource, "a lease of this host is gone: another host took its work over, or its claim never committed");
                            }
                        }
                        Err(error) => tracing::error!(%error, "cannot renew this host's leases"),
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the heartbeat: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the heartbeat thread panicked");
        }
    }
}
