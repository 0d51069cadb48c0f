//! The plugin catalog: components an admin uploaded with their manifests,
//! by name and version. Versions are immutable once uploaded.

use crate::audit::{self, Event, SYSTEM_CHAIN};
use crate::control::{ControlError, ControlPlane};
use crate::plugin::{LoadedPlugin, digest};
use crate::store::Storage;
use crate::store::storage::{ReadTx, Table, get_json, key, prefix, put_json, scan_json};
use crate::tenant::Principal;
use omnify_registry::Manifest;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One uploaded version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginVersion {
    /// The plugin's name.
    pub name: String,
    /// Its semver version.
    pub version: String,
    /// `connector` or `agent`.
    pub kind: String,
    /// The contract version the component targets.
    pub contract: String,
    /// sha256 of the component.
    pub digest: String,
    /// One line about it.
    pub description: String,
    /// The manifest as uploaded.
    #[schema(value_type = Object)]
    pub manifest: Manifest,
    /// When it was uploaded.
    pub uploaded_at: String,
}

fn version_key(name: &str, version: &str) -> Vec<u8> {
    key(&[name.as_bytes(), version.as_bytes()])
}

/// The newest version of `name`, or the one asked for.
pub(crate) fn find_version(
    tx: &dyn ReadTx,
    name: &str,
    version: Option<&semver::Version>,
) -> Result<PluginVersion, ControlError> {
    let missing = || match version {
        Some(v) => ControlError::NotFound(format!("no plugin `{name}` version {v}")),
        None => ControlError::NotFound(format!("no plugin `{name}`")),
    };
    match version {
        Some(v) => get_json(tx, Table::Plugins, &version_key(name, &v.to_string()))?.ok_or_else(missing),
        None => {
            scan_json::<PluginVersion>(tx, Table::Plugins, &prefix(&[name.as_bytes()]), None, usize::MAX)?
                .into_iter()
                .map(|(_, version)| version)
                .max_by_key(|v| v.manifest.plugin.version.clone())
                .ok_or_else(missing)
        }
    }
}

impl ControlPlane {
    /// Add a plugin version from its manifest (TOML) and component bytes.
    /// The component must load, and target the world the manifest names.
    pub async fn upload_plugin(
        &self,
        principal: &Principal,
        manifest_toml: &str,
        component: Vec<u8>,
    ) -> Result<PluginVersion, ControlError> {
        principal.require_admin()?;
        let manifest = Manifest::parse(manifest_toml).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let runtime = self.runtime.clone();
        let bytes = component.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&bytes))
            .await
            .map_err(|e| ControlError::Internal(format!("loading failed: {e}")))??;
        if loaded.kind() != manifest.plugin.kind {
            return Err(ControlError::Invalid(format!(
                "plugin.toml says `{}` is a {}, but the component is a {}",
                manifest.plugin.name,
                manifest.plugin.kind,
                loaded.kind()
            )));
        }
        if loaded.contract().major != manifest.plugin.contract.major {
            return Err(ControlError::Invalid(format!(
                "plugin.toml says contract {}, but the component targets {}",
                manifest.plugin.contract,
                loaded.contract()
            )));
        }
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let name = manifest.plugin.name.clone();
            let version = manifest.plugin.version.to_string();
            if tx.get(Table::Plugins, &version_key(&name, &version))?.is_some() {
                return Err(ControlError::Conflict(format!(
                    "`{name}` {version} is already uploaded; versions are immutable, so publish a new one"
                )));
            }
            let record = PluginVersion {
                name: name.clone(),
                version: version.clone(),
                kind: loaded.kind().to_string(),
                contract: loaded.contract().to_string(),
                digest: loaded.digest().to_string(),
                description: manifest.plugin.description.clone(),
                manifest,
                uploaded_at: audit::now(),
            };
            tx.put(Table::Components, record.digest.as_bytes(), &component)?;
            put_json(&mut *tx, Table::Plugins, &version_key(&name, &version), &record)?;
            let details =
                serde_json::json!({ "version": version, "digest": record.digest, "kind": record.kind });
            audit::append(
                &mut *tx,
                SYSTEM_CHAIN,
                Event {
                    actor: &actor,
                    action: "plugin.upload",
                    target: &name,
                    outcome: "ok",
                    details,
                },
            )?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// Every uploaded plugin version.
    pub async fn list_plugins(&self) -> Result<Vec<PluginVersion>, ControlError> {
        self.blocking(|store| {
            let tx = store.read()?;
            Ok(scan_json(&*tx, Table::Plugins, b"", None, usize::MAX)?
                .into_iter()
                .map(|(_, version)| version)
                .collect())
        })
        .await
    }

    /// The loaded component with `digest`, compiling it (or reading it from
    /// the precompiled cache) on first use.
    pub(crate) async fn loaded_plugin(&self, digest_hex: &str) -> Result<Arc<LoadedPlugin>, ControlError> {
        if let Some(plugin) = self.runtime.loaded(digest_hex) {
            return Ok(plugin);
        }
        let digest_hex = digest_hex.to_string();
        let runtime = self.runtime.clone();
        self.blocking(move |store| {
            let bytes = store
                .read()?
                .get(Table::Components, digest_hex.as_bytes())?
                .ok_or_else(|| {
                    ControlError::Internal(format!("component {digest_hex} is missing from the store"))
                })?;
            if digest(&bytes) != digest_hex {
                return Err(ControlError::Internal(format!(
                    "component {digest_hex} in the store is damaged"
                )));
            }
            Ok(runtime.load(&bytes)?)
        })
        .await
    }
}
