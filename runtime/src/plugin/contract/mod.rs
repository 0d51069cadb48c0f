//! The contract versions this host runs, one module each (`v1_0`, `v1_1`):
//! each holds its version's bindings and the conversion of its types. The
//! host's capabilities and everything above them are written once, against
//! the newest ([`latest`]); an older component is adapted onto it here, so
//! that adding a version touches this folder and the detection table only.

pub mod v1_0;
pub mod v1_1;

pub use v1_1 as latest;
pub use v1_1::imports;

use crate::capability::HostState;
use crate::invoke::call::InvalidJson;
use crate::invoke::{Call, CallOutput, PluginError};
use omnify_registry::PluginKind;
use semver::Version;
use wasmtime::Store;
use wasmtime::component::InstancePre;

/// An export the component's contract version does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInContract {
    /// The export, for example `preview`.
    pub export: &'static str,
    /// The component's contract version, `major.minor`.
    pub contract: &'static str,
}

/// How a call ended before its result was checked.
pub(crate) enum Ended {
    Wasm(wasmtime::Error),
    Plugin(PluginError),
    InvalidOutput(InvalidJson),
    Deadline,
    WrongWorld,
    NotInContract(NotInContract),
}

impl From<wasmtime::Error> for Ended {
    fn from(error: wasmtime::Error) -> Self {
        Self::Wasm(error)
    }
}

impl From<imports::types::PluginError> for Ended {
    fn from(error: imports::types::PluginError) -> Self {
        Self::Plugin(error.into())
    }
}

impl From<InvalidJson> for Ended {
    fn from(error: InvalidJson) -> Self {
        Self::InvalidOutput(error)
    }
}

/// The instantiation recipe of a component, for its world and version.
pub(crate) enum PluginPre {
    ConnectorV1_1(v1_1::connector::ConnectorPre<HostState>),
    AgentV1_1(v1_1::agent::AgentPre<HostState>),
    ConnectorV1_0(v1_0::connector::ConnectorPre<HostState>),
    AgentV1_0(v1_0::agent::AgentPre<HostState>),
}

impl PluginPre {
    /// The recipe for a `kind` component of contract `contract` (a version
    /// detection accepted).
    pub(crate) fn new(
        kind: PluginKind,
        contract: &Version,
        pre: InstancePre<HostState>,
    ) -> wasmtime::Result<Self> {
        Ok(match (kind, contract.minor) {
            (PluginKind::Connector, 0) => Self::ConnectorV1_0(v1_0::connector::ConnectorPre::new(pre)?),
            (PluginKind::Agent, 0) => Self::AgentV1_0(v1_0::agent::AgentPre::new(pre)?),
            (PluginKind::Connector, _) => Self::ConnectorV1_1(v1_1::connector::ConnectorPre::new(pre)?),
            (PluginKind::Agent, _) => Self::AgentV1_1(v1_1::agent::AgentPre::new(pre)?),
        })
    }

    /// Instantiate the component in `store` and make `call`.
    pub(crate) async fn call(&self, store: &mut Store<HostState>, call: Call) -> Result<CallOutput, Ended> {
        match self {
            Self::ConnectorV1_1(pre) => v1_1::call_connector(pre, store, call).await,
            Self::AgentV1_1(pre) => v1_1::call_agent(pre, store, call).await,
            Self::ConnectorV1_0(pre) => v1_0::call_connector(pre, store, call).await,
            Self::AgentV1_0(pre) => v1_0::call_agent(pre, store, call).await,
        }
    }
}
