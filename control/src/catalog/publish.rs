//! Publishing a package, with every check that protects the catalog: the
//! signature matches a trusted, unrevoked key of the package's publisher;
//! the component loads (a supported world and contract version) and is the
//! world the manifest names; every capability it imports is declared in the
//! manifest; and the version is new. Each refusal names its reason.

use super::trust::require_trusted;
use super::{PluginVersion, version_key};
use crate::audit::{self, Event, SYSTEM_CHAIN};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{Table, put_json};
use crate::tenant::Principal;
use omnify_registry::{Manifest, Package};
use omnify_runtime::plugin::Shape;

/// Which contract imports need which manifest declaration.
pub fn check_declared(shape: &Shape, manifest: &Manifest) -> Result<(), ControlError> {
    let capabilities = &manifest.capabilities;
    for import in &shape.imports {
        let Some(interface) = import
            .strip_prefix("omnify:plugin/")
            .map(|rest| rest.split('@').next().unwrap_or(rest))
        else {
            continue;
        };
        let (declared, what) = match interface {
            "http" => (!capabilities.http_hosts.is_empty(), "capabilities.http_hosts"),
            "secrets" => (!capabilities.secrets.is_empty(), "capabilities.secrets"),
            "kv" => (capabilities.kv, "capabilities.kv = true"),
            "data" => (!capabilities.data_streams.is_empty(), "capabilities.data_streams"),
            _ => (true, ""),
        };
        if !declared {
            return Err(ControlError::Invalid(format!(
                "the component imports `{import}` but plugin.toml does not declare {what}: \
                 declare every capability the plugin uses"
            )));
        }
    }
    Ok(())
}

impl ControlPlane {
    /// Publish a package file.
    pub async fn publish(&self, principal: &Principal, bytes: &[u8]) -> Result<PluginVersion, ControlError> {
        principal.require_admin()?;
        let package = Package::from_bytes(bytes).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let signer = match package.verify() {
            Ok(signature) => {
                let signature = signature.clone();
                let store = self.store.clone();
                let trusted = tokio::task::spawn_blocking(move || {
                    require_trusted(&*store.read()?, &signature.public_key)
                })
                .await
                .map_err(|e| ControlError::Internal(e.to_string()))??;
                if trusted.publisher != package.manifest().plugin.publisher {
                    return Err(ControlError::Invalid(format!(
                        "the package names publisher `{}` but is signed by a key of `{}`",
                        package.manifest().plugin.publisher,
                        trusted.publisher
                    )));
                }
                Some(trusted.id)
            }
            Err(omnify_registry::PackageError::Unsigned) if self.dev_mode() => {
                tracing::warn!(
                    plugin = %package.manifest().plugin.name,
                    "DEVELOPMENT MODE: accepting an unsigned package"
                );
                None
            }
            Err(error) => return Err(ControlError::Invalid(error.to_string())),
        };

        let manifest = package.manifest().clone();
        let runtime = self.runtime.clone();
        let component = package.component().to_vec();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&component))
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
        check_declared(loaded.shape(), &manifest)?;

        let actor = principal.actor();
        let package_bytes = bytes.to_vec();
        let component = package.component().to_vec();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let name = manifest.plugin.name.clone();
            let version = manifest.plugin.version.to_string();
            super::owners::claim(&mut *tx, &name, &manifest.plugin.publisher)?;
            if tx.get(Table::Plugins, &version_key(&name, &version))?.is_some() {
                return Err(ControlError::Conflict(format!(
                    "`{name}` {version} is already published; versions are immutable, so publish a new one"
                )));
            }
            let record = PluginVersion {
                name: name.clone(),
                version: version.clone(),
                kind: loaded.kind().to_string(),
                contract: loaded.contract().to_string(),
                digest: loaded.digest().to_string(),
                description: manifest.plugin.description.clone(),
                publisher: manifest.plugin.publisher.clone(),
                signed_by: signer,
                yanked: false,
                signer_revoked: false,
                manifest,
                published_at: audit::now(),
            };
            tx.put(Table::Components, record.digest.as_bytes(), &component)?;
            tx.put(Table::Packages, &version_key(&name, &version), &package_bytes)?;
            put_json(&mut *tx, Table::Plugins, &version_key(&name, &version), &record)?;
            let details = serde_json::json!({
                "version": version, "digest": record.digest, "kind": record.kind, "signed_by": record.signed_by,
            });
            let event = Event { actor: &actor, action: "plugin.publish", target: &name, outcome: "ok", details };
            audit::append(&mut *tx, SYSTEM_CHAIN, event)?;
            tx.commit()?;
            Ok(record)
        })
        .await
    }
}
