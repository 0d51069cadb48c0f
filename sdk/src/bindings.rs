//! Bindings generated from the contract `omnify:plugin@1.1.0`, whose WIT files
//! this crate carries in `wit/` (a copy of the repository's `wit/v1.1.0`).
//!
//! The agent world imports everything the connector world imports, plus
//! `data`, so it is generated first and the connector world reuses its import
//! modules: both worlds then share one set of import types.

#![allow(missing_docs, clippy::all)]

/// Bindings of the `agent` world.
pub mod agent_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "omnify:plugin/agent@1.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_agent_world",
        default_bindings_module: "omnify_sdk::bindings::agent_world",
        runtime_path: "omnify_sdk::__private::wit_bindgen::rt",
    });
}

/// Bindings of the `connector` world.
pub mod connector_world {
    wit_bindgen::generate!({
        path: "wit",
        world: "omnify:plugin/connector@1.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "omnify_sdk::bindings::connector_world",
        runtime_path: "omnify_sdk::__private::wit_bindgen::rt",
        with: {
            "omnify:plugin/types@1.1.0": crate::bindings::agent_world::omnify::plugin::types,
            "omnify:plugin/log@1.1.0": crate::bindings::agent_world::omnify::plugin::log,
            "omnify:plugin/kv@1.1.0": crate::bindings::agent_world::omnify::plugin::kv,
            "omnify:plugin/config@1.1.0": crate::bindings::agent_world::omnify::plugin::config,
            "omnify:plugin/secrets@1.1.0": crate::bindings::agent_world::omnify::plugin::secrets,
            "omnify:plugin/http@1.1.0": crate::bindings::agent_world::omnify::plugin::http,
        },
    });
}

pub use agent_world::omnify::plugin as imports;
