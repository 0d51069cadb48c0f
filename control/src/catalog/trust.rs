//! The trust store: the publisher keys whose signatures the host accepts.
//! Admins add and revoke keys; a revoked key's packages can no longer be
//! published (versions already published keep running).

use crate::audit::{self, Event, SYSTEM_CHAIN};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, get_json, put_json, scan_json};
use crate::tenant::Principal;
use omnify_registry::signing::{key_id, parse_public_key};
use serde::{Deserialize, Serialize};

/// A publisher key in the trust store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustedKey {
    /// Short id of the key (from its public key).
    pub id: String,
    /// The publisher it belongs to; must match a package's `publisher`.
    pub publisher: String,
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// When it was added.
    pub added_at: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// Input of [`ControlPlane::trust_key`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrustedKey {
    /// The publisher's name, as packages name it.
    pub publisher: String,
    /// The ed25519 public key, hex (`omnify plugin keygen` prints it).
    pub public_key: String,
}

/// The trusted, unrevoked key `public_key_hex`, or why it is not one.
pub(crate) fn require_trusted(tx: &dyn ReadTx, public_key_hex: &str) -> Result<TrustedKey, ControlError> {
    let id = key_id(public_key_hex);
    let key: TrustedKey = get_json(tx, Table::PublisherKeys, id.as_bytes())?.ok_or_else(|| {
        ControlError::Invalid(format!(
            "the package is signed by key {id}, which is not in the host's trust store"
        ))
    })?;
    if key.public_key != public_key_hex {
        return Err(ControlError::Invalid(format!(
            "the package is signed by an unknown key with id {id}"
        )));
    }
    if key.revoked_at.is_some() {
        return Err(ControlError::Invalid(format!(
            "the package is signed by key {id} of `{}`, which was revoked",
            key.publisher
        )));
    }
    Ok(key)
}

impl ControlPlane {
    /// Add a publisher key to the trust store.
    pub async fn trust_key(
        &self,
        principal: &Principal,
        new: NewTrustedKey,
    ) -> Result<TrustedKey, ControlError> {
        principal.require_admin()?;
        parse_public_key(&new.public_key).map_err(|e| ControlError::Invalid(e.to_string()))?;
        if new.publisher.trim().is_empty() {
            return Err(ControlError::Invalid("publisher must not be empty".into()));
        }
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let id = key_id(&new.public_key);
            if tx.get(Table::PublisherKeys, id.as_bytes())?.is_some() {
                return Err(ControlError::Conflict(format!(
                    "key {id} is already in the trust store"
                )));
            }
            let key = TrustedKey {
                id: id.clone(),
                publisher: new.publisher,
                public_key: new.public_key,
                added_at: audit::now(),
                revoked_at: None,
            };
            put_json(&mut *tx, Table::PublisherKeys, id.as_bytes(), &key)?;
            let details = serde_json::json!({ "publisher": key.publisher, "public_key": key.public_key });
            let event = Event {
                actor: &actor,
                action: "publisher-key.add",
                target: &id,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, SYSTEM_CHAIN, event)?;
            tx.commit()?;
            Ok(key)
        })
        .await
    }

    /// The trust store.
    pub async fn trusted_keys(&self, principal: &Principal) -> Result<Vec<TrustedKey>, ControlError> {
        principal.require_admin()?;
        self.blocking(|store| {
            let tx = store.read()?;
            Ok(scan_json(&*tx, Table::PublisherKeys, b"", None, usize::MAX)?
                .into_iter()
                .map(|(_, key)| key)
                .collect())
        })
        .await
    }

    /// Revoke a publisher key.
    pub async fn revoke_trusted_key(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<TrustedKey, ControlError> {
        principal.require_admin()?;
        let (actor, id) = (principal.actor(), id.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let mut key: TrustedKey = get_json(&*tx, Table::PublisherKeys, id.as_bytes())?
                .ok_or_else(|| ControlError::NotFound(format!("no publisher key `{id}`")))?;
            if key.revoked_at.is_some() {
                return Err(ControlError::Conflict(format!("key `{id}` is already revoked")));
            }
            key.revoked_at = Some(audit::now());
            put_json(&mut *tx, Table::PublisherKeys, id.as_bytes(), &key)?;
            let event = Event {
                actor: &actor,
                action: "publisher-key.revoke",
                target: &id,
                outcome: "ok",
                details: serde_json::json!({}),
            };
            audit::append(&mut *tx, SYSTEM_CHAIN, event)?;
            tx.commit()?;
            Ok(key)
        })
        .await
    }
}
