//! Sharing the host's cores between tenants.
//!
//! Every guest yields to the executor on each epoch tick, but yielding alone
//! shares the cores between *calls*: a tenant with more calls running gets
//! more of the machine. So on each tick a call whose tenant runs more calls
//! than its share (the cores divided by the tenants with calls in flight)
//! parks until one of its own tenant's calls stops running. A tenant alone
//! uses every core; two busy tenants get half each, whatever either does.
//! A call waiting on the network does not count as running.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The host's cores, shared fairly between the tenants that have calls in
/// flight.
#[derive(Debug)]
pub(crate) struct CpuShare {
    cores: usize,
    tenants: Mutex<Tenants>,
    /// Signalled whenever a call stops running or a tenant leaves.
    changed: Notify,
}

/// Every tenant that has called, and how many have calls in flight. A
/// tenant's entry stays when its last call ends, so that its next call
/// neither allocates nor rehashes: there are as many as there are tenants.
#[derive(Debug, Default)]
struct Tenants {
    calls: HashMap<Arc<str>, TenantCalls>,
    with_calls_in_flight: usize,
}

/// One tenant's calls in flight, and how many of them are running.
#[derive(Debug)]
struct TenantCalls {
    tenant: Arc<str>,
    in_flight: usize,
    running: usize,
}

/// A future that resolves when a parked call may run again.
pub(crate) type Parked = Pin<Box<dyn Future<Output = ()> + Send>>;

impl CpuShare {
    /// A share of `cores` cores (at least one).
    pub(crate) fn new(cores: usize) -> Arc<Self> {
        Arc::new(Self {
            cores: cores.max(1),
            tenants: Mutex::default(),
            changed: Notify::new(),
        })
    }

    /// Register a call of `tenant`; it runs until its seat says otherwise.
    pub(crate) fn seat(self: &Arc<Self>, tenant: &str) -> Seat {
        let mut tenants = self.lock();
        let tenants = &mut *tenants;
        let calls = match tenants.calls.get_mut(tenant) {
            Some(calls) => calls,
            None => {
                let tenant: Arc<str> = tenant.into();
                tenants.calls.entry(tenant.clone()).or_insert(TenantCalls {
                    tenant,
                    in_flight: 0,
                    running: 0,
                })
            }
        };
        if calls.in_flight == 0 {
            tenants.with_calls_in_flight += 1;
        }
        calls.in_flight += 1;
        calls.running += 1;
        Seat(Arc::new(Claim {
            share: self.clone(),
            tenant: calls.tenant.clone(),
            running: AtomicBool::new(true),
            parked_nanos: AtomicU64::new(0),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Tenants> {
        self.tenants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many calls each tenant may run at once right now.
    fn per_tenant(&self, tenants: &Tenants) -> usize {
        (self.cores / tenants.with_calls_in_flight.max(1)).max(1)
    }
}

/// What a call holds of the share, shared with the futures that park it or
/// wait on the network for it.
#[derive(Debug)]
struct Claim {
    share: Arc<CpuShare>,
    tenant: Arc<str>,
    /// Whether this call counts as running.
    running: AtomicBool,
    /// How long the call has waited for its share, in nanoseconds.
    parked_nanos: AtomicU64,
}

impl Claim {
    /// Stop counting the call as running, if it was.
    fn stop_running(&self) {
        if self.running.swap(false, Ordering::AcqRel) {
            if let Some(calls) = self.share.lock().calls.get_mut(&*self.tenant) {
                calls.running = calls.running.saturating_sub(1);
            }
            self.share.changed.notify_waiters();
        }
    }

    /// Count the call as running again if its tenant is within its share
    /// (or `force`d); whether it now runs.
    fn try_run(&self, force: bool) -> bool {
        let mut tenants = self.share.lock();
        let share = self.share.per_tenant(&tenants);
        let Some(calls) = tenants.calls.get_mut(&*self.tenant) else {
            return true;
        };
        if force || calls.running < share {
            if !self.running.swap(true, Ordering::AcqRel) {
                calls.running += 1;
            }
            return true;
        }
        false
    }
}

/// One call's place in the share; leaving it (on drop) ends the call's claim.
#[derive(Debug)]
pub(crate) struct Seat(Arc<Claim>);

impl Seat {
    /// On an epoch tick: the future to wait on when this call's tenant runs
    /// more calls than its share, or `None` to go on. The wait ends by the
    /// call's deadline at the latest, so the next tick can stop the call.
    pub(crate) fn park_if_over_share(&self, deadline: Instant) -> Option<Parked> {
        let claim = &self.0;
        {
            let tenants = claim.share.lock();
            let share = claim.share.per_tenant(&tenants);
            let over = tenants
                .calls
                .get(&*claim.tenant)
                .is_some_and(|calls| calls.running > share);
            if !over || !claim.running.load(Ordering::Acquire) {
                return None;
            }
        }
        claim.stop_running();
        let claim = claim.clone();
        Some(Box::pin(async move {
            let _count = CountOnDrop(Instant::now(), &claim);
            loop {
                // Register for the signal before checking, so a change made
                // between the check and the wait is not missed.
                let changed = claim.share.changed.notified();
                if claim.try_run(false) {
                    return;
                }
                if tokio::time::timeout_at(deadline.into(), changed).await.is_err() {
                    claim.try_run(true);
                    return;
                }
            }
        }))
    }

    /// How long the call has waited for its tenant's share so far.
    pub(crate) fn parked(&self) -> Duration {
        Duration::from_nanos(self.0.parked_nanos.load(Ordering::Relaxed))
    }

    /// While the call waits on the network it does not count as running;
    /// the guard counts it again when dropped (the next tick parks it if
    /// its tenant is then over its share).
    pub(crate) fn waiting(&self) -> Waiting {
        self.0.stop_running();
        Waiting(self.0.clone())
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let claim = &self.0;
        {
            let mut guard = claim.share.lock();
            let tenants = &mut *guard;
            if let Some(calls) = tenants.calls.get_mut(&*claim.tenant) {
                if claim.running.swap(false, Ordering::AcqRel) {
                    calls.running = calls.running.saturating_sub(1);
                }
                calls.in_flight = calls.in_flight.saturating_sub(1);
                if calls.in_flight == 0 {
                    tenants.with_calls_in_flight = tenants.with_calls_in_flight.saturating_sub(1);
                }
            }
        }
        claim.share.changed.notify_waiters();
    }
}

/// Adds the time since it was made to a claim's parked time, however the
/// wait ends (it may be dropped with its call).
struct CountOnDrop<'a>(Instant, &'a Claim);

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        let nanos = u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.1.parked_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// A call waiting on the network; see [`Seat::waiting`].
pub(crate) struct Waiting(Arc<Claim>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.try_run(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(share: &CpuShare, tenant: &str) -> usize {
        share.lock().calls.get(tenant).map_or(0, |calls| calls.running)
    }

    #[test]
    fn a_tenant_alone_uses_every_core() {
        let share = CpuShare::new(2);
        let seats: Vec<_> = (0..2).map(|_| share.seat("a")).collect();
        let far = Instant::now() + Duration::from_secs(60);
        assert!(seats.iter().all(|seat| seat.park_if_over_share(far).is_none()));
    }

    #[tokio::test]
    async fn a_second_busy_tenant_halves_the_first_and_gets_its_core_back_when_done() {
        let share = CpuShare::new(2);
        let far = Instant::now() + Duration::from_secs(60);
        let a1 = share.seat("a");
        let a2 = share.seat("a");
        let b = share.seat("b");
        // Three running on two cores: one of a's calls parks, b's does not.
        assert!(b.park_if_over_share(far).is_none());
        let parked = a2.park_if_over_share(far).expect("a is over its share");
        assert_eq!(running(&share, "a"), 1);
        assert!(a1.park_if_over_share(far).is_none());
        // When b leaves, a may run both again.
        let resumed = tokio::spawn(parked);
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), resumed)
            .await
            .expect("the parked call resumed")
            .expect("no panic");
        assert_eq!(running(&share, "a"), 2);
        drop((a1, a2));
        assert_eq!(running(&share, "a"), 0);
        assert_eq!(
            share.lock().with_calls_in_flight,
            0,
            "no tenant has calls in flight"
        );
    }

    #[tokio::test]
    async fn a_parked_call_resumes_by_its_deadline() {
        let share = CpuShare::new(1);
        let (a1, a2, _b) = (share.seat("a"), share.seat("a"), share.seat("b"));
        let soon = Instant::now() + Duration::from_millis(20);
        let parked = a2.park_if_over_share(soon).expect("over share");
        tokio::time::timeout(Duration::from_secs(5), parked)
            .await
            .expect("resumed at the deadline");
        assert!(a2.parked() >= Duration::from_millis(15), "{:?}", a2.parked());
        assert_eq!(a1.parked(), Duration::ZERO);
        drop((a1, a2));
        assert_eq!(running(&share, "a"), 0);
    }

    #[test]
    fn a_call_waiting_on_the_network_does_not_count() {
        let share = CpuShare::new(2);
        let (a1, a2, _b) = (share.seat("a"), share.seat("a"), share.seat("b"));
        let far = Instant::now() + Duration::from_secs(60);
        let waiting = a1.waiting();
        assert!(a2.park_if_over_share(far).is_none());
        drop(waiting);
        assert_eq!(running(&share, "a"), 2);
    }
}
