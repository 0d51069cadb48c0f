//! Enabling a plugin for a tenant: the version, the configuration
//! (validated against the plugin's own `spec`), the secrets (sealed by the
//! vault), the capabilities granted (a subset of what the manifest asks) and
//! the limits. Also builds the [`InvocationContext`] of a call from it.

use crate::audit::{self, Event};
use crate::catalog::find_version;
use crate::control::{ControlError, ControlPlane};
use crate::invoke::{Call, CallOutput, Grants, HostPattern, InvocationContext, Limits, Secret};
use crate::store::Storage;
use crate::store::storage::{ReadTx, Table, get_json, key, prefix, put_json, scan_json};
use crate::tenant::{self, Principal};
use omnify_registry::{Manifest, PluginKind, RequestedLimits};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The capabilities a tenant grants a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Hosts it may call; each must be in its manifest.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Secret names it may read; each must be in its manifest.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Whether it may use its key-value store.
    #[serde(default)]
    pub kv: bool,
    /// `connector/stream` pairs an agent may read.
    #[serde(default)]
    pub data_streams: Vec<String>,
}

impl GrantSpec {
    fn everything_in(manifest: &Manifest) -> Self {
        let capabilities = &manifest.capabilities;
        Self {
            http_hosts: capabilities.http_hosts.clone(),
            secrets: capabilities.secrets.clone(),
            kv: capabilities.kv,
            data_streams: capabilities.data_streams.clone(),
        }
    }

    fn check_within(&self, manifest: &Manifest) -> Result<(), ControlError> {
        let capabilities = &manifest.capabilities;
        let outside = |what: &str, item: &str| {
            ControlError::Invalid(format!(
                "grants: {what} `{item}` is not requested by the plugin's manifest, so it cannot be granted"
            ))
        };
        if let Some(host) = self
            .http_hosts
            .iter()
            .find(|h| !capabilities.http_hosts.contains(h))
        {
            return Err(outside("HTTP host", host));
        }
        if let Some(name) = self.secrets.iter().find(|s| !capabilities.secrets.contains(s)) {
            return Err(outside("secret", name));
        }
        if let Some(stream) = self
            .data_streams
            .iter()
            .find(|s| !capabilities.data_streams.contains(s))
        {
            return Err(outside("data stream", stream));
        }
        if self.kv && !capabilities.kv {
            return Err(outside("capability", "kv"));
        }
        Ok(())
    }
}

/// Input of [`ControlPlane::enable`].
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    /// The exact version to run; the newest when absent.
    pub version: Option<String>,
    /// The configuration, checked against the plugin's `spec`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Secret values by name; stored encrypted and never returned.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// What to grant; everything the manifest asks for when absent.
    pub grants: Option<GrantSpec>,
    /// Limits per call; the manifest's when absent. The host caps them.
    #[schema(value_type = Option<Object>)]
    pub limits: Option<RequestedLimits>,
}

/// A plugin enabled for a tenant, as stored and shown (secret names only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enablement {
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// The version that runs.
    pub version: String,
    /// The component's sha256.
    pub digest: String,
    /// `connector` or `agent`.
    #[schema(value_type = String)]
    pub kind: PluginKind,
    /// The configuration.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Names of the secrets set (never their values).
    pub secret_names: Vec<String>,
    /// What is granted.
    pub grants: GrantSpec,
    /// Limits per call.
    #[schema(value_type = Object)]
    pub limits: RequestedLimits,
    /// When it was last changed.
    pub updated_at: String,
}

fn enablement_key(tenant: &str, plugin: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), plugin.as_bytes()])
}

fn secret_slot(tenant: &str, plugin: &str, name: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), plugin.as_bytes(), name.as_bytes()])
}

/// The enablement of `plugin` for `tenant`, or a not-found error.
pub(crate) fn require_enablement(
    tx: &dyn ReadTx,
    tenant: &str,
    plugin: &str,
) -> Result<Enablement, ControlError> {
    get_json(tx, Table::Enablements, &enablement_key(tenant, plugin))?.ok_or_else(|| {
        ControlError::NotFound(format!("plugin `{plugin}` is not enabled for tenant `{tenant}`"))
    })
}

/// Check `config` against the JSON Schema `schema`, naming every failing
/// path.
fn validate_config(schema: &str, config: &Map<String, Value>) -> Result<(), ControlError> {
    let schema: Value = serde_json::from_str(schema)
        .map_err(|e| ControlError::Invalid(format!("the plugin's spec is not JSON: {e}")))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| ControlError::Invalid(format!("the plugin's spec is not a valid JSON Schema: {e}")))?;
    let instance = Value::Object(config.clone());
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() { "/".to_string() } else { path };
            format!("at {path}: {error}")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "config does not match the plugin's schema: {}",
            problems.join("; ")
        )))
    }
}

impl ControlPlane {
    /// Enable (or re-configure) `plugin` for `tenant`.
    pub async fn enable(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        request: EnableRequest,
    ) -> Result<Enablement, ControlError> {
        principal.require_admin()?;
        let version = request
            .version
            .as_deref()
            .map(semver::Version::parse)
            .transpose()
            .map_err(|e| ControlError::Invalid(format!("version: {e}")))?;
        let (tenant_id, plugin) = (tenant_id.to_string(), plugin.to_string());
        let lookup = (tenant_id.clone(), plugin.clone());
        let found = self
            .blocking(move |store| {
                let tx = store.read()?;
                tenant::require_existing(&*tx, &lookup.0)?;
                find_version(&*tx, &lookup.1, version.as_ref())
            })
            .await?;
        let manifest = &found.manifest;
        let grants = request
            .grants
            .unwrap_or_else(|| GrantSpec::everything_in(manifest));
        grants.check_within(manifest)?;
        if let Some(name) = request.secrets.keys().find(|name| !grants.secrets.contains(name)) {
            return Err(ControlError::Invalid(format!(
                "secret `{name}` is not granted to the plugin (granted: {:?})",
                grants.secrets
            )));
        }
        if manifest.plugin.kind == PluginKind::Connector {
            let loaded = self.loaded_plugin(&found.digest).await?;
            let ctx = InvocationContext::new(&tenant_id, &plugin);
            let spec = self
                .runtime
                .invoke(&loaded, &ctx, Call::Spec)
                .await
                .map_err(|e| ControlError::Invalid(format!("the plugin's spec could not be read: {e}")))?;
            if let CallOutput::Spec(schema) = spec.value {
                validate_config(schema.get(), &request.config)?;
            }
        }
        let enablement = Enablement {
            tenant: tenant_id.clone(),
            plugin: plugin.clone(),
            version: found.version.clone(),
            digest: found.digest.clone(),
            kind: manifest.plugin.kind,
            config: request.config,
            secret_names: request.secrets.keys().cloned().collect(),
            grants,
            limits: request.limits.unwrap_or(manifest.limits),
            updated_at: audit::now(),
        };
        let sealed = request
            .secrets
            .iter()
            .map(|(name, value)| {
                let slot = secret_slot(&tenant_id, &plugin, name);
                self.vault
                    .seal(&slot, value.as_bytes())
                    .map(|sealed| (slot, sealed))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            tx.delete_prefix(
                Table::Secrets,
                &prefix(&[tenant_id.as_bytes(), plugin.as_bytes()]),
            )?;
            for (slot, sealed) in &sealed {
                tx.put(Table::Secrets, slot, sealed)?;
            }
            put_json(
                &mut *tx,
                Table::Enablements,
                &enablement_key(&tenant_id, &plugin),
                &enablement,
            )?;
            let details = serde_json::json!({
                "version": enablement.version,
                "config_keys": enablement.config.keys().collect::<Vec<_>>(),
                "secret_names": enablement.secret_names,
                "grants": enablement.grants,
            });
            audit::append(
                &mut *tx,
                &tenant_id,
                Event {
                    actor: &actor,
                    action: "plugin.enable",
                    target: &plugin,
                    outcome: "ok",
                    details,
                },
            )?;
            tx.commit()?;
            Ok(enablement)
        })
        .await
    }

    /// Disable `plugin` for `tenant`, erasing its secrets.
    pub async fn disable(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
    ) -> Result<(), ControlError> {
        principal.require_admin()?;
        let (actor, tenant_id, plugin) = (principal.actor(), tenant_id.to_string(), plugin.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            require_enablement(&*tx, &tenant_id, &plugin)?;
            tx.delete(Table::Enablements, &enablement_key(&tenant_id, &plugin))?;
            tx.delete_prefix(
                Table::Secrets,
                &prefix(&[tenant_id.as_bytes(), plugin.as_bytes()]),
            )?;
            audit::append(
                &mut *tx,
                &tenant_id,
                Event {
                    actor: &actor,
                    action: "plugin.disable",
                    target: &plugin,
                    outcome: "ok",
                    details: serde_json::json!({}),
                },
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The plugins enabled for `tenant`.
    pub async fn list_enablements(
        &self,
        principal: &Principal,
        tenant_id: &str,
    ) -> Result<Vec<Enablement>, ControlError> {
        principal.require_tenant(tenant_id)?;
        let tenant_id = tenant_id.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            Ok(scan_json(
                &*tx,
                Table::Enablements,
                &prefix(&[tenant_id.as_bytes()]),
                None,
                usize::MAX,
            )?
            .into_iter()
            .map(|(_, enablement)| enablement)
            .collect())
        })
        .await
    }

    /// The context a call of `enablement` runs with: configuration, opened
    /// secrets, grants and limits.
    pub(crate) fn invocation_context(
        &self,
        tx: &dyn ReadTx,
        enablement: &Enablement,
        request_id: &str,
    ) -> Result<InvocationContext, ControlError> {
        let (tenant_id, plugin) = (&enablement.tenant, &enablement.plugin);
        let mut ctx = InvocationContext::new(tenant_id, plugin);
        ctx.request_id = request_id.to_string();
        ctx.config = enablement.config.clone();
        for (slot, sealed) in tx.scan(
            Table::Secrets,
            &prefix(&[tenant_id.as_bytes(), plugin.as_bytes()]),
            None,
            usize::MAX,
        )? {
            let name =
                String::from_utf8_lossy(slot.rsplit(|&b| b == 0).next().unwrap_or_default()).into_owned();
            let value = self.vault.open(&slot, &sealed)?;
            ctx.secrets
                .insert(name, Secret::new(String::from_utf8_lossy(&value).into_owned()));
        }
        let grants = &enablement.grants;
        ctx.grants = Grants {
            http_hosts: grants
                .http_hosts
                .iter()
                .map(|h| HostPattern::parse(h).map_err(|e| ControlError::Internal(e.to_string())))
                .collect::<Result<_, _>>()?,
            secrets: grants.secrets.iter().cloned().collect(),
            kv: grants.kv,
            data_streams: grants
                .data_streams
                .iter()
                .filter_map(|s| s.split_once('/'))
                .map(|(c, s)| (c.to_string(), s.to_string()))
                .collect(),
        };
        ctx.limits = Limits::requested(&enablement.limits);
        Ok(ctx)
    }
}
