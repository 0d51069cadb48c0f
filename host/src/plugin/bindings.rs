//! Host bindings generated from the contract in `wit/v1.0.0`.
//!
//! The agent world imports everything the connector world imports, plus
//! `data`; it is generated first and the connector world reuses its import
//! modules, so every capability is implemented once for both worlds.

#![allow(missing_docs, clippy::all)]

/// The `agent` world, and every import interface of the contract.
pub mod agent {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "omnify:plugin/agent@1.0.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `connector` world.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "omnify:plugin/connector@1.0.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "omnify:plugin/types": crate::plugin::bindings::agent::omnify::plugin::types,
            "omnify:plugin/log": crate::plugin::bindings::agent::omnify::plugin::log,
            "omnify:plugin/kv": crate::plugin::bindings::agent::omnify::plugin::kv,
            "omnify:plugin/config": crate::plugin::bindings::agent::omnify::plugin::config,
            "omnify:plugin/secrets": crate::plugin::bindings::agent::omnify::plugin::secrets,
            "omnify:plugin/http": crate::plugin::bindings::agent::omnify::plugin::http,
        },
    });
}

pub use agent::omnify::plugin as imports;
