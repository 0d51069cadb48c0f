//! What a store tells about its commits: a count that live readers (the
//! event feed, the notifier) watch, and for every table a count of the
//! commits that changed it, which the host's caches compare to know whether
//! what they read is still what the store holds.
//!
//! A write transaction notes the tables it writes and, once its commit is
//! durable, counts them here. A shared store also counts what other hosts
//! committed, as its listener hears it; while the listener cannot vouch that
//! it hears everything (not connected yet, or its last ping is too old),
//! [`Changes::version`] answers `None` and caches read the store instead.

use super::storage::Table;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::watch;

/// A set of tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tables(u64);

const _: () = assert!(Table::ALL.len() <= 64, "a table set is 64 bits");

impl Tables {
    /// No table.
    pub const NONE: Tables = Tables(0);
    /// Every table: what a change heard without its tables counts as.
    pub const ALL: Tables = Tables(u64::MAX);

    /// The set of `tables`.
    pub const fn of(tables: &[Table]) -> Tables {
        let mut bits = 0;
        let mut i = 0;
        while i < tables.len() {
            bits |= 1 << tables[i] as u64;
            i += 1;
        }
        Tables(bits)
    }

    /// Add `table`.
    pub fn insert(&mut self, table: Table) {
        self.0 |= 1 << table as u64;
    }

    /// The set as bits (table `n` of [`Table::ALL`] is bit `n`), as other
    /// hosts are told it.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// The set told as `bits`.
    pub fn from_bits(bits: u64) -> Tables {
        Tables(bits)
    }

    fn contains(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
}

/// How long after a successful ping a shared store's listener still vouches
/// that it heard every other host's commit: with a ping every quarter of
/// this, a host whose listening connection died unnoticed stops trusting
/// its caches within this time of the last commit it heard.
pub const HEARD_FOR_MS: u64 = 750;

/// The commits of one store.
#[derive(Debug)]
pub struct Changes {
    made: watch::Sender<u64>,
    tables: [AtomicU64; 64],
    /// On a shared store: until when (ms after `started`) the listener
    /// vouches for having heard every other host's commit. `None` on a
    /// store only this host writes.
    heard_until: Option<AtomicU64>,
    started: Instant,
}

impl Changes {
    /// The changes of a store that only this host writes.
    pub fn local() -> Self {
        Self::new(None)
    }

    /// The changes of a store that other hosts write too: until its
    /// listener vouches for hearing them, no version is given.
    pub fn shared() -> Self {
        Self::new(Some(AtomicU64::new(0)))
    }

    fn new(heard_until: Option<AtomicU64>) -> Self {
        Self {
            made: watch::Sender::new(0),
            tables: std::array::from_fn(|_| AtomicU64::new(0)),
            heard_until,
            started: Instant::now(),
        }
    }

    /// Count a commit that changed `tables`, made here or heard from
    /// another host; it wakes the live readers.
    pub fn committed(&self, tables: Tables) {
        for (index, count) in self.tables.iter().enumerate() {
            if tables.contains(index) {
                count.fetch_add(1, Ordering::Release);
            }
        }
        self.made.send_modify(|made| *made = made.wrapping_add(1));
    }

    /// A version of `tables`: it changes whenever a commit changes one of
    /// them. Read it before reading the store, and keep what was read only
    /// while the version stays the same. `None` when other hosts' commits
    /// may have gone unheard.
    pub fn version(&self, tables: Tables) -> Option<u64> {
        if let Some(until) = &self.heard_until
            && self.now_ms() >= until.load(Ordering::Acquire)
        {
            return None;
        }
        let mut version = 0u64;
        for (index, count) in self.tables.iter().enumerate() {
            if tables.contains(index) {
                version = version.wrapping_add(count.load(Ordering::Acquire));
            }
        }
        Some(version)
    }

    /// The listener heard everything committed before `since` (an answer
    /// to a ping sent then): it vouches for [`HEARD_FOR_MS`] from then.
    pub fn heard_all_before(&self, since: Instant) {
        if let Some(until) = &self.heard_until {
            let since = since.saturating_duration_since(self.started).as_millis() as u64;
            until.fetch_max(since + HEARD_FOR_MS, Ordering::AcqRel);
        }
    }

    /// The listener lost its connection: nothing is vouched for until it
    /// answers a ping again.
    pub fn not_hearing(&self) {
        if let Some(until) = &self.heard_until {
            until.store(0, Ordering::Release);
        }
    }

    /// A receiver that sees a new value after every commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.made.subscribe()
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_changes_only_with_its_tables() {
        let changes = Changes::local();
        let keys = Tables::of(&[Table::ApiKeys, Table::ApiKeyHashes]);
        let before = changes.version(keys).expect("a local store vouches");
        changes.committed(Tables::of(&[Table::Audit, Table::Usage]));
        assert_eq!(changes.version(keys), Some(before));
        changes.committed(Tables::of(&[Table::ApiKeys]));
        assert_ne!(changes.version(keys), Some(before));
        let after = changes.version(keys);
        changes.committed(Tables::ALL);
        assert_ne!(changes.version(keys), after);
    }

    #[test]
    fn a_shared_store_gives_versions_only_while_its_listener_vouches() {
        let changes = Changes::shared();
        let keys = Tables::of(&[Table::ApiKeys]);
        assert_eq!(changes.version(keys), None, "nothing heard yet");
        changes.heard_all_before(Instant::now());
        assert!(changes.version(keys).is_some());
        changes.not_hearing();
        assert_eq!(changes.version(keys), None, "the connection was lost");

        let mut changes = Changes::shared();
        changes.started -= std::time::Duration::from_secs(2);
        changes.heard_all_before(changes.started + std::time::Duration::from_millis(100));
        assert_eq!(changes.version(keys), None, "the last ping is too old");
    }

    #[test]
    fn commits_wake_the_watchers() {
        let changes = Changes::local();
        let watch = changes.subscribe();
        changes.committed(Tables::NONE);
        assert!(watch.has_changed().expect("open"));
    }
}
