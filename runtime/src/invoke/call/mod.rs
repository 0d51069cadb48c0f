//! What a caller asks a plugin to do ([`Call`]), what comes back
//! ([`CallOutput`], in [`output`]) and the errors a plugin returns
//! ([`PluginError`], in [`plugin_error`]), in the host's own types. The
//! generated bindings of the newest contract are converted here (older
//! versions are adapted onto them in `plugin::contract`), so the rest of the
//! host never sees a contract version.

mod output;
mod plugin_error;

pub use output::*;
pub use plugin_error::*;

use crate::plugin::contract::latest::connector_api as connector_wit;
use omnify_registry::PluginKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A call of one export of a plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Connector: the configuration's JSON Schema.
    Spec,
    /// Connector: check configuration and credentials.
    Check,
    /// Connector: list the streams.
    Discover,
    /// Connector: read the next batch of a stream.
    Read(ReadRequest),
    /// Connector: list the actions.
    Actions,
    /// Connector: perform an action.
    Act {
        /// The action's name.
        name: String,
        /// The action's input.
        input: Value,
        /// The same on every retry of the same action.
        idempotency_key: String,
    },
    /// Connector (contract 1.1): what an action would change, without
    /// performing it.
    Preview {
        /// The action's name.
        name: String,
        /// The action's input.
        input: Value,
    },
    /// Connector: verify a webhook delivery and decode its events.
    VerifyWebhook {
        /// The delivery's headers.
        headers: Vec<(String, String)>,
        /// The raw body.
        body: Vec<u8>,
    },
    /// Agent: describe itself.
    Describe,
    /// Agent: run a task.
    Run(Task),
}

/// Why a call could not be built from an export name and JSON input.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No export of that name.
    #[error(
        "unknown export `{0}`; connectors export spec, check, discover, read, actions, act, \
         preview and verify-webhook, agents export describe and run"
    )]
    UnknownExport(String),
    /// The input does not fit the export.
    #[error("input for `{export}`: {message}")]
    Input {
        /// The export.
        export: String,
        /// What is wrong.
        message: String,
    },
}

/// How a stream is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// Everything, every time.
    #[default]
    FullRefresh,
    /// What changed since the saved state.
    Incremental,
}

/// Input of [`Call::Read`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The stream.
    pub stream: String,
    /// The sync mode.
    #[serde(default)]
    pub mode: SyncMode,
    /// The state from the previous batch.
    #[serde(default)]
    pub state: Option<Value>,
    /// The most records wanted.
    #[serde(default = "default_batch_limit")]
    pub limit: u32,
}

fn default_batch_limit() -> u32 {
    500
}

/// Input of [`Call::Run`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// One of the agent's task kinds.
    pub kind: String,
    /// The task's input.
    #[serde(default)]
    pub input: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActInput {
    name: String,
    #[serde(default)]
    input: Value,
    idempotency_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewInput {
    name: String,
    #[serde(default)]
    input: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookInput {
    #[serde(default)]
    headers: Vec<(String, String)>,
    body: String,
}

impl Call {
    /// Build a call from an export's name and its JSON input (`null` for
    /// exports without input).
    pub fn from_json(export: &str, input: Value) -> Result<Self, CallError> {
        fn parse<T: serde::de::DeserializeOwned>(export: &str, input: Value) -> Result<T, CallError> {
            serde_json::from_value(input).map_err(|e| CallError::Input {
                export: export.to_string(),
                message: e.to_string(),
            })
        }
        Ok(match export {
            "spec" => Self::Spec,
            "check" => Self::Check,
            "discover" => Self::Discover,
            "actions" => Self::Actions,
            "describe" => Self::Describe,
            "read" => Self::Read(parse(export, input)?),
            "run" => Self::Run(parse(export, input)?),
            "act" => {
                let act: ActInput = parse(export, input)?;
                Self::Act {
                    name: act.name,
                    input: act.input,
                    idempotency_key: act.idempotency_key,
                }
            }
            "preview" => {
                let preview: PreviewInput = parse(export, input)?;
                Self::Preview {
                    name: preview.name,
                    input: preview.input,
                }
            }
            "verify-webhook" => {
                let hook: WebhookInput = parse(export, input)?;
                Self::VerifyWebhook {
                    headers: hook.headers,
                    body: hook.body.into_bytes(),
                }
            }
            other => return Err(CallError::UnknownExport(other.to_string())),
        })
    }

    /// The export's name in the contract.
    pub fn export_name(&self) -> &'static str {
        match self {
            Self::Spec => "spec",
            Self::Check => "check",
            Self::Discover => "discover",
            Self::Read(_) => "read",
            Self::Actions => "actions",
            Self::Act { .. } => "act",
            Self::Preview { .. } => "preview",
            Self::VerifyWebhook { .. } => "verify-webhook",
            Self::Describe => "describe",
            Self::Run(_) => "run",
        }
    }

    /// The world that has this export.
    pub fn world(&self) -> PluginKind {
        match self {
            Self::Describe | Self::Run(_) => PluginKind::Agent,
            _ => PluginKind::Connector,
        }
    }
}

impl ReadRequest {
    pub(crate) fn to_wit(&self) -> connector_wit::ReadRequest {
        connector_wit::ReadRequest {
            stream: self.stream.clone(),
            mode: match self.mode {
                SyncMode::FullRefresh => connector_wit::SyncMode::FullRefresh,
                SyncMode::Incremental => connector_wit::SyncMode::Incremental,
            },
            state: self.state.as_ref().map(Value::to_string),
            limit: self.limit,
        }
    }
}
