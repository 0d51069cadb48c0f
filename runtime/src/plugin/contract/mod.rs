//! The contract versions this host runs, one module each (`v1_0`, `v1_1`):
//! each holds its version's bindings and the conversion of its types. The
//! host's capabilities and everything above them are written once, against
//! the newest ([`latest`]); an older component is adapted onto it here, so
//! that adding a version touches this folder and the detection table only.

mod exports;
pub mod v1_0;
pub mod v1_1;

pub use v1_1 as latest;
pub use v1_1::imports;

use crate::capability::HostState;
use crate::invoke::call::InvalidJson;
use crate::invoke::{Call, CallOutput, PluginError};
use exports::{Api, ApiExports};
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

/// The instantiation recipe of a component, and where its API is, for its
/// world and version.
pub(crate) struct PluginPre {
    pre: InstancePre<HostState>,
    exports: ApiExports,
    world: WorldVersion,
}

/// A world in one contract version.
#[derive(Clone, Copy)]
enum WorldVersion {
    ConnectorV1_1,
    AgentV1_1,
    ConnectorV1_0,
    AgentV1_0,
}

impl PluginPre {
    /// The recipe for a `kind` component of contract `contract` (a version
    /// detection accepted).
    pub(crate) fn new(
        kind: PluginKind,
        contract: &Version,
        pre: InstancePre<HostState>,
    ) -> wasmtime::Result<Self> {
        let (world, api) = match (kind, contract.minor) {
            (PluginKind::Connector, 0) => (WorldVersion::ConnectorV1_0, &v1_0::CONNECTOR_API),
            (PluginKind::Agent, 0) => (WorldVersion::AgentV1_0, &v1_0::AGENT_API),
            (PluginKind::Connector, _) => (WorldVersion::ConnectorV1_1, &v1_1::CONNECTOR_API),
            (PluginKind::Agent, _) => (WorldVersion::AgentV1_1, &v1_1::AGENT_API),
        };
        let exports = ApiExports::find(&pre, api)?;
        Ok(Self { pre, exports, world })
    }

    /// Instantiate the component in `store` and make `call`; an export
    /// its contract version does not have is refused first.
    pub(crate) async fn call(&self, store: &mut Store<HostState>, call: Call) -> Result<CallOutput, Ended> {
        if let Some(missing) = self.exports.lacks(call.export_name()) {
            return Err(Ended::NotInContract(missing));
        }
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let api = Api {
            exports: &self.exports,
            instance,
            store,
        };
        match self.world {
            WorldVersion::ConnectorV1_1 => v1_1::call_connector(api, call).await,
            WorldVersion::AgentV1_1 => v1_1::call_agent(api, call).await,
            WorldVersion::ConnectorV1_0 => v1_0::call_connector(api, call).await,
            WorldVersion::AgentV1_0 => v1_0::call_agent(api, call).await,
        }
    }
}
