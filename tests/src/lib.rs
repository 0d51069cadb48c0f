//! Shared helpers of the end-to-end tests: the guest components (built by
//! `build.rs`), a runtime sized for tests, and loopback servers.

use omnify_runtime::capability::egress::EgressConfig;
use omnify_runtime::engine::EngineConfig;
use omnify_runtime::invoke::{Call, Grants, HostPattern, InvocationContext, InvokeError, Output};
use omnify_runtime::storage::MemoryStore;
use omnify_runtime::{LoadedPlugin, Runtime, RuntimeConfig};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

pub mod holding;
pub mod host;
pub mod oauth;
pub mod platforms;
pub mod postgres;
pub mod proposing;
pub mod server;
pub mod source;

/// Paths of the guest components, built from source for this test run.
pub mod guests {
    /// The partner example, `examples/hello-connector`.
    pub const HELLO_CONNECTOR: &str = env!("OMNIFY_GUEST_HELLO_CONNECTOR");
    /// A connector that misbehaves on request.
    pub const HOSTILE: &str = env!("OMNIFY_GUEST_HOSTILE");
    /// An agent that counts records through `data`.
    pub const DATA_AGENT: &str = env!("OMNIFY_GUEST_DATA_AGENT");
    /// A connector for contract version 2.0.0.
    pub const WRONG_MAJOR: &str = env!("OMNIFY_GUEST_WRONG_MAJOR");
    /// A connector that imports an interface the host does not provide.
    pub const FOREIGN_IMPORT: &str = env!("OMNIFY_GUEST_FOREIGN_IMPORT");
    /// A one-stream connector that leaves retries to the host.
    pub const PAGED_SOURCE: &str = env!("OMNIFY_GUEST_PAGED_SOURCE");
    /// A connector built against the frozen contract 1.0, with no preview.
    pub const V1_0_CONNECTOR: &str = env!("OMNIFY_GUEST_V1_0_CONNECTOR");
    /// An agent built against the frozen contract 1.0.
    pub const V1_0_AGENT: &str = env!("OMNIFY_GUEST_V1_0_AGENT");
    /// The first build of the `versioned` connector, reporting build 1.
    pub const VERSIONED: &str = env!("OMNIFY_GUEST_VERSIONED");
    /// Its second build, reporting build 2.
    pub const VERSIONED_NEXT: &str = env!("OMNIFY_GUEST_VERSIONED_NEXT");
}

/// A runtime with a small pool and in-memory storage, whose plugins may
/// reach the tests' servers on loopback (see [`loopback_egress`]).
pub fn runtime() -> (Runtime, Arc<MemoryStore>) {
    runtime_with(RuntimeConfig {
        engine: EngineConfig {
            max_instances: 16,
            ..EngineConfig::default()
        },
        egress: loopback_egress(),
        ..RuntimeConfig::default()
    })
}

/// Egress as an operator sets it for sandboxes: `127.0.0.1` on any port
/// may be reached (when granted).
pub fn loopback_egress() -> EgressConfig {
    EgressConfig {
        private_hosts: vec![HostPattern::parse("127.0.0.1:*").expect("a valid pattern")],
        resolver: None,
    }
}

/// A runtime with the given configuration and in-memory storage.
pub fn runtime_with(config: RuntimeConfig) -> (Runtime, Arc<MemoryStore>) {
    Runtime::in_memory(config).expect("the runtime starts")
}

/// Load a guest component.
pub fn load(runtime: &Runtime, path: &str) -> Arc<LoadedPlugin> {
    runtime
        .load_file(Path::new(path))
        .unwrap_or_else(|error| panic!("cannot load {path}: {error}"))
}

/// A context for `tenant` and `plugin` with the KV store granted.
pub fn context(tenant: &str, plugin: &str) -> InvocationContext {
    let mut ctx = InvocationContext::new(tenant, plugin);
    ctx.request_id = format!("test-{tenant}-{plugin}");
    ctx.grants = Grants {
        kv: true,
        ..Grants::default()
    };
    ctx
}

/// Call the connector action `name` with `input`.
pub async fn act(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    ctx: &InvocationContext,
    name: &str,
    input: Value,
) -> Result<Output, InvokeError> {
    let call = Call::Act {
        name: name.to_string(),
        input,
        idempotency_key: "test".to_string(),
    };
    runtime.invoke(plugin, ctx, call).await
}

/// The JSON an `act` call returned.
pub fn act_result(output: &Output) -> Value {
    match &output.value {
        omnify_runtime::CallOutput::Act(raw) => serde_json::from_str(raw.get()).expect("act returns JSON"),
        other => panic!("expected an act result, got {other:?}"),
    }
}
