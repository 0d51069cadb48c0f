//! Logging into the host's log, tagged with the tenant and plugin.
//!
//! ```no_run
//! omnify_sdk::log::info("starting a sync");
//! omnify_sdk::info!("read {} records", 42);
//! ```

use crate::host;

/// How severe a log line is.
pub use crate::bindings::imports::log::Level;

/// Log `message` at trace level.
pub fn trace(message: impl AsRef<str>) {
    host::log(Level::Trace, message.as_ref());
}

/// Log `message` at debug level.
pub fn debug(message: impl AsRef<str>) {
    host::log(Level::Debug, message.as_ref());
}

/// Log `message` at info level.
pub fn info(message: impl AsRef<str>) {
    host::log(Level::Info, message.as_ref());
}

/// Log `message` at warn level.
pub fn warn(message: impl AsRef<str>) {
    host::log(Level::Warn, message.as_ref());
}

/// Log `message` at error level.
pub fn error(message: impl AsRef<str>) {
    host::log(Level::Error, message.as_ref());
}

/// Log a formatted line at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(::std::format!($($arg)*)) };
}

/// Log a formatted line at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(::std::format!($($arg)*)) };
}

/// Log a formatted line at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(::std::format!($($arg)*)) };
}

/// Log a formatted line at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(::std::format!($($arg)*)) };
}
