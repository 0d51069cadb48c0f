//! Webhook deliveries: `X-Hub-Signature-256: sha256=<hex>` is the
//! HMAC-SHA256 of the raw body under the app secret; the body is
//! `{"object", "entry": [{"id", "time", "changes": [{"field", "value"}]}]}`.

use omnify_sdk::connector::WebhookEvent;
use omnify_sdk::{Error, Value, json, webhook};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Delivery {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    time: Value,
    /// Some objects (messaging) send other lists; only `changes` are events here.
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: Value,
}

/// Verify a delivery and decode one event per change, of kind
/// `<object>.<field>` (for example `ad_account.with_issues_ad_objects`).
pub fn verify(headers: &[(String, String)], body: &[u8]) -> Result<Vec<WebhookEvent>, Error> {
    let signature = webhook::header(headers, "x-hub-signature-256")
        .ok_or_else(|| Error::invalid_input("the delivery has no X-Hub-Signature-256 header"))?;
    let hex = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| Error::invalid_input("X-Hub-Signature-256 is not `sha256=<hex>`"))?;
    let secret = omnify_sdk::secrets::get("app_secret")?;
    if !webhook::verify_hex(secret.as_bytes(), body, hex) {
        return Err(Error::Auth(
            "X-Hub-Signature-256 does not match the body under the app secret".into(),
        ));
    }
    let delivery: Delivery = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_input(format!("the delivery is not a Graph webhook body: {e}")))?;
    Ok(delivery
        .entry
        .into_iter()
        .flat_map(|entry| {
            let object = delivery.object.clone();
            entry.changes.into_iter().map(move |change| WebhookEvent {
                kind: format!("{object}.{}", change.field),
                payload: json!({
                    "object": object,
                    "id": entry.id.clone(),
                    "time": entry.time.clone(),
                    "field": change.field,
                    "value": change.value,
                }),
            })
        })
        .collect())
}
