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

    /// The value under `key`: the one kept, if it was read at the tables'
    /// current version, else what `read` finds, which is kept when it is
    /// found. The version is taken before `read` runs, so a read that raced
    /// a commit is kept under the version before it, never taken for current.
    pub(crate) async fn get_or_read<E, F>(&self, changes: &Changes, key: K, read: F) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        let version = changes.version(self.tables);
        if let Some(version) = version
            && let Some((read_at, value)) = self.lock().get(&key)
            && *read_at == version
        {
            return Ok(value.clone());
        }
        let value = read.await?;
        if let Some(version) = version {
            let mut entries = self.lock();
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, (version, value.clone()));
        }
        Ok(value)
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
            calls: ReadCache::new(Tables::of(&[
                Table::Tenants,
                Table::Enablements,
                Table::Secrets,
                Table::Connections,
            ])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// What `cache` answers for `key` when a read would find `found`.
    fn answer<K: Eq + Hash, V: Clone>(cache: &ReadCache<K, V>, changes: &Changes, key: K, found: V) -> V {
        let read = async { Ok::<_, Infallible>(found) };
        match futures::executor::block_on(cache.get_or_read(changes, key, read)) {
            Ok(value) => value,
        }
    }

    #[test]
    fn a_value_is_kept_until_its_tables_change() {
        let changes = Changes::local();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        assert_eq!(answer(&cache, &changes, 1, "ada"), "ada");
        assert_eq!(answer(&cache, &changes, 1, "read"), "ada", "kept");
        changes.committed(Tables::of(&[Table::Audit]));
        assert_eq!(
            answer(&cache, &changes, 1, "read"),
            "ada",
            "another table changed"
        );
        changes.committed(Tables::of(&[Table::ApiKeys]));
        assert_eq!(answer(&cache, &changes, 1, "read"), "read", "its table changed");
    }

    #[test]
    fn a_value_read_before_a_change_is_never_taken_for_current() {
        let changes = Changes::local();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        // The store changes while the read is under way.
        let racing = async {
            changes.committed(Tables::of(&[Table::ApiKeys]));
            Ok::<_, Infallible>("stale")
        };
        let read = futures::executor::block_on(cache.get_or_read(&changes, 1, racing));
        assert!(matches!(read, Ok("stale")));
        assert_eq!(answer(&cache, &changes, 1, "current"), "current");
    }

    #[test]
    fn nothing_is_kept_while_a_shared_store_cannot_vouch() {
        let changes = Changes::shared();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        assert_eq!(answer(&cache, &changes, 1, "ada"), "ada");
        assert_eq!(answer(&cache, &changes, 1, "read"), "read");
        assert!(cache.lock().is_empty());
    }

    #[test]
    fn nothing_is_kept_of_a_failed_read() {
        let changes = Changes::local();
        let cache: ReadCache<u8, &str> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        let failed = futures::executor::block_on(cache.get_or_read(&changes, 1, async { Err("unknown") }));
        assert_eq!(failed, Err("unknown"));
        assert!(cache.lock().is_empty());
    }

    #[test]
    fn a_full_cache_starts_again() {
        let changes = Changes::local();
        let cache: ReadCache<usize, usize> = ReadCache::new(Tables::of(&[Table::ApiKeys]));
        for n in 0..=CAPACITY {
            answer(&cache, &changes, n, n);
        }
        assert_eq!(cache.lock().len(), 1);
        assert_eq!(answer(&cache, &changes, CAPACITY, 0), CAPACITY);
    }
}
