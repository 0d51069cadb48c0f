//! Plugin names belong to publishers: the publisher that first publishes a
//! name owns it, and a package of that name signed for another publisher is
//! refused until the admin transfers the name.

use crate::audit::{self, Event, SYSTEM_CHAIN};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, put_json};
use crate::tenant::Principal;
use serde::{Deserialize, Serialize};

/// Who owns a plugin name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NameOwner {
    /// The plugin's name.
    pub name: String,
    /// The publisher that may publish versions of it.
    pub publisher: String,
    /// When the name was taken or last transferred.
    pub since: String,
}

/// Input of [`ControlPlane::transfer_name`].
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameTransfer {
    /// The publisher that owns the name from now on.
    pub publisher: String,
}

/// The publisher owning `name`: its owner record or, for a name published
/// before owners were recorded, the publisher of its first version.
pub(crate) fn owner_of(tx: &dyn ReadTx, name: &str) -> Result<Option<String>, ControlError> {
    if let Some(owner) = get_json::<NameOwner>(tx, Table::PluginOwners, name.as_bytes())? {
        return Ok(Some(owner.publisher));
    }
    let mut versions = super::versions_of(tx, name)?;
    versions.sort_by(|a, b| a.published_at.cmp(&b.published_at));
    Ok(versions.into_iter().next().map(|v| v.publisher))
}

/// Refuse a version of `name` from `publisher` unless it owns the name;
/// take the name for it when nobody does.
pub(crate) fn claim(tx: &mut dyn WriteTx, name: &str, publisher: &str) -> Result<(), ControlError> {
    match owner_of(tx, name)? {
        Some(owner) if owner == publisher => Ok(()),
        Some(owner) => Err(ControlError::Conflict(format!(
            "plugin name `{name}` belongs to publisher `{owner}`; a package signed for `{publisher}` \
             cannot publish it unless the admin transfers the name (PUT /v1/plugins/{name}/owner)"
        ))),
        None => {
            let owner = NameOwner {
                name: name.to_string(),
                publisher: publisher.to_string(),
                since: audit::now(),
            };
            put_json(tx, Table::PluginOwners, name.as_bytes(), &owner)?;
            Ok(())
        }
    }
}

impl ControlPlane {
    /// Give the plugin name `name` to another publisher (admin): its next
    /// versions must be signed for that publisher.
    pub async fn transfer_name(
        &self,
        principal: &Principal,
        name: &str,
        transfer: NameTransfer,
    ) -> Result<NameOwner, ControlError> {
        principal.require_admin()?;
        if transfer.publisher.trim().is_empty() {
            return Err(ControlError::Invalid("a transfer names the new publisher".into()));
        }
        let (actor, name) = (principal.actor(), name.to_string());
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let from = owner_of(&*tx, &name)?
                .ok_or_else(|| ControlError::NotFound(format!("no plugin `{name}`")))?;
            let owner = NameOwner {
                name: name.clone(),
                publisher: transfer.publisher,
                since: audit::now(),
            };
            put_json(&mut *tx, Table::PluginOwners, name.as_bytes(), &owner)?;
            let event = Event {
                actor: &actor,
                action: "plugin.transfer",
                target: &name,
                outcome: "ok",
                details: serde_json::json!({ "from": from, "to": owner.publisher }),
            };
            audit::append(&mut *tx, SYSTEM_CHAIN, event)?;
            tx.commit()?;
            Ok(owner)
        })
        .await
    }
}
