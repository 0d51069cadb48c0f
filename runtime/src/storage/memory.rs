//! An in-memory store: for `omnify plugin run` and for tests. Nothing is
//! kept after the process ends.

use super::{KvChange, KvStore, RecordPage, RecordStore, Scope, StorageError};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

/// A stream's records in one tenant: `(tenant, connector, stream)`.
type StreamKey = (String, String, String);

/// Key-value entries and records held in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    kv: Mutex<BTreeMap<Scope, BTreeMap<String, Vec<u8>>>>,
    records: Mutex<BTreeMap<StreamKey, BTreeMap<String, String>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a map half-updated (every
    // update is a single insert or remove), so the data is still sound.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a synced record of `connector`'s `stream` in `tenant`.
    pub fn put_record(&self, tenant: &str, connector: &str, stream: &str, key: &str, json: &str) {
        lock(&self.records)
            .entry((tenant.to_string(), connector.to_string(), stream.to_string()))
            .or_default()
            .insert(key.to_string(), json.to_string());
    }
}

impl KvStore for MemoryStore {
    fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(lock(&self.kv)
            .get(scope)
            .and_then(|entries| entries.get(key).cloned()))
    }

    fn apply(&self, scope: &Scope, changes: Vec<KvChange>, max_total_bytes: u64) -> Result<(), StorageError> {
        let mut kv = lock(&self.kv);
        let entries = kv.entry(scope.clone()).or_default();
        let mut after = entries.clone();
        for (key, value) in changes {
            match value {
                Some(value) => after.insert(key, value),
                None => after.remove(&key),
            };
        }
        if after.iter().map(|(k, v)| entry_size(k, v)).sum::<u64>() > max_total_bytes {
            return Err(StorageError::QuotaExceeded {
                limit: max_total_bytes,
            });
        }
        *entries = after;
        Ok(())
    }

    fn list_keys(
        &self,
        scope: &Scope,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let kv = lock(&self.kv);
        let Some(entries) = kv.get(scope) else {
            return Ok(Vec::new());
        };
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        Ok(entries
            .range((start, Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }

    fn used_bytes(&self, scope: &Scope) -> Result<u64, StorageError> {
        Ok(lock(&self.kv)
            .get(scope)
            .map_or(0, |entries| entries.iter().map(|(k, v)| entry_size(k, v)).sum()))
    }
}

impl RecordStore for MemoryStore {
    fn read_page(
        &self,
        tenant: &str,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<RecordPage, StorageError> {
        let records = lock(&self.records);
        let key = (tenant.to_string(), connector.to_string(), stream.to_string());
        let Some(stream_records) = records.get(&key) else {
            return Ok(RecordPage::default());
        };
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        let mut page: Vec<(&String, &String)> = stream_records
            .range((start, Bound::Unbounded))
            .take(limit + 1)
            .collect();
        let fits = super::page_length(page.iter().map(|(_, value)| value.len()), limit, max_bytes);
        let more = page.len() > fits;
        page.truncate(fits);
        Ok(RecordPage {
            next: if more {
                page.last().map(|(k, _)| (*k).clone())
            } else {
                None
            },
            records: page.into_iter().map(|(_, v)| v.clone()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(tenant: &str) -> Scope {
        Scope {
            tenant: tenant.into(),
            plugin: "p".into(),
        }
    }

    #[test]
    fn kv_quota_counts_keys_and_values_and_replacement() {
        let store = MemoryStore::new();
        let a = scope("a");
        store.set(&a, "k", &[0; 9], 10).expect("fits exactly");
        store
            .set(&a, "k", &[1; 9], 10)
            .expect("replacing frees the old value");
        assert!(matches!(
            store.set(&a, "k2", &[0; 1], 10),
            Err(StorageError::QuotaExceeded { limit: 10 })
        ));
        assert_eq!(store.get(&a, "k").expect("get"), Some(vec![1; 9]));
        assert_eq!(
            store.get(&scope("b"), "k").expect("get"),
            None,
            "scopes are separate"
        );
    }

    #[test]
    fn list_keys_pages_by_prefix() {
        let store = MemoryStore::new();
        let a = scope("a");
        for key in ["x1", "x2", "x3", "y1"] {
            store.set(&a, key, b"v", 100).expect("set");
        }
        assert_eq!(store.list_keys(&a, "x", None, 2).expect("list"), ["x1", "x2"]);
        assert_eq!(store.list_keys(&a, "x", Some("x2"), 10).expect("list"), ["x3"]);
    }

    #[test]
    fn record_pages_follow_key_order() {
        let store = MemoryStore::new();
        for i in 0..5 {
            store.put_record("t", "c", "s", &format!("{i:03}"), &format!("{{\"i\":{i}}}"));
        }
        let first = store.read_page("t", "c", "s", None, 3, usize::MAX).expect("page");
        assert_eq!(first.records.len(), 3);
        let second = store
            .read_page("t", "c", "s", first.next.as_deref(), 3, usize::MAX)
            .expect("page");
        assert_eq!(second.records, ["{\"i\":3}", "{\"i\":4}"]);
        assert_eq!(second.next, None);
    }
}
