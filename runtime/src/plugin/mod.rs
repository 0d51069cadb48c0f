//! Loading components: refuse what the host cannot run, compile (or load a
//! precompiled copy), link, and keep one `InstancePre` per component digest.

mod cache;
pub mod contract;
pub mod detect;

pub use cache::{CacheKey, PrecompiledCache};
pub use detect::{CONTRACT_VERSION, Shape, Target};

use contract::PluginPre;

use crate::runtime::Runtime;
use omnify_registry::PluginKind;
use semver::Version;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Component;

/// Why a component was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly binary (it does not start with `\\0asm`)")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "this is a core WebAssembly module, not a component; build the plugin with \
         `cargo build --target wasm32-wasip2` so that it is a component"
    )]
    CoreModule,
    /// Malformed binary.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// Exports no world of the contract.
    #[error(
        "the component exports neither omnify:plugin/connector-api nor omnify:plugin/agent-api \
         (its exports: {exports:?}); was it built with omnify-sdk's export_connector! or export_agent!?"
    )]
    NoWorld {
        /// What it does export.
        exports: Vec<String>,
    },
    /// Exports both worlds.
    #[error("the component exports both a connector and an agent; a plugin is one or the other")]
    TwoWorlds,
    /// Exports an interface of the contract that does not exist.
    #[error("the component exports `{0}`, which is not part of the omnify:plugin contract")]
    UnknownExport(String),
    /// Targets a contract version the host does not run.
    #[error("`{interface}`: {reason}")]
    UnsupportedContract {
        /// The interface name.
        interface: String,
        /// Why.
        reason: String,
    },
    /// Imports something the host does not provide.
    #[error("the component imports `{import}`, which the host does not provide: {reason}")]
    UnsupportedImport {
        /// The import.
        import: String,
        /// Why.
        reason: String,
    },
    /// Compilation failed.
    #[error("cannot compile the component: {0}")]
    Compile(String),
    /// Linking against the host failed (an import's type does not match).
    #[error("cannot link the component against the host: {0}")]
    Link(String),
}

/// Where a loaded plugin's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled from the component now.
    Compiled,
    /// Read from the on-disk precompiled cache.
    Precompiled,
}

/// A component ready to instantiate.
pub struct LoadedPlugin {
    digest: String,
    target: Target,
    shape: Shape,
    code: CodeSource,
    pub(crate) pre: PluginPre,
}

impl LoadedPlugin {
    /// The sha256 of the component, in hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Connector or agent.
    pub fn kind(&self) -> PluginKind {
        self.target.kind
    }

    /// The contract version it targets.
    pub fn contract(&self) -> &Version {
        &self.target.contract
    }

    /// Its top-level imports and exports.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Whether it was compiled or read from the precompiled cache.
    pub fn code_source(&self) -> CodeSource {
        self.code
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("digest", &self.digest)
            .field("target", &self.target)
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

/// The sha256 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    /// Load a component from bytes. Compiling is CPU-bound (seconds for a
    /// large plugin): call it from a blocking context, not an async task.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        let digest = digest(bytes);
        if let Some(plugin) = self.loaded(&digest) {
            return Ok(plugin);
        }
        let shape = detect::read_shape(bytes)?;
        let target = detect::target(&shape)?;
        let (component, code) = match self.precompiled().and_then(|c| c.load(self.engine(), &digest)) {
            Some(component) => (component, CodeSource::Precompiled),
            None => {
                let component =
                    Component::new(self.engine(), bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                if let Some(cache) = self.precompiled() {
                    cache.store(&digest, &component);
                }
                (component, CodeSource::Compiled)
            }
        };
        let instance_pre = self
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = PluginPre::new(target.kind, &target.contract, instance_pre)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let plugin = Arc::new(LoadedPlugin {
            digest: digest.clone(),
            target,
            shape,
            code,
            pre,
        });
        tracing::info!(digest = %digest, kind = %plugin.kind(), contract = %plugin.contract(), code = ?code, "plugin loaded");
        Ok(self.remember_plugin(digest, plugin))
    }

    /// Load a component from a file.
    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedPlugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&bytes)
    }
}
