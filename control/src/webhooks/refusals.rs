//! Refused deliveries, summarised: each refusal is counted at once in the
//! metrics, but the audit chain gets at most one `webhook.refused` entry per
//! (tenant, connector) per summary interval, carrying the counts by reason
//! since the previous one, so a flood of forged deliveries cannot grow the
//! chain without bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefusalReason {
    /// The connector refused its signature (401).
    BadSignature,
    /// The connector found it malformed (422).
    Invalid,
    /// The connector failed on it (a trap, fuel, the deadline).
    Failed,
    /// Over the rate limit (429).
    RateLimited,
    /// Over the concurrency cap (429).
    Concurrency,
    /// Its body is over the cap (413).
    TooLarge,
    /// Its body did not arrive in time, or not whole.
    BodyUnreadable,
}

impl RefusalReason {
    /// The reason's name in metrics and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::Invalid => "invalid",
            Self::Failed => "failed",
            Self::RateLimited => "rate_limited",
            Self::Concurrency => "concurrency",
            Self::TooLarge => "too_large",
            Self::BodyUnreadable => "body_unreadable",
        }
    }
}

/// The refusals of one connector of one tenant to put in one audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// The tenant.
    pub tenant: String,
    /// The connector.
    pub connector: String,
    /// Refusals by reason.
    pub counts: BTreeMap<&'static str, u64>,
    /// When the first of them happened, RFC 3339.
    pub since: String,
}

#[derive(Debug, Default)]
struct Pending {
    counts: BTreeMap<&'static str, u64>,
    since: String,
    last_summary: Option<Instant>,
}

impl Pending {
    fn due(&self, now: Instant, interval: Duration) -> bool {
        !self.counts.is_empty()
            && self
                .last_summary
                .is_none_or(|last| now.saturating_duration_since(last) >= interval)
    }

    fn take(&mut self, key: &(String, String), now: Instant) -> Summary {
        self.last_summary = Some(now);
        Summary {
            tenant: key.0.clone(),
            connector: key.1.clone(),
            counts: std::mem::take(&mut self.counts),
            since: std::mem::take(&mut self.since),
        }
    }
}

/// The refusals not yet summarised in the audit chain, per (tenant,
/// connector). Only existing endpoints are counted, so the map is bounded by
/// the enablements; entries summarised long ago are dropped.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    pending: Mutex<HashMap<(String, String), Pending>>,
}

impl RefusalLog {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Pending>> {
        // Counting is a few map writes; a poisoned lock still holds sound
        // counts.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Count a refusal; returns the summary to write when one is due (the
    /// first refusal after a quiet interval is written at once).
    pub(crate) fn note(
        &self,
        tenant: &str,
        connector: &str,
        reason: RefusalReason,
        interval: Duration,
    ) -> Option<Summary> {
        let now = Instant::now();
        let key = (tenant.to_string(), connector.to_string());
        let mut pending = self.lock();
        let entry = pending.entry(key.clone()).or_default();
        if entry.counts.is_empty() {
            entry.since = crate::audit::now();
        }
        *entry.counts.entry(reason.as_str()).or_default() += 1;
        entry.due(now, interval).then(|| entry.take(&key, now))
    }

    /// The summaries due after `interval`, or every pending one when `all`.
    pub(crate) fn due(&self, interval: Duration, all: bool) -> Vec<Summary> {
        let now = Instant::now();
        let mut pending = self.lock();
        // Nothing pending and quiet for long: forget the endpoint.
        pending.retain(|_, entry| {
            !entry.counts.is_empty()
                || entry
                    .last_summary
                    .is_some_and(|last| now.saturating_duration_since(last) < interval * 2)
        });
        pending
            .iter_mut()
            .filter(|(_, entry)| !entry.counts.is_empty() && (all || entry.due(now, interval)))
            .map(|(key, entry)| entry.take(key, now))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_summary_per_interval_carries_every_count() {
        let log = RefusalLog::default();
        let minute = Duration::from_secs(60);
        let first = log
            .note("t", "c", RefusalReason::BadSignature, minute)
            .expect("the first refusal is summarised at once");
        assert_eq!(first.counts.get("bad_signature"), Some(&1));
        for _ in 0..10 {
            assert!(log.note("t", "c", RefusalReason::RateLimited, minute).is_none());
        }
        assert!(log.note("t", "c", RefusalReason::TooLarge, minute).is_none());
        assert!(log.due(minute, false).is_empty());
        let rest = log.due(minute, true);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].counts.get("rate_limited"), Some(&10));
        assert_eq!(rest[0].counts.get("too_large"), Some(&1));
        assert!(log.due(minute, true).is_empty());
    }

    #[test]
    fn a_zero_interval_summarises_each_refusal() {
        let log = RefusalLog::default();
        for _ in 0..3 {
            assert!(
                log.note("t", "c", RefusalReason::Invalid, Duration::ZERO)
                    .is_some()
            );
        }
    }
}
