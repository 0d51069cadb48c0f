//! Reading, verifying, exporting and checkpointing a tenant's audit chain
//! through the control plane.

use super::checkpoint::{self, AuditSigner, Checkpointed};
use super::exported::ExportLine;
use super::{AuditEntry, Verification, chains, list, verify_with};
use crate::control::{ControlError, ControlPlane};
use crate::store::Storage;
use crate::tenant::Principal;

impl ControlPlane {
    /// Up to `limit` entries of `tenant`'s chain after sequence `since`.
    pub async fn audit_page(
        &self,
        principal: &Principal,
        tenant: &str,
        since: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ControlError> {
        principal.require_tenant(tenant)?;
        let tenant = tenant.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            require_chain(&*tx, &tenant)?;
            Ok(list(&*tx, &tenant, since, limit)?)
        })
        .await
    }

    /// Check `tenant`'s chain.
    pub async fn verify_audit(
        &self,
        principal: &Principal,
        tenant: &str,
    ) -> Result<Verification, ControlError> {
        principal.require_tenant(tenant)?;
        let tenant = tenant.to_string();
        let key = self.audit_signer.public_key();
        self.blocking(move |store| {
            let tx = store.read()?;
            require_chain(&*tx, &tenant)?;
            Ok(verify_with(&*tx, &tenant, Some(&key))?)
        })
        .await
    }

    /// `tenant`'s whole chain as JSON Lines, its checkpoints included, after
    /// signing its head (unless the chain does not verify since the last
    /// checkpoint).
    pub async fn export_audit(&self, principal: &Principal, tenant: &str) -> Result<String, ControlError> {
        principal.require_tenant(tenant)?;
        let tenant = tenant.to_string();
        let signer = self.audit_signer.clone();
        self.blocking(move |store| {
            require_chain(&*store.read()?, &tenant)?;
            sign_head(store, &tenant, &signer)?;
            export(&*store.read()?, &tenant)
        })
        .await
    }

    /// Sign `tenant`'s head now (as the timer and an export do).
    pub async fn checkpoint_audit(
        &self,
        principal: &Principal,
        tenant: &str,
    ) -> Result<Checkpointed, ControlError> {
        principal.require_admin()?;
        let tenant = tenant.to_string();
        let signer = self.audit_signer.clone();
        self.blocking(move |store| {
            require_chain(&*store.read()?, &tenant)?;
            sign_head(store, &tenant, &signer)
        })
        .await
    }

    /// The public key that checks this host's audit checkpoints, hex.
    pub fn audit_public_key(&self) -> String {
        self.audit_signer.public_key_hex()
    }
}

/// Sign `tenant`'s head, checking its chain outside the write.
pub fn sign_head(
    store: &dyn Storage,
    tenant: &str,
    signer: &AuditSigner,
) -> Result<Checkpointed, ControlError> {
    let outcome = checkpoint::checkpoint_in(store, tenant, signer)?;
    match &outcome {
        Checkpointed::Signed(_) => {}
        Checkpointed::Broken(problem) => tracing::error!(
            tenant,
            seq = problem.seq,
            reason = %problem.reason,
            "the audit chain does not verify since its last checkpoint; not signing it"
        ),
        Checkpointed::Unchanged(_) | Checkpointed::Empty => {}
    }
    Ok(outcome)
}

/// `tenant`'s chain as JSON Lines: one entry per line, each followed by the
/// stored checkpoints of that entry (`{"checkpoint": {...}}`).
pub fn export(tx: &dyn crate::store::ReadTx, tenant: &str) -> Result<String, ControlError> {
    let json =
        |line: &ExportLine| serde_json::to_string(line).map_err(|e| ControlError::Internal(e.to_string()));
    let mut checkpoints = checkpoint::stored(tx, tenant)?.into_iter().peekable();
    let mut lines = String::new();
    let mut since = 0;
    loop {
        let page = list(tx, tenant, since, 1000)?;
        let Some(last) = page.last() else { break };
        since = last.seq;
        for entry in page {
            let seq = entry.seq;
            lines.push_str(&json(&ExportLine::Entry(entry))?);
            lines.push('\n');
            while let Some(checkpoint) = checkpoints.next_if(|c| c.seq <= seq) {
                lines.push_str(&json(&ExportLine::Checkpoint { checkpoint })?);
                lines.push('\n');
            }
        }
    }
    for checkpoint in checkpoints {
        lines.push_str(&json(&ExportLine::Checkpoint { checkpoint })?);
        lines.push('\n');
    }
    Ok(lines)
}

pub(crate) fn require_chain(tx: &dyn crate::store::ReadTx, tenant: &str) -> Result<(), ControlError> {
    if chains(tx)?.iter().any(|chain| chain == tenant) {
        Ok(())
    } else {
        Err(ControlError::NotFound(format!(
            "no audit log for tenant `{tenant}`"
        )))
    }
}
