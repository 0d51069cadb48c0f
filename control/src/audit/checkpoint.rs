//! Signed checkpoints of the audit chains. A hash chain shows edits, but
//! whoever can write the store can rewrite entries and recompute every hash.
//! So the host signs each chain's head (tenant, sequence, hash, time) with
//! an ed25519 key of its own, kept 0600 in the data directory and never in
//! the store: at intervals, on export, and when a tenant is deleted. A
//! rewrite of anything up to a checkpoint no longer matches that checkpoint;
//! a rewrite after the last checkpoint is not detected. Checkpoints are
//! stored, and included in the JSON Lines export, so a copy kept elsewhere
//! is checked with the public key alone (`omnify audit verify --checkpoints`).

use super::{ChainCheck, Head, Problem, now, stored_entry, walk};
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, key, prefix, put_json, scan_json};
use crate::store::{Storage, StoreError};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use omnify_registry::signing::write_private;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The name of the audit signing key file in the data directory.
pub const SIGNING_KEY_FILE: &str = "audit-signing.key";

/// What a checkpoint's signature covers, before its fields.
const STATEMENT_LABEL: &str = "omnify-audit-checkpoint-v1";

/// Why checkpoints could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The signing key file could not be read or created.
    #[error("audit signing key {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A public key given to check with is not one.
    #[error("not an audit public key (64 hex digits): {0}")]
    PublicKey(String),
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// A line of an exported copy is neither an entry nor a checkpoint.
    #[error("line {line} of the exported copy: {message}")]
    Export {
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a shared store keeps the sealed audit signing key, in [`Table::Meta`].
const SHARED_KEY: &[u8] = b"audit-signing-key";

/// The host's audit signing key. Its `Debug` never shows the key.
pub struct AuditSigner {
    key: SigningKey,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

fn read_secret(path: &Path) -> Result<SigningKey, CheckpointError> {
    let key_error = |message: String| CheckpointError::KeyFile {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
    let secret: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| key_error("must hold 32 bytes as 64 hex digits".into()))?;
    Ok(SigningKey::from_bytes(&secret))
}

impl AuditSigner {
    /// Use the key in `path`, creating it (mode 0600) if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, CheckpointError> {
        if !path.exists() {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| CheckpointError::Random(e.to_string()))?;
            write_private(path, hex::encode(secret).as_bytes()).map_err(|e| CheckpointError::KeyFile {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            tracing::info!(path = %path.display(), "created the audit signing key");
        }
        Ok(Self {
            key: read_secret(path)?,
        })
    }

    /// The key kept, sealed with the master key, in a store that several
    /// hosts share, creating it if it is not there yet: every host of the
    /// store signs with it, so each verifies the others' checkpoints.
    pub fn shared(store: &dyn Storage, vault: &crate::vault::Vault) -> Result<Self, CheckpointError> {
        let sealing = |e: crate::vault::VaultError| CheckpointError::KeyFile {
            path: "the store".into(),
            message: e.to_string(),
        };
        let mut tx = store.write()?;
        let secret = match tx.get(Table::Meta, SHARED_KEY)? {
            Some(sealed) => vault.open(SHARED_KEY, &sealed).map_err(sealing)?,
            None => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).map_err(|e| CheckpointError::Random(e.to_string()))?;
                tx.put(
                    Table::Meta,
                    SHARED_KEY,
                    &vault.seal(SHARED_KEY, &secret).map_err(sealing)?,
                )?;
                tx.commit()?;
                tracing::info!("created the audit signing key in the shared store");
                secret.to_vec()
            }
        };
        let secret: [u8; 32] = secret.try_into().map_err(|_| CheckpointError::KeyFile {
            path: "the store".into(),
            message: "the shared audit signing key is not 32 bytes".into(),
        })?;
        Ok(Self {
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// The key that checks this signer's checkpoints.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The same, as 64 hex digits.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key().as_bytes())
    }

    /// A checkpoint of `tenant`'s chain at entry `seq` with `hash`, now.
    pub fn sign(&self, tenant: &str, seq: u64, hash: &str) -> Checkpoint {
        let time = now();
        let signature = self.key.sign(&statement(tenant, seq, hash, &time));
        Checkpoint {
            tenant: tenant.to_string(),
            seq,
            hash: hash.to_string(),
            time,
            key_id: key_id(&self.public_key()),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// The public key of the signing key file at `path` (which is not created).
pub fn public_key_of(path: &Path) -> Result<VerifyingKey, CheckpointError> {
    Ok(read_secret(path)?.verifying_key())
}

/// A public key from its 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, CheckpointError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| CheckpointError::PublicKey(text.trim().chars().take(80).collect()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| CheckpointError::PublicKey(e.to_string()))
}

/// A short name of a public key: the first 8 bytes of its sha256, hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The host's signature over a chain's head at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// The chain.
    pub tenant: String,
    /// The entry signed: the chain's head when signed.
    pub seq: u64,
    /// That entry's hash.
    pub hash: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// Which key signed it ([`key_id`]).
    pub key_id: String,
    /// The ed25519 signature of the statement of the fields above, hex.
    pub signature: String,
}

impl Checkpoint {
    /// Whether `key` signed exactly this checkpoint.
    pub fn is_signed_by(&self, key: &VerifyingKey) -> bool {
        let Some(signature) = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        else {
            return false;
        };
        key.verify(
            &statement(&self.tenant, self.seq, &self.hash, &self.time),
            &Signature::from_bytes(&signature),
        )
        .is_ok()
    }
}

/// The signed bytes: a label and the fields, as JSON (so no field can run
/// into another).
fn statement(tenant: &str, seq: u64, hash: &str, time: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Statement<'a> {
        label: &'a str,
        tenant: &'a str,
        seq: u64,
        hash: &'a str,
        time: &'a str,
    }
    let statement = Statement {
        label: STATEMENT_LABEL,
        tenant,
        seq,
        hash,
        time,
    };
    // A struct of strings and a number always serializes.
    serde_json::to_vec(&statement).unwrap_or_default()
}

fn checkpoint_key(tenant: &str, seq: u64) -> Vec<u8> {
    key(&[tenant.as_bytes(), &seq.to_be_bytes()])
}

/// Every stored checkpoint of `tenant`'s chain, oldest first. A row that
/// does not read as a checkpoint is kept as one that matches nothing.
pub fn stored(tx: &dyn ReadTx, tenant: &str) -> Result<Vec<Checkpoint>, StoreError> {
    Ok(tx
        .scan(
            Table::AuditCheckpoints,
            &prefix(&[tenant.as_bytes()]),
            None,
            usize::MAX,
        )?
        .into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Checkpoint {
                tenant: tenant.to_string(),
                seq: key
                    .rsplit(|&b| b == 0)
                    .next()
                    .and_then(|seq| <[u8; 8]>::try_from(seq).ok())
                    .map_or(0, u64::from_be_bytes),
                hash: String::new(),
                time: String::new(),
                key_id: String::new(),
                signature: "unreadable".into(),
            })
        })
        .collect())
}

/// The newest stored checkpoint of `tenant`'s chain.
pub fn last(tx: &dyn ReadTx, tenant: &str) -> Result<Option<Checkpoint>, StoreError> {
    let found = tx.last(Table::AuditCheckpoints, &prefix(&[tenant.as_bytes()]))?;
    Ok(found.and_then(|(_, bytes)| serde_json::from_slice(&bytes).ok()))
}

/// Where the entries checked against checkpoints come from, as the
/// problems name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainSource {
    /// The host's store.
    Store,
    /// An exported copy.
    Copy,
}

/// Check a chain of `entries` entries that already verified against
/// `checkpoints`: each must be signed by `key` when given, and name an entry
/// whose hash `hash_at` gives (by sequence number). The first problem, if
/// any.
pub fn check_checkpoints<E>(
    tenant: &str,
    entries: u64,
    checkpoints: &[Checkpoint],
    key: Option<&VerifyingKey>,
    source: ChainSource,
    mut hash_at: impl FnMut(u64) -> Result<Option<String>, E>,
) -> Result<Option<Problem>, E> {
    let (signer, chain) = match source {
        ChainSource::Store => ("the host's key for this chain", "chain"),
        ChainSource::Copy => ("this key", "copy"),
    };
    let mut matched = 0;
    for checkpoint in checkpoints {
        let problem = |seq, reason| Ok(Some(Problem { seq, reason }));
        if checkpoint.tenant != tenant || key.is_some_and(|key| !checkpoint.is_signed_by(key)) {
            return problem(
                checkpoint.seq,
                format!(
                    "the checkpoint of entry {} is not signed by {signer}: it was forged or altered",
                    checkpoint.seq
                ),
            );
        }
        if checkpoint.seq > entries {
            return problem(
                entries + 1,
                format!(
                    "the checkpoint signed at {} covers entry {} but the {chain} ends at entry {entries}: \
                     entries were removed",
                    checkpoint.time, checkpoint.seq
                ),
            );
        }
        if hash_at(checkpoint.seq)?.is_none_or(|hash| hash != checkpoint.hash) {
            return problem(
                matched + 1,
                format!(
                    "entry {} does not match the checkpoint signed at {}: the {chain} was rewritten \
                     between entries {} and {}",
                    checkpoint.seq,
                    checkpoint.time,
                    matched + 1,
                    checkpoint.seq
                ),
            );
        }
        matched = matched.max(checkpoint.seq);
    }
    Ok(None)
}

/// [`check_checkpoints`] of the stored chain of `tenant`, whose entries
/// `1..=entries` already verified.
pub fn check_against(
    tx: &dyn ReadTx,
    tenant: &str,
    entries: u64,
    checkpoints: &[Checkpoint],
    key: Option<&VerifyingKey>,
) -> Result<Option<Problem>, StoreError> {
    check_checkpoints(tenant, entries, checkpoints, key, ChainSource::Store, |seq| {
        Ok(stored_entry(tx, tenant, seq)?.map(|entry| entry.hash))
    })
}

/// What [`checkpoint`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpointed {
    /// The chain's head was signed.
    Signed(Checkpoint),
    /// The head had not moved since its last checkpoint.
    Unchanged(Checkpoint),
    /// The chain has no head yet.
    Empty,
    /// The entries since the last checkpoint do not verify; nothing was
    /// signed, so tampering is never signed over.
    Broken(Problem),
}

/// What reading a chain since its last checkpoint found.
enum Verified {
    /// Nothing to sign: the outcome as it stands.
    Settled(Checkpointed),
    /// The entries after checkpoint `after` up to the head `seq` verify.
    Due {
        after: Option<u64>,
        seq: u64,
        hash: String,
    },
}

/// Check the entries of `tenant`'s chain since its last checkpoint (only
/// those: earlier ones are covered by it), up to its head.
fn verify(tx: &dyn ReadTx, tenant: &str, signer: &AuditSigner) -> Result<Verified, StoreError> {
    let settled = |outcome| Ok(Verified::Settled(outcome));
    let Some(head) = get_json::<Head>(tx, Table::AuditHeads, tenant.as_bytes())? else {
        return settled(Checkpointed::Empty);
    };
    let last = last(tx, tenant)?;
    let mut check = match &last {
        Some(last) if last.is_signed_by(&signer.public_key()) && last.tenant == tenant => {
            if last.seq == head.seq && last.hash == head.hash {
                return settled(Checkpointed::Unchanged(last.clone()));
            }
            let entry = stored_entry(tx, tenant, last.seq)?;
            if entry.is_none_or(|entry| entry.hash != last.hash || entry.computed_hash() != entry.hash) {
                return settled(Checkpointed::Broken(Problem {
                    seq: last.seq,
                    reason: format!("entry {} no longer matches its signed checkpoint", last.seq),
                }));
            }
            ChainCheck::after(tenant, last.seq, last.hash.clone())
        }
        Some(_) => {
            return settled(Checkpointed::Broken(Problem {
                seq: last.as_ref().map_or(0, |last| last.seq),
                reason: "the last checkpoint is not signed by this host's key".into(),
            }));
        }
        None => ChainCheck::from_genesis(tenant),
    };
    if let Err(problem) = walk(tx, &mut check)? {
        return settled(Checkpointed::Broken(problem));
    }
    let (seq, hash) = check.end();
    if seq != head.seq || hash != head.hash {
        return settled(Checkpointed::Broken(Problem {
            seq: seq + 1,
            reason: format!("the chain ends at entry {seq} but its head is entry {}", head.seq),
        }));
    }
    Ok(Verified::Due {
        after: last.map(|last| last.seq),
        seq,
        hash: hash.to_string(),
    })
}

/// Store a signed checkpoint of entry `seq` of `tenant`'s chain.
fn sign_entry(
    tx: &mut dyn WriteTx,
    tenant: &str,
    seq: u64,
    hash: &str,
    signer: &AuditSigner,
) -> Result<Checkpointed, StoreError> {
    let checkpoint = signer.sign(tenant, seq, hash);
    put_json(
        tx,
        Table::AuditCheckpoints,
        &checkpoint_key(tenant, seq),
        &checkpoint,
    )?;
    Ok(Checkpointed::Signed(checkpoint))
}

/// Sign `tenant`'s head inside `tx`, after checking the entries since the
/// last checkpoint.
pub fn checkpoint(
    tx: &mut dyn WriteTx,
    tenant: &str,
    signer: &AuditSigner,
) -> Result<Checkpointed, StoreError> {
    match verify(&*tx, tenant, signer)? {
        Verified::Settled(outcome) => Ok(outcome),
        Verified::Due { seq, hash, .. } => sign_entry(tx, tenant, seq, &hash, signer),
    }
}

/// Sign `tenant`'s head like [`checkpoint`], but check the entries in a
/// read snapshot and write only the signature: walking thousands of entries
/// inside a write transaction would hold the store's one writer, and every
/// call's usage record behind it, for as long as the walk takes. The write
/// signs only if the chain it checked is still the one stored (the same
/// last checkpoint, the same entry at the signed position); otherwise it
/// checks again inside the write.
pub fn checkpoint_in(
    store: &dyn Storage,
    tenant: &str,
    signer: &AuditSigner,
) -> Result<Checkpointed, StoreError> {
    let (after, seq, hash) = match verify(&*store.read()?, tenant, signer)? {
        Verified::Settled(outcome) => return Ok(outcome),
        Verified::Due { after, seq, hash } => (after, seq, hash),
    };
    let mut tx = store.write()?;
    let unchanged = last(&*tx, tenant)?.map(|last| last.seq) == after
        && stored_entry(&*tx, tenant, seq)?.is_some_and(|entry| entry.hash == hash);
    let outcome = if unchanged {
        sign_entry(&mut *tx, tenant, seq, &hash, signer)?
    } else {
        checkpoint(&mut *tx, tenant, signer)?
    };
    if matches!(outcome, Checkpointed::Signed(_)) {
        tx.commit()?;
    }
    Ok(outcome)
}

/// The heads of every chain, by tenant.
pub(crate) fn heads(tx: &dyn ReadTx) -> Result<Vec<(String, u64)>, StoreError> {
    Ok(scan_json::<Head>(tx, Table::AuditHeads, b"", None, usize::MAX)?
        .into_iter()
        .map(|(key, head)| (String::from_utf8_lossy(&key).into_owned(), head.seq))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::{append_event, store_with_chain};

    #[test]
    fn a_chain_checked_in_a_snapshot_is_signed_at_its_head_and_again_once_it_grows() {
        let (dir, store) = store_with_chain(0);
        let signer = AuditSigner::open_or_create(&dir.path().join(SIGNING_KEY_FILE)).expect("key");
        assert!(matches!(
            checkpoint_in(&store, "acme", &signer),
            Ok(Checkpointed::Empty)
        ));
        for i in 0..5 {
            append_event(&store, i);
        }
        let Ok(Checkpointed::Signed(first)) = checkpoint_in(&store, "acme", &signer) else {
            panic!("the head is signed");
        };
        assert_eq!(first.seq, 5);
        assert!(matches!(
            checkpoint_in(&store, "acme", &signer),
            Ok(Checkpointed::Unchanged(same)) if same.seq == 5
        ));
        append_event(&store, 5);
        let Ok(Checkpointed::Signed(second)) = checkpoint_in(&store, "acme", &signer) else {
            panic!("the grown head is signed");
        };
        assert_eq!(second.seq, 6);
        assert!(second.is_signed_by(&signer.public_key()));
        assert_eq!(
            stored(&*store.read().expect("read"), "acme")
                .expect("stored")
                .len(),
            2
        );
    }
}
