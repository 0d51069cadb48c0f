//! The budget of webhook deliveries per (tenant, connector): a token bucket
//! for the rate and a cap on deliveries in flight, both checked before a
//! body is read or a sandbox started, and independent of the tenant's own
//! quotas (a flood of forged deliveries cannot lock the tenant's calls out).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

/// The host's limits on webhook deliveries, each per (tenant, connector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookLimits {
    /// Deliveries admitted per minute, on average (the bucket's refill).
    pub per_minute: u32,
    /// Deliveries admitted at once after a quiet spell (the bucket's size).
    pub burst: u32,
    /// Deliveries verified at the same time.
    pub concurrent: u32,
    /// The largest body, in bytes; a larger one is refused unread.
    pub max_body_bytes: usize,
    /// How long reading a body may take.
    pub body_timeout: Duration,
    /// The least time between two `webhook.refused` audit summaries of one
    /// connector of one tenant.
    pub summary_interval: Duration,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        Self {
            per_minute: 600,
            burst: 100,
            concurrent: 8,
            max_body_bytes: 256 * 1024,
            body_timeout: Duration::from_secs(10),
            summary_interval: Duration::from_secs(60),
        }
    }
}

/// Why the budget refused a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    /// The bucket is empty; a token is back after the duration.
    Rate(Duration),
    /// As many deliveries as allowed are being verified.
    Concurrency,
}

type Key = (String, String);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    running: u32,
}

impl Bucket {
    fn full(limits: &WebhookLimits, now: Instant) -> Self {
        Self {
            tokens: f64::from(limits.burst),
            refilled: now,
            running: 0,
        }
    }

    fn refill(&mut self, limits: &WebhookLimits, now: Instant) {
        let rate = f64::from(limits.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(limits.burst));
        self.refilled = now;
    }

    /// How long until one token is back.
    fn wait(&self, limits: &WebhookLimits) -> Duration {
        if limits.per_minute == 0 || limits.burst == 0 {
            return Duration::from_secs(60);
        }
        let rate = f64::from(limits.per_minute) / 60.0;
        Duration::from_secs_f64(((1.0 - self.tokens) / rate).max(0.0))
    }

    fn idle(&self, limits: &WebhookLimits) -> bool {
        self.running == 0 && self.tokens >= f64::from(limits.burst)
    }
}

type Buckets = Arc<Mutex<HashMap<Key, Bucket>>>;

fn lock(buckets: &Buckets) -> MutexGuard<'_, HashMap<Key, Bucket>> {
    // Each update is a few number writes; a poisoned lock still holds sound
    // buckets.
    buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Buckets kept before idle ones are dropped.
const PRUNE_ABOVE: usize = 4096;

/// The limits and one bucket per (tenant, connector) that received
/// deliveries. Only existing endpoints get a bucket, so their number is
/// bounded by the enablements, and idle buckets are dropped.
#[derive(Debug, Default)]
pub(crate) struct WebhookGate {
    limits: RwLock<WebhookLimits>,
    buckets: Buckets,
}

/// A delivery admitted by the budget; dropping it ends its share of the
/// concurrency cap.
#[derive(Debug)]
pub struct WebhookPermit {
    buckets: Buckets,
    key: Key,
}

impl WebhookPermit {
    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.key.0
    }

    /// The connector.
    pub fn connector(&self) -> &str {
        &self.key.1
    }
}

impl Drop for WebhookPermit {
    fn drop(&mut self) {
        if let Some(bucket) = lock(&self.buckets).get_mut(&self.key) {
            bucket.running = bucket.running.saturating_sub(1);
        }
    }
}

impl WebhookGate {
    /// The limits in force.
    pub(crate) fn limits(&self) -> WebhookLimits {
        *self
            .limits
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replace the limits; buckets keep their tokens up to the new size.
    pub(crate) fn set_limits(&self, limits: WebhookLimits) {
        *self
            .limits
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = limits;
    }

    /// Take a token and a concurrency slot of (`tenant`, `connector`), or
    /// say which is used up. A refused delivery takes nothing.
    pub(crate) fn admit(&self, tenant: &str, connector: &str) -> Result<WebhookPermit, Exhausted> {
        let limits = self.limits();
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, bucket| {
                bucket.refill(&limits, now);
                !bucket.idle(&limits)
            });
        }
        let key = (tenant.to_string(), connector.to_string());
        let bucket = buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(&limits, now));
        bucket.refill(&limits, now);
        if bucket.running >= limits.concurrent {
            return Err(Exhausted::Concurrency);
        }
        if bucket.tokens < 1.0 {
            return Err(Exhausted::Rate(bucket.wait(&limits)));
        }
        bucket.tokens -= 1.0;
        bucket.running += 1;
        Ok(WebhookPermit {
            buckets: self.buckets.clone(),
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(per_minute: u32, burst: u32, concurrent: u32) -> WebhookGate {
        let gate = WebhookGate::default();
        gate.set_limits(WebhookLimits {
            per_minute,
            burst,
            concurrent,
            ..WebhookLimits::default()
        });
        gate
    }

    #[test]
    fn a_burst_is_admitted_then_the_rate_holds() {
        let gate = gate(60, 3, 100);
        let permits: Vec<_> = (0..3).map(|_| gate.admit("t", "c").expect("admitted")).collect();
        match gate.admit("t", "c") {
            Err(Exhausted::Rate(wait)) => assert!(wait <= Duration::from_secs(1), "{wait:?}"),
            other => panic!("{other:?}"),
        }
        // Another connector has a bucket of its own.
        assert!(gate.admit("t", "other").is_ok());
        drop(permits);
    }

    #[test]
    fn concurrency_is_capped_and_freed_on_drop() {
        let gate = gate(6000, 100, 2);
        let first = gate.admit("t", "c").expect("first");
        let _second = gate.admit("t", "c").expect("second");
        assert_eq!(gate.admit("t", "c").err(), Some(Exhausted::Concurrency));
        drop(first);
        assert!(gate.admit("t", "c").is_ok());
    }

    #[test]
    fn a_zero_rate_refuses_everything() {
        let gate = gate(0, 0, 8);
        assert_eq!(
            gate.admit("t", "c").err(),
            Some(Exhausted::Rate(Duration::from_secs(60)))
        );
    }
}
