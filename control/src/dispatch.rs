//! Calling an enabled plugin for a tenant, top to bottom: authorise, look up
//! the tenant and the enablement (and refresh its OAuth sign-in when due),
//! admit the call under the tenant's quotas, run it in the sandbox, then
//! record usage and the audit entry before answering.

use crate::control::{ControlError, ControlPlane};
use crate::enablement::{Enablement, sealed_secrets_of, tenant_and_enablement};
use crate::meter::CallRecord;
use crate::oauth::{ConnectionState, connection_state};
use crate::tenant::{Principal, Tenant, TenantStatus};
use omnify_runtime::invoke::{Call, InvocationContext, InvokeError, InvokeErrorKind, Output, PluginError};
use std::sync::Arc;

/// What the API puts before the idempotency key of an action performed
/// directly through `/invoke`: proposals' keys are their ids, which hold no
/// `:`, so the two can never collide.
pub const DIRECT_KEY_PREFIX: &str = "direct:";

/// Whose budget admits a call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Budget<'a> {
    /// The tenant's quotas (`calls_per_minute`, `concurrent_calls`,
    /// `fuel_per_day`).
    Tenant,
    /// A webhook delivery's own budget, already taken: the tenant's quotas
    /// are not charged, so forged deliveries cannot lock its calls out.
    Webhook(&'a crate::webhooks::WebhookPermit),
}

impl ControlPlane {
    /// Run `call` on `plugin` for `tenant_id`.
    pub async fn invoke_enabled(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        call: Call,
        request_id: &str,
    ) -> Result<Output, ControlError> {
        let (result, record) = self
            .invoke_unrecorded(principal, tenant_id, plugin, call, request_id)
            .await?;
        self.meter.record(record).await?;
        result.map_err(|error| ControlError::Invoke(Box::new(error)))
    }

    /// Run `call` like [`ControlPlane::invoke_enabled`] but hand back its
    /// usage record instead of writing it, for a caller that writes it in
    /// the same transaction as what the call produced (a synced batch).
    pub(crate) async fn invoke_unrecorded(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        call: Call,
        request_id: &str,
    ) -> Result<(Result<Output, InvokeError>, CallRecord), ControlError> {
        self.invoke_within(principal, tenant_id, plugin, call, request_id, Budget::Tenant)
            .await
    }

    /// Run `call` like [`ControlPlane::invoke_unrecorded`], admitted by
    /// `budget`. A connector signed in with OAuth gets a fresh access token
    /// first when its token is about to expire, and is called once more
    /// with a refreshed one when it answers `auth`.
    pub(crate) async fn invoke_within(
        &self,
        principal: &Principal,
        tenant_id: &str,
        plugin: &str,
        call: Call,
        request_id: &str,
        budget: Budget<'_>,
    ) -> Result<(Result<Output, InvokeError>, CallRecord), ControlError> {
        principal.require_tenant(tenant_id)?;
        let mut prepared = self.prepared(tenant_id, plugin).await?;
        let Some(connection) = prepared.connection else {
            return self
                .invoke_prepared(&prepared, principal, call, request_id, budget)
                .await;
        };
        if connection.needs_reconnect && call != Call::Spec {
            let problem = "the platform refused to refresh its sign-in";
            return Err(crate::oauth::needs_reconnect(tenant_id, plugin, problem));
        }
        if connection.expires_soon(crate::audit::unix_seconds(std::time::SystemTime::now())) {
            self.refresh_connection(tenant_id, plugin, connection.generation)
                .await?;
            prepared = self.prepared(tenant_id, plugin).await?;
        }
        let (result, record) = self
            .invoke_prepared(&prepared, principal, call.clone(), request_id, budget)
            .await?;
        let refused_auth = matches!(
            &result,
            Err(InvokeError {
                kind: InvokeErrorKind::Plugin(PluginError::Auth { .. }),
                ..
            })
        );
        let Some(seen) = prepared.connection.filter(|_| refused_auth) else {
            return Ok((result, record));
        };
        // The refused call is metered like any other; the second one is
        // what the caller gets.
        self.meter.record(record).await?;
        self.refresh_connection(tenant_id, plugin, seen.generation)
            .await?;
        let prepared = self.prepared(tenant_id, plugin).await?;
        self.invoke_prepared(&prepared, principal, call, request_id, budget)
            .await
    }

    /// Admit and run `call` with what `prepared` holds.
    async fn invoke_prepared(
        &self,
        prepared: &Prepared,
        principal: &Principal,
        call: Call,
        request_id: &str,
        budget: Budget<'_>,
    ) -> Result<(Result<Output, InvokeError>, CallRecord), ControlError> {
        let (tenant, enablement) = (&prepared.tenant, &prepared.enablement);
        let mut ctx = prepared.context.clone();
        ctx.request_id = request_id.to_string();
        let admission = match budget {
            Budget::Tenant => match self.meter.admit(tenant).await {
                Ok(admission) => Some(admission),
                Err(refused) => {
                    // Quota refusals are not audited one by one; the
                    // notifier needs a trace of them (`quota.reached`).
                    self.note_quota_refusal(&tenant.id, &refused).await;
                    return Err(refused);
                }
            },
            Budget::Webhook(permit) => {
                debug_assert!(permit.tenant() == tenant.id && permit.connector() == enablement.plugin);
                None
            }
        };
        let loaded = self.loaded_plugin(&enablement.digest).await?;
        let export = call.export_name();
        // A write on a platform is audited with what it was asked to do.
        let action = match &call {
            Call::Act {
                name,
                input,
                idempotency_key,
            } => Some(serde_json::json!({
                "name": name,
                "input": input,
                "idempotency_key": idempotency_key,
                "direct": idempotency_key.starts_with(DIRECT_KEY_PREFIX),
            })),
            _ => None,
        };
        let result = self.runtime.invoke(&loaded, Arc::new(ctx), call).await;
        drop(admission);
        let (usage, error) = match &result {
            Ok(output) => (output.usage.clone(), None),
            Err(error) => (error.usage.clone(), Some(error.kind.clone())),
        };
        let record = CallRecord {
            tenant: tenant.id.clone(),
            plugin: enablement.plugin.clone(),
            version: enablement.version.clone(),
            export,
            actor: principal.actor(),
            request_id: request_id.to_string(),
            usage,
            error,
            action,
        };
        Ok((result, record))
    }
}

/// What a call of a plugin for a tenant runs with, as read from the store.
pub(crate) struct Prepared {
    tenant: Tenant,
    enablement: Enablement,
    /// The context with the secrets opened, without a request id.
    context: InvocationContext,
    /// The OAuth sign-in, for a connector that signed in.
    connection: Option<ConnectionState>,
}

impl ControlPlane {
    /// What a call of `plugin` for `tenant_id` runs with: from the cache
    /// while the tenants, enablements and secrets are unchanged, else read
    /// (and the secrets opened). A suspended tenant is refused, and
    /// nothing of it kept.
    async fn prepared(&self, tenant_id: &str, plugin: &str) -> Result<Arc<Prepared>, ControlError> {
        let key = (tenant_id.to_string(), plugin.to_string());
        let (tenant_id, plugin) = key.clone();
        let read = async move {
            let (tenant, enablement, sealed, connection) = self
                .read_store(move |tx| {
                    let (tenant, enablement) = tenant_and_enablement(tx, &tenant_id, &plugin)?;
                    let sealed = sealed_secrets_of(tx, &enablement)?;
                    let connection = connection_state(tx, &tenant_id, &plugin)?;
                    Ok((tenant, enablement, sealed, connection))
                })
                .await?;
            if tenant.status == TenantStatus::Suspended {
                return Err(ControlError::Forbidden(format!(
                    "tenant `{}` is suspended",
                    tenant.id
                )));
            }
            let context = self.invocation_context(&enablement, sealed)?;
            Ok(Arc::new(Prepared {
                tenant,
                enablement,
                context,
                connection,
            }))
        };
        self.caches
            .calls
            .get_or_read(self.store.changes(), key, read)
            .await
    }
}
