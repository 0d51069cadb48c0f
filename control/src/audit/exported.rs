//! Checking an exported copy of a chain (its JSON Lines: entries and
//! checkpoints) with the host's public key alone, and the store against the
//! checkpoints of such a copy kept elsewhere.

use super::checkpoint::{ChainSource, CheckpointError, check_against, check_checkpoints};
use super::{AuditEntry, ChainCheck, Checkpoint, Problem, Verification, verify_with};
use crate::store::ReadTx;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One line of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExportLine {
    /// A signed checkpoint, as `{"checkpoint": {...}}`.
    Checkpoint {
        /// The checkpoint.
        checkpoint: Checkpoint,
    },
    /// An entry of the chain.
    Entry(AuditEntry),
}

/// The entries and checkpoints of one chain in an export.
#[derive(Debug, Clone, Default)]
pub struct ExportedChain {
    /// Its entries, in the order of the export.
    pub entries: Vec<AuditEntry>,
    /// Its checkpoints, in the order of the export.
    pub checkpoints: Vec<Checkpoint>,
}

/// Read an export's lines into chains, by tenant.
pub fn parse(text: &str) -> Result<BTreeMap<String, ExportedChain>, CheckpointError> {
    let mut chains: BTreeMap<String, ExportedChain> = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line: ExportLine = serde_json::from_str(line).map_err(|e| CheckpointError::Export {
            line: number + 1,
            message: e.to_string(),
        })?;
        match line {
            ExportLine::Checkpoint { checkpoint } => chains
                .entry(checkpoint.tenant.clone())
                .or_default()
                .checkpoints
                .push(checkpoint),
            ExportLine::Entry(entry) => chains
                .entry(entry.tenant.clone())
                .or_default()
                .entries
                .push(entry),
        }
    }
    Ok(chains)
}

/// Check an exported chain on its own: its entries link from the first,
/// every checkpoint is signed by `key`, and each names an entry of the copy
/// with its hash.
pub fn verify_copy(tenant: &str, chain: &ExportedChain, key: &VerifyingKey) -> Verification {
    let checkpoints = chain.checkpoints.len() as u64;
    let mut check = ChainCheck::from_genesis(tenant);
    for entry in &chain.entries {
        if let Err(problem) = check.next(entry) {
            return Verification::broken(tenant, problem.seq - 1, checkpoints, problem);
        }
    }
    let (entries, _) = check.end();
    if chain.checkpoints.is_empty() {
        return Verification::broken(
            tenant,
            entries,
            0,
            Problem {
                seq: entries + 1,
                reason: "the copy holds no signed checkpoint: nothing in it is vouched for".into(),
            },
        );
    }
    let hash_at = |seq: u64| {
        let entry = usize::try_from(seq)
            .ok()
            .and_then(|seq| seq.checked_sub(1))
            .and_then(|index| chain.entries.get(index));
        Ok::<_, std::convert::Infallible>(entry.map(|entry| entry.hash.clone()))
    };
    let Ok(found) = check_checkpoints(
        tenant,
        entries,
        &chain.checkpoints,
        Some(key),
        ChainSource::Copy,
        hash_at,
    );
    if let Some(problem) = found {
        return Verification::broken(tenant, entries, checkpoints, problem);
    }
    Verification::intact(tenant, entries, checkpoints)
}

/// Check the store's chain of `tenant` as [`verify_with`] does, and then
/// against the checkpoints of an exported copy: each must be signed by
/// `key` and name an entry the store still has, with the same hash. This
/// finds a chain rewritten (and rehashed) in the store after the copy was
/// made, even when the store's own checkpoints were deleted with it.
pub fn verify_store_against(
    tx: &dyn ReadTx,
    tenant: &str,
    copy: &ExportedChain,
    key: &VerifyingKey,
) -> Result<Verification, CheckpointError> {
    let own = verify_with(tx, tenant, Some(key))?;
    if !own.ok {
        return Ok(own);
    }
    let checkpoints = own.checkpoints + copy.checkpoints.len() as u64;
    Ok(
        match check_against(tx, tenant, own.entries, &copy.checkpoints, Some(key))? {
            Some(problem) => Verification::broken(tenant, own.entries, checkpoints, problem),
            None => Verification::intact(tenant, own.entries, checkpoints),
        },
    )
}
