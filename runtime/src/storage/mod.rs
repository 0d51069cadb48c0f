//! What the capabilities need of a store, behind narrow traits: the host's
//! control plane implements them on its storage backends, and
//! [`MemoryStore`] keeps everything in memory for `omnify plugin run`.
//!
//! Every method takes the [`Scope`] the host derived from the invocation; a
//! guest never supplies it, so it cannot name another tenant's data.

mod memory;

pub use memory::MemoryStore;

/// Whose data an operation touches: one plugin within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    /// The tenant.
    pub tenant: String,
    /// The plugin's name.
    pub plugin: String,
}

/// Why the store behind a capability failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Storing would take the scope past its total size.
    #[error("quota of {limit} bytes exceeded")]
    QuotaExceeded {
        /// The total allowed.
        limit: u64,
    },
    /// The backend failed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One change of a plugin's key-value entries: the value to store under a
/// key, or `None` to remove it.
pub type KvChange = (String, Option<Vec<u8>>);

/// The key-value store behind the `kv` capability.
pub trait KvStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Apply `changes` in one transaction, unless the scope's entries (keys
    /// and values) would then exceed `max_total_bytes`: all of them or none.
    fn apply(&self, scope: &Scope, changes: Vec<KvChange>, max_total_bytes: u64) -> Result<(), StorageError>;

    /// Store `value` under `key` (one change; see [`KvStore::apply`]).
    fn set(&self, scope: &Scope, key: &str, value: &[u8], max_total_bytes: u64) -> Result<(), StorageError> {
        self.apply(
            scope,
            vec![(key.to_string(), Some(value.to_vec()))],
            max_total_bytes,
        )
    }

    /// Remove `key`; whether it existed.
    fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StorageError> {
        if self.get(scope, key)?.is_none() {
            return Ok(false);
        }
        self.apply(scope, vec![(key.to_string(), None)], u64::MAX)?;
        Ok(true)
    }

    /// Up to `limit` keys starting with `prefix`, in byte order, after `after`.
    fn list_keys(
        &self,
        scope: &Scope,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// The total size of the scope's keys and values, in bytes.
    fn used_bytes(&self, scope: &Scope) -> Result<u64, StorageError>;
}

/// A page of synced records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPage {
    /// Records as JSON text, in key order.
    pub records: Vec<String>,
    /// The key of the last record when more follow.
    pub next: Option<String>,
}

/// How many of the records of `sizes` (in order) a page of at most `limit`
/// records and `max_bytes` takes: at least one, when there is one.
pub fn page_length(sizes: impl Iterator<Item = usize>, limit: usize, max_bytes: usize) -> usize {
    let mut bytes = 0usize;
    let mut count = 0;
    for size in sizes.take(limit) {
        bytes = bytes.saturating_add(size);
        if bytes > max_bytes && count > 0 {
            break;
        }
        count += 1;
    }
    count
}

/// The tenant's synced records, read by the `data` capability.
pub trait RecordStore: Send + Sync {
    /// Up to `limit` records of `connector`'s `stream` in `tenant`, after the
    /// record key `after`, stopping before `max_bytes` of records (a page
    /// holds at least one record).
    fn read_page(
        &self,
        tenant: &str,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<RecordPage, StorageError>;
}
