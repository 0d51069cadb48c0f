//! The `kv` and `data` capabilities' stores on top of any [`Storage`]: KV
//! entries under `tenant \0 plugin \0 key` with a running total per scope,
//! records under `tenant \0 connector \0 stream \0 key`.

use super::storage::{Storage, Table, key, prefix};
use super::{KvChange, KvStore, RecordPage, RecordStore, RedbStore, Scope, StoreError};

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

impl KvStore for RedbStore {
    fn get(&self, scope: &Scope, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read()?.get(Table::Kv, &entry_key(scope, name))
    }

    fn apply(&self, scope: &Scope, changes: &[KvChange], max_total_bytes: u64) -> Result<(), StoreError> {
        let mut tx = self.write()?;
        let mut total = decode_total(tx.get(Table::KvUsage, &scope_key(scope))?);
        for (name, value) in changes {
            let entry = entry_key(scope, name);
            let replaced = tx.get(Table::Kv, &entry)?.map_or(0, |old| entry_size(name, &old));
            total = total.saturating_sub(replaced);
            match value {
                Some(value) => {
                    total += entry_size(name, value);
                    tx.put(Table::Kv, &entry, value)?;
                }
                None => {
                    tx.delete(Table::Kv, &entry)?;
                }
            }
        }
        // Only the end state counts: a call may replace before it adds.
        if total > max_total_bytes {
            return Err(StoreError::QuotaExceeded {
                limit: max_total_bytes,
            });
        }
        tx.put(Table::KvUsage, &scope_key(scope), &total.to_be_bytes())?;
        tx.commit()
    }

    fn list_keys(
        &self,
        scope: &Scope,
        name_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let scope_prefix = prefix(&[scope.tenant.as_bytes(), scope.plugin.as_bytes()]);
        let mut search = scope_prefix.clone();
        search.extend_from_slice(name_prefix.as_bytes());
        let after = after.map(|a| entry_key(scope, a));
        self.read()?
            .scan(Table::Kv, &search, after.as_deref(), limit)?
            .into_iter()
            .map(|(key, _)| {
                String::from_utf8(key[scope_prefix.len()..].to_vec())
                    .map_err(|_| StoreError::Corrupt("a KV key is not UTF-8".into()))
            })
            .collect()
    }

    fn used_bytes(&self, scope: &Scope) -> Result<u64, StoreError> {
        Ok(decode_total(self.read()?.get(Table::KvUsage, &scope_key(scope))?))
    }
}

impl RecordStore for RedbStore {
    fn read_page(
        &self,
        tenant: &str,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<RecordPage, StoreError> {
        let stream_prefix = prefix(&[tenant.as_bytes(), connector.as_bytes(), stream.as_bytes()]);
        let after = after.map(|a| {
            let mut key = stream_prefix.clone();
            key.extend_from_slice(a.as_bytes());
            key
        });
        let mut entries = self
            .read()?
            .scan(Table::Records, &stream_prefix, after.as_deref(), limit + 1)?;
        let fits = super::page_length(entries.iter().map(|(_, value)| value.len()), limit, max_bytes);
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
                String::from_utf8(value).map_err(|_| StoreError::Corrupt("a record is not UTF-8".into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(RecordPage { records, next })
    }
}
