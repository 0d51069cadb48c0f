//! Why a call failed, always with the usage it had consumed.

use super::call::PluginError;
use super::usage::{LogLine, Usage};
use omnify_registry::PluginKind;
use serde::Serialize;
use std::time::Duration;

/// A failed call: what went wrong, what it used until then, and what it
/// logged.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct InvokeError {
    /// What went wrong.
    pub kind: InvokeErrorKind,
    /// What the call used before it failed.
    pub usage: Usage,
    /// What the plugin logged before it failed.
    pub logs: Vec<LogLine>,
}

/// What went wrong in a call. The limit cases name the limit that was hit.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum InvokeErrorKind {
    /// The plugin returned one of the contract's errors.
    #[error(transparent)]
    Plugin(PluginError),
    /// The fuel budget ran out (for example an endless loop).
    #[error("fuel limit reached: the call used all {limit} units of fuel it was allowed")]
    OutOfFuel {
        /// The budget.
        limit: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("deadline exceeded: the call ran longer than its limit of {} ms", limit.as_millis())]
    Deadline {
        /// The deadline.
        #[serde(serialize_with = "millis")]
        limit: Duration,
    },
    /// The plugin tried to grow its memory past the limit.
    #[error("memory limit reached: the plugin asked for {requested} bytes of memory; its limit is {limit}")]
    Memory {
        /// The size asked for.
        requested: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin's call stack overflowed (for example endless recursion).
    #[error("stack overflow: the plugin recursed too deeply")]
    StackOverflow,
    /// The result was larger than allowed.
    #[error("result too large: {size} bytes, over the limit of {limit}")]
    OutputTooLarge {
        /// The result's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The plugin called into the host more often than allowed.
    #[error("host call limit reached: more than {limit} calls into the host")]
    HostCallLimit {
        /// The limit.
        limit: u64,
    },
    /// The plugin panicked.
    #[error("the plugin panicked: {message}")]
    Panic {
        /// The panic message, from the plugin's stderr.
        message: String,
    },
    /// The plugin trapped for another reason.
    #[error("the plugin trapped: {message}")]
    Trap {
        /// The trap's description.
        message: String,
    },
    /// The plugin returned a value the contract does not allow.
    #[error("invalid result: {message}")]
    InvalidOutput {
        /// What is wrong.
        message: String,
    },
    /// The export called is not in the plugin's world.
    #[error("`{export}` is not an export of a {kind} plugin")]
    WrongWorld {
        /// The export called.
        export: &'static str,
        /// The plugin's world.
        kind: PluginKind,
    },
    /// The export is newer than the contract version the plugin was built
    /// against (a 1.0 connector has no `preview`).
    #[error("`{export}` is not in contract {contract}, which this plugin was built against")]
    NotInContract {
        /// The export called.
        export: &'static str,
        /// The plugin's contract version, `major.minor`.
        contract: &'static str,
    },
    /// The host could not set up or run the instance.
    #[error("host error: {message}")]
    Host {
        /// What failed.
        message: String,
    },
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(duration.as_millis())
}

impl InvokeErrorKind {
    /// The same error with the call's secret values masked in what the
    /// plugin said (its error message, its panic message).
    pub(crate) fn redacted(self, redactor: &super::Redactor) -> Self {
        match self {
            Self::Plugin(error) => Self::Plugin(error.map_message(|m| redactor.redact(m))),
            Self::Panic { message } => Self::Panic {
                message: redactor.redact(message),
            },
            other => other,
        }
    }

    /// A short stable name for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Plugin(_) => "plugin",
            Self::OutOfFuel { .. } => "fuel",
            Self::Deadline { .. } => "deadline",
            Self::Memory { .. } => "memory",
            Self::StackOverflow => "stack-overflow",
            Self::OutputTooLarge { .. } => "output-too-large",
            Self::HostCallLimit { .. } => "host-call-limit",
            Self::Panic { .. } => "panic",
            Self::Trap { .. } => "trap",
            Self::InvalidOutput { .. } => "invalid-output",
            Self::WrongWorld { .. } => "wrong-world",
            Self::NotInContract { .. } => "not-in-contract",
            Self::Host { .. } => "host",
        }
    }
}
