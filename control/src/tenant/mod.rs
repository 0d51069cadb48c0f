//! Tenants: create, list, suspend, resume, delete; their quotas; and the
//! credentials that act for them ([`keys`]).

pub mod keys;

use crate::audit::checkpoint::{self, Checkpointed};
use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, prefix, put_json, scan_json};
use omnify_registry::manifest::is_plugin_name;
use serde::{Deserialize, Serialize};

pub use keys::{ApiKey, Principal, Role};

/// Whether a tenant's plugins may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TenantStatus {
    /// Everything works.
    Active,
    /// Its plugins do not run and its keys cannot invoke; admins can still
    /// manage it.
    Suspended,
}

/// Per-tenant quotas; a missing value means no quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Fuel all the tenant's calls may use per UTC day.
    pub fuel_per_day: Option<u64>,
    /// Calls per minute.
    pub calls_per_minute: Option<u32>,
    /// Calls running at the same time.
    pub concurrent_calls: Option<u32>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Lower-case letters, digits and `-`; used in URLs.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Active or suspended.
    pub status: TenantStatus,
    /// Its quotas.
    pub quotas: Quotas,
    /// When it was created.
    pub created_at: String,
}

/// Input of [`ControlPlane::create_tenant`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lower-case letters, digits and `-`, starting with a letter.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Quotas; none by default.
    #[serde(default)]
    pub quotas: Quotas,
}

/// Every row of `table` stored under `tenant`, in key order, after checking
/// that the tenant exists, in one snapshot.
pub(crate) fn rows_of<T: serde::de::DeserializeOwned>(
    tx: &dyn ReadTx,
    table: Table,
    tenant: &str,
) -> Result<Vec<T>, ControlError> {
    require_existing(tx, tenant)?;
    Ok(
        scan_json(tx, table, &prefix(&[tenant.as_bytes()]), None, usize::MAX)?
            .into_iter()
            .map(|(_, row)| row)
            .collect(),
    )
}

/// Remove the runs of `tenant`'s due jobs that no worker has started (the
/// queue is keyed by queue id, so each queued job is read for its tenant).
fn delete_queued(tx: &mut dyn WriteTx, tenant: &str) -> Result<u64, ControlError> {
    let queued: Vec<Vec<u8>> = tx
        .scan(Table::Queue, b"", None, usize::MAX)?
        .into_iter()
        .filter(|(_, job)| serde_json::from_slice::<QueuedTenant>(job).is_ok_and(|job| job.tenant == tenant))
        .map(|(queue_id, _)| queue_id)
        .collect();
    for queue_id in &queued {
        tx.delete(Table::Queue, queue_id)?;
    }
    Ok(queued.len() as u64)
}

/// The one field of a queued job that deletion needs.
#[derive(Deserialize)]
struct QueuedTenant {
    tenant: String,
}

/// The tenant `id`, or a not-found error.
pub(crate) fn require_existing(tx: &dyn ReadTx, id: &str) -> Result<Tenant, ControlError> {
    get_json(tx, Table::Tenants, id.as_bytes())?
        .ok_or_else(|| ControlError::NotFound(format!("no tenant `{id}`")))
}

impl ControlPlane {
    /// Create a tenant.
    pub async fn create_tenant(&self, principal: &Principal, new: NewTenant) -> Result<Tenant, ControlError> {
        principal.require_admin()?;
        if !is_plugin_name(&new.id) {
            return Err(ControlError::Invalid(
                "tenant id must be 1 to 64 lower-case letters, digits or `-`, starting with a letter".into(),
            ));
        }
        if new.name.trim().is_empty() || new.name.chars().count() > 200 {
            return Err(ControlError::Invalid(
                "tenant name must be 1 to 200 characters".into(),
            ));
        }
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            if tx.get(Table::Tenants, new.id.as_bytes())?.is_some() {
                return Err(ControlError::Conflict(format!(
                    "tenant `{}` already exists",
                    new.id
                )));
            }
            if tx.get(Table::AuditHeads, new.id.as_bytes())?.is_some() {
                return Err(ControlError::Conflict(format!(
                    "tenant id `{}` belonged to a deleted tenant whose audit log is kept; choose another",
                    new.id
                )));
            }
            let tenant = Tenant {
                id: new.id,
                name: new.name,
                status: TenantStatus::Active,
                quotas: new.quotas,
                created_at: audit::now(),
            };
            put_json(&mut *tx, Table::Tenants, tenant.id.as_bytes(), &tenant)?;
            let details = serde_json::json!({ "name": tenant.name, "quotas": tenant.quotas });
            audit::append(
                &mut *tx,
                &tenant.id,
                Event {
                    actor: &actor,
                    action: "tenant.create",
                    target: &tenant.id,
                    outcome: "ok",
                    details,
                },
            )?;
            tx.commit()?;
            Ok(tenant)
        })
        .await
    }

    /// Every tenant.
    pub async fn list_tenants(&self, principal: &Principal) -> Result<Vec<Tenant>, ControlError> {
        principal.require_admin()?;
        self.blocking(|store| {
            let tx = store.read()?;
            Ok(scan_json(&*tx, Table::Tenants, b"", None, usize::MAX)?
                .into_iter()
                .map(|(_, tenant)| tenant)
                .collect())
        })
        .await
    }

    /// One tenant.
    pub async fn tenant(&self, principal: &Principal, id: &str) -> Result<Tenant, ControlError> {
        principal.require_tenant(id)?;
        let id = id.to_string();
        self.blocking(move |store| require_existing(&*store.read()?, &id))
            .await
    }

    /// Suspend or resume a tenant.
    pub async fn set_tenant_status(
        &self,
        principal: &Principal,
        id: &str,
        status: TenantStatus,
    ) -> Result<Tenant, ControlError> {
        principal.require_admin()?;
        let (actor, id) = (principal.actor(), id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut tenant = require_existing(&*tx, &id)?;
            if tenant.status == status {
                return Err(ControlError::Conflict(
                    format!("tenant `{id}` is already {status:?}").to_lowercase(),
                ));
            }
            tenant.status = status;
            put_json(&mut *tx, Table::Tenants, id.as_bytes(), &tenant)?;
            let action = match status {
                TenantStatus::Active => "tenant.resume",
                TenantStatus::Suspended => "tenant.suspend",
            };
            audit::append(
                &mut *tx,
                &id,
                Event {
                    actor: &actor,
                    action,
                    target: &id,
                    outcome: "ok",
                    details: serde_json::json!({}),
                },
            )?;
            tx.commit()?;
            Ok(tenant)
        })
        .await
    }

    /// Replace a tenant's quotas.
    pub async fn set_quotas(
        &self,
        principal: &Principal,
        id: &str,
        quotas: Quotas,
    ) -> Result<Tenant, ControlError> {
        principal.require_admin()?;
        let (actor, id) = (principal.actor(), id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut tenant = require_existing(&*tx, &id)?;
            tenant.quotas = quotas;
            put_json(&mut *tx, Table::Tenants, id.as_bytes(), &tenant)?;
            let details = serde_json::json!({ "quotas": quotas });
            audit::append(
                &mut *tx,
                &id,
                Event {
                    actor: &actor,
                    action: "tenant.quotas",
                    target: &id,
                    outcome: "ok",
                    details,
                },
            )?;
            tx.commit()?;
            Ok(tenant)
        })
        .await
    }

    /// Delete a tenant: its keys, enablements, secrets, KV entries, records,
    /// runs, jobs, queued runs and sync state are erased in one transaction,
    /// so none of its jobs fires again; its audit chain is kept, ends with
    /// the deletion, and gets a signed checkpoint of that last entry.
    pub async fn delete_tenant(&self, principal: &Principal, id: &str) -> Result<(), ControlError> {
        principal.require_admin()?;
        let (actor, id) = (principal.actor(), id.to_string());
        let signer = self.audit_signer.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            require_existing(&*tx, &id)?;
            let under = prefix(&[id.as_bytes()]);
            let mut erased = serde_json::Map::new();
            for table in [
                Table::Enablements,
                Table::Secrets,
                Table::Kv,
                Table::KvUsage,
                Table::Records,
                Table::Usage,
                Table::Proposals,
                Table::Autonomy,
                Table::SyncState,
                Table::Runs,
                Table::Jobs,
            ] {
                let count = tx.delete_prefix(table, &under)?;
                erased.insert(table.name().to_string(), count.into());
            }
            crate::sync::erase_tenant_runs_index(&mut *tx, &id)?;
            let queued = delete_queued(&mut *tx, &id)?;
            erased.insert(Table::Queue.name().to_string(), queued.into());
            keys::delete_all(&mut *tx, &id)?;
            tx.delete(Table::Tenants, id.as_bytes())?;
            let details = serde_json::json!({ "erased": erased });
            audit::append(
                &mut *tx,
                &id,
                Event {
                    actor: &actor,
                    action: "tenant.delete",
                    target: &id,
                    outcome: "ok",
                    details,
                },
            )?;
            // The chain ends here: sign its last entry with the deletion.
            if let Checkpointed::Broken(problem) = checkpoint::checkpoint(&mut *tx, &id, &signer)? {
                tracing::error!(tenant = %id, seq = problem.seq, reason = %problem.reason,
                    "the deleted tenant's audit chain does not verify; its end is not signed");
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
