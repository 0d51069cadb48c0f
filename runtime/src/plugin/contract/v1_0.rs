//! Contract 1.0 (`wit/v1.0.0`), adapted onto the newest. Its imports are the
//! same interfaces as 1.1's, so the linker serves them with the newest
//! capabilities (wasmtime resolves `…@1.0.0` imports to the `…@1.1.0`
//! definitions) and they are not generated again here. Only the exports
//! differ: a 1.0 connector has no `preview`. An export whose types did not
//! change is called by the newest's code; the others convert their input
//! to 1.0 types and their result to the newest types, and nothing else in
//! the host knows that 1.0 exists.

#![allow(missing_docs, clippy::all)]

use super::Ended;
use super::exports::{Api, ApiInterface};
use super::v1_1::{agent_api as latest_agent, connector_api as latest_connector};
use crate::invoke::{Call, CallOutput};

/// The 1.0 `agent` world; its imports are the newest ones.
pub mod agent {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "omnify:plugin/agent@1.0.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "omnify:plugin/types": crate::plugin::contract::v1_1::imports::types,
            "omnify:plugin/log": crate::plugin::contract::v1_1::imports::log,
            "omnify:plugin/kv": crate::plugin::contract::v1_1::imports::kv,
            "omnify:plugin/config": crate::plugin::contract::v1_1::imports::config,
            "omnify:plugin/secrets": crate::plugin::contract::v1_1::imports::secrets,
            "omnify:plugin/http": crate::plugin::contract::v1_1::imports::http,
            "omnify:plugin/data": crate::plugin::contract::v1_1::imports::data,
        },
    });
}

/// The 1.0 `connector` world; its imports are the newest ones.
pub mod connector {
    wasmtime::component::bindgen!({
        path: "../wit/v1.0.0",
        world: "omnify:plugin/connector@1.0.0",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "omnify:plugin/types": crate::plugin::contract::v1_1::imports::types,
            "omnify:plugin/log": crate::plugin::contract::v1_1::imports::log,
            "omnify:plugin/kv": crate::plugin::contract::v1_1::imports::kv,
            "omnify:plugin/config": crate::plugin::contract::v1_1::imports::config,
            "omnify:plugin/secrets": crate::plugin::contract::v1_1::imports::secrets,
            "omnify:plugin/http": crate::plugin::contract::v1_1::imports::http,
        },
    });
}

use agent::exports::omnify::plugin::agent_api as old_agent;
use connector::exports::omnify::plugin::connector_api as old_connector;

/// The 1.0 connector's API: 1.1's without `preview`.
pub(super) static CONNECTOR_API: ApiInterface = ApiInterface {
    name: "omnify:plugin/connector-api@1.0.0",
    contract: "1.0",
    functions: &[
        "spec",
        "check",
        "discover",
        "read",
        "actions",
        "act",
        "verify-webhook",
    ],
};

/// The 1.0 agent's API.
pub(super) static AGENT_API: ApiInterface = ApiInterface {
    name: "omnify:plugin/agent-api@1.0.0",
    contract: "1.0",
    functions: &["describe", "run"],
};

/// Make `call` of a 1.0 connector, converting to and from the newest types.
pub(super) async fn call_connector(mut api: Api<'_>, call: Call) -> Result<CallOutput, Ended> {
    use old_connector::{ActionSpec, Batch, PluginError, StreamSpec, WebhookEvent};
    Ok(match call {
        // The same types in both versions: the newest's calls serve them.
        Call::Spec | Call::Check | Call::Act { .. } => return super::v1_1::call_connector(api, call).await,
        Call::Discover => {
            let streams = api
                .call::<(), Result<Vec<StreamSpec>, PluginError>>("discover", ())
                .await??;
            CallOutput::discover(streams.into_iter().map(stream_spec).collect())?
        }
        Call::Read(request) => {
            let batch = api
                .call::<_, Result<Batch, PluginError>>("read", (&read_request(request.to_wit()),))
                .await??;
            CallOutput::read(latest_connector::Batch {
                records: batch.records,
                state: batch.state,
                has_more: batch.has_more,
            })?
        }
        Call::Actions => {
            let actions = api.call::<(), Vec<ActionSpec>>("actions", ()).await?;
            CallOutput::actions(
                actions
                    .into_iter()
                    .map(|a| latest_connector::ActionSpec {
                        name: a.name,
                        description: a.description,
                        input_schema: a.input_schema,
                    })
                    .collect(),
            )?
        }
        Call::VerifyWebhook { headers, body } => {
            let events = api
                .call::<_, Result<Vec<WebhookEvent>, PluginError>>(
                    "verify-webhook",
                    (headers.as_slice(), body.as_slice()),
                )
                .await??;
            CallOutput::webhook(
                events
                    .into_iter()
                    .map(|e| latest_connector::WebhookEvent {
                        kind: e.kind,
                        payload: e.payload,
                    })
                    .collect(),
            )?
        }
        // `preview` is not in 1.0: `PluginPre::call` refused it before
        // instantiating.
        Call::Preview { .. } | Call::Describe | Call::Run(_) => return Err(Ended::WrongWorld),
    })
}

/// Make `call` of a 1.0 agent.
pub(super) async fn call_agent(mut api: Api<'_>, call: Call) -> Result<CallOutput, Ended> {
    use old_agent::{AgentInfo, PluginError, RunOutput, Task};
    Ok(match call {
        Call::Describe => {
            let info = api.call::<(), AgentInfo>("describe", ()).await?;
            CallOutput::describe(latest_agent::AgentInfo {
                name: info.name,
                description: info.description,
                tasks: info
                    .tasks
                    .into_iter()
                    .map(|t| latest_agent::TaskSpec {
                        kind: t.kind,
                        description: t.description,
                        input_schema: t.input_schema,
                    })
                    .collect(),
            })?
        }
        Call::Run(task) => {
            let task = Task {
                kind: task.kind,
                input: task.input.to_string(),
            };
            let output = api
                .call::<_, Result<RunOutput, PluginError>>("run", (&task,))
                .await??;
            CallOutput::run(run_output(output))?
        }
        _ => return Err(Ended::WrongWorld),
    })
}

fn sync_mode(mode: old_connector::SyncMode) -> latest_connector::SyncMode {
    match mode {
        old_connector::SyncMode::FullRefresh => latest_connector::SyncMode::FullRefresh,
        old_connector::SyncMode::Incremental => latest_connector::SyncMode::Incremental,
    }
}

fn stream_spec(spec: old_connector::StreamSpec) -> latest_connector::StreamSpec {
    latest_connector::StreamSpec {
        name: spec.name,
        json_schema: spec.json_schema,
        primary_key: spec.primary_key,
        cursor_field: spec.cursor_field,
        sync_modes: spec.sync_modes.into_iter().map(sync_mode).collect(),
    }
}

fn read_request(request: latest_connector::ReadRequest) -> old_connector::ReadRequest {
    old_connector::ReadRequest {
        stream: request.stream,
        mode: match request.mode {
            latest_connector::SyncMode::FullRefresh => old_connector::SyncMode::FullRefresh,
            latest_connector::SyncMode::Incremental => old_connector::SyncMode::Incremental,
        },
        state: request.state,
        limit: request.limit,
    }
}

fn run_output(output: old_agent::RunOutput) -> latest_agent::RunOutput {
    latest_agent::RunOutput {
        insights: output
            .insights
            .into_iter()
            .map(|i| latest_agent::Insight {
                kind: i.kind,
                title: i.title,
                severity: match i.severity {
                    old_agent::Severity::Info => latest_agent::Severity::Info,
                    old_agent::Severity::Notice => latest_agent::Severity::Notice,
                    old_agent::Severity::Warning => latest_agent::Severity::Warning,
                    old_agent::Severity::Critical => latest_agent::Severity::Critical,
                },
                rationale: i.rationale,
                data: i.data,
            })
            .collect(),
        proposals: output
            .proposals
            .into_iter()
            .map(|p| latest_agent::Proposal {
                connector: p.connector,
                action: p.action,
                input: p.input,
                confidence: p.confidence,
                expected_impact: latest_agent::Impact {
                    metric: p.expected_impact.metric,
                    absolute: p.expected_impact.absolute,
                    percent: p.expected_impact.percent,
                },
                rationale: p.rationale,
            })
            .collect(),
    }
}
