//! A [`Storage`] kept in memory and lost with the process: the third
//! backend the conformance checks run on, and a store for tests that need
//! the control plane's semantics without a file or a server.
//!
//! Every committed state is an immutable map shared by the snapshots that
//! read it; a write transaction works on its own copy and replaces the
//! shared one on commit, so readers never wait and never see half a
//! commit. Writers are serialised by a lock each transaction holds until
//! it ends.

use super::StoreError;
use super::changes::{Changes, Tables as Written};
use super::commits::CommitQueue;
use super::storage::{Entry, ReadTx, Storage, Table, WriteTx, prefix_end, scan_start};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Every table's entries.
type Tables = HashMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>;

/// The store.
pub struct VolatileStore {
    // Dropped first: its writer thread finishes what is queued.
    commits: CommitQueue,
    shared: Arc<Shared>,
}

struct Shared {
    /// The last committed state.
    current: Mutex<Arc<Tables>>,
    /// Whether a write transaction is open, and the wait for it to end.
    writing: Mutex<bool>,
    ended: Condvar,
    /// Counts commits.
    changes: Changes,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each guarded value is replaced whole, never left half-changed.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn snapshot(&self) -> Arc<Tables> {
        lock(&self.current).clone()
    }

    /// Wait for the writer's turn.
    fn begin_write(self: &Arc<Self>) -> Box<dyn WriteTx> {
        let mut writing = lock(&self.writing);
        while *writing {
            writing = self
                .ended
                .wait(writing)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *writing = true;
        drop(writing);
        Box::new(VolatileWrite {
            tables: (*self.snapshot()).clone(),
            shared: self.clone(),
            written: Written::NONE,
        })
    }
}

impl VolatileStore {
    /// An empty store.
    pub fn new() -> Result<Self, StoreError> {
        let shared = Arc::new(Shared {
            current: Mutex::default(),
            writing: Mutex::new(false),
            ended: Condvar::new(),
            changes: Changes::local(),
        });
        let writer = shared.clone();
        let commits = CommitQueue::start(Box::new(move || Ok(writer.begin_write())))?;
        Ok(Self { commits, shared })
    }
}

fn get(tables: &Tables, table: Table, key: &[u8]) -> Option<Vec<u8>> {
    tables.get(&table).and_then(|entries| entries.get(key).cloned())
}

fn range<'a>(
    tables: &'a Tables,
    table: Table,
    prefix: &'a [u8],
    after: Option<&'a [u8]>,
) -> impl DoubleEndedIterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
    let end = match prefix_end(prefix) {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    let start = scan_start(prefix, after).map(<[u8]>::to_vec);
    // A range that starts past its end is empty (`BTreeMap::range` would
    // panic on it).
    let empty = match (&start, &end) {
        (Bound::Excluded(start), Bound::Excluded(end)) => start >= end,
        (Bound::Included(start), Bound::Excluded(end)) => start > end,
        _ => false,
    };
    tables
        .get(&table)
        .filter(|_| !empty)
        .into_iter()
        .flat_map(move |entries| entries.range::<Vec<u8>, _>((start.clone(), end.clone())))
}

fn scan(tables: &Tables, table: Table, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<Entry> {
    range(tables, table, prefix, after)
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn last(tables: &Tables, table: Table, prefix: &[u8]) -> Option<Entry> {
    range(tables, table, prefix, None)
        .next_back()
        .map(|(k, v)| (k.clone(), v.clone()))
}

/// A snapshot of the last commit.
struct VolatileRead(Arc<Tables>);

/// A copy of the last commit, written to, that replaces it on commit.
struct VolatileWrite {
    tables: Tables,
    shared: Arc<Shared>,
    written: Written,
}

impl Drop for VolatileWrite {
    fn drop(&mut self) {
        *lock(&self.shared.writing) = false;
        self.shared.ended.notify_one();
    }
}

macro_rules! impl_read_tx {
    ($transaction:ty, $tables:ident => $of:expr) => {
        impl ReadTx for $transaction {
            fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
                let $tables = self;
                Ok(get($of, table, key))
            }

            fn scan(
                &self,
                table: Table,
                prefix: &[u8],
                after: Option<&[u8]>,
                limit: usize,
            ) -> Result<Vec<Entry>, StoreError> {
                let $tables = self;
                Ok(scan($of, table, prefix, after, limit))
            }

            fn last(&self, table: Table, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
                let $tables = self;
                Ok(last($of, table, prefix))
            }
        }
    };
}

impl_read_tx!(VolatileRead, tx => &tx.0);
impl_read_tx!(VolatileWrite, tx => &tx.tables);

impl WriteTx for VolatileWrite {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.written.insert(table);
        self.tables
            .entry(table)
            .or_default()
            .insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.written.insert(table);
        Ok(self
            .tables
            .get_mut(&table)
            .is_some_and(|entries| entries.remove(key).is_some()))
    }

    fn delete_prefix(&mut self, table: Table, prefix: &[u8]) -> Result<u64, StoreError> {
        self.written.insert(table);
        let keys: Vec<Vec<u8>> = scan(&self.tables, table, prefix, None, usize::MAX)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        if let Some(entries) = self.tables.get_mut(&table) {
            for key in &keys {
                entries.remove(key);
            }
        }
        Ok(keys.len() as u64)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let tables = std::mem::take(&mut self.tables);
        *lock(&self.shared.current) = Arc::new(tables);
        self.shared.changes.committed(self.written);
        // Dropping `self` lets the next writer in.
        Ok(())
    }
}

impl Storage for VolatileStore {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        Ok(Box::new(VolatileRead(self.shared.snapshot())))
    }

    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(self.shared.begin_write())
    }

    fn commits(&self) -> &CommitQueue {
        &self.commits
    }

    fn check_ready(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn changes(&self) -> &Changes {
        &self.shared.changes
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_volatile_store_conforms() {
        super::super::conformance::run(|| super::VolatileStore::new().expect("a store"));
    }
}
