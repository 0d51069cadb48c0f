//! The audit log: append-only, one hash chain per tenant. Each entry
//! carries the hash of the one before it and is written in the same
//! transaction as the change it records, so a change and its entry exist
//! together or not at all. `verify` finds the first entry that was edited,
//! removed or reordered.

mod queries;

pub use queries::export;

use crate::store::StoreError;
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, key, prefix, put_json, scan_json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of a chain's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain of events that belong to no tenant (plugin uploads, for
/// example). Tenant ids cannot start with `_`, so it never collides.
pub const SYSTEM_CHAIN: &str = "_system";

/// One entry of a tenant's audit chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// The tenant whose chain this is.
    pub tenant: String,
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When, as RFC 3339 UTC.
    pub time: String,
    /// Who: `admin`, `key:<id>`, or `system`.
    pub actor: String,
    /// What, for example `tenant.create` or `plugin.invoke`.
    pub action: String,
    /// On what, for example a plugin name.
    pub target: String,
    /// `ok`, or what went wrong.
    pub outcome: String,
    /// Further facts; never a secret value.
    pub details: Value,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// sha256 of this entry's other fields.
    pub hash: String,
}

/// What a new entry says; the chain fills in the rest.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Who.
    pub actor: &'a str,
    /// What.
    pub action: &'a str,
    /// On what.
    pub target: &'a str,
    /// `ok` or what went wrong.
    pub outcome: &'a str,
    /// Further facts.
    pub details: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The fields a hash covers, in a fixed order.
#[derive(Serialize)]
struct Hashed<'a> {
    tenant: &'a str,
    seq: u64,
    time: &'a str,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    outcome: &'a str,
    details: &'a Value,
    prev_hash: &'a str,
}

fn hash_of(entry: &AuditEntry) -> String {
    let hashed = Hashed {
        tenant: &entry.tenant,
        seq: entry.seq,
        time: &entry.time,
        actor: &entry.actor,
        action: &entry.action,
        target: &entry.target,
        outcome: &entry.outcome,
        details: &entry.details,
        prev_hash: &entry.prev_hash,
    };
    // Serializing a struct of strings and a JSON value cannot fail, and
    // serde_json's maps are sorted, so the bytes are canonical.
    let bytes = serde_json::to_vec(&hashed).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

fn entry_key(tenant: &str, seq: u64) -> Vec<u8> {
    key(&[tenant.as_bytes(), &seq.to_be_bytes()])
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Whole seconds since the Unix epoch.
pub fn unix_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A time in Unix seconds as RFC 3339 UTC.
pub fn rfc3339_at(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .to_string()
}

/// Append an event to `tenant`'s chain inside `tx`.
pub fn append(tx: &mut dyn WriteTx, tenant: &str, event: Event<'_>) -> Result<AuditEntry, StoreError> {
    let head: Option<Head> = get_json(tx, Table::AuditHeads, tenant.as_bytes())?;
    let (seq, prev_hash) = head.map_or((1, GENESIS_HASH.to_string()), |h| (h.seq + 1, h.hash));
    let mut entry = AuditEntry {
        tenant: tenant.to_string(),
        seq,
        time: now(),
        actor: event.actor.to_string(),
        action: event.action.to_string(),
        target: event.target.to_string(),
        outcome: event.outcome.to_string(),
        details: event.details,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = hash_of(&entry);
    put_json(tx, Table::Audit, &entry_key(tenant, seq), &entry)?;
    put_json(
        tx,
        Table::AuditHeads,
        tenant.as_bytes(),
        &Head {
            seq,
            hash: entry.hash.clone(),
        },
    )?;
    Ok(entry)
}

/// Up to `limit` entries of `tenant`'s chain with a sequence above `since`.
pub fn list(tx: &dyn ReadTx, tenant: &str, since: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    let after = (since > 0).then(|| entry_key(tenant, since));
    Ok(scan_json(
        tx,
        Table::Audit,
        &prefix(&[tenant.as_bytes()]),
        after.as_deref(),
        limit,
    )?
    .into_iter()
    .map(|(_, entry)| entry)
    .collect())
}

/// The tenants (and the system chain) that have an audit chain.
pub fn chains(tx: &dyn ReadTx) -> Result<Vec<String>, StoreError> {
    Ok(tx
        .scan(Table::AuditHeads, b"", None, usize::MAX)?
        .into_iter()
        .map(|(key, _)| String::from_utf8_lossy(&key).into_owned())
        .collect())
}

/// The result of checking one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// The chain.
    pub tenant: String,
    /// Whether every entry is intact and in place.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The first problem, if any.
    pub first_bad: Option<Problem>,
}

/// Where a chain is broken and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// The sequence number where the chain first breaks.
    pub seq: u64,
    /// What is wrong there.
    pub reason: String,
}

/// Check `tenant`'s chain from its first entry to its head.
pub fn verify(tx: &dyn ReadTx, tenant: &str) -> Result<Verification, StoreError> {
    const PAGE: usize = 1000;
    let chain_prefix = prefix(&[tenant.as_bytes()]);
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut after: Option<Vec<u8>> = None;
    let bad = |seq, reason: String, entries| Verification {
        tenant: tenant.to_string(),
        ok: false,
        entries,
        first_bad: Some(Problem { seq, reason }),
    };
    loop {
        let page = tx.scan(Table::Audit, &chain_prefix, after.as_deref(), PAGE)?;
        let Some((last_key, _)) = page.last() else { break };
        after = Some(last_key.clone());
        for (_, bytes) in &page {
            let checked = expected_seq - 1;
            let Ok(entry) = serde_json::from_slice::<AuditEntry>(bytes) else {
                return Ok(bad(expected_seq, "the entry is not readable".into(), checked));
            };
            if entry.seq > expected_seq {
                return Ok(bad(
                    expected_seq,
                    format!(
                        "entry {expected_seq} is missing or out of place (entry {} stands in its position)",
                        entry.seq
                    ),
                    checked,
                ));
            }
            if entry.seq != expected_seq || entry.tenant != tenant {
                return Ok(bad(
                    expected_seq,
                    format!(
                        "the entry in position {expected_seq} is entry {} of `{}`: entries were moved",
                        entry.seq, entry.tenant
                    ),
                    checked,
                ));
            }
            if entry.prev_hash != prev_hash {
                return Ok(bad(
                    expected_seq,
                    "its previous-hash does not match the entry before it: entries were removed or reordered"
                        .into(),
                    checked,
                ));
            }
            if hash_of(&entry) != entry.hash {
                return Ok(bad(
                    expected_seq,
                    "its contents do not match its hash: it was edited".into(),
                    checked,
                ));
            }
            prev_hash = entry.hash;
            expected_seq += 1;
        }
    }
    let entries = expected_seq - 1;
    let head: Option<Head> = get_json(tx, Table::AuditHeads, tenant.as_bytes())?;
    if let Some(head) = head
        && (head.seq != entries || head.hash != prev_hash)
    {
        return Ok(bad(
            entries + 1,
            format!(
                "the chain ends at entry {entries} but its head is entry {}: entries were removed",
                head.seq
            ),
            entries,
        ));
    }
    Ok(Verification {
        tenant: tenant.to_string(),
        ok: true,
        entries,
        first_bad: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RedbStore, Storage};

    fn store_with_chain(entries: u64) -> (tempfile::TempDir, RedbStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        for i in 0..entries {
            let mut tx = store.write().expect("write");
            let event = Event {
                actor: "admin",
                action: "test.event",
                target: "thing",
                outcome: "ok",
                details: serde_json::json!({ "i": i }),
            };
            append(&mut *tx, "acme", event).expect("append");
            tx.commit().expect("commit");
        }
        (dir, store)
    }

    fn raw(store: &RedbStore, seq: u64) -> Vec<u8> {
        store
            .read()
            .expect("read")
            .get(Table::Audit, &entry_key("acme", seq))
            .expect("get")
            .expect("present")
    }

    fn put_raw(store: &RedbStore, seq: u64, bytes: &[u8]) {
        let mut tx = store.write().expect("write");
        tx.put(Table::Audit, &entry_key("acme", seq), bytes).expect("put");
        tx.commit().expect("commit");
    }

    fn first_bad(store: &RedbStore) -> Option<Problem> {
        verify(&*store.read().expect("read"), "acme")
            .expect("verify")
            .first_bad
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (_dir, store) = store_with_chain(5);
        let result = verify(&*store.read().expect("read"), "acme").expect("verify");
        assert!(result.ok);
        assert_eq!(result.entries, 5);
    }

    #[test]
    fn an_edited_entry_is_found() {
        let (_dir, store) = store_with_chain(5);
        let edited = String::from_utf8(raw(&store, 3))
            .expect("utf-8")
            .replace("\"ok\"", "\"denied\"");
        put_raw(&store, 3, edited.as_bytes());
        let problem = first_bad(&store).expect("broken");
        assert_eq!(problem.seq, 3);
        assert!(problem.reason.contains("edited"), "{}", problem.reason);
    }

    #[test]
    fn a_deleted_entry_is_found() {
        let (_dir, store) = store_with_chain(5);
        let mut tx = store.write().expect("write");
        tx.delete(Table::Audit, &entry_key("acme", 2)).expect("delete");
        tx.commit().expect("commit");
        let problem = first_bad(&store).expect("broken");
        assert_eq!(problem.seq, 2);
        assert!(problem.reason.contains("missing"), "{}", problem.reason);
    }

    #[test]
    fn a_deleted_last_entry_is_found() {
        let (_dir, store) = store_with_chain(5);
        let mut tx = store.write().expect("write");
        tx.delete(Table::Audit, &entry_key("acme", 5)).expect("delete");
        tx.commit().expect("commit");
        let problem = first_bad(&store).expect("broken");
        assert_eq!(problem.seq, 5);
        assert!(problem.reason.contains("removed"), "{}", problem.reason);
    }

    #[test]
    fn swapped_entries_are_found() {
        let (_dir, store) = store_with_chain(5);
        let (third, fourth) = (raw(&store, 3), raw(&store, 4));
        put_raw(&store, 3, &fourth);
        put_raw(&store, 4, &third);
        let problem = first_bad(&store).expect("broken");
        assert_eq!(problem.seq, 3);
        assert!(
            problem.reason.contains("missing") || problem.reason.contains("moved"),
            "{}",
            problem.reason
        );
    }
}
