//! The `kv` and `data` capabilities' stores on top of any [`Storage`]: KV
//! entries under `tenant \0 plugin \0 key` with a running total per scope,
//! records under `tenant \0 connector \0 stream \0 key`.

use super::StoreError;
use super::storage::{Change, Storage, Table, WriteTx, key, prefix};
use omnify_runtime::storage::{KvChange, KvStore, RecordPage, RecordStore, Scope, StorageError, page_length};
use std::sync::Arc;

/// The `kv` and `data` capabilities' stores on a shared [`Storage`]:
/// whichever backend the host runs on serves them.
#[derive(Clone)]
pub struct OnStorage(pub Arc<dyn Storage>);

fn scope_key(scope: &Scope) -> Vec<u8> {
    key(&[scope.tenant.as_bytes(), scope.plugin.as_bytes()])
}

fn entry_key(scope: &Scope, name: &str) -> Vec<u8> {
    key(&[scope.tenant.as_bytes(), scope.plugin.as_bytes(), name.as_bytes()])
}

fn decode_total(bytes: Option<Vec<u8>>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes)
}

fn entry_size(name: &str, value: &[u8]) -> u64 {
    (name.len() + value.len()) as u64
}

/// Write `changes` to `scope`'s entries inside `tx`, unless the scope's
/// total would then exceed `max_total_bytes`.
fn apply_changes(
    tx: &mut dyn WriteTx,
    scope: &Scope,
    changes: &[KvChange],
    max_total_bytes: u64,
) -> Result<(), StoreError> {
    let keys: Vec<Vec<u8>> = changes.iter().map(|(name, _)| entry_key(scope, name)).collect();
    let old = tx.get_many(Table::Kv, &keys)?;
    let mut total = decode_total(tx.get(Table::KvUsage, &scope_key(scope))?);
    for ((name, value), old) in changes.iter().zip(&old) {
        total = total.saturating_sub(old.as_ref().map_or(0, |old| entry_size(name, old)));
        total += value.as_ref().map_or(0, |value| entry_size(name, value));
    }
    // Only the end state counts: a call may replace before it adds. Nothing
    // is written before this check, so a refused change leaves no trace.
    if total > max_total_bytes {
        return Err(StoreError::QuotaExceeded {
            limit: max_total_bytes,
        });
    }
    let writes: Vec<Change<'_>> = keys
        .iter()
        .zip(changes)
        .map(|(key, (_, value))| (key.as_slice(), value.as_deref()))
        .collect();
    tx.write_many(Table::Kv, &writes)?;
    tx.put(Table::KvUsage, &scope_key(scope), &total.to_be_bytes())
}

impl KvStore for OnStorage {
    fn get(&self, scope: &Scope, name: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.read()?.get(Table::Kv, &entry_key(scope, name))?)
    }

    fn apply(&self, scope: &Scope, changes: Vec<KvChange>, max_total_bytes: u64) -> Result<(), StorageError> {
        let bytes = changes
            .iter()
            .map(|(name, value)| (name.len() + value.as_ref().map_or(0, Vec::len)) as u64)
            .sum();
        let scope = scope.clone();
        self.0
            .commits()
            .commit_blocking(&scope.tenant.clone(), bytes, move |tx| {
                apply_changes(tx, &scope, &changes, max_total_bytes)
            })
            .map_err(StorageError::from)
    }

    fn list_keys(
        &self,
        scope: &Scope,
        name_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let scope_prefix = prefix(&[scope.tenant.as_bytes(), scope.plugin.as_bytes()]);
        let mut search = scope_prefix.clone();
        search.extend_from_slice(name_prefix.as_bytes());
        let after = after.map(|a| entry_key(scope, a));
        self.0
            .read()?
            .scan(Table::Kv, &search, after.as_deref(), limit)?
            .into_iter()
            .map(|(key, _)| {
                String::from_utf8(key[scope_prefix.len()..].to_vec())
                    .map_err(|_| StorageError::Corrupt("a KV key is not UTF-8".into()))
            })
            .collect()
    }

    fn used_bytes(&self, scope: &Scope) -> Result<u64, StorageError> {
        Ok(decode_total(
            self.0.read()?.get(Table::KvUsage, &scope_key(scope))?,
        ))
    }
}

impl RecordStore for OnStorage {
    fn read_page(
        &self,
        tenant: &str,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<RecordPage, StorageError> {
        let stream_prefix = prefix(&[tenant.as_bytes(), connector.as_bytes(), stream.as_bytes()]);
        let after = after.map(|a| {
            let mut key = stream_prefix.clone();
            key.extend_from_slice(a.as_bytes());
            key
        });
        let mut entries = self
            .0
            .read()?
            .scan(Table::Records, &stream_prefix, after.as_deref(), limit + 1)?;
        let fits = page_length(entries.iter().map(|(_, value)| value.len()), limit, max_bytes);
        let more = entries.len() > fits;
        entries.truncate(fits);
        let next = if more {
            entries
                .last()
                .map(|(key, _)| String::from_utf8_lossy(&key[stream_prefix.len()..]).into_owned())
        } else {
            None
        };
        let records = entries
            .into_iter()
            .map(|(_, value)| {
                String::from_utf8(value).map_err(|_| StorageError::Corrupt("a record is not UTF-8".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(RecordPage { records, next })
    }
}
