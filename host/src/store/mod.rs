//! Storage the capabilities need, behind narrow traits so that the embedded
//! store and a shared database can both serve them.
//!
//! Every method takes the [`Scope`] the host derived from the invocation; a
//! guest never supplies it, so it cannot name another tenant's data.

mod memory;
mod on_storage;
pub mod redb;
pub mod storage;

pub use memory::MemoryStore;
pub use redb::RedbStore;
pub use storage::{ReadTx, Storage, Table, WriteTx};

/// Whose data an operation touches: one plugin within one tenant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    /// The tenant.
    pub tenant: String,
    /// The plugin's name.
    pub plugin: String,
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
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
    /// The data directory was written by a newer version of Omnify.
    #[error(
        "the data directory was written by a newer Omnify (schema version {found}); this build \
         reads schema versions up to {supported}; upgrade Omnify or use another data directory"
    )]
    NewerSchema {
        /// The version found.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
}

/// The key-value store behind the `kv` capability.
pub trait KvStore: Send + Sync {
    /// The value under `key`.
    fn get(&self, scope: &Scope, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Store `value` under `key`, unless the scope's entries (keys and values)
    /// would then exceed `max_total_bytes`; the check and the write are atomic.
    fn set(&self, scope: &Scope, key: &str, value: &[u8], max_total_bytes: u64) -> Result<(), StoreError>;

    /// Remove `key`; whether it existed.
    fn delete(&self, scope: &Scope, key: &str) -> Result<bool, StoreError>;

    /// Up to `limit` keys starting with `prefix`, in byte order, after `after`.
    fn list_keys(
        &self,
        scope: &Scope,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// The total size of the scope's keys and values, in bytes.
    fn used_bytes(&self, scope: &Scope) -> Result<u64, StoreError>;
}

/// A page of synced records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordPage {
    /// Records as JSON text, in key order.
    pub records: Vec<String>,
    /// The key of the last record when more follow.
    pub next: Option<String>,
}

/// The tenant's synced records, read by the `data` capability.
pub trait RecordStore: Send + Sync {
    /// Up to `limit` records of `connector`'s `stream` in `tenant`, after the
    /// record key `after`.
    fn read_page(
        &self,
        tenant: &str,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RecordPage, StoreError>;
}
