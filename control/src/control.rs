//! The control plane: the store, the runtime, the vault and the meter, and
//! the error every control-plane operation returns. The operations live with
//! their concept: [`crate::tenant`], [`crate::catalog`],
//! [`crate::enablement`], [`crate::meter`], [`crate::audit`].

use crate::audit::{self, AuditSigner, CheckpointError, Checkpointer};
use crate::hosts::{Heartbeat, Hosts};
use crate::meter::Meter;
use crate::store::{OnStorage, PgStore, ReadTx, RedbStore, Storage, StoreError};
use crate::sync::SyncConfig;
use crate::tenant::keys;
use crate::vault::{MASTER_KEY_FILE, Vault, VaultError};
use omnify_runtime::invoke::{HostPattern, InvokeError};
use omnify_runtime::plugin::CacheKey;
use omnify_runtime::plugin::LoadError;
use omnify_runtime::runtime::{Runtime, RuntimeConfig, RuntimeError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the control plane is set up.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Where the store, the master key and the precompiled cache live.
    pub data_dir: PathBuf,
    /// The runtime's engine and limits; its cache directory is set to
    /// `<data dir>/precompiled`.
    pub runtime: RuntimeConfig,
    /// Development mode: unsigned packages may be published. Never in
    /// production.
    pub dev: bool,
    /// Batch size, retries, run limits and size caps of syncs.
    pub sync: SyncConfig,
    /// Hosts an admin may grant to any plugin besides those its manifest
    /// names, for example `127.0.0.1` to point connectors at sandboxes or a
    /// staging proxy. Empty by default: grants stay within the manifest.
    pub grantable_hosts: Vec<HostPattern>,
    /// The host's own secrets, when they come from outside the data
    /// directory.
    pub credentials: HostCredentials,
    /// A shared PostgreSQL store (`postgres://…`) instead of the embedded
    /// one in the data directory.
    pub store_url: Option<String>,
    /// How long this host's leases on runs and due jobs last unless
    /// renewed: after a host dies, another takes its work this long after.
    pub lease: Duration,
}

/// Where the host's own secrets come from when not from the data
/// directory: containers mount them as files or pass them in the
/// environment, so that a new container on an old volume keeps them.
#[derive(Debug, Clone, Default)]
pub struct HostCredentials {
    /// The master key (32 bytes); `<data dir>/master.key` when none. A
    /// configured file is never created: a missing one stops the host.
    pub master_key_file: Option<PathBuf>,
    /// The admin token to accept (`oma_` and at least 32 more characters),
    /// instead of one made at first start; it replaces any earlier one.
    pub admin_token: Option<String>,
}

impl ControlConfig {
    /// Defaults for everything but the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            runtime: RuntimeConfig::default(),
            dev: false,
            sync: SyncConfig::default(),
            grantable_hosts: Vec::new(),
            credentials: HostCredentials::default(),
            store_url: None,
            lease: crate::hosts::DEFAULT_LEASE,
        }
    }

    /// The master key's file.
    fn master_key_file(&self) -> Result<PathBuf, VaultError> {
        match &self.credentials.master_key_file {
            Some(path) if !path.is_file() => Err(VaultError::KeyFile {
                path: path.display().to_string(),
                message: "no such file (a configured master key is never created)".into(),
            }),
            Some(path) => Ok(path.clone()),
            None => Ok(self.data_dir.join(MASTER_KEY_FILE)),
        }
    }
}

/// Why a control-plane operation failed. Each case maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No credentials, or unknown or revoked ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the right to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The tenant, plugin, key or enablement does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The thing already exists, or the change conflicts with its state.
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but its content is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// A quota is used up.
    #[error("{quota} quota of {limit} reached; it resets at {resets_at}")]
    QuotaExceeded {
        /// Which quota.
        quota: &'static str,
        /// Its limit.
        limit: u64,
        /// When it resets, RFC 3339.
        resets_at: String,
    },
    /// The plugin call failed (its error says how).
    #[error(transparent)]
    Invoke(Box<InvokeError>),
    /// The component could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Anything else on the host's side.
    #[error("{0}")]
    Internal(String),
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key could not be used.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The runtime could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The audit signing key could not be used.
    #[error(transparent)]
    Audit(#[from] CheckpointError),
    /// The configured admin token was refused.
    #[error(transparent)]
    AdminToken(#[from] crate::tenant::keys::StartupTokenError),
    /// The HTTP client of the OAuth token endpoints could not be built.
    #[error("the OAuth client: {0}")]
    OAuth(String),
}

/// Tenants, plugins, enablements, secrets, usage and audit on one store,
/// and the runtime that runs the plugins.
pub struct ControlPlane {
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) vault: Vault,
    pub(crate) meter: Meter,
    /// Signs the audit chains' checkpoints.
    pub(crate) audit_signer: Arc<AuditSigner>,
    /// Signs them at intervals; stopped (and joined) when this is dropped.
    _checkpointer: Checkpointer,
    /// The bounded, fair pool every run waits in.
    pub(crate) pool: crate::scheduler::pool::RunPool,
    /// Webhook budgets and the refusals not yet summarised.
    pub(crate) webhooks: crate::webhooks::Webhooks,
    /// Sends the tenants' events to their endpoints; stopped (and joined)
    /// when this is dropped.
    pub(crate) notifier: crate::notify::Notifier,
    /// This host among the hosts of the store, and the leases it holds.
    pub(crate) hosts: Arc<Hosts>,
    /// Held while a component is loaded from the store, so that it is
    /// compiled once however many calls want it.
    pub(crate) loading: tokio::sync::Mutex<()>,
    /// Renews those leases; stopped (and joined) when this is dropped.
    _heartbeat: Heartbeat,
    /// Principals and call contexts read from the store, while current.
    pub(crate) caches: crate::cached::Caches,
    /// Signs tenants in to platforms and keeps their tokens fresh.
    pub(crate) oauth: crate::oauth::OAuth,
    dev: bool,
    sync: SyncConfig,
    grantable_hosts: Vec<HostPattern>,
}

impl ControlPlane {
    /// Open the data directory (creating it on first start). On first start
    /// an admin token is created and returned; it is stored only as a hash,
    /// so this is the only time it can be shown.
    pub fn open(config: ControlConfig) -> Result<(Self, Option<String>), StartError> {
        let store: Arc<dyn Storage> = match &config.store_url {
            Some(url) => {
                crate::store::redb::private_dir(&config.data_dir)?;
                Arc::new(PgStore::connect(url)?)
            }
            None => Arc::new(RedbStore::open(&config.data_dir)?),
        };
        let hosts = Arc::new(Hosts::new(config.lease, store.shared())?);
        tracing::info!(host = hosts.id(), shared = hosts.shared(), "this host's id");
        let master_key = config.master_key_file()?;
        let vault = Vault::open_for_store(&master_key, &*store)?;
        let audit_signer = Arc::new(match store.shared() {
            true => AuditSigner::shared(&*store, &vault)?,
            false => AuditSigner::open_or_create(&config.data_dir.join(audit::checkpoint::SIGNING_KEY_FILE))?,
        });
        tracing::info!(public_key = %audit_signer.public_key_hex(), "audit checkpoints are signed with this key");
        let mut runtime_config = RuntimeConfig {
            cache_dir: Some(config.data_dir.join("precompiled")),
            cache_key: Some(CacheKey::from_bytes(
                *vault.derive_key("precompiled-cache").as_bytes(),
            )),
            ..config.runtime
        };
        // Hosts the operator made grantable are the only ones that may reach
        // private addresses (see `capability::egress`).
        runtime_config
            .egress
            .private_hosts
            .extend(config.grantable_hosts.iter().cloned());
        let runtime = Arc::new(Runtime::new(
            runtime_config,
            Arc::new(OnStorage(store.clone())),
            Arc::new(OnStorage(store.clone())),
        )?);
        let admin_token = match &config.credentials.admin_token {
            Some(token) => {
                keys::set_admin_token(&*store, token)?;
                None
            }
            None => keys::ensure_admin_token(&*store)?,
        };
        if config.dev {
            tracing::warn!(
                "DEVELOPMENT MODE: unsigned plugin packages are accepted; never run this in production"
            );
        }
        let heartbeat = Heartbeat::start(store.clone(), hosts.clone())?;
        let meter = Meter::start(store.clone(), hosts.clone())?;
        let checkpointer = Checkpointer::start(store.clone(), audit_signer.clone())?;
        // The notifier's own handle on the same master key, for the sealed
        // URLs and secrets of endpoints.
        let notifier = crate::notify::Notifier::start(
            store.clone(),
            hosts.clone(),
            Vault::open_or_create(&master_key)?,
            config.grantable_hosts.clone(),
        )?;
        Ok((
            Self {
                store,
                runtime,
                vault,
                meter,
                audit_signer,
                _checkpointer: checkpointer,
                pool: {
                    let size = crate::scheduler::SchedulerConfig::default();
                    crate::scheduler::pool::RunPool::new(size.workers, size.per_tenant)
                },
                webhooks: Default::default(),
                notifier,
                hosts,
                loading: tokio::sync::Mutex::new(()),
                _heartbeat: heartbeat,
                caches: crate::cached::Caches::new(),
                oauth: crate::oauth::OAuth::new().map_err(StartError::OAuth)?,
                dev: config.dev,
                sync: config.sync,
                grantable_hosts: config.grantable_hosts,
            },
            admin_token,
        ))
    }

    /// The runtime that runs the plugins.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The store.
    pub fn storage(&self) -> &dyn Storage {
        &*self.store
    }

    /// The meter: quotas, usage and metrics.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Whether unsigned packages are accepted (development mode).
    pub fn dev_mode(&self) -> bool {
        self.dev
    }

    /// Hosts grantable beyond a plugin's manifest.
    pub fn grantable_hosts(&self) -> &[HostPattern] {
        &self.grantable_hosts
    }

    /// How syncs run.
    pub fn sync_config(&self) -> SyncConfig {
        self.sync
    }

    /// Whether the store answers and holds the schema this host writes,
    /// and the host is not stopping.
    pub async fn check_ready(&self) -> Result<(), ControlError> {
        if self.hosts.is_stopping() {
            return Err(ControlError::Conflict("the host is stopping".into()));
        }
        self.blocking(|store| Ok(store.check_ready()?)).await
    }

    /// Read from a snapshot of the store: at once on the embedded store,
    /// whose snapshots are reads of mapped memory taking microseconds, and
    /// off the async threads on a shared one, which is a network away.
    pub(crate) async fn read_store<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn ReadTx) -> Result<T, ControlError> + Send + 'static,
    ) -> Result<T, ControlError> {
        if self.hosts.shared() {
            self.blocking(move |store| work(&*store.read()?)).await
        } else {
            work(&*self.store.read()?)
        }
    }

    /// Run blocking store work off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Storage) -> Result<T, ControlError> + Send + 'static,
    ) -> Result<T, ControlError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&*store))
            .await
            .map_err(|e| ControlError::Internal(format!("a storage task failed: {e}")))?
    }
}
