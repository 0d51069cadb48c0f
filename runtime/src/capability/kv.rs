//! The `kv` capability: a key-value store per (tenant, plugin), with caps
//! on key length, value size and the total size of the plugin's entries.
//!
//! A call's writes are kept in its own [`KvChanges`]: its reads see them at
//! once, and the host commits them in one transaction when the call returns
//! (and drops them when it traps), so a guest cannot turn host calls into
//! durable commits. Reads of the store run on blocking threads.

use super::HostState;
use crate::plugin::contract::imports::kv::{Host, KvError};
use crate::storage::{KvChange, KvStore, Scope, StorageError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most keys one `list-keys` returns.
const MAX_LIST: u32 = 1000;

/// The writes of one call, not yet committed.
#[derive(Debug, Default)]
pub(crate) struct KvChanges {
    /// The latest value written (or `None` for a removal), by key.
    changes: BTreeMap<String, Option<Vec<u8>>>,
    /// The scope's total size with these changes, once known.
    used: Option<u64>,
    /// The bytes the changes write: keys, and the values stored.
    written: u64,
}

impl KvChanges {
    /// The changes to commit, in key order.
    pub(crate) fn take(&mut self) -> Vec<KvChange> {
        self.used = None;
        self.written = 0;
        std::mem::take(&mut self.changes).into_iter().collect()
    }
}

fn store_error(error: StorageError) -> KvError {
    match error {
        StorageError::QuotaExceeded { limit } => KvError::QuotaExceeded(limit),
        other => KvError::Unavailable(other.to_string()),
    }
}

/// Run a read of the store on a blocking thread.
async fn read<T: Send + 'static>(
    store: &Arc<dyn KvStore>,
    scope: Scope,
    read: impl FnOnce(&dyn KvStore, &Scope) -> Result<T, StorageError> + Send + 'static,
) -> Result<T, KvError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || read(&*store, &scope))
        .await
        .map_err(|e| KvError::Unavailable(e.to_string()))?
        .map_err(store_error)
}

fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// What a change writes: its key, and its value unless it is a removal.
fn change_size(key: &str, value: Option<&[u8]>) -> u64 {
    (key.len() + value.map_or(0, <[u8]>::len)) as u64
}

impl HostState {
    fn kv_allowed(&mut self, key: &str) -> Result<(), KvError> {
        if !self.ctx.grants.kv {
            self.deny("kv is not granted");
            return Err(KvError::NotGranted);
        }
        if key.is_empty() || key.len() > self.limits.kv_key_bytes as usize {
            return Err(KvError::InvalidKey(self.limits.kv_key_bytes));
        }
        Ok(())
    }

    /// The value of `key` as this call sees it: its own write, else the
    /// store's.
    async fn kv_value(&mut self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(change) = self.kv.changes.get(key) {
            return Ok(change.clone());
        }
        let key = key.to_string();
        read(&self.services.kv, self.scope(), move |store, scope| {
            store.get(scope, &key)
        })
        .await
    }

    /// Record that `key` becomes `value`, if the scope stays within its
    /// total size.
    async fn kv_change(&mut self, key: String, value: Option<Vec<u8>>) -> Result<(), KvError> {
        let old = self.kv_value(&key).await?.map_or(0, |v| entry_size(&key, &v));
        let used = match self.kv.used {
            Some(used) => used,
            None => {
                read(&self.services.kv, self.scope(), |store, scope| {
                    store.used_bytes(scope)
                })
                .await?
            }
        };
        let new = value.as_deref().map_or(0, |v| entry_size(&key, v));
        let total = used.saturating_sub(old) + new;
        if new > old && total > self.limits.kv_total_bytes {
            self.deny(&format!(
                "kv quota of {} bytes reached",
                self.limits.kv_total_bytes
            ));
            return Err(KvError::QuotaExceeded(self.limits.kv_total_bytes));
        }
        let replaced = self
            .kv
            .changes
            .get(&key)
            .map_or(0, |c| change_size(&key, c.as_deref()));
        let written = self.kv.written - replaced + change_size(&key, value.as_deref());
        if written > self.limits.kv_call_bytes {
            self.deny(&format!(
                "a call may write at most {} bytes of keys and values; write the rest in another call",
                self.limits.kv_call_bytes
            ));
            return Err(KvError::QuotaExceeded(self.limits.kv_call_bytes));
        }
        self.kv.used = Some(total);
        self.kv.written = written;
        self.kv.changes.insert(key, value);
        Ok(())
    }
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        self.count_host_call()?;
        if let Err(error) = self.kv_allowed(&key) {
            return Ok(Err(error));
        }
        Ok(self.kv_value(&key).await)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        self.count_host_call()?;
        if let Err(error) = self.kv_allowed(&key) {
            return Ok(Err(error));
        }
        if value.len() > self.limits.kv_value_bytes as usize {
            return Ok(Err(KvError::ValueTooLarge(self.limits.kv_value_bytes)));
        }
        Ok(self.kv_change(key, Some(value)).await)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        self.count_host_call()?;
        if let Err(error) = self.kv_allowed(&key) {
            return Ok(Err(error));
        }
        let existed = match self.kv_value(&key).await {
            Ok(value) => value.is_some(),
            Err(error) => return Ok(Err(error)),
        };
        if existed && let Err(error) = self.kv_change(key, None).await {
            return Ok(Err(error));
        }
        Ok(Ok(existed))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        self.count_host_call()?;
        if !self.ctx.grants.kv {
            self.deny("kv is not granted");
            return Ok(Err(KvError::NotGranted));
        }
        let limit = limit.min(MAX_LIST) as usize;
        // Enough stored keys to fill the page after this call's removals.
        let removed = self.kv.changes.values().filter(|v| v.is_none()).count();
        let (wanted, start, from) = (limit + removed, prefix.clone(), after.clone());
        let stored = read(&self.services.kv, self.scope(), move |store, scope| {
            store.list_keys(scope, &start, from.as_deref(), wanted)
        })
        .await;
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) => return Ok(Err(error)),
        };
        let in_range = |key: &String| key.starts_with(&prefix) && after.as_ref().is_none_or(|a| key > a);
        let mut keys: std::collections::BTreeSet<String> = stored.into_iter().collect();
        for (key, value) in self.kv.changes.iter().filter(|(key, _)| in_range(key)) {
            match value {
                Some(_) => keys.insert(key.clone()),
                None => keys.remove(key),
            };
        }
        Ok(Ok(keys.into_iter().take(limit).collect()))
    }
}
