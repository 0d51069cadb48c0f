//! What a call used, and what it logged.

use serde::Serialize;
use std::time::Duration;

/// Resources one call consumed, reported with its result or its error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time from the start of instantiation to the result
    /// (serialized in microseconds).
    #[serde(rename = "wall_time_us", serialize_with = "micros")]
    pub wall_time: Duration,
    /// The largest the plugin's linear memory grew, in bytes.
    pub peak_memory_bytes: u64,
    /// Calls into the host, all capabilities together.
    pub host_calls: u64,
    /// Outbound HTTP requests, redirects included.
    pub http_requests: u32,
    /// HTTP request bodies sent, in bytes.
    pub http_bytes_sent: u64,
    /// HTTP response bodies received, in bytes.
    pub http_bytes_received: u64,
    /// Calls to a capability that were refused (not granted, not declared).
    pub denied_calls: u32,
    /// Log output dropped because the call's log cap was reached, in bytes.
    pub log_bytes_dropped: u64,
    /// Time the call waited while its tenant ran more than its share of the
    /// host's cores (serialized in microseconds).
    #[serde(rename = "cpu_wait_us", serialize_with = "micros")]
    pub cpu_wait: Duration,
}

fn micros<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_micros())
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Detailed.
    Debug,
    /// Normal.
    Info,
    /// Something odd.
    Warn,
    /// Something failed.
    Error,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The `log` capability.
    Log,
    /// The guest's standard output.
    Stdout,
    /// The guest's standard error.
    Stderr,
}

/// One line a plugin logged during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// Where it came from.
    pub source: LogSource,
    /// The text.
    pub message: String,
}
