//! The plugin registry: signed packages published by name and version
//! ([`publish`]), the trust store of publisher keys ([`trust`]), and the
//! queries and resolution that enablements use. Versions are immutable; a
//! yanked version is never chosen again but keeps running where pinned.

pub mod owners;
mod publish;

pub use publish::check_declared;
pub mod trust;

use crate::audit::{self, Event, SYSTEM_CHAIN};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, get_json, key, prefix, put_json, scan_json};
use crate::tenant::Principal;
use omnify_registry::{Candidate, Manifest};
use omnify_runtime::plugin::{LoadedPlugin, digest};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One published version of a plugin.
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
    /// Who publishes it.
    pub publisher: String,
    /// The id of the key that signed it; none for a development upload.
    pub signed_by: Option<String>,
    /// Whether it was yanked.
    pub yanked: bool,
    /// Whether the key that signed it was revoked since (filled in when
    /// listed; such a version is never chosen again).
    #[serde(default)]
    pub signer_revoked: bool,
    /// The manifest as published.
    #[schema(value_type = Object)]
    pub manifest: Manifest,
    /// When it was published.
    pub published_at: String,
}

fn version_key(name: &str, version: &str) -> Vec<u8> {
    key(&[name.as_bytes(), version.as_bytes()])
}

/// Every version of `name`.
pub(crate) fn versions_of(tx: &dyn ReadTx, name: &str) -> Result<Vec<PluginVersion>, ControlError> {
    Ok(
        scan_json(tx, Table::Plugins, &prefix(&[name.as_bytes()]), None, usize::MAX)?
            .into_iter()
            .map(|(_, version)| version)
            .collect(),
    )
}

/// The version `version` of `name`.
pub(crate) fn exact_version(
    tx: &dyn ReadTx,
    name: &str,
    version: &str,
) -> Result<PluginVersion, ControlError> {
    get_json(tx, Table::Plugins, &version_key(name, version))?
        .ok_or_else(|| ControlError::NotFound(format!("no plugin `{name}` version {version}")))
}

/// The ids of revoked publisher keys.
pub(crate) fn revoked_keys(tx: &dyn ReadTx) -> Result<std::collections::BTreeSet<String>, ControlError> {
    Ok(
        scan_json::<trust::TrustedKey>(tx, Table::PublisherKeys, b"", None, usize::MAX)?
            .into_iter()
            .filter(|(_, key)| key.revoked_at.is_some())
            .map(|(_, key)| key.id)
            .collect(),
    )
}

/// The newest version of `name` that `requirement` accepts, neither yanked
/// nor signed by a revoked key.
pub(crate) fn resolve_version(
    tx: &dyn ReadTx,
    name: &str,
    requirement: &VersionReq,
) -> Result<PluginVersion, ControlError> {
    let versions = versions_of(tx, name)?;
    if versions.is_empty() {
        return Err(ControlError::NotFound(format!("no plugin `{name}`")));
    }
    let revoked = revoked_keys(tx)?;
    // A version signed by a revoked key is never chosen again, like a
    // yanked one; tenants pinned to it see that its signer is revoked.
    let candidates: Vec<Candidate> = versions
        .iter()
        .filter_map(|v| {
            Version::parse(&v.version).ok().map(|version| Candidate {
                version,
                yanked: v.yanked || v.signed_by.as_ref().is_some_and(|key| revoked.contains(key)),
            })
        })
        .collect();
    let chosen = omnify_registry::resolve(requirement, &candidates).ok_or_else(|| {
        ControlError::NotFound(format!(
            "no version of `{name}` matches `{requirement}` (yanked versions and versions signed by a \
             revoked key are skipped)"
        ))
    })?;
    exact_version(tx, name, &chosen.to_string())
}

/// Mark the versions whose signing key was revoked.
fn with_signer_status(
    tx: &dyn ReadTx,
    mut versions: Vec<PluginVersion>,
) -> Result<Vec<PluginVersion>, ControlError> {
    let revoked = revoked_keys(tx)?;
    for version in &mut versions {
        version.signer_revoked = version
            .signed_by
            .as_ref()
            .is_some_and(|key| revoked.contains(key));
    }
    Ok(versions)
}

impl ControlPlane {
    /// Every published plugin version.
    pub async fn list_plugins(&self) -> Result<Vec<PluginVersion>, ControlError> {
        self.blocking(|store| {
            let tx = store.read()?;
            let versions = scan_json(&*tx, Table::Plugins, b"", None, usize::MAX)?
                .into_iter()
                .map(|(_, version)| version)
                .collect();
            with_signer_status(&*tx, versions)
        })
        .await
    }

    /// The versions of one plugin, oldest first.
    pub async fn plugin_versions(&self, name: &str) -> Result<Vec<PluginVersion>, ControlError> {
        let name = name.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            let mut versions = with_signer_status(&*tx, versions_of(&*tx, &name)?)?;
            if versions.is_empty() {
                return Err(ControlError::NotFound(format!("no plugin `{name}`")));
            }
            versions.sort_by_key(|v| Version::parse(&v.version).ok());
            Ok(versions)
        })
        .await
    }

    /// One version of a plugin.
    pub async fn plugin_version(&self, name: &str, version: &str) -> Result<PluginVersion, ControlError> {
        let (name, version) = (name.to_string(), version.to_string());
        self.blocking(move |store| {
            let tx = store.read()?;
            let found = exact_version(&*tx, &name, &version)?;
            Ok(with_signer_status(&*tx, vec![found])?.remove(0))
        })
        .await
    }

    /// The package file of one version, as published.
    pub async fn download(&self, name: &str, version: &str) -> Result<Vec<u8>, ControlError> {
        let (name, version) = (name.to_string(), version.to_string());
        self.blocking(move |store| {
            let tx = store.read()?;
            exact_version(&*tx, &name, &version)?;
            tx.get(Table::Packages, &version_key(&name, &version))?
                .ok_or_else(|| ControlError::NotFound(format!("`{name}` {version} has no package file")))
        })
        .await
    }

    /// Yank a version: resolution never picks it again; tenants pinned to it
    /// keep running it until they upgrade.
    pub async fn yank(
        &self,
        principal: &Principal,
        name: &str,
        version: &str,
    ) -> Result<PluginVersion, ControlError> {
        principal.require_admin()?;
        let (actor, name, version) = (principal.actor(), name.to_string(), version.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut record = exact_version(&*tx, &name, &version)?;
            if record.yanked {
                return Err(ControlError::Conflict(format!(
                    "`{name}` {version} is already yanked"
                )));
            }
            record.yanked = true;
            put_json(&mut *tx, Table::Plugins, &version_key(&name, &version), &record)?;
            let event = Event {
                actor: &actor,
                action: "plugin.yank",
                target: &name,
                outcome: "ok",
                details: serde_json::json!({ "version": version }),
            };
            audit::append(&mut *tx, SYSTEM_CHAIN, event)?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }

    /// The loaded component with `digest`, compiling it (or reading it from
    /// the precompiled cache) on first use.
    pub(crate) async fn loaded_plugin(&self, digest_hex: &str) -> Result<Arc<LoadedPlugin>, ControlError> {
        if let Some(plugin) = self.runtime.loaded(digest_hex) {
            return Ok(plugin);
        }
        // One load at a time: the calls that arrive together on a host that
        // has not loaded the component yet wait for one compilation rather
        // than each compiling it.
        let _loading = self.loading.lock().await;
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
