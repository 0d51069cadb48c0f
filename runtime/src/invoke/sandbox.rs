//! A call's store together with its pool slot. Dropping a store hands its
//! linear memory back to the pool: up to the size the pool resets in place
//! that is a short `memset` of the pages the call touched, done at once;
//! beyond it, a guest that grew its memory is given back with a system call
//! that would stall every call sharing the worker thread, so that store is
//! dropped on a blocking thread.

use crate::capability::HostState;
use std::ops::{Deref, DerefMut};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

/// A store and the slot it holds; the slot is freed only once the store is
/// gone, so the pool never holds more instances than it has slots.
pub(crate) struct Sandbox {
    held: Option<(Store<HostState>, OwnedSemaphorePermit)>,
}

impl Sandbox {
    /// Hold `store` in `slot`.
    pub(crate) fn new(store: Store<HostState>, slot: OwnedSemaphorePermit) -> Self {
        Self {
            held: Some((store, slot)),
        }
    }
}

impl Deref for Sandbox {
    type Target = Store<HostState>;

    fn deref(&self) -> &Self::Target {
        match &self.held {
            Some((store, _)) => store,
            None => unreachable!("a sandbox holds its store until dropped"),
        }
    }
}

impl DerefMut for Sandbox {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match &mut self.held {
            Some((store, _)) => store,
            None => unreachable!("a sandbox holds its store until dropped"),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        if held.0.data().memory.peak <= crate::engine::KEEP_RESIDENT_MEMORY {
            return drop(held);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop(held))),
            Err(_) => drop(held),
        }
    }
}
