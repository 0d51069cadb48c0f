//! The secrets of an enablement: what an enable request changes (set,
//! replace or clear by name, keeping every secret it does not name), the
//! check against the grant, and the sealed slots in the store.

use crate::control::ControlError;
use crate::store::storage::{ReadTx, Table, WriteTx, key, prefix};
use crate::vault::Vault;
use std::collections::{BTreeMap, BTreeSet};

/// The changes an enable request makes to the stored secrets: a value sets
/// or replaces that secret, `None` clears it; a name not in the map keeps
/// whatever is stored.
pub type SecretChanges = BTreeMap<String, Option<String>>;

/// A sealed secret: its slot and the sealed value.
pub(super) type Sealed = (Vec<u8>, Vec<u8>);

/// The store key of one sealed secret.
pub(super) fn slot(tenant: &str, plugin: &str, name: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), plugin.as_bytes(), name.as_bytes()])
}

/// The prefix of every sealed secret of an enablement.
pub(super) fn slots_of(tenant: &str, plugin: &str) -> Vec<u8> {
    prefix(&[tenant.as_bytes(), plugin.as_bytes()])
}

/// The name a slot key ends with.
pub(super) fn name_of_slot(slot: &[u8]) -> String {
    String::from_utf8_lossy(slot.rsplit(|&b| b == 0).next().unwrap_or_default()).into_owned()
}

/// The names of the secrets stored for an enablement.
pub(super) fn stored_names(
    tx: &dyn ReadTx,
    tenant: &str,
    plugin: &str,
) -> Result<BTreeSet<String>, ControlError> {
    Ok(tx
        .scan(Table::Secrets, &slots_of(tenant, plugin), None, usize::MAX)?
        .iter()
        .map(|(slot, _)| name_of_slot(slot))
        .collect())
}

/// The names stored after applying `changes` to `stored`, checked against
/// `granted`: a secret may be set only if it is granted, cleared only if it
/// is granted or stored, and no secret outside the grant may stay stored.
pub(super) fn names_after(
    stored: &BTreeSet<String>,
    changes: &SecretChanges,
    granted: &[String],
) -> Result<BTreeSet<String>, ControlError> {
    let is_granted = |name: &str| granted.iter().any(|g| g == name);
    for (name, value) in changes {
        let known = is_granted(name) || (value.is_none() && stored.contains(name));
        if !known {
            return Err(ControlError::Invalid(format!(
                "secret `{name}` is not granted to the plugin (granted: {granted:?}); only a secret named in \
                 `grants.secrets` (by default the manifest's `capabilities.secrets`) can be set"
            )));
        }
    }
    let mut names = stored.clone();
    for (name, value) in changes {
        match value {
            Some(_) => names.insert(name.clone()),
            None => names.remove(name),
        };
    }
    if let Some(name) = names.iter().find(|name| !is_granted(name)) {
        return Err(ControlError::Invalid(format!(
            "the stored secret `{name}` would no longer be granted (granted: {granted:?}); grant it in \
             `grants.secrets`, or clear it with `\"secrets\": {{\"{name}\": null}}`"
        )));
    }
    Ok(names)
}

/// The secrets `changes` sets, sealed for their slots.
pub(super) fn seal(
    vault: &Vault,
    tenant: &str,
    plugin: &str,
    changes: &SecretChanges,
) -> Result<Vec<Sealed>, ControlError> {
    changes
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|value| (name, value)))
        .map(|(name, value)| {
            let slot = slot(tenant, plugin, name);
            let sealed = vault.seal(&slot, value.as_bytes())?;
            Ok((slot, sealed))
        })
        .collect()
}

/// Write `sealed` and erase the secrets `changes` clears, leaving every
/// other stored secret as it is.
pub(super) fn apply(
    tx: &mut dyn WriteTx,
    tenant: &str,
    plugin: &str,
    changes: &SecretChanges,
    sealed: &[Sealed],
) -> Result<(), ControlError> {
    for name in changes
        .iter()
        .filter(|(_, value)| value.is_none())
        .map(|(name, _)| name)
    {
        tx.delete(Table::Secrets, &slot(tenant, plugin, name))?;
    }
    for (slot, sealed) in sealed {
        tx.put(Table::Secrets, slot, sealed)?;
    }
    Ok(())
}

/// The names `changes` sets and the names it clears, for the audit log.
pub(super) fn changed_names(changes: &SecretChanges) -> (Vec<&str>, Vec<&str>) {
    let named = |set: bool| {
        changes
            .iter()
            .filter(|(_, value)| value.is_some() == set)
            .map(|(name, _)| name.as_str())
            .collect()
    };
    (named(true), named(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn granted(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn no_changes_keep_every_stored_secret() {
        let stored = set(&["api_key", "webhook_secret"]);
        let after = names_after(
            &stored,
            &SecretChanges::new(),
            &granted(&["api_key", "webhook_secret"]),
        );
        assert_eq!(after.expect("valid"), stored);
    }

    #[test]
    fn a_change_sets_one_and_clears_another() {
        let stored = set(&["api_key", "webhook_secret"]);
        let changes = SecretChanges::from([
            ("api_key".to_string(), Some("new".to_string())),
            ("webhook_secret".to_string(), None),
        ]);
        let after = names_after(&stored, &changes, &granted(&["api_key", "webhook_secret"]));
        assert_eq!(after.expect("valid"), set(&["api_key"]));
    }

    #[test]
    fn a_name_outside_the_grant_is_refused() {
        let changes = SecretChanges::from([("other".to_string(), Some("x".to_string()))]);
        let error = names_after(&set(&[]), &changes, &granted(&["api_key"])).expect_err("refused");
        assert!(error.to_string().contains("`other` is not granted"), "{error}");
        let clear_unknown = SecretChanges::from([("other".to_string(), None)]);
        assert!(names_after(&set(&[]), &clear_unknown, &granted(&["api_key"])).is_err());
    }

    #[test]
    fn a_narrowed_grant_needs_the_stored_secret_cleared() {
        let stored = set(&["api_key", "webhook_secret"]);
        let narrowed = granted(&["api_key"]);
        let error = names_after(&stored, &SecretChanges::new(), &narrowed).expect_err("refused");
        assert!(error.to_string().contains("\"webhook_secret\": null"), "{error}");
        let clear = SecretChanges::from([("webhook_secret".to_string(), None)]);
        assert_eq!(
            names_after(&stored, &clear, &narrowed).expect("valid"),
            set(&["api_key"])
        );
    }
}
