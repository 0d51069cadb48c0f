//! The audit log: append-only, one hash chain per tenant. Each entry
//! carries the hash of the one before it and is written in the same
//! transaction as the change it records, so a change and its entry exist
//! together or not at all. `verify` finds the first entry that was edited,
//! removed or reordered, entries without a head and a head without
//! entries. A rewrite that recomputes every hash is caught by the host's
//! signed checkpoints ([`checkpoint`]) up to the last checkpoint.

pub mod checkpoint;
pub mod exported;
pub mod queries;
mod timer;

pub use checkpoint::{AuditSigner, Checkpoint, CheckpointError};
pub use queries::export;
pub(crate) use timer::Checkpointer;

use crate::store::StoreError;
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, key, prefix, put_json, scan_json};
use ed25519_dalek::VerifyingKey;
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
pub(crate) struct Head {
    pub(crate) seq: u64,
    pub(crate) hash: String,
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

impl AuditEntry {
    /// The sha256 this entry's fields hash to; an intact entry's `hash`.
    pub fn computed_hash(&self) -> String {
        hash_of(self)
    }
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

pub(crate) fn entry_key(tenant: &str, seq: u64) -> Vec<u8> {
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

/// The sequence number of `tenant`'s last entry (0 for no chain).
pub fn head_seq(tx: &dyn ReadTx, tenant: &str) -> Result<u64, StoreError> {
    let head: Option<Head> = get_json(tx, Table::AuditHeads, tenant.as_bytes())?;
    Ok(head.map_or(0, |h| h.seq))
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

/// Every chain the store has a trace of: a head, an entry, a checkpoint or
/// a tenant (every tenant's chain starts with its creation). A chain whose
/// head or entries were deleted is still listed, so `verify` reports it.
pub fn chains(tx: &dyn ReadTx) -> Result<Vec<String>, StoreError> {
    let mut chains = std::collections::BTreeSet::new();
    for (key, _) in tx.scan(Table::AuditHeads, b"", None, usize::MAX)? {
        chains.insert(String::from_utf8_lossy(&key).into_owned());
    }
    for (key, _) in tx.scan(Table::Tenants, b"", None, usize::MAX)? {
        chains.insert(String::from_utf8_lossy(&key).into_owned());
    }
    for table in [Table::Audit, Table::AuditCheckpoints] {
        chains.extend(tenants_in(tx, table)?);
    }
    Ok(chains.into_iter().collect())
}

/// The distinct tenants of a table keyed by `tenant \0 sequence`, with one
/// short scan per tenant rather than a scan of every entry.
fn tenants_in(tx: &dyn ReadTx, table: Table) -> Result<Vec<String>, StoreError> {
    let mut tenants = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    while let Some((found, _)) = tx.scan(table, b"", after.as_deref(), 1)?.pop() {
        let tenant = found.split(|&b| b == 0).next().unwrap_or_default().to_vec();
        tenants.push(String::from_utf8_lossy(&tenant).into_owned());
        // Skip the rest of this tenant's keys; a key beyond the usual shape
        // still moves the scan forward.
        let skip = key(&[&tenant, &u64::MAX.to_be_bytes()]);
        after = Some(skip.max(found));
    }
    Ok(tenants)
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
    /// Signed checkpoints the chain was checked against.
    pub checkpoints: u64,
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

impl Verification {
    fn intact(tenant: &str, entries: u64, checkpoints: u64) -> Self {
        Self {
            tenant: tenant.to_string(),
            ok: true,
            entries,
            checkpoints,
            first_bad: None,
        }
    }

    fn broken(tenant: &str, entries: u64, checkpoints: u64, problem: Problem) -> Self {
        Self {
            tenant: tenant.to_string(),
            ok: false,
            entries,
            checkpoints,
            first_bad: Some(problem),
        }
    }
}

/// Checks a chain's entries one after another, from a known position.
pub(crate) struct ChainCheck<'a> {
    tenant: &'a str,
    expected_seq: u64,
    prev_hash: String,
}

impl<'a> ChainCheck<'a> {
    /// A check starting at the chain's first entry.
    pub(crate) fn from_genesis(tenant: &'a str) -> Self {
        Self::after(tenant, 0, GENESIS_HASH.to_string())
    }

    /// A check starting after entry `seq`, whose hash is `hash`.
    pub(crate) fn after(tenant: &'a str, seq: u64, hash: String) -> Self {
        Self {
            tenant,
            expected_seq: seq + 1,
            prev_hash: hash,
        }
    }

    /// The last entry accepted and its hash.
    pub(crate) fn end(&self) -> (u64, &str) {
        (self.expected_seq - 1, &self.prev_hash)
    }

    fn problem(&self, reason: String) -> Problem {
        Problem {
            seq: self.expected_seq,
            reason,
        }
    }

    /// Accept the next entry, or say what is wrong with it.
    pub(crate) fn next(&mut self, entry: &AuditEntry) -> Result<(), Problem> {
        let expected_seq = self.expected_seq;
        if entry.seq > expected_seq {
            return Err(self.problem(format!(
                "entry {expected_seq} is missing or out of place (entry {} stands in its position)",
                entry.seq
            )));
        }
        if entry.seq != expected_seq || entry.tenant != self.tenant {
            return Err(self.problem(format!(
                "the entry in position {expected_seq} is entry {} of `{}`: entries were moved",
                entry.seq, entry.tenant
            )));
        }
        if entry.prev_hash != self.prev_hash {
            return Err(self.problem(
                "its previous-hash does not match the entry before it: entries were removed or reordered"
                    .into(),
            ));
        }
        if hash_of(entry) != entry.hash {
            return Err(self.problem("its contents do not match its hash: it was edited".into()));
        }
        self.prev_hash = entry.hash.clone();
        self.expected_seq += 1;
        Ok(())
    }

    /// Accept the next entry as stored, or say what is wrong with it.
    fn next_stored(&mut self, bytes: &[u8]) -> Result<(), Problem> {
        match serde_json::from_slice::<AuditEntry>(bytes) {
            Ok(entry) => self.next(&entry),
            Err(_) => Err(self.problem("the entry is not readable".into())),
        }
    }
}

/// Walk the stored entries of `check`'s chain after its position to the
/// last one.
pub(crate) fn walk(tx: &dyn ReadTx, check: &mut ChainCheck<'_>) -> Result<Result<(), Problem>, StoreError> {
    const PAGE: usize = 1000;
    let chain_prefix = prefix(&[check.tenant.as_bytes()]);
    let (start, _) = check.end();
    let mut after = (start > 0).then(|| entry_key(check.tenant, start));
    loop {
        let page = tx.scan(Table::Audit, &chain_prefix, after.as_deref(), PAGE)?;
        let Some((last_key, _)) = page.last() else {
            return Ok(Ok(()));
        };
        after = Some(last_key.clone());
        for (_, bytes) in &page {
            if let Err(problem) = check.next_stored(bytes) {
                return Ok(Err(problem));
            }
        }
    }
}

/// Check `tenant`'s chain from its first entry to its head, and against
/// its stored checkpoints (their signatures too when `key` is given).
pub fn verify(tx: &dyn ReadTx, tenant: &str) -> Result<Verification, StoreError> {
    verify_with(tx, tenant, None)
}

/// [`verify`], checking the checkpoints' signatures with the host's `key`.
pub fn verify_with(
    tx: &dyn ReadTx,
    tenant: &str,
    key: Option<&VerifyingKey>,
) -> Result<Verification, StoreError> {
    let mut check = ChainCheck::from_genesis(tenant);
    if let Err(problem) = walk(tx, &mut check)? {
        return Ok(Verification::broken(tenant, problem.seq - 1, 0, problem));
    }
    let (entries, last_hash) = check.end();
    let last_hash = last_hash.to_string();
    let bad = |reason: String| {
        Ok(Verification::broken(
            tenant,
            entries,
            0,
            Problem {
                seq: entries + 1,
                reason,
            },
        ))
    };
    let head: Option<Head> = get_json(tx, Table::AuditHeads, tenant.as_bytes())?;
    match head {
        Some(head) if head.seq != entries || head.hash != last_hash => {
            return bad(format!(
                "the chain ends at entry {entries} but its head is entry {}: entries were removed",
                head.seq
            ));
        }
        None if entries > 0 => {
            return bad(format!(
                "entries 1 to {entries} have no head record: the head was deleted, and with it \
                 perhaps the entries after {entries}"
            ));
        }
        None if tx.get(Table::Tenants, tenant.as_bytes())?.is_some() => {
            return bad("the tenant exists but its chain has no entries: the chain was deleted".into());
        }
        _ => {}
    }
    let checkpoints = checkpoint::stored(tx, tenant)?;
    let count = checkpoints.len() as u64;
    match checkpoint::check_against(tx, tenant, entries, &checkpoints, key)? {
        Some(problem) => Ok(Verification::broken(tenant, entries, count, problem)),
        None => Ok(Verification::intact(tenant, entries, count)),
    }
}

/// The stored entry `seq` of `tenant`'s chain, if it is there and readable.
pub(crate) fn stored_entry(
    tx: &dyn ReadTx,
    tenant: &str,
    seq: u64,
) -> Result<Option<AuditEntry>, StoreError> {
    Ok(tx
        .get(Table::Audit, &entry_key(tenant, seq))?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RedbStore, Storage};

    /// A store whose `acme` chain holds `entries` test events.
    pub(super) fn store_with_chain(entries: u64) -> (tempfile::TempDir, RedbStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        for i in 0..entries {
            append_event(&store, i);
        }
        (dir, store)
    }

    /// Append test event `i` to the `acme` chain, in a commit of its own.
    pub(super) fn append_event(store: &RedbStore, i: u64) {
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
    fn entries_without_a_head_are_found() {
        let (_dir, store) = store_with_chain(5);
        let mut tx = store.write().expect("write");
        tx.delete(Table::Audit, &entry_key("acme", 5)).expect("delete");
        tx.delete(Table::AuditHeads, b"acme").expect("delete");
        tx.commit().expect("commit");
        let problem = first_bad(&store).expect("broken");
        assert_eq!(problem.seq, 5);
        assert!(problem.reason.contains("no head"), "{}", problem.reason);
        assert_eq!(
            chains(&*store.read().expect("read")).expect("chains"),
            vec!["acme"]
        );
    }

    #[test]
    fn a_rehashed_rewrite_before_a_checkpoint_is_found_and_not_signed_over() {
        let (dir, store) = store_with_chain(3);
        let signer =
            AuditSigner::open_or_create(&dir.path().join(checkpoint::SIGNING_KEY_FILE)).expect("key");
        let mut tx = store.write().expect("write");
        let signed = checkpoint::checkpoint(&mut *tx, "acme", &signer).expect("checkpoint");
        tx.commit().expect("commit");
        assert!(
            matches!(signed, checkpoint::Checkpointed::Signed(_)),
            "{signed:?}"
        );

        let mut entries = list(&*store.read().expect("read"), "acme", 0, 10).expect("list");
        entries[1].outcome = "denied".into();
        let mut tx = store.write().expect("write");
        let mut prev = entries[0].hash.clone();
        for entry in entries.iter_mut().skip(1) {
            entry.prev_hash = prev;
            entry.hash = entry.computed_hash();
            prev = entry.hash.clone();
            put_json(&mut *tx, Table::Audit, &entry_key("acme", entry.seq), entry).expect("put");
        }
        put_json(&mut *tx, Table::AuditHeads, b"acme", &Head { seq: 3, hash: prev }).expect("put");
        tx.commit().expect("commit");

        let key = signer.public_key();
        let result = verify_with(&*store.read().expect("read"), "acme", Some(&key)).expect("verify");
        let problem = result.first_bad.expect("broken");
        assert!(
            problem.reason.contains("rewritten between entries 1 and 3"),
            "{}",
            problem.reason
        );
        let mut tx = store.write().expect("write");
        let outcome = checkpoint::checkpoint(&mut *tx, "acme", &signer).expect("checkpoint");
        assert!(
            matches!(outcome, checkpoint::Checkpointed::Broken(_)),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_forged_checkpoint_is_refused() {
        let (dir, store) = store_with_chain(2);
        let signer =
            AuditSigner::open_or_create(&dir.path().join(checkpoint::SIGNING_KEY_FILE)).expect("key");
        let other = AuditSigner::open_or_create(&dir.path().join("other.key")).expect("key");
        let head: Head = get_json(&*store.read().expect("read"), Table::AuditHeads, b"acme")
            .expect("get")
            .expect("head");
        let forged = other.sign("acme", head.seq, &head.hash);
        let mut tx = store.write().expect("write");
        put_json(
            &mut *tx,
            Table::AuditCheckpoints,
            &entry_key("acme", head.seq),
            &forged,
        )
        .expect("put");
        tx.commit().expect("commit");
        let tx = store.read().expect("read");
        assert!(verify(&*tx, "acme").expect("verify").ok, "hashes alone match");
        let result = verify_with(&*tx, "acme", Some(&signer.public_key())).expect("verify");
        assert!(
            result
                .first_bad
                .is_some_and(|p| p.reason.contains("not signed by the host's key")),
            "forged"
        );
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
