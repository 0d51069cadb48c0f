//! Webhook deliveries. A platform posts to `/v1/hooks/{tenant}/{connector}`
//! without an API key; the connector's `verify-webhook` checks the
//! signature over the raw body and decodes the events, which the host keeps
//! as records of the connector's [`WEBHOOK_STREAM`] and audits. A delivery
//! that fails verification stores nothing.

use crate::audit::{self, Event};
use crate::control::{ControlError, ControlPlane};
use crate::invoke::{Call, CallOutput, InvokeErrorKind, PluginError};
use crate::store::Storage;
use crate::store::storage::{Table, prefix};
use crate::tenant::Principal;
use serde::Serialize;
use serde_json::json;

/// The stream a connector's verified webhook events are kept in.
pub const WEBHOOK_STREAM: &str = "webhook_events";

/// What a verified delivery contained.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// The ids of the event records written, in delivery order.
    pub records: Vec<String>,
    /// The platform's event types, in the same order.
    pub kinds: Vec<String>,
}

impl ControlPlane {
    /// Verify a delivery to `connector` of `tenant_id` and keep its events.
    /// A refused signature is `Unauthenticated`, a malformed delivery
    /// `Invalid`; either stores nothing.
    pub async fn receive_webhook(
        &self,
        tenant_id: &str,
        connector: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        request_id: &str,
    ) -> Result<WebhookReceipt, ControlError> {
        let principal = Principal::system("webhook", tenant_id);
        let call = Call::VerifyWebhook { headers, body };
        let output = self
            .invoke_enabled(&principal, tenant_id, connector, call, request_id)
            .await
            .map_err(|error| match error {
                ControlError::Invoke(failure) => match &failure.kind {
                    InvokeErrorKind::Plugin(PluginError::Auth { message }) => ControlError::Unauthenticated(
                        format!("the delivery's signature was refused: {message}"),
                    ),
                    InvokeErrorKind::Plugin(PluginError::InvalidInput { message }) => {
                        ControlError::Invalid(format!("the delivery was refused: {message}"))
                    }
                    _ => ControlError::Invoke(failure),
                },
                other => other,
            })?;
        let CallOutput::VerifyWebhook(events) = output.value else {
            return Err(ControlError::Internal(
                "verify-webhook returned another export's output".into(),
            ));
        };
        let received_at = audit::now();
        let stamp = audit::unix_seconds(std::time::SystemTime::now());
        let mut records = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            let id = format!("{stamp:012}-{}-{index:04}", crate::vault::random_hex(4)?);
            let record = json!({
                "id": id,
                "kind": event.kind,
                "payload": event.payload,
                "received_at": received_at,
            });
            records.push((id, record.to_string()));
        }
        let (tenant_id, connector, request_id) = (
            tenant_id.to_string(),
            connector.to_string(),
            request_id.to_string(),
        );
        let kinds: Vec<String> = events.into_iter().map(|e| e.kind).collect();
        self.blocking(move |store| {
            let mut tx = store.write()?;
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
                actor: "webhook",
                action: "webhook.receive",
                target: &connector,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, &tenant_id, event)?;
            tx.commit()?;
            Ok(WebhookReceipt { records: ids, kinds })
        })
        .await
    }
}
