//! The Omnify host runtime.
//!
//! Plugins are WebAssembly components written against the `omnify:plugin`
//! contract (`wit/`). The [`Runtime`] loads them ([`plugin`]), links the host
//! capabilities they import ([`capability`]), and runs each call in a fresh,
//! limited store ([`invoke`]). An invocation reads top to bottom:
//! [`Runtime::invoke`] → [`capability`] → usage and result.

pub mod api;
pub mod audit;
pub mod capability;
pub mod catalog;
pub mod cli;
pub mod console;
pub mod control;
mod dispatch;
pub mod enablement;
pub mod engine;
pub mod feed;
pub mod hosts;
pub mod invoke;
pub mod meter;
pub mod notify;
pub mod plugin;
pub mod proposals;
pub mod reports;
pub mod runtime;
pub mod scheduler;
mod schema;
pub mod store;
pub mod sync;
pub mod tenant;
pub mod vault;
pub mod webhooks;

pub use invoke::{
    Call, CallOutput, Grants, InvocationContext, InvokeError, InvokeErrorKind, Limits, Output, PluginError,
    Usage,
};
pub use plugin::{LoadError, LoadedPlugin};
pub use runtime::{Runtime, RuntimeConfig, RuntimeError};
