//! Contract 1.1 (`wit/v1.1.0`), the newest: the bindings the host's
//! capabilities implement (every import, for both worlds), and the calls of
//! a 1.1 component's exports. Older versions adapt onto these types.
//!
//! The agent world imports everything the connector world imports, plus
//! `data`; it is generated first and the connector world reuses its import
//! modules, so every capability is implemented once for both worlds.

#![allow(missing_docs, clippy::all)]

use super::Ended;
use crate::capability::HostState;
use crate::invoke::{Call, CallOutput};
use wasmtime::Store;

/// The `agent` world, and every import interface of the contract.
pub mod agent {
    wasmtime::component::bindgen!({
        path: "../wit/v1.1.0",
        world: "omnify:plugin/agent@1.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The `connector` world.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit/v1.1.0",
        world: "omnify:plugin/connector@1.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "omnify:plugin/types": super::agent::omnify::plugin::types,
            "omnify:plugin/log": super::agent::omnify::plugin::log,
            "omnify:plugin/kv": super::agent::omnify::plugin::kv,
            "omnify:plugin/config": super::agent::omnify::plugin::config,
            "omnify:plugin/secrets": super::agent::omnify::plugin::secrets,
            "omnify:plugin/http": super::agent::omnify::plugin::http,
        },
    });
}

pub use agent::exports::omnify::plugin::agent_api;
pub use agent::omnify::plugin as imports;
pub use connector::exports::omnify::plugin::connector_api;

/// Instantiate a 1.1 connector in `store` and make `call`.
pub(super) async fn call_connector(
    pre: &connector::ConnectorPre<HostState>,
    store: &mut Store<HostState>,
    call: Call,
) -> Result<CallOutput, Ended> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let api = instance.omnify_plugin_connector_api();
    Ok(match call {
        Call::Spec => CallOutput::spec(api.call_spec(&mut *store).await?)?,
        Call::Check => {
            api.call_check(&mut *store).await??;
            CallOutput::Check
        }
        Call::Discover => CallOutput::discover(api.call_discover(&mut *store).await??)?,
        Call::Read(request) => CallOutput::read(api.call_read(&mut *store, &request.to_wit()).await??)?,
        Call::Actions => CallOutput::actions(api.call_actions(&mut *store).await?)?,
        Call::Act {
            name,
            input,
            idempotency_key,
        } => CallOutput::act(
            api.call_act(&mut *store, &name, &input.to_string(), &idempotency_key)
                .await??,
        )?,
        Call::Preview { name, input } => {
            CallOutput::preview(api.call_preview(&mut *store, &name, &input.to_string()).await??)?
        }
        Call::VerifyWebhook { headers, body } => {
            CallOutput::webhook(api.call_verify_webhook(&mut *store, &headers, &body).await??)?
        }
        Call::Describe | Call::Run(_) => return Err(Ended::WrongWorld),
    })
}

/// Instantiate a 1.1 agent in `store` and make `call`.
pub(super) async fn call_agent(
    pre: &agent::AgentPre<HostState>,
    store: &mut Store<HostState>,
    call: Call,
) -> Result<CallOutput, Ended> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let api = instance.omnify_plugin_agent_api();
    Ok(match call {
        Call::Describe => CallOutput::describe(api.call_describe(&mut *store).await?)?,
        Call::Run(task) => {
            let task = agent_api::Task {
                kind: task.kind,
                input: task.input.to_string(),
            };
            CallOutput::run(api.call_run(&mut *store, &task).await??)?
        }
        _ => return Err(Ended::WrongWorld),
    })
}
