//! The notifier: one thread, started with the control plane and joined
//! when it is dropped, that follows the audit chains after every commit (or
//! every [`TICK`]), sweeps at every [`SWEEP_EVERY`], and sends what is due
//! with at most [`SENDERS`] requests at once.

use super::follow::follow_all;
use super::send::{self, Ready};
use super::sweep::{self, Swept};
use crate::control::{ControlError, ControlPlane};
use crate::hosts::Hosts;
use crate::scheduler::{Clock, SystemClock};
use crate::store::{Storage, StoreError};
use crate::vault::Vault;
use omnify_runtime::capability::egress::{Egress, EgressConfig};
use omnify_runtime::invoke::HostPattern;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How often the notifier looks for work when no commit woke it.
/// The least time between two looks at the chains after commits.
const COALESCE: Duration = Duration::from_millis(200);

const TICK: Duration = Duration::from_secs(1);

/// How often the sweep runs on its own.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Deliveries in flight at once.
pub const SENDERS: usize = 8;

/// The audit action a quota refusal leaves (once per tenant, quota and
/// minute), which the follower turns into `quota.reached` events.
pub(crate) const QUOTA_ACTION: &str = "quota.reached";

/// What the notifier's thread and the control plane share.
struct Shared {
    clock: RwLock<Arc<dyn Clock>>,
    /// Prefixed to the links of events; empty for paths only.
    public_url: RwLock<String>,
    /// The minute of the last quota refusal recorded per tenant and quota.
    quota_minutes: Mutex<HashMap<(String, &'static str), u64>>,
}

impl Shared {
    fn base(&self) -> String {
        self.public_url.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn now(&self) -> std::time::SystemTime {
        self.clock.read().unwrap_or_else(|p| p.into_inner()).now()
    }
}

/// The handle to the notifier's thread; dropping it stops the thread and
/// waits for it (deliveries in flight are attempted again after a restart).
pub struct Notifier {
    shared: Arc<Shared>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Notifier {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the notifier thread panicked");
        }
    }
}

/// What the thread works with.
struct Context {
    store: Arc<dyn Storage>,
    hosts: Arc<Hosts>,
    vault: Vault,
    egress: Egress,
    grantable: Vec<HostPattern>,
    shared: Arc<Shared>,
}

impl Notifier {
    /// Start following `store`'s chains; endpoints may reach private
    /// addresses only on `grantable` hosts.
    pub(crate) fn start(
        store: Arc<dyn Storage>,
        hosts: Arc<Hosts>,
        vault: Vault,
        grantable: Vec<HostPattern>,
    ) -> Result<Self, StoreError> {
        let unavailable =
            |what: String| StoreError::Unavailable(format!("cannot start the notifier: {what}"));
        let egress = Egress::new(&EgressConfig {
            private_hosts: grantable.clone(),
            resolver: None,
        })
        .map_err(|e| unavailable(e.to_string()))?;
        let shared = Arc::new(Shared {
            clock: RwLock::new(Arc::new(SystemClock)),
            public_url: RwLock::default(),
            quota_minutes: Mutex::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let context = Context {
            store,
            hosts,
            vault,
            egress,
            grantable,
            shared: shared.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| unavailable(e.to_string()))?;
        let thread = std::thread::Builder::new()
            .name("omnify-notifier".into())
            .spawn(move || runtime.block_on(run(context, stopped)))
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(Self {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Read the time of the sweep from `clock` (tests move a
    /// [`crate::scheduler::ManualClock`]).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.shared.clock.write().unwrap_or_else(|p| p.into_inner()) = clock;
    }

    /// Where people reach this host (`serve --public-url`); empty when not
    /// told.
    pub fn public_url(&self) -> String {
        self.shared.base()
    }

    /// Make event links absolute: `url` is where people reach this host.
    pub fn set_public_url(&self, url: &str) {
        *self.shared.public_url.write().unwrap_or_else(|p| p.into_inner()) =
            url.trim_end_matches('/').to_string();
    }
}

async fn run(context: Context, mut stopped: watch::Receiver<bool>) {
    let mut commits = context.store.watch_commits();
    let mut inflight: JoinSet<(Vec<u8>, super::Attempt)> = JoinSet::new();
    let mut busy: HashSet<Vec<u8>> = HashSet::new();
    let context = Arc::new(context);
    let mut next_sweep = Instant::now() + SWEEP_EVERY;
    loop {
        let base = context.shared.base();
        if let Err(error) = follow_all(&*context.store, &base) {
            tracing::warn!(%error, "notifier: cannot follow the audit chains");
        }
        if Instant::now() >= next_sweep {
            next_sweep = Instant::now() + SWEEP_EVERY;
            if let Err(error) = sweep::sweep(&*context.store, context.shared.now(), &base) {
                tracing::warn!(%error, "notifier: the sweep failed");
            }
        }
        let now = send::now_ms();
        let due = send::due(
            &*context.store,
            &context.vault,
            now,
            SENDERS - inflight.len(),
            &busy,
        );
        match due.and_then(|ready| send::claim(&*context.store, &context.hosts, ready, now)) {
            Ok(ready) => {
                for ready in ready {
                    busy.insert(ready.key.clone());
                    let context = context.clone();
                    inflight.spawn(async move { deliver(&context, ready).await });
                }
            }
            Err(error) => tracing::warn!(%error, "notifier: cannot read the due deliveries"),
        }
        tokio::select! {
            _ = stopped.changed() => return,
            changed = commits.changed() => {
                if changed.is_err() {
                    return;
                }
                // Commits come by the thousand on a busy host: look at what
                // they added a few times a second, not once per commit.
                tokio::time::sleep(COALESCE).await;
                commits.mark_unchanged();
            }
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                if let Ok((key, attempt)) = done {
                    busy.remove(&key);
                    if let Err(error) = send::record(&*context.store, &context.hosts, &key, attempt, send::now_ms()) {
                        tracing::warn!(%error, "notifier: cannot record a delivery's attempt");
                    }
                } else {
                    // A sender that panicked: its delivery is retried when due.
                    busy.clear();
                }
            }
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn deliver(context: &Context, ready: Ready) -> (Vec<u8>, super::Attempt) {
    let attempt = send::attempt(&context.egress, &context.grantable, &ready).await;
    if let Some(error) = &attempt.error {
        tracing::info!(tenant = %ready.row.tenant, endpoint = %ready.row.delivery.endpoint, delivery = %ready.row.delivery.id, %error, "delivery attempt failed");
    }
    (ready.key, attempt)
}

impl ControlPlane {
    /// The notifier (its clock and public URL).
    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Sweep now at the notifier's clock: escalate expert-required
    /// proposals past their SLA and announce those about to expire.
    pub async fn notify_sweep(&self) -> Result<Swept, ControlError> {
        let (now, base) = (self.notifier.shared.now(), self.notifier.shared.base());
        self.blocking(move |store| sweep::sweep(store, now, &base)).await
    }

    /// Leave a trace of a refused call when `error` is a used-up quota: an
    /// audit entry [`QUOTA_ACTION`], at most one per tenant, quota and
    /// minute (the follower turns it into a `quota.reached` event).
    pub(crate) async fn note_quota_refusal(&self, tenant_id: &str, error: &ControlError) {
        let ControlError::QuotaExceeded {
            quota,
            limit,
            resets_at,
        } = error
        else {
            return;
        };
        let minute = crate::audit::unix_seconds(std::time::SystemTime::now()) / 60;
        {
            let mut seen = self
                .notifier
                .shared
                .quota_minutes
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if seen.insert((tenant_id.to_string(), quota), minute) == Some(minute) {
                return;
            }
        }
        let (tenant, quota, limit, resets_at) = (tenant_id.to_string(), *quota, *limit, resets_at.clone());
        let written = self
            .blocking(move |store| {
                let mut tx = crate::store::Storage::write(store)?;
                crate::audit::append(
                    &mut *tx,
                    &tenant,
                    crate::audit::Event {
                        actor: "system",
                        action: QUOTA_ACTION,
                        target: quota,
                        outcome: "refused",
                        details: serde_json::json!({"quota": quota, "limit": limit, "resets_at": resets_at}),
                    },
                )?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, tenant = tenant_id, "cannot record a quota refusal");
        }
    }
}
