//! The embedded store: one redb file in the data directory. Commits are
//! durable (fsynced) when `commit` returns. The directory is 0700 and the
//! file 0600.

use super::StoreError;
use super::changes::{Changes, Tables};
use super::commits::CommitQueue;
use super::storage::{Change, Entry, ReadTx, Storage, Table, WriteTx, prefix_end, scan_start};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

/// The schema version this build writes. A store written by a newer build
/// is refused rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// The redb file inside a data directory.
pub const DATABASE_FILE: &str = "omnify.redb";

fn definition(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(table.name())
}

fn unavailable(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// The embedded redb store.
pub struct RedbStore {
    db: Arc<Database>,
    commits: CommitQueue,
    /// Counts commits, so that live readers wake and caches see what changed.
    changes: Arc<Changes>,
}

impl RedbStore {
    /// Open (or create) the store in `data_dir`, creating every table and
    /// checking the schema version.
    /// The data directory is made private to its owner (0700) and the file
    /// readable only by it (0600), also when they already existed.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        private_dir(data_dir)?;
        let path = data_dir.join(DATABASE_FILE);
        if !path.exists() {
            create_private(&path)?;
        }
        restrict(&path, 0o600)?;
        let db = Database::create(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        // Every table is made once here, so that reads can treat them as
        // present and writes need not open them all.
        let tx = db.begin_write().map_err(unavailable)?;
        for table in Table::ALL {
            tx.open_table(definition(table)).map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
        let db = Arc::new(db);
        let changes = Arc::new(Changes::local());
        let (writer, made) = (db.clone(), changes.clone());
        let commits = CommitQueue::start(Box::new(move || begin_write(&writer, &made)))?;
        let store = Self { db, commits, changes };
        let mut tx = store.write()?;
        match tx.get(Table::Meta, SCHEMA_KEY)? {
            None => tx.put(Table::Meta, SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?,
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("the schema version is unreadable".into()))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
        }
        tx.commit()?;
        Ok(store)
    }
}

/// A write transaction.
fn begin_write(db: &Database, changes: &Arc<Changes>) -> Result<Box<dyn WriteTx>, StoreError> {
    let tx = db.begin_write().map_err(unavailable)?;
    Ok(Box::new(RedbWrite {
        tx,
        changes: changes.clone(),
        written: Tables::NONE,
    }))
}

/// Create `dir` if it does not exist, and make it its owner's alone
/// (0700): a data directory holds keys, whichever store the host uses.
pub(crate) fn private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    restrict(dir, 0o700)
}

/// Set `path`'s permission bits to `mode` (Unix only).
fn restrict(path: &Path, mode: u32) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = std::fs::metadata(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if current & 0o777 != mode {
            tracing::info!(path = %path.display(), mode = format!("{mode:o}"), "restricting permissions");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot restrict the permissions of {}: {e}",
                    path.display()
                ))
            })?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Create an empty file at `path` that only its owner can read (0600), so
/// the store is never readable by others, not even for a moment.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", path.display())))
}

impl Storage for RedbStore {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        Ok(Box::new(RedbRead {
            tx: self.db.begin_read().map_err(unavailable)?,
        }))
    }

    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        begin_write(&self.db, &self.changes)
    }

    fn commits(&self) -> &CommitQueue {
        &self.commits
    }

    fn check_ready(&self) -> Result<(), StoreError> {
        let found = self.read()?.get(Table::Meta, SCHEMA_KEY)?;
        match found.as_deref() {
            Some(bytes) if bytes == SCHEMA_VERSION.to_be_bytes() => Ok(()),
            _ => Err(StoreError::Unavailable(format!(
                "the store's schema is not version {SCHEMA_VERSION}"
            ))),
        }
    }

    fn changes(&self) -> &Changes {
        &self.changes
    }
}

/// The end of a scan of `prefix`, as redb takes it.
fn end_bound(prefix_end: &Option<Vec<u8>>) -> Bound<&[u8]> {
    prefix_end.as_deref().map_or(Bound::Unbounded, Bound::Excluded)
}

fn scan_table<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<Entry>, StoreError> {
    let end = prefix_end(prefix);
    let range = table
        .range::<&[u8]>((scan_start(prefix, after), end_bound(&end)))
        .map_err(unavailable)?;
    let mut entries = Vec::new();
    for item in range.take(limit) {
        let (key, value) = item.map_err(unavailable)?;
        entries.push((key.value().to_vec(), value.value().to_vec()));
    }
    Ok(entries)
}

fn last_in_table<T: ReadableTable<&'static [u8], &'static [u8]>>(
    table: &T,
    prefix: &[u8],
) -> Result<Option<Entry>, StoreError> {
    let end = prefix_end(prefix);
    let mut range = table
        .range::<&[u8]>((Bound::Included(prefix), end_bound(&end)))
        .map_err(unavailable)?;
    range
        .next_back()
        .transpose()
        .map_err(unavailable)
        .map(|entry| entry.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())))
}

struct RedbRead {
    tx: redb::ReadTransaction,
}

struct RedbWrite {
    tx: redb::WriteTransaction,
    changes: Arc<Changes>,
    written: Tables,
}

/// Reads look the same in both kinds of transaction; only the table type
/// that `open_table` returns differs.
macro_rules! impl_read_tx {
    ($transaction:ty) => {
        impl ReadTx for $transaction {
            fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
                let table = self.tx.open_table(definition(table)).map_err(unavailable)?;
                Ok(table
                    .get(key)
                    .map_err(unavailable)?
                    .map(|v| v.value().to_vec()))
            }

            fn scan(
                &self,
                table: Table,
                prefix: &[u8],
                after: Option<&[u8]>,
                limit: usize,
            ) -> Result<Vec<Entry>, StoreError> {
                let table = self.tx.open_table(definition(table)).map_err(unavailable)?;
                scan_table(&table, prefix, after, limit)
            }

            fn last(&self, table: Table, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
                let table = self.tx.open_table(definition(table)).map_err(unavailable)?;
                last_in_table(&table, prefix)
            }

            fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
                let table = self.tx.open_table(definition(table)).map_err(unavailable)?;
                keys.iter()
                    .map(|key| {
                        Ok(table
                            .get(key.as_slice())
                            .map_err(unavailable)?
                            .map(|v| v.value().to_vec()))
                    })
                    .collect()
            }
        }
    };
}

impl_read_tx!(RedbRead);
impl_read_tx!(RedbWrite);

impl WriteTx for RedbWrite {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.written.insert(table);
        let mut table = self.tx.open_table(definition(table)).map_err(unavailable)?;
        table.insert(key, value).map_err(unavailable)?;
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.written.insert(table);
        let mut table = self.tx.open_table(definition(table)).map_err(unavailable)?;
        Ok(table.remove(key).map_err(unavailable)?.is_some())
    }

    fn write_many(&mut self, table: Table, changes: &[Change<'_>]) -> Result<(), StoreError> {
        // One open for all: opening a table and closing it again updates
        // the table of tables, which costs more than a small insert.
        self.written.insert(table);
        let mut table = self.tx.open_table(definition(table)).map_err(unavailable)?;
        for (key, value) in changes {
            match value {
                Some(value) => drop(table.insert(*key, *value).map_err(unavailable)?),
                None => drop(table.remove(*key).map_err(unavailable)?),
            }
        }
        Ok(())
    }

    fn delete_prefix(&mut self, table: Table, prefix: &[u8]) -> Result<u64, StoreError> {
        let keys: Vec<Vec<u8>> = self
            .scan(table, prefix, None, usize::MAX)?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        self.written.insert(table);
        let mut table = self.tx.open_table(definition(table)).map_err(unavailable)?;
        for key in &keys {
            table.remove(key.as_slice()).map_err(unavailable)?;
        }
        Ok(keys.len() as u64)
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Self { tx, changes, written } = *self;
        tx.commit().map_err(unavailable)?;
        changes.committed(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::storage::{key, prefix};

    #[test]
    fn scans_by_prefix_and_finds_the_last_entry() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut tx = store.write().expect("write");
        for (tenant, n) in [("a", 1u8), ("a", 2), ("a", 3), ("ab", 9)] {
            tx.put(Table::Audit, &key(&[tenant.as_bytes(), &[n]]), &[n])
                .expect("put");
        }
        tx.commit().expect("commit");

        let tx = store.read().expect("read");
        let a = prefix(&[b"a"]);
        assert_eq!(
            tx.scan(Table::Audit, &a, None, 10).expect("scan").len(),
            3,
            "`ab` is not under `a`"
        );
        let after_first = key(&[b"a", &[1]]);
        assert_eq!(
            tx.scan(Table::Audit, &a, Some(&after_first), 10)
                .expect("scan")
                .len(),
            2
        );
        assert_eq!(
            tx.last(Table::Audit, &a).expect("last").map(|(_, v)| v),
            Some(vec![3])
        );
    }

    #[test]
    fn a_dropped_transaction_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut tx = store.write().expect("write");
        tx.put(Table::Tenants, b"t", b"v").expect("put");
        drop(tx);
        assert_eq!(
            store
                .read()
                .expect("read")
                .get(Table::Tenants, b"t")
                .expect("get"),
            None
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_the_store_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777;
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("data");
        drop(RedbStore::open(&dir).expect("open"));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(DATABASE_FILE)), 0o600);

        // A directory and file left readable by an older build are fixed.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(dir.join(DATABASE_FILE), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        drop(RedbStore::open(&dir).expect("open"));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(DATABASE_FILE)), 0o600);
    }

    #[test]
    fn a_store_from_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("open");
        let mut tx = store.write().expect("write");
        tx.put(Table::Meta, SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
            .expect("put");
        tx.commit().expect("commit");
        drop(store);
        let error = RedbStore::open(dir.path()).err().expect("refused").to_string();
        assert!(error.contains("newer"), "{error}");
    }
}
