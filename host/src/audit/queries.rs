//! Reading a tenant's audit chain through the control plane.

use super::{AuditEntry, Verification, chains, list, verify};
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
        self.blocking(move |store| {
            let tx = store.read()?;
            require_chain(&*tx, &tenant)?;
            Ok(verify(&*tx, &tenant)?)
        })
        .await
    }

    /// `tenant`'s whole chain as JSON Lines.
    pub async fn export_audit(&self, principal: &Principal, tenant: &str) -> Result<String, ControlError> {
        principal.require_tenant(tenant)?;
        let tenant = tenant.to_string();
        self.blocking(move |store| {
            let tx = store.read()?;
            require_chain(&*tx, &tenant)?;
            export(&*tx, &tenant)
        })
        .await
    }
}

/// `tenant`'s chain as JSON Lines, one entry per line.
pub fn export(tx: &dyn crate::store::ReadTx, tenant: &str) -> Result<String, ControlError> {
    let mut lines = String::new();
    let mut since = 0;
    loop {
        let page = list(tx, tenant, since, 1000)?;
        let Some(last) = page.last() else { break };
        since = last.seq;
        for entry in &page {
            lines.push_str(&serde_json::to_string(entry).map_err(|e| ControlError::Internal(e.to_string()))?);
            lines.push('\n');
        }
    }
    Ok(lines)
}

fn require_chain(tx: &dyn crate::store::ReadTx, tenant: &str) -> Result<(), ControlError> {
    if chains(tx)?.iter().any(|chain| chain == tenant) {
        Ok(())
    } else {
        Err(ControlError::NotFound(format!(
            "no audit log for tenant `{tenant}`"
        )))
    }
}
