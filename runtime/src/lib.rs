//! The Omnify sandbox runtime.
//!
//! Plugins are WebAssembly components written against the `omnify:plugin`
//! contract (`wit/`). The [`Runtime`] loads them ([`plugin`]), links the host
//! capabilities they import ([`capability`]), and runs each call in a fresh,
//! limited store ([`invoke`]). An invocation reads top to bottom:
//! [`Runtime::invoke`] → [`capability`] → usage and result.
//!
//! The runtime knows nothing of tenants' keys, quotas or audit: the control
//! plane (`omnify-control`) decides whether a call may run and records it.
//! What the capabilities store goes through the traits of [`storage`].

pub mod capability;
pub mod engine;
pub mod invoke;
pub mod plugin;
pub mod runtime;
pub mod storage;

pub use invoke::{
    Call, CallOutput, Grants, InvocationContext, InvokeError, InvokeErrorKind, Limits, Output, PluginError,
    Usage,
};
pub use plugin::{LoadError, LoadedPlugin};
pub use runtime::{Runtime, RuntimeConfig, RuntimeError};
