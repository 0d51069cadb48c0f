//! The seam between the SDK's capability modules and what serves them.
//!
//! Inside a component (`wasm32`) every call goes to the Omnify host through
//! the generated bindings. In a native build (a plugin's unit tests) it goes
//! to the [`crate::testing::Harness`] running on the current thread, and
//! without one it panics with a message saying so: an ordinary panic that
//! fails only the calling test.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;
#[cfg(target_arch = "wasm32")]
mod wasm;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::*;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

pub(crate) use crate::bindings::imports::data::{DataError, Page, StreamRef};
pub(crate) use crate::bindings::imports::http::{Header, HttpError, Request, Response};
pub(crate) use crate::bindings::imports::kv::KvError;
pub(crate) use crate::bindings::imports::log::Level;
pub(crate) use crate::bindings::imports::secrets::SecretError;
