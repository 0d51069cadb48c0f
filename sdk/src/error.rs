//! The error type every plugin export returns.

use crate::bindings::imports::types::{PluginError, RateLimit};
use std::fmt;

/// Why a plugin call failed. The host acts on the kind: it retries
/// [`Error::Transient`], waits on [`Error::RateLimited`], and fails a sync at
/// once on [`Error::Config`] and [`Error::Auth`].
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The tenant's configuration is wrong or incomplete.
    Config(String),
    /// The platform refused the credentials.
    Auth(String),
    /// The platform asked to slow down; retry after `retry_after_ms`.
    RateLimited {
        /// Milliseconds to wait before the next attempt.
        retry_after_ms: u64,
        /// The platform's message.
        message: String,
    },
    /// A failure likely to pass on retry.
    Transient(String),
    /// The stream, action or object does not exist.
    NotFound(String),
    /// The input given to the export is not acceptable.
    InvalidInput(String),
    /// A bug or an unexpected state inside the plugin.
    Internal(String),
}

/// `Result` with [`Error`] as its error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Config`] from anything printable.
    pub fn config(message: impl fmt::Display) -> Self {
        Self::Config(message.to_string())
    }

    /// An [`Error::InvalidInput`] from anything printable.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Self::InvalidInput(message.to_string())
    }

    /// An [`Error::Internal`] from anything printable.
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::Internal(message.to_string())
    }

    /// An [`Error::Transient`] from anything printable.
    pub fn transient(message: impl fmt::Display) -> Self {
        Self::Transient(message.to_string())
    }

    /// An [`Error::NotFound`] from anything printable.
    pub fn not_found(message: impl fmt::Display) -> Self {
        Self::NotFound(message.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration error: {m}"),
            Self::Auth(m) => write!(f, "authentication failed: {m}"),
            Self::RateLimited {
                retry_after_ms,
                message,
            } => write!(f, "rate limited, retry after {retry_after_ms} ms: {message}"),
            Self::Transient(m) => write!(f, "transient failure: {m}"),
            Self::NotFound(m) => write!(f, "not found: {m}"),
            Self::InvalidInput(m) => write!(f, "invalid input: {m}"),
            Self::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::Internal(format!("JSON: {error}"))
    }
}

impl From<Error> for PluginError {
    fn from(error: Error) -> Self {
        match error {
            Error::Config(m) => PluginError::Config(m),
            Error::Auth(m) => PluginError::Auth(m),
            Error::RateLimited {
                retry_after_ms,
                message,
            } => PluginError::RateLimited(RateLimit {
                retry_after_ms,
                message,
            }),
            Error::Transient(m) => PluginError::Transient(m),
            Error::NotFound(m) => PluginError::NotFound(m),
            Error::InvalidInput(m) => PluginError::InvalidInput(m),
            Error::Internal(m) => PluginError::Internal(m),
        }
    }
}
