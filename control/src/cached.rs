//! What every call would otherwise read from the store: who a token
//! belongs to, and the tenant, enablement and opened secrets behind a
//! plugin call. Each is kept in memory between calls only while the tables
//! it was read from are unchanged (see `store::changes`): a revoked key, a
//! suspension, an upgrade or a rollback is seen by the very next call on
//! this host, and on the other hosts of a shared store as soon as their
//! listener hears of it (within a second, or they stop using the cache).

use crate::store::{Changes, Table, Tables};
use crate::tenant::Principal;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// How many entries a cache keeps before it starts again from empty: a
/// bound on memory that hostile callers cannot push past, as only
/// successful reads are kept.
const CAPACITY: usize = 10_000;

/// Values read from `tables`, each kept with the version of the tables it
/// was read at.
pub(crate) struct ReadCache<K, V> {
    tables: Tables,
    entries: Mutex<HashMap<K, (u64, V)>>,
}

impl<K: Eq + Hash, V: Clone> ReadCache<K, V> {
    fn new(tables: Tables) -> Self {
        Self {
            tables,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, (u64, V)>> {
        // Entries are inserted whole: a panic cannot leave one half-made.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value under `key`, if it was read at the tables' current version.
    pub(crate) fn get(&self, changes: &Changes, key: &K) -> Option<V> {
        let version = changes.version(self.tables)?;
        match self.lock().get(key) {
            Some((read_at, value)) if *read_at == version => Some(value.clone()),
            _ => None,
        }
    }

    /// The version to keep a value with: read it before reading the store.
    pub(crate) fn version(&self, changes: &Changes) -> Option<u64> {
        changes.version(self.tables)
    }

    /// Keep `value`, read at `version` (none: it is not kept).
    pub(crate) fn insert(&self, version: Option<u64>, key: K, value: V) {
        let Some(version) = version else { return };
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key, (version, value));
    }
}

/// The control plane's caches.
pub(crate) struct Caches {
    /// Principals by the SHA-256 of their token.
    pub(crate) principals: ReadCache<[u8; 32], Principal>,
    /// What a call of a plugin for a tenant runs with, by (tenant, plugin).
    pub(crate) calls: ReadCache<(String, String), Arc<crate::dispatch::Prepared>>,
}

impl Caches {
    /// Empty caches.
    pub(crate) fn new() -> Self {
        Self {
            principals: ReadCache::new(Tables::of(&[Table::Meta, Table::ApiKeys, Table::ApiKeyHashes])),
            calls: ReadCache::new(Tables::of(&[Table::Tenants, Table::Enablements, Table::Secrets])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_until_its_tables_change() {
        let changes = Changes::local();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        let version = cache.version(&changes);
        cache.insert(version, 1, "ada");
        assert_eq!(cache.get(&changes, &1), Some("ada"));
        changes.committed(Tables::of(&[Table::Audit]));
        assert_eq!(cache.get(&changes, &1), Some("ada"), "another table changed");
        changes.committed(Tables::of(&[Table::ApiKeys]));
        assert_eq!(cache.get(&changes, &1), None, "its table changed");
    }

    #[test]
    fn a_value_read_before_a_change_is_never_taken_for_current() {
        let changes = Changes::local();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        // Read, then the store changes, then the read result is kept.
        let version = cache.version(&changes);
        changes.committed(Tables::of(&[Table::ApiKeys]));
        cache.insert(version, 1, "stale");
        assert_eq!(cache.get(&changes, &1), None);
    }

    #[test]
    fn nothing_is_kept_while_a_shared_store_cannot_vouch() {
        let changes = Changes::shared();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        cache.insert(cache.version(&changes), 1, "ada");
        assert_eq!(cache.get(&changes, &1), None);
    }

    #[test]
    fn a_full_cache_starts_again() {
        let changes = Changes::local();
        let cache: ReadCache<usize, usize> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        let version = cache.version(&changes);
        for n in 0..=CAPACITY {
            cache.insert(version, n, n);
        }
        assert_eq!(cache.lock().len(), 1);
        assert_eq!(cache.get(&changes, &CAPACITY), Some(CAPACITY));
    }
}
