//! Metering: quotas checked before a call, usage recorded after it (per
//! tenant, plugin and UTC day, with an audit entry, in one durable commit
//! shared by concurrent calls), and Prometheus metrics.

mod metrics;
mod record;
mod shared;

pub(crate) use record::write_record;

pub use metrics::Metrics;

use crate::control::ControlError;
use crate::hosts::Hosts;
use crate::store::storage::{Table, prefix, scan_json};
use crate::store::{Storage, StoreError};
use crate::tenant::Tenant;
use omnify_runtime::invoke::{InvokeErrorKind, Usage};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

/// One tenant's use of one plugin on one UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DailyUsage {
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// The day, `YYYY-MM-DD`.
    pub day: String,
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Fuel used.
    pub fuel: u64,
    /// Wall time, in microseconds.
    pub wall_time_us: u64,
    /// The largest memory any call reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Calls into the host.
    pub host_calls: u64,
    /// Outbound HTTP requests.
    pub http_requests: u64,
    /// HTTP bytes sent.
    pub http_bytes_sent: u64,
    /// HTTP bytes received.
    pub http_bytes_received: u64,
    /// Calls that verified webhook deliveries, among `calls`: they are not
    /// charged to the tenant's quotas.
    #[serde(default)]
    pub webhook_calls: u64,
    /// Fuel those used, among `fuel`.
    #[serde(default)]
    pub webhook_fuel: u64,
}

/// A finished call, as the meter records it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The export called.
    pub export: &'static str,
    /// Who called.
    pub actor: String,
    /// The request it served.
    pub request_id: String,
    /// What it used.
    pub usage: Usage,
    /// `None` when it succeeded, else its error.
    pub error: Option<InvokeErrorKind>,
    /// For `act`: the action's name, input and idempotency key.
    pub action: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
struct TenantCounters {
    minute: u64,
    calls_this_minute: u64,
    running: u64,
    day: String,
    fuel_today: Option<u64>,
    /// When `fuel_today` was read from the store.
    fuel_read_at: Option<Instant>,
}

type Counters = Arc<Mutex<HashMap<String, TenantCounters>>>;

fn lock(counters: &Counters) -> MutexGuard<'_, HashMap<String, TenantCounters>> {
    // Each update is a few integer writes; a poisoned lock still holds sound
    // counters.
    counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The UTC day of `time`, `YYYY-MM-DD`.
pub fn day_of(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()[..10].to_string()
}

/// The fuel `tenant`'s calls used on `day`, all hosts together.
fn fuel_used_on(store: &dyn Storage, tenant: &str, day: &str) -> Result<u64, StoreError> {
    let tx = store.read()?;
    let usage: Vec<(Vec<u8>, DailyUsage)> = scan_json(
        &*tx,
        Table::Usage,
        &prefix(&[tenant.as_bytes()]),
        None,
        usize::MAX,
    )?;
    Ok(usage
        .iter()
        .filter(|(_, u)| u.day == day)
        // Webhook deliveries have a budget of their own.
        .map(|(_, u)| u.fuel.saturating_sub(u.webhook_fuel))
        .sum())
}

/// Quotas, usage and metrics.
pub struct Meter {
    store: Arc<dyn Storage>,
    hosts: Arc<Hosts>,
    counters: Counters,
    metrics: Metrics,
}

/// A call admitted under the tenant's quotas; dropping it ends the call's
/// share of the concurrency quota.
pub struct Admission {
    counters: Counters,
    tenant: String,
    /// Set when the other hosts count this host's running calls too.
    shared: Option<(Arc<dyn Storage>, Arc<Hosts>)>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(counters) = lock(&self.counters).get_mut(&self.tenant) {
            counters.running = counters.running.saturating_sub(1);
        }
        if let Some((store, hosts)) = &self.shared {
            shared::publish_running(store, hosts, &self.counters, &self.tenant);
        }
    }
}

fn concurrency_refused(limit: u32) -> ControlError {
    ControlError::QuotaExceeded {
        quota: "concurrent_calls",
        limit: limit.into(),
        resets_at: "as soon as one of the tenant's running calls ends".into(),
    }
}

fn rate_refused(limit: u32, seconds: u64) -> ControlError {
    ControlError::QuotaExceeded {
        quota: "calls_per_minute",
        limit: limit.into(),
        resets_at: crate::audit::rfc3339_at((seconds / 60 + 1) * 60),
    }
}

impl Meter {
    /// Start the meter of this host among `hosts`.
    pub fn start(store: Arc<dyn Storage>, hosts: Arc<Hosts>) -> Result<Self, StoreError> {
        Ok(Self {
            store,
            hosts,
            counters: Arc::default(),
            metrics: Metrics::new(),
        })
    }

    /// The Prometheus metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// How many of `tenant`'s calls are running now.
    pub fn running_calls(&self, tenant: &str) -> u64 {
        lock(&self.counters).get(tenant).map_or(0, |c| c.running)
    }

    /// Admit a call of `tenant` if its quotas allow, or say which quota is
    /// used up and when it resets. On a shared store the call and
    /// concurrency quotas are counted across every host.
    pub async fn admit(&self, tenant: &Tenant) -> Result<Admission, ControlError> {
        let now = SystemTime::now();
        let seconds = crate::audit::unix_seconds(now);
        let today = day_of(now);
        let quotas = tenant.quotas;
        let shared = self.hosts.shared();
        // Loaded outside the lock: the first call of a day reads the store,
        // and on a shared store a call after the last read went stale.
        let stored_fuel = match quotas.fuel_per_day {
            Some(_)
                if lock(&self.counters).get(&tenant.id).is_none_or(|c| {
                    c.day != today
                        || c.fuel_today.is_none()
                        || (shared
                            && c.fuel_read_at
                                .is_none_or(|at| at.elapsed() >= shared::FUEL_REFRESH))
                }) =>
            {
                let (store, tenant_id, day) = (self.store.clone(), tenant.id.clone(), today.clone());
                let fuel = tokio::task::spawn_blocking(move || fuel_used_on(&*store, &tenant_id, &day))
                    .await
                    .map_err(|e| ControlError::Internal(format!("a storage task failed: {e}")))??;
                Some(fuel)
            }
            _ => None,
        };
        let count_across_hosts =
            shared && (quotas.concurrent_calls.is_some() || quotas.calls_per_minute.is_some());
        {
            let mut all = lock(&self.counters);
            let counters = all.entry(tenant.id.clone()).or_default();
            if counters.day != today {
                counters.day = today;
                counters.fuel_today = None;
            }
            if let Some(fuel) = stored_fuel {
                counters.fuel_today = Some(fuel);
                counters.fuel_read_at = Some(Instant::now());
            }
            if counters.minute != seconds / 60 {
                counters.minute = seconds / 60;
                counters.calls_this_minute = 0;
            }
            if !count_across_hosts {
                if let Some(limit) = quotas.concurrent_calls
                    && counters.running >= u64::from(limit)
                {
                    return Err(concurrency_refused(limit));
                }
                if let Some(limit) = quotas.calls_per_minute
                    && counters.calls_this_minute >= u64::from(limit)
                {
                    return Err(rate_refused(limit, seconds));
                }
            }
            if let Some(limit) = quotas.fuel_per_day
                && counters.fuel_today.unwrap_or(0) >= limit
            {
                return Err(ControlError::QuotaExceeded {
                    quota: "fuel_per_day",
                    limit,
                    resets_at: crate::audit::rfc3339_at((seconds / 86_400 + 1) * 86_400),
                });
            }
            counters.calls_this_minute += 1;
            if !count_across_hosts {
                counters.running += 1;
            }
        }
        if count_across_hosts {
            shared::admit(
                &self.store,
                &self.hosts,
                &self.counters,
                &tenant.id,
                quotas,
                seconds,
            )
            .await?;
        }
        Ok(Admission {
            counters: self.counters.clone(),
            tenant: tenant.id.clone(),
            shared: count_across_hosts.then(|| (self.store.clone(), self.hosts.clone())),
        })
    }

    /// Record a finished call: metrics now, usage and audit durably before
    /// this returns.
    pub async fn record(&self, record: CallRecord) -> Result<(), ControlError> {
        self.observe(&record);
        self.write(record, true).await
    }

    /// Record a finished call's usage and metrics without an audit entry of
    /// its own: for refused webhook deliveries, which the audit chain only
    /// summarises.
    pub async fn record_unaudited(&self, record: CallRecord) -> Result<(), ControlError> {
        self.observe(&record);
        self.write(record, false).await
    }

    /// Write `record`'s usage, and its audit entry when `audited`, in the
    /// store's next group commit.
    async fn write(&self, record: CallRecord, audited: bool) -> Result<(), ControlError> {
        let tenant = record.tenant.clone();
        let bytes = record::record_bytes(&record);
        self.store
            .commits()
            .commit(&tenant, bytes, move |tx| match audited {
                true => write_record(tx, &record),
                false => record::add_usage(tx, &record, &day_of(SystemTime::now())),
            })
            .await
            .map_err(ControlError::Store)
    }

    /// Count a finished call in the metrics and the quotas; its usage and
    /// audit are written by whoever calls this, with [`write_record`], in a
    /// transaction of their own.
    pub(crate) fn observe(&self, record: &CallRecord) {
        self.metrics.observe(record);
        if record.actor == crate::webhooks::WEBHOOK_ACTOR {
            return;
        }
        if let Some(counters) = lock(&self.counters).get_mut(&record.tenant)
            && let Some(fuel) = counters.fuel_today.as_mut()
        {
            *fuel += record.usage.fuel;
        }
    }
}

impl crate::control::ControlPlane {
    /// `tenant`'s usage per plugin and day.
    pub async fn usage(
        &self,
        principal: &crate::tenant::Principal,
        tenant: &str,
    ) -> Result<Vec<DailyUsage>, ControlError> {
        principal.require_tenant(tenant)?;
        let tenant = tenant.to_string();
        self.blocking(move |store| crate::tenant::rows_of(&*store.read()?, Table::Usage, &tenant))
            .await
    }
}
