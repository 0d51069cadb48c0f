//! Webhook deliveries. A platform posts to `/v1/hooks/{tenant}/{connector}`
//! without an API key; the connector's `verify-webhook` checks the
//! signature over the raw body and decodes the events, which the host keeps
//! as records of the connector's [`WEBHOOK_STREAM`] and audits.
//!
//! Since anyone may post, a delivery must cost an attacker more than it
//! costs the host: an address that is not an enabled connector of an active
//! tenant gets one and the same 404 without a store write; a delivery is
//! admitted by a budget of its (tenant, connector) ([`limits`]) before its
//! body is read or a sandbox started, never by the tenant's own quotas; a
//! body over the cap is refused unread; and refusals are counted in the
//! metrics and only summarised in the audit chain ([`refusals`]).

pub mod limits;
pub mod refusals;

use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::dispatch::Budget;
use crate::enablement::require_enablement;
use crate::store::storage::{Table, prefix};
use crate::tenant::{self, Principal, TenantStatus};
use limits::{Exhausted, WebhookGate};
use omnify_registry::PluginKind;
use omnify_runtime::invoke::{Call, CallOutput, InvokeErrorKind, PluginError};
use refusals::{RefusalLog, Summary};
use serde::Serialize;
use serde_json::json;
use std::sync::Weak;
use std::time::Duration;

pub use limits::{WebhookLimits, WebhookPermit};
pub use refusals::RefusalReason;

/// The stream a connector's verified webhook events are kept in.
pub const WEBHOOK_STREAM: &str = "webhook_events";

/// The actor of webhook deliveries in usage and the audit log; its calls
/// are not charged to the tenant's quotas.
pub const WEBHOOK_ACTOR: &str = "webhook";

/// The one message of every address that is not a webhook endpoint.
pub const NOT_AN_ENDPOINT: &str = "no webhook endpoint at this address";

/// What a verified delivery contained.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// The ids of the event records written, in delivery order.
    pub records: Vec<String>,
    /// The platform's event types, in the same order.
    pub kinds: Vec<String>,
}

/// Why a delivery was not kept.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No enabled connector of an active tenant at this address (the same
    /// for every reason, so tenants and connectors cannot be enumerated).
    #[error("{NOT_AN_ENDPOINT}")]
    NotFound,
    /// The body is over the cap.
    #[error("the delivery is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The endpoint's rate limit or concurrency cap is reached.
    #[error("too many deliveries to this endpoint; retry in {} s", whole_seconds(*retry_after))]
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// The body did not arrive whole or in time.
    #[error("the delivery's body could not be read: {0}")]
    Unreadable(String),
    /// Refused by the connector, or failed on the host.
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl From<crate::store::StoreError> for WebhookError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Control(error.into())
    }
}

/// The webhook state of a control plane: the budgets and the refusals not
/// yet summarised.
#[derive(Debug, Default)]
pub(crate) struct Webhooks {
    gate: WebhookGate,
    refusals: RefusalLog,
}

/// `duration` in whole seconds, rounded up, at least one: a `Retry-After`.
pub fn whole_seconds(duration: Duration) -> u64 {
    (duration.as_secs() + u64::from(duration.subsec_nanos() > 0)).max(1)
}

/// `Ok(None)` for a not-found error, so a lookup can go on.
fn found<T>(result: Result<T, ControlError>) -> Result<Option<T>, ControlError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ControlError::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

impl ControlPlane {
    /// The limits on webhook deliveries.
    pub fn webhook_limits(&self) -> WebhookLimits {
        self.webhooks.gate.limits()
    }

    /// Replace the limits on webhook deliveries, from the next delivery on.
    pub fn set_webhook_limits(&self, limits: WebhookLimits) {
        self.webhooks.gate.set_limits(limits);
    }

    /// Admit a delivery to `connector` of `tenant_id` whose sender declared
    /// `declared_len` bytes, before its body is read: the same
    /// [`WebhookError::NotFound`] for an unknown tenant, a suspended one, a
    /// plugin not enabled and one that is not a connector (each a read, no
    /// write); then the body cap and the endpoint's budget.
    pub async fn admit_webhook(
        &self,
        tenant_id: &str,
        connector: &str,
        declared_len: Option<u64>,
    ) -> Result<WebhookPermit, WebhookError> {
        let (tenant, enablement) = {
            // Both looked up whatever the first says, for one timing class.
            let (tenant_id, connector) = (tenant_id.to_string(), connector.to_string());
            self.read_store(move |tx| {
                Ok((
                    tenant::require_existing(tx, &tenant_id),
                    require_enablement(tx, &tenant_id, &connector),
                ))
            })
            .await?
        };
        let endpoint = found(tenant)?.is_some_and(|t| t.status != TenantStatus::Suspended)
            && found(enablement)?.is_some_and(|e| e.kind == PluginKind::Connector);
        if !endpoint {
            return Err(WebhookError::NotFound);
        }
        let limits = self.webhook_limits();
        if declared_len.is_some_and(|len| len > limits.max_body_bytes as u64) {
            self.refuse_webhook(tenant_id, connector, RefusalReason::TooLarge)
                .await;
            return Err(WebhookError::TooLarge {
                limit: limits.max_body_bytes,
            });
        }
        match self.webhooks.gate.admit(tenant_id, connector) {
            Ok(permit) => Ok(permit),
            Err(exhausted) => {
                let (reason, retry_after) = match exhausted {
                    Exhausted::Rate(wait) => (RefusalReason::RateLimited, wait),
                    Exhausted::Concurrency => (RefusalReason::Concurrency, Duration::from_secs(1)),
                };
                self.refuse_webhook(tenant_id, connector, reason).await;
                Err(WebhookError::RateLimited { retry_after })
            }
        }
    }

    /// Count a refused delivery in the metrics, and write the endpoint's
    /// `webhook.refused` summary when one is due. A failed summary is
    /// logged, not returned: the refusal stands either way.
    pub async fn refuse_webhook(&self, tenant_id: &str, connector: &str, reason: RefusalReason) {
        tracing::debug!(
            tenant = tenant_id,
            connector,
            reason = reason.as_str(),
            "webhook refused"
        );
        self.meter
            .metrics()
            .webhook_refused(tenant_id, connector, reason.as_str());
        let interval = self.webhook_limits().summary_interval;
        if let Some(summary) = self
            .webhooks
            .refusals
            .note(tenant_id, connector, reason, interval)
            && let Err(error) = self.write_refusal_summaries(vec![summary]).await
        {
            tracing::error!(%error, "cannot write a webhook refusal summary");
        }
    }

    /// Write the refusal summaries that are due (every pending one when
    /// `all`, as at shutdown); returns how many were written.
    pub async fn flush_webhook_refusals(&self, all: bool) -> Result<usize, ControlError> {
        let interval = self.webhook_limits().summary_interval;
        let due = self.webhooks.refusals.due(interval, all);
        let count = due.len();
        if count > 0 {
            self.write_refusal_summaries(due).await?;
        }
        Ok(count)
    }

    async fn write_refusal_summaries(&self, summaries: Vec<Summary>) -> Result<(), ControlError> {
        self.blocking(move |store| {
            let mut tx = store.write()?;
            for summary in summaries {
                // A tenant deleted since gets no chain back.
                if found(tenant::require_existing(&*tx, &summary.tenant))?.is_none() {
                    continue;
                }
                let total: u64 = summary.counts.values().sum();
                let details = json!({
                    "count": total,
                    "reasons": summary.counts,
                    "since": summary.since,
                    "until": audit::now(),
                });
                let event = Event {
                    actor: WEBHOOK_ACTOR,
                    action: "webhook.refused",
                    target: &summary.connector,
                    outcome: "refused",
                    details,
                };
                audit::append(&mut *tx, &summary.tenant, event)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Verify a delivery admitted by `permit` and keep its events. A refused
    /// signature is `Unauthenticated`, a malformed delivery `Invalid`; a
    /// refused delivery stores nothing but its usage, and is summarised in
    /// the audit chain rather than audited on its own.
    pub async fn receive_webhook(
        &self,
        permit: WebhookPermit,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        request_id: &str,
    ) -> Result<WebhookReceipt, WebhookError> {
        let (tenant_id, connector) = (permit.tenant().to_string(), permit.connector().to_string());
        let principal = Principal::system(WEBHOOK_ACTOR, &tenant_id);
        let call = Call::VerifyWebhook { headers, body };
        let (result, record) = self
            .invoke_within(
                &principal,
                &tenant_id,
                &connector,
                call,
                request_id,
                Budget::Webhook(&permit),
            )
            .await?;
        drop(permit);
        let output = match result {
            Ok(output) => output,
            Err(failure) => {
                self.meter.record_unaudited(record).await?;
                let (reason, error) = match &failure.kind {
                    InvokeErrorKind::Plugin(PluginError::Auth { message }) => (
                        RefusalReason::BadSignature,
                        ControlError::Unauthenticated(format!(
                            "the delivery's signature was refused: {message}"
                        )),
                    ),
                    InvokeErrorKind::Plugin(PluginError::InvalidInput { message }) => (
                        RefusalReason::Invalid,
                        ControlError::Invalid(format!("the delivery was refused: {message}")),
                    ),
                    _ => (RefusalReason::Failed, ControlError::Invoke(Box::new(failure))),
                };
                self.refuse_webhook(&tenant_id, &connector, reason).await;
                return Err(error.into());
            }
        };
        let CallOutput::VerifyWebhook(events) = output.value else {
            self.meter.record(record).await?;
            return Err(
                ControlError::Internal("verify-webhook returned another export's output".into()).into(),
            );
        };
        let received_at = audit::now();
        let stamp = audit::unix_seconds(std::time::SystemTime::now());
        let mut records = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let id = format!(
                "{stamp:012}-{}-{index:04}",
                crate::vault::random_hex(4).map_err(ControlError::from)?
            );
            let record = json!({
                "id": id,
                "kind": event.kind,
                "payload": event.payload,
                "received_at": received_at,
            });
            records.push((id, record.to_string()));
        }
        let request_id = request_id.to_string();
        let kinds: Vec<String> = events.into_iter().map(|e| e.kind).collect();
        self.meter.observe(&record);
        // The call's usage and audit entry, the events and the delivery's
        // audit entry in one commit.
        let receipt = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                crate::meter::write_record(&mut *tx, &record)?;
                let stream = prefix(&[
                    tenant_id.as_bytes(),
                    connector.as_bytes(),
                    WEBHOOK_STREAM.as_bytes(),
                ]);
                for (id, record) in &records {
                    tx.put(
                        Table::Records,
                        &[stream.as_slice(), id.as_bytes()].concat(),
                        record.as_bytes(),
                    )?;
                }
                let ids: Vec<String> = records.into_iter().map(|(id, _)| id).collect();
                let details = json!({ "request_id": request_id, "events": ids, "kinds": kinds });
                let event = Event {
                    actor: WEBHOOK_ACTOR,
                    action: "webhook.receive",
                    target: &connector,
                    outcome: "ok",
                    details,
                };
                audit::append(&mut *tx, &tenant_id, event)?;
                tx.commit()?;
                Ok(WebhookReceipt { records: ids, kinds })
            })
            .await?;
        Ok(receipt)
    }
}

/// Write due refusal summaries every summary interval (at least every
/// second) until the control plane is dropped.
pub async fn flush_refusals_periodically(control: Weak<ControlPlane>) {
    loop {
        let interval = match control.upgrade() {
            Some(control) => control.webhook_limits().summary_interval,
            None => return,
        };
        tokio::time::sleep(interval.max(Duration::from_secs(1))).await;
        let Some(control) = control.upgrade() else {
            return;
        };
        if let Err(error) = control.flush_webhook_refusals(false).await {
            tracing::error!(%error, "cannot write webhook refusal summaries");
        }
    }
}
