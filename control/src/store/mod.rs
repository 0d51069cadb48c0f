//! The control plane's storage: the [`Storage`] trait with its backends
//! (embedded redb, PostgreSQL shared by several hosts, and an in-memory
//! store for tests), the group commit, and [`OnStorage`], which serves the
//! capabilities' stores (`omnify_runtime::storage`) from a backend.

pub mod changes;
pub mod commits;
pub mod conformance;
mod on_storage;
pub mod postgres;
pub mod redb;
pub mod storage;
mod volatile;

pub use changes::{Changes, Tables};
pub use on_storage::OnStorage;
pub use postgres::PgStore;
pub use redb::RedbStore;
pub use storage::{ReadTx, Storage, Table, WriteTx};
pub use volatile::VolatileStore;

use omnify_runtime::storage::StorageError;

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

impl From<StoreError> for StorageError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::QuotaExceeded { limit } => StorageError::QuotaExceeded { limit },
            StoreError::Corrupt(message) => StorageError::Corrupt(message),
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}
