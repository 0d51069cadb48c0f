//! The limits one call runs under, and the memory limiter that enforces the
//! memory limit.

use omnify_registry::RequestedLimits;
use serde::Serialize;
use std::time::Duration;

/// Everything a single call may use. The host takes the plugin's requested
/// limits and lowers each to the host's maximum ([`Limits::capped_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Fuel: roughly one unit per WebAssembly instruction.
    pub fuel: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for the whole call, host calls included.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Size of the call's result, in bytes.
    pub output_bytes: usize,
    /// Calls into the host (any capability).
    pub host_calls: u64,
    /// Outbound HTTP requests, each redirect counted.
    pub http_requests: u32,
    /// Size of one HTTP request or response body, in bytes.
    pub http_body_bytes: u64,
    /// Time for one HTTP exchange.
    #[serde(with = "millis")]
    pub http_timeout: Duration,
    /// Total size of the plugin's key-value entries in the tenant, in bytes.
    pub kv_total_bytes: u64,
    /// Length of one key, in bytes.
    pub kv_key_bytes: u32,
    /// Length of one value, in bytes.
    pub kv_value_bytes: u32,
    /// Keys and values one call may write before it returns (its commit),
    /// in bytes: a commit holds the store's one writer while it lasts.
    pub kv_call_bytes: u64,
    /// Log output kept per call (log lines, stdout and stderr), in bytes.
    pub log_bytes: usize,
}

impl Default for Limits {
    /// What a plugin gets when its manifest asks for nothing in particular.
    fn default() -> Self {
        Self {
            fuel: 2_000_000_000,
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
            output_bytes: 16 << 20,
            host_calls: 1_000_000,
            http_requests: 200,
            http_body_bytes: 16 << 20,
            http_timeout: Duration::from_secs(30),
            kv_total_bytes: 1 << 20,
            kv_key_bytes: 256,
            kv_value_bytes: 64 << 10,
            kv_call_bytes: 256 << 10,
            log_bytes: 64 << 10,
        }
    }
}

impl Limits {
    /// The most a host allows by default, whatever a plugin asks for.
    pub fn host_maximum() -> Self {
        Self {
            fuel: 50_000_000_000,
            memory_bytes: 256 << 20,
            timeout: Duration::from_secs(300),
            output_bytes: 64 << 20,
            host_calls: 10_000_000,
            http_requests: 5_000,
            http_body_bytes: 64 << 20,
            http_timeout: Duration::from_secs(120),
            kv_total_bytes: 64 << 20,
            kv_key_bytes: 1024,
            kv_value_bytes: 1 << 20,
            kv_call_bytes: 4 << 20,
            log_bytes: 1 << 20,
        }
    }

    /// The defaults with what a manifest asks for applied.
    pub fn requested(requested: &RequestedLimits) -> Self {
        let defaults = Self::default();
        Self {
            fuel: requested.fuel_per_call.unwrap_or(defaults.fuel),
            memory_bytes: requested
                .memory_mb
                .map_or(defaults.memory_bytes, |mb| (mb as usize).saturating_mul(1 << 20)),
            timeout: requested
                .timeout_ms
                .map_or(defaults.timeout, Duration::from_millis),
            ..defaults
        }
    }

    /// Each limit lowered to `maximum`'s.
    pub fn capped_by(&self, maximum: &Self) -> Self {
        Self {
            fuel: self.fuel.min(maximum.fuel),
            memory_bytes: self.memory_bytes.min(maximum.memory_bytes),
            timeout: self.timeout.min(maximum.timeout),
            output_bytes: self.output_bytes.min(maximum.output_bytes),
            host_calls: self.host_calls.min(maximum.host_calls),
            http_requests: self.http_requests.min(maximum.http_requests),
            http_body_bytes: self.http_body_bytes.min(maximum.http_body_bytes),
            http_timeout: self.http_timeout.min(maximum.http_timeout),
            kv_total_bytes: self.kv_total_bytes.min(maximum.kv_total_bytes),
            kv_key_bytes: self.kv_key_bytes.min(maximum.kv_key_bytes),
            kv_value_bytes: self.kv_value_bytes.min(maximum.kv_value_bytes),
            kv_call_bytes: self.kv_call_bytes.min(maximum.kv_call_bytes),
            log_bytes: self.log_bytes.min(maximum.log_bytes),
        }
    }
}

mod millis {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u128(duration.as_millis())
    }
}

/// Enforces the memory limit of one store and records its peak.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: usize,
    current: usize,
    pub(crate) peak: usize,
    /// The size a refused growth asked for, if one was refused.
    pub(crate) refused: Option<usize>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            current: 0,
            peak: 0,
            refused: None,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The limit applies to all memories of the instance together.
        let total = self.current - current.min(self.current) + desired;
        if total > self.limit {
            self.refused = Some(total);
            return Ok(false);
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn requested_limits_are_capped_by_the_host() {
        let requested = RequestedLimits {
            fuel_per_call: Some(u64::MAX),
            memory_mb: Some(4096),
            timeout_ms: Some(100),
        };
        let limits = Limits::requested(&requested).capped_by(&Limits::host_maximum());
        assert_eq!(limits.fuel, Limits::host_maximum().fuel);
        assert_eq!(limits.memory_bytes, Limits::host_maximum().memory_bytes);
        assert_eq!(limits.timeout, Duration::from_millis(100));
    }

    #[test]
    fn memory_limiter_refuses_growth_past_the_limit_and_tracks_the_peak() {
        let mut limiter = MemoryLimiter::new(10 << 16);
        assert!(limiter.memory_growing(0, 4 << 16, None).expect("grow"));
        assert!(limiter.memory_growing(4 << 16, 8 << 16, None).expect("grow"));
        assert!(!limiter.memory_growing(8 << 16, 12 << 16, None).expect("refuse"));
        assert_eq!(limiter.peak, 8 << 16);
        assert_eq!(limiter.refused, Some(12 << 16));
    }
}
