//! The errors a plugin returns, as the contract defines them, with their
//! messages bounded before the host keeps them.

use crate::plugin::contract::imports::types as types_wit;
use serde::Serialize;

/// The error a plugin returned, as the contract defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PluginError {
    /// The tenant's configuration is wrong.
    #[error("configuration error: {message}")]
    Config {
        /// The plugin's message.
        message: String,
    },
    /// The platform refused the credentials.
    #[error("authentication failed: {message}")]
    Auth {
        /// The plugin's message.
        message: String,
    },
    /// The platform asked to slow down.
    #[error("rate limited (retry after {retry_after_ms} ms): {message}")]
    RateLimited {
        /// How long to wait.
        retry_after_ms: u64,
        /// The platform's message.
        message: String,
    },
    /// Likely to pass on retry.
    #[error("transient failure: {message}")]
    Transient {
        /// The plugin's message.
        message: String,
    },
    /// The thing named does not exist.
    #[error("not found: {message}")]
    NotFound {
        /// The plugin's message.
        message: String,
    },
    /// The input was not acceptable.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// The plugin's message.
        message: String,
    },
    /// A bug or unexpected state in the plugin.
    #[error("plugin internal error: {message}")]
    Internal {
        /// The plugin's message.
        message: String,
    },
}

/// The longest plugin message the host keeps, in bytes: plugin errors end
/// up in logs, runs, proposals and the audit chain.
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// `message` cut to [`MAX_MESSAGE_BYTES`] (on a character boundary), saying
/// how much was cut.
pub fn bounded_message(mut message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = message.len() - end;
    message.truncate(end);
    message.push_str(&format!("… ({cut} more bytes cut by the host)"));
    message
}

impl PluginError {
    /// The same error with its message changed by `change`.
    pub(crate) fn map_message(self, change: impl FnOnce(String) -> String) -> Self {
        match self {
            Self::Config { message } => Self::Config {
                message: change(message),
            },
            Self::Auth { message } => Self::Auth {
                message: change(message),
            },
            Self::RateLimited {
                retry_after_ms,
                message,
            } => Self::RateLimited {
                retry_after_ms,
                message: change(message),
            },
            Self::Transient { message } => Self::Transient {
                message: change(message),
            },
            Self::NotFound { message } => Self::NotFound {
                message: change(message),
            },
            Self::InvalidInput { message } => Self::InvalidInput {
                message: change(message),
            },
            Self::Internal { message } => Self::Internal {
                message: change(message),
            },
        }
    }
}

impl From<types_wit::PluginError> for PluginError {
    fn from(error: types_wit::PluginError) -> Self {
        use types_wit::PluginError as W;
        let error = match error {
            W::Config(message) => Self::Config { message },
            W::Auth(message) => Self::Auth { message },
            W::RateLimited(limit) => Self::RateLimited {
                retry_after_ms: limit.retry_after_ms,
                message: limit.message,
            },
            W::Transient(message) => Self::Transient { message },
            W::NotFound(message) => Self::NotFound { message },
            W::InvalidInput(message) => Self::InvalidInput { message },
            W::Internal(message) => Self::Internal { message },
        };
        error.map_message(bounded_message)
    }
}
