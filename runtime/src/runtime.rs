//! The [`Runtime`]: one engine, one linker, the loaded plugins, and the
//! services capabilities use. Loading is in [`crate::plugin`], calling in
//! [`crate::invoke`].

use crate::capability::egress::{Egress, EgressConfig};
use crate::capability::{self, HostState, Services};
use crate::engine::{self, EngineConfig};
use crate::invoke::Limits;
use crate::invoke::cpu_share::CpuShare;
use crate::plugin::CacheKey;
use crate::plugin::{LoadedPlugin, PrecompiledCache};
use crate::storage::{KvStore, MemoryStore, RecordStore};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// How a runtime is set up.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// The engine's pool and tick.
    pub engine: EngineConfig,
    /// The most any call may use, whatever its plugin asks for.
    pub max_limits: Option<Limits>,
    /// Where precompiled components are kept across restarts; none to
    /// compile on every start.
    pub cache_dir: Option<PathBuf>,
    /// The key that authenticates precompiled files (the host derives it
    /// from its master key); none to keep a random one in the cache
    /// directory.
    pub cache_key: Option<CacheKey>,
    /// Which hosts may reach private addresses, and an optional resolver
    /// override (for tests).
    pub egress: EgressConfig,
}

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine or linker could not be built.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The precompiled cache directory is unusable.
    #[error("cannot use the precompiled cache directory: {0}")]
    Cache(std::io::Error),
    /// The epoch ticker thread could not start.
    #[error("cannot start the epoch ticker: {0}")]
    Ticker(std::io::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(reqwest::Error),
}

/// Loads plugins and runs calls of them, each in a fresh sandbox.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    plugins: RwLock<HashMap<String, Arc<LoadedPlugin>>>,
    precompiled: Option<PrecompiledCache>,
    pub(crate) services: Services,
    pub(crate) max_limits: Limits,
    /// One permit per pool slot, so calls past the pool's size wait instead
    /// of failing.
    pub(crate) slots: Arc<Semaphore>,
    /// The cores, shared between tenants.
    pub(crate) cpu: Arc<CpuShare>,
}

impl Runtime {
    /// A runtime whose KV entries and records live in `kv` and `records`.
    pub fn new(
        config: RuntimeConfig,
        kv: Arc<dyn KvStore>,
        records: Arc<dyn RecordStore>,
    ) -> Result<Self, RuntimeError> {
        let engine = engine::build(&config.engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        engine::start_epoch_ticker(&engine, config.engine.epoch_tick).map_err(RuntimeError::Ticker)?;
        let linker = capability::linker(&engine).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let precompiled = config
            .cache_dir
            .as_deref()
            .map(|dir| PrecompiledCache::new(dir, &engine, config.cache_key.clone()))
            .transpose()
            .map_err(RuntimeError::Cache)?;
        let max_limits = config.max_limits.unwrap_or_else(Limits::host_maximum);
        let max_limits = Limits {
            memory_bytes: max_limits.memory_bytes.min(config.engine.max_memory_bytes),
            ..max_limits
        };
        Ok(Self {
            engine,
            linker,
            plugins: RwLock::default(),
            precompiled,
            services: Services {
                kv,
                records,
                http: Arc::new(Egress::new(&config.egress).map_err(RuntimeError::Http)?),
            },
            max_limits,
            slots: Arc::new(Semaphore::new(config.engine.max_instances as usize)),
            cpu: CpuShare::new(config.engine.cores),
        })
    }

    /// A runtime that keeps KV entries and records in memory.
    pub fn in_memory(config: RuntimeConfig) -> Result<(Self, Arc<MemoryStore>), RuntimeError> {
        let store = Arc::new(MemoryStore::new());
        let runtime = Self::new(config, store.clone(), store.clone())?;
        Ok((runtime, store))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The most any call may use.
    pub fn max_limits(&self) -> &Limits {
        &self.max_limits
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    pub(crate) fn precompiled(&self) -> Option<&PrecompiledCache> {
        self.precompiled.as_ref()
    }

    /// The plugin with this component digest, if it is loaded.
    pub fn loaded(&self, digest: &str) -> Option<Arc<LoadedPlugin>> {
        self.plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(digest)
            .cloned()
    }

    pub(crate) fn remember_plugin(&self, digest: String, plugin: Arc<LoadedPlugin>) -> Arc<LoadedPlugin> {
        self.plugins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(digest)
            .or_insert(plugin)
            .clone()
    }
}
