//! Registering, listing and deleting a tenant's endpoints, and reading
//! their deliveries (the admin's, like the tenant's other settings).

use super::follow::{cursor_of, endpoints_of, erase, set_cursor};
use super::send::check_url_resolving;
use super::{
    DELIVERIES_LISTED, Delivery, Endpoint, EndpointFormat, EventKind, MAX_ENDPOINTS, OutboxRow,
    StoredEndpoint, endpoint_key, outbox_prefix, seal_context,
};
use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{Table, get_json, put_json, scan_json};
use crate::tenant::{self, Principal};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest endpoint URL.
pub const MAX_URL_LENGTH: usize = 2048;

/// A new webhook endpoint of a tenant.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where deliveries are posted: `https://` (or `http://`); a private or
    /// loopback address only for a host the operator made grantable.
    #[schema(max_length = 2048, pattern = "^https?://")]
    pub url: String,
    /// The kinds of events to send (`proposal.escalated` goes to
    /// `escalation` endpoints only).
    #[serde(default)]
    pub kinds: Vec<EventKind>,
    /// `json` (the default) or `slack`.
    #[serde(default)]
    pub format: EndpointFormat,
    /// Send `proposal.escalated` events here.
    #[serde(default)]
    pub escalation: bool,
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The key of every delivery's `X-Omnify-Signature`. Store it now.
    pub secret: String,
}

fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

impl ControlPlane {
    /// Whether `url` may be an endpoint: the egress rules (scheme, host, no
    /// private address unless its host is grantable), with a lookup for a
    /// name; why not, if not.
    pub async fn check_endpoint_url(&self, url: &str) -> Result<(), String> {
        if url.len() > MAX_URL_LENGTH {
            return Err(format!("at most {MAX_URL_LENGTH} characters"));
        }
        check_url_resolving(url, self.grantable_hosts()).await.map(|_| ())
    }

    /// Register a webhook endpoint for `tenant_id`; returns it with its
    /// signing secret, which is stored sealed and never shown again.
    pub async fn create_endpoint(
        &self,
        principal: &Principal,
        tenant_id: &str,
        new: NewEndpoint,
    ) -> Result<CreatedEndpoint, ControlError> {
        principal.require_tenant(tenant_id)?;
        principal.require_admin()?;
        if new.url.len() > MAX_URL_LENGTH {
            return Err(ControlError::Invalid(format!(
                "url: at most {MAX_URL_LENGTH} characters"
            )));
        }
        if new.kinds.contains(&EventKind::ProposalEscalated) && !new.escalation {
            return Err(ControlError::Invalid(
                "kinds: `proposal.escalated` goes to escalation endpoints: set `escalation: true`".into(),
            ));
        }
        let mut kinds = new.kinds.clone();
        kinds.retain(|k| *k != EventKind::ProposalEscalated);
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() && !new.escalation {
            return Err(ControlError::Invalid(
                "kinds: name at least one kind of event (or set `escalation: true`)".into(),
            ));
        }
        let target = check_url_resolving(&new.url, self.grantable_hosts())
            .await
            .map_err(|why| ControlError::Invalid(format!("url: {why}")))?;
        let id = crate::vault::random_hex(8)?;
        let secret = format!("whsec_{}", crate::vault::random_hex(32)?);
        let endpoint = Endpoint {
            id: id.clone(),
            tenant: tenant_id.to_string(),
            origin: origin_of(&target.url),
            kinds,
            format: new.format,
            escalation: new.escalation,
            created_by: principal.actor(),
            created_at: audit::now(),
        };
        let stored = StoredEndpoint {
            url: hex::encode(
                self.vault
                    .seal(&seal_context(tenant_id, &id, "url"), new.url.as_bytes())?,
            ),
            secret: hex::encode(
                self.vault
                    .seal(&seal_context(tenant_id, &id, "secret"), secret.as_bytes())?,
            ),
            endpoint: endpoint.clone(),
        };
        let (tenant, actor) = (tenant_id.to_string(), principal.actor());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tenant::require_existing(&*tx, &tenant)?;
            if endpoints_of(&*tx, &tenant)?.len() >= MAX_ENDPOINTS {
                return Err(ControlError::Conflict(format!(
                    "tenant `{tenant}` has {MAX_ENDPOINTS} endpoints, the most it may have"
                )));
            }
            put_json(
                &mut *tx,
                Table::NotifyEndpoints,
                &endpoint_key(&tenant, &stored.endpoint.id),
                &stored,
            )?;
            let entry = audit::append(
                &mut *tx,
                &tenant,
                Event {
                    actor: &actor,
                    action: "endpoint.create",
                    target: &stored.endpoint.id,
                    outcome: "ok",
                    details: json!({
                        "origin": stored.endpoint.origin,
                        "kinds": stored.endpoint.kinds,
                        "format": stored.endpoint.format,
                        "escalation": stored.endpoint.escalation,
                    }),
                },
            )?;
            // Events from here on: a tenant's first endpoint is not sent
            // its history.
            if cursor_of(&*tx, &tenant)?.is_none() {
                set_cursor(&mut *tx, &tenant, entry.seq)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(CreatedEndpoint { endpoint, secret })
    }

    /// A tenant's endpoints (never their secrets or URLs' paths).
    pub async fn endpoints(
        &self,
        principal: &Principal,
        tenant_id: &str,
    ) -> Result<Vec<Endpoint>, ControlError> {
        principal.require_tenant(tenant_id)?;
        principal.require_admin()?;
        let tenant_id = tenant_id.to_string();
        self.read_store(move |tx| {
            tenant::require_existing(tx, &tenant_id)?;
            Ok(endpoints_of(tx, &tenant_id)?
                .into_iter()
                .map(|e| e.endpoint)
                .collect())
        })
        .await
    }

    /// Delete an endpoint with its deliveries: nothing more is sent to it.
    pub async fn delete_endpoint(
        &self,
        principal: &Principal,
        tenant_id: &str,
        id: &str,
    ) -> Result<Endpoint, ControlError> {
        principal.require_tenant(tenant_id)?;
        principal.require_admin()?;
        let (tenant, id, actor) = (tenant_id.to_string(), id.to_string(), principal.actor());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            tenant::require_existing(&*tx, &tenant)?;
            let stored: StoredEndpoint = get_json(&*tx, Table::NotifyEndpoints, &endpoint_key(&tenant, &id))?
                .ok_or_else(|| ControlError::NotFound(format!("tenant `{tenant}` has no endpoint `{id}`")))?;
            tx.delete(Table::NotifyEndpoints, &endpoint_key(&tenant, &id))?;
            let deliveries = tx.delete_prefix(Table::NotifyOutbox, &outbox_prefix(&tenant, &id))?;
            audit::append(
                &mut *tx,
                &tenant,
                Event {
                    actor: &actor,
                    action: "endpoint.delete",
                    target: &id,
                    outcome: "ok",
                    details: json!({"origin": stored.endpoint.origin, "deliveries_removed": deliveries}),
                },
            )?;
            // With no endpoint left, the next first one starts from its
            // registration again.
            if endpoints_of(&*tx, &tenant)?.is_empty() {
                erase(&mut *tx, &tenant)?;
            }
            tx.commit()?;
            Ok(stored.endpoint)
        })
        .await
    }

    /// An endpoint's most recent deliveries, newest first.
    pub async fn deliveries(
        &self,
        principal: &Principal,
        tenant_id: &str,
        id: &str,
    ) -> Result<Vec<Delivery>, ControlError> {
        principal.require_tenant(tenant_id)?;
        principal.require_admin()?;
        let (tenant_id, id) = (tenant_id.to_string(), id.to_string());
        self.read_store(move |tx| {
            tenant::require_existing(tx, &tenant_id)?;
            if tx
                .get(Table::NotifyEndpoints, &endpoint_key(&tenant_id, &id))?
                .is_none()
            {
                return Err(ControlError::NotFound(format!(
                    "tenant `{tenant_id}` has no endpoint `{id}`"
                )));
            }
            Ok(scan_json::<OutboxRow>(
                tx,
                Table::NotifyOutbox,
                &outbox_prefix(&tenant_id, &id),
                None,
                DELIVERIES_LISTED,
            )?
            .into_iter()
            .map(|(_, row)| row.delivery)
            .collect())
        })
        .await
    }
}
