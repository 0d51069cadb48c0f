//! Enabling a plugin for a tenant: the version, the configuration
//! (validated against the plugin's own `spec`), the secrets (sealed by the
//! vault), the capabilities granted (a subset of what the manifest asks) and
//! the limits. Also builds the [`InvocationContext`] of a call from it.

use crate::audit::{self, Event};
use crate::catalog::{PluginVersion, exact_version, resolve_version};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{Entry, ReadTx, Table, WriteTx, get_json, key, put_json};
use crate::tenant::{self, Principal};
use omnify_registry::{PluginKind, RequestedLimits};
use omnify_runtime::invoke::{Call, CallOutput, Grants, HostPattern, InvocationContext, Limits, Secret};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod grants;
mod secrets;

pub use grants::GrantSpec;
pub use secrets::SecretChanges;

/// The body of an enable request (`PUT /v1/tenants/{tenant}/plugins/{plugin}`):
/// the version to run, its configuration, secrets, grants and limits.
/// Sending it again re-configures the plugin; secrets it does not name stay
/// as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {
    /// Which versions may run, as a semver requirement (`^1.2`, `~1.4.0`,
    /// `=2.0.1`, `*`); the newest matching, non-yanked version is pinned.
    /// `*` when absent.
    pub version: Option<String>,
    /// The configuration, checked against the JSON Schema the plugin's
    /// `spec` export returns. It replaces the configuration stored before.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Secret values by name, stored encrypted and never returned. Only the
    /// secrets named here change: a value sets or replaces one, `null`
    /// removes one (`{"api_token": null}`), and every stored secret not
    /// named is kept, so leaving `secrets` out keeps them all. Each name
    /// must be granted (`grants.secrets`).
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, Option<String>>)]
    pub secrets: SecretChanges,
    /// What the plugin may use. When absent, everything its manifest asks
    /// for. When given, it replaces that whole default, so name every
    /// capability to keep, for example `{"http_hosts": ["127.0.0.1:8081"],
    /// "secrets": ["api_token"], "kv": true}`.
    pub grants: Option<GrantSpec>,
    /// Limits per call (`fuel_per_call`, `memory_mb`, `timeout_ms`); the
    /// manifest's when absent. The host caps them.
    #[schema(value_type = Option<Object>)]
    pub limits: Option<RequestedLimits>,
    /// Limits per sync or agent run, within the host's; the host's when
    /// absent.
    pub run_limits: Option<crate::sync::RunLimits>,
}

/// A change of the version pinned for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repin {
    /// The newest version matching the requirement.
    Upgrade,
    /// The version pinned before.
    Rollback,
}

/// A plugin enabled for a tenant, as stored and shown (secret names only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enablement {
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// The version requirement it was enabled with.
    pub requirement: String,
    /// The version pinned for this tenant: the one that runs.
    pub version: String,
    /// The version pinned before the last change, for rollback.
    pub previous_version: Option<String>,
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
    /// Limits per run, tightening the host's; none: the host's.
    #[serde(default)]
    pub run_limits: Option<crate::sync::RunLimits>,
    /// When it was last changed.
    pub updated_at: String,
    /// Whether the key that signed the pinned version was revoked since
    /// (filled in when listed; upgrade to a version signed by a trusted key).
    #[serde(default)]
    pub signer_revoked: bool,
}

/// The optional body of an upgrade or rollback: the grants from then on,
/// needed when the version moved to asks for more than the tenant granted.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepinRequest {
    /// The grants from now on; checked against the new version's manifest.
    pub grants: Option<GrantSpec>,
}

fn enablement_key(tenant: &str, plugin: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), plugin.as_bytes()])
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

/// The tenant and its enablement of `plugin`; a not-found error names which
/// of the two is missing.
pub(crate) fn tenant_and_enablement(
    tx: &dyn ReadTx,
    tenant_id: &str,
    plugin: &str,
) -> Result<(tenant::Tenant, Enablement), ControlError> {
    let tenant = tenant::require_existing(tx, tenant_id)?;
    Ok((tenant, require_enablement(tx, tenant_id, plugin)?))
}

/// Check `config` against the JSON Schema `schema`, naming every failing
/// path.
fn validate_config(schema: &str, config: &Map<String, Value>) -> Result<(), ControlError> {
    let problems = crate::schema::problems(schema, &Value::Object(config.clone()))
        .map_err(|e| ControlError::Invalid(format!("the plugin's spec: {e}")))?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(ControlError::Invalid(format!(
        "config does not match the plugin's schema: {}",
        problems.join("; ")
    )))
}

/// The sealed secrets of `enablement`, by slot.
pub(crate) fn sealed_secrets_of(
    tx: &dyn ReadTx,
    enablement: &Enablement,
) -> Result<Vec<Entry>, ControlError> {
    let slots = secrets::slots_of(&enablement.tenant, &enablement.plugin);
    Ok(tx.scan(Table::Secrets, &slots, None, usize::MAX)?)
}

/// `value` sealed for the secret `name` of `tenant`'s `plugin`, for
/// [`put_sealed_secret`].
pub(crate) fn seal_secret(
    vault: &crate::vault::Vault,
    tenant: &str,
    plugin: &str,
    name: &str,
    value: &str,
) -> Result<Vec<u8>, ControlError> {
    Ok(vault.seal(&secrets::slot(tenant, plugin, name), value.as_bytes())?)
}

/// Store a secret sealed by [`seal_secret`] (set by the host, such as an
/// OAuth access token) and name it in the enablement.
pub(crate) fn put_sealed_secret(
    tx: &mut dyn WriteTx,
    tenant: &str,
    plugin: &str,
    name: &str,
    sealed: Vec<u8>,
) -> Result<(), ControlError> {
    let mut enablement = require_enablement(&*tx, tenant, plugin)?;
    tx.put(Table::Secrets, &secrets::slot(tenant, plugin, name), &sealed)?;
    if !enablement.secret_names.iter().any(|n| n == name) {
        enablement.secret_names.push(name.to_string());
        enablement.secret_names.sort();
        put_json(
            tx,
            Table::Enablements,
            &enablement_key(tenant, plugin),
            &enablement,
        )?;
    }
    Ok(())
}

impl ControlPlane {
    /// Enable (or re-configure) `plugin` for `tenant`; the stored secrets
    /// the request does not name are kept.
    pub async fn enable(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        request: EnableRequest,
    ) -> Result<Enablement, ControlError> {
        principal.require_admin()?;
        let requirement_text = request.version.clone().unwrap_or_else(|| "*".to_string());
        let requirement = semver::VersionReq::parse(&requirement_text)
            .map_err(|e| ControlError::Invalid(format!("version requirement `{requirement_text}`: {e}")))?;
        let (tenant_id, plugin) = (tenant_id.to_string(), plugin.to_string());
        let lookup = (tenant_id.clone(), plugin.clone());
        let (found, current, stored) = self
            .blocking(move |store| {
                let tx = store.read()?;
                tenant::require_existing(&*tx, &lookup.0)?;
                let current: Option<Enablement> =
                    get_json(&*tx, Table::Enablements, &enablement_key(&lookup.0, &lookup.1))?;
                let stored = secrets::stored_names(&*tx, &lookup.0, &lookup.1)?;
                Ok((resolve_version(&*tx, &lookup.1, &requirement)?, current, stored))
            })
            .await?;
        let manifest = &found.manifest;
        let grants = request
            .grants
            .unwrap_or_else(|| GrantSpec::everything_in(manifest));
        grants.check_within(manifest, self.grantable_hosts())?;
        // Checked here before the plugin runs, and again below against what
        // is stored when the change is written.
        secrets::names_after(&stored, &request.secrets, &grants.secrets)?;
        if let Some(run_limits) = &request.run_limits {
            run_limits.validate_within(&self.sync_config().run_limits)?;
        }
        self.check_config(&found, &tenant_id, &request.config).await?;
        let previous_version = current
            .map(|c| c.version)
            .filter(|previous| *previous != found.version);
        let mut enablement = Enablement {
            tenant: tenant_id.clone(),
            plugin: plugin.clone(),
            requirement: requirement_text,
            version: found.version.clone(),
            previous_version,
            digest: found.digest.clone(),
            kind: manifest.plugin.kind,
            config: request.config,
            secret_names: Vec::new(),
            grants,
            limits: request.limits.unwrap_or(manifest.limits),
            run_limits: request.run_limits,
            updated_at: audit::now(),
            signer_revoked: false,
        };
        let changes = request.secrets;
        let sealed = secrets::seal(&self.vault, &tenant_id, &plugin, &changes)?;
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tenant::require_existing(&*tx, &tenant_id)?;
            let stored = secrets::stored_names(&*tx, &tenant_id, &plugin)?;
            let names = secrets::names_after(&stored, &changes, &enablement.grants.secrets)?;
            enablement.secret_names = names.into_iter().collect();
            secrets::apply(&mut *tx, &tenant_id, &plugin, &changes, &sealed)?;
            put_json(
                &mut *tx,
                Table::Enablements,
                &enablement_key(&tenant_id, &plugin),
                &enablement,
            )?;
            let (secrets_set, secrets_cleared) = secrets::changed_names(&changes);
            let details = serde_json::json!({
                "version": enablement.version,
                "config_keys": enablement.config.keys().collect::<Vec<_>>(),
                "secret_names": enablement.secret_names,
                "secrets_set": secrets_set,
                "secrets_cleared": secrets_cleared,
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

    /// Check `config` against the `spec` of `version` (connectors only).
    async fn check_config(
        &self,
        version: &PluginVersion,
        tenant_id: &str,
        config: &Map<String, Value>,
    ) -> Result<(), ControlError> {
        if version.manifest.plugin.kind != PluginKind::Connector {
            return Ok(());
        }
        let loaded = self.loaded_plugin(&version.digest).await?;
        let ctx = InvocationContext::new(tenant_id, &version.name);
        let spec = self
            .runtime
            .invoke(&loaded, &ctx, Call::Spec)
            .await
            .map_err(|e| ControlError::Invalid(format!("the plugin's spec could not be read: {e}")))?;
        match spec.value {
            CallOutput::Spec(schema) => validate_config(schema.get(), config),
            _ => Ok(()),
        }
    }

    /// Re-resolve the enablement's requirement and pin the newest matching
    /// version (`upgrade`), or return to the version pinned before
    /// (`rollback`). Calls in flight finish on the version they started
    /// with; new calls use the new pin.
    pub async fn repin(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        change: Repin,
        request: RepinRequest,
    ) -> Result<Enablement, ControlError> {
        principal.require_admin()?;
        let (lookup_tenant, lookup_plugin) = (tenant_id.to_string(), plugin.to_string());
        let (current, running, target) = self
            .blocking(move |store| {
                let tx = store.read()?;
                let current = require_enablement(&*tx, &lookup_tenant, &lookup_plugin)?;
                let target = match change {
                    Repin::Upgrade => {
                        let requirement = semver::VersionReq::parse(&current.requirement)
                            .map_err(|e| ControlError::Internal(e.to_string()))?;
                        resolve_version(&*tx, &lookup_plugin, &requirement)?
                    }
                    Repin::Rollback => {
                        let previous = current.previous_version.clone().ok_or_else(|| {
                            ControlError::Conflict(format!(
                                "`{lookup_plugin}` has no earlier version to roll back to"
                            ))
                        })?;
                        exact_version(&*tx, &lookup_plugin, &previous)?
                    }
                };
                let running = exact_version(&*tx, &lookup_plugin, &current.version)?;
                Ok((current, running, target))
            })
            .await?;
        if target.version == current.version {
            return Err(ControlError::Conflict(format!(
                "`{plugin}` is already at {}, the newest version matching `{}`",
                current.version, current.requirement
            )));
        }
        // A version that asks for more than the tenant granted (as browsers
        // and extension hosts ask again for new permissions) needs grants
        // given with this request.
        let grants = match request.grants {
            Some(grants) => {
                grants.check_within(&target.manifest, self.grantable_hosts())?;
                grants
            }
            None => {
                let more = GrantSpec::everything_in(&target.manifest)
                    .beyond(&current.grants, &GrantSpec::everything_in(&running.manifest));
                if !more.is_empty() {
                    return Err(ControlError::Conflict(format!(
                        "`{plugin}` {} asks for more than this tenant granted: {}; repeat the request with \
                         `grants` that say what to grant",
                        target.version,
                        more.join(", ")
                    )));
                }
                current.grants.clone()
            }
        };
        self.check_config(&target, tenant_id, &current.config).await?;
        let action = match change {
            Repin::Upgrade => "plugin.upgrade",
            Repin::Rollback => "plugin.rollback",
        };
        let updated = Enablement {
            version: target.version.clone(),
            digest: target.digest.clone(),
            previous_version: Some(current.version.clone()),
            grants,
            updated_at: audit::now(),
            ..current.clone()
        };
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let stored = require_enablement(&*tx, &updated.tenant, &updated.plugin)?;
            if stored != current {
                return Err(ControlError::Conflict(
                    "the enablement changed meanwhile; try again".into(),
                ));
            }
            put_json(
                &mut *tx,
                Table::Enablements,
                &enablement_key(&updated.tenant, &updated.plugin),
                &updated,
            )?;
            let mut details = serde_json::json!({ "from": current.version, "to": updated.version });
            if updated.grants != current.grants {
                details["grants"] = serde_json::json!(updated.grants);
            }
            let event = Event {
                actor: &actor,
                action,
                target: &updated.plugin,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, &updated.tenant, event)?;
            tx.commit()?;
            Ok(updated)
        })
        .await
    }

    /// Disable `plugin` for `tenant`, erasing its secrets and its sign-in.
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
            tx.delete_prefix(Table::Secrets, &secrets::slots_of(&tenant_id, &plugin))?;
            tx.delete(
                Table::Connections,
                &crate::oauth::connection_key(&tenant_id, &plugin),
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
            let revoked = crate::catalog::revoked_keys(&*tx)?;
            let mut enablements: Vec<Enablement> = tenant::rows_of(&*tx, Table::Enablements, &tenant_id)?;
            for enablement in &mut enablements {
                let pinned = exact_version(&*tx, &enablement.plugin, &enablement.version)?;
                enablement.signer_revoked = pinned.signed_by.is_some_and(|key| revoked.contains(&key));
            }
            Ok(enablements)
        })
        .await
    }

    /// The context a call of `enablement` runs with: configuration, its
    /// secrets (read with [`sealed_secrets_of`]) opened, grants and limits;
    /// each call adds its request id.
    pub(crate) fn invocation_context(
        &self,
        enablement: &Enablement,
        sealed_secrets: Vec<Entry>,
    ) -> Result<InvocationContext, ControlError> {
        let (tenant_id, plugin) = (&enablement.tenant, &enablement.plugin);
        let mut ctx = InvocationContext::new(tenant_id, plugin);
        ctx.config = enablement.config.clone();
        for (slot, sealed) in sealed_secrets {
            let name = secrets::name_of_slot(&slot);
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
