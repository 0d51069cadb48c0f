//! Contract 1.1 (`wit/v1.1.0`), the newest: the bindings the host's
//! capabilities implement (every import, for both worlds), and the calls of
//! a 1.1 component's exports. Older versions adapt onto these types.
//!
//! The agent world imports everything the connector world imports, plus
//! `data`; it is generated first and the connector world reuses its import
//! modules, so every capability is implemented once for both worlds.

#![allow(missing_docs, clippy::all)]

use super::Ended;
use super::exports::{Api, ApiInterface};
use crate::invoke::{Call, CallOutput};

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

/// The 1.1 connector's API.
pub(super) static CONNECTOR_API: ApiInterface = ApiInterface {
    name: "omnify:plugin/connector-api@1.1.0",
    contract: "1.1",
    functions: &[
        "spec",
        "check",
        "discover",
        "read",
        "actions",
        "act",
        "preview",
        "verify-webhook",
    ],
};

/// The 1.1 agent's API.
pub(super) static AGENT_API: ApiInterface = ApiInterface {
    name: "omnify:plugin/agent-api@1.1.0",
    contract: "1.1",
    functions: &["describe", "run"],
};

/// Make `call` of a 1.1 connector.
pub(super) async fn call_connector(mut api: Api<'_>, call: Call) -> Result<CallOutput, Ended> {
    use connector_api::{ActionPreview, ActionSpec, Batch, PluginError, StreamSpec, WebhookEvent};
    Ok(match call {
        Call::Spec => CallOutput::spec(api.call::<(), String>("spec", ()).await?)?,
        Call::Check => {
            api.call::<(), Result<(), PluginError>>("check", ()).await??;
            CallOutput::Check
        }
        Call::Discover => CallOutput::discover(
            api.call::<(), Result<Vec<StreamSpec>, PluginError>>("discover", ())
                .await??,
        )?,
        Call::Read(request) => CallOutput::read(
            api.call::<_, Result<Batch, PluginError>>("read", (&request.to_wit(),))
                .await??,
        )?,
        Call::Actions => CallOutput::actions(api.call::<(), Vec<ActionSpec>>("actions", ()).await?)?,
        Call::Act {
            name,
            input,
            idempotency_key,
        } => CallOutput::act(
            api.call::<_, Result<String, PluginError>>(
                "act",
                (
                    name.as_str(),
                    input.to_string().as_str(),
                    idempotency_key.as_str(),
                ),
            )
            .await??,
        )?,
        Call::Preview { name, input } => CallOutput::preview(
            api.call::<_, Result<ActionPreview, PluginError>>(
                "preview",
                (name.as_str(), input.to_string().as_str()),
            )
            .await??,
        )?,
        Call::VerifyWebhook { headers, body } => CallOutput::webhook(
            api.call::<_, Result<Vec<WebhookEvent>, PluginError>>(
                "verify-webhook",
                (headers.as_slice(), body.as_slice()),
            )
            .await??,
        )?,
        Call::Describe | Call::Run(_) => return Err(Ended::WrongWorld),
    })
}

/// Make `call` of a 1.1 agent.
pub(super) async fn call_agent(mut api: Api<'_>, call: Call) -> Result<CallOutput, Ended> {
    use agent_api::{AgentInfo, PluginError, RunOutput, Task};
    Ok(match call {
        Call::Describe => CallOutput::describe(api.call::<(), AgentInfo>("describe", ()).await?)?,
        Call::Run(task) => {
            let task = Task {
                kind: task.kind,
                input: task.input.to_string(),
            };
            CallOutput::run(
                api.call::<_, Result<RunOutput, PluginError>>("run", (&task,))
                    .await??,
            )?
        }
        _ => return Err(Ended::WrongWorld),
    })
}
