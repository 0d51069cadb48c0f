//! What every [`Storage`] backend must do, as checks any backend's tests
//! run on a new, empty store: the control plane relies on exactly these
//! semantics (atomic commits, snapshot reads, read-your-writes, ordered
//! prefix scans with `after`, `last`, `delete_prefix`, serialised writers,
//! the commit queue and its watch). A new backend passes [`CHECKS`] before
//! anything else runs on it.

use super::StoreError;
use super::storage::{Storage, Table};

/// A named check on an empty store; it panics with what went wrong.
pub type Check = (&'static str, fn(&dyn Storage));

/// Every check, in the order a failure is easiest to read.
pub const CHECKS: &[Check] = &[
    ("a commit makes every write visible together", commit_is_atomic),
    ("a dropped transaction leaves nothing", dropped_writes_vanish),
    ("a transaction reads its own writes", reads_own_writes),
    ("a read snapshot never sees a later commit", snapshots_are_stable),
    ("scans keep key order, prefix, after and limit", scans),
    ("last is the greatest key under a prefix", last_under_prefix),
    ("keys with 0xFF bytes stay under their prefix", high_bytes),
    ("delete and delete_prefix say what they removed", deletes),
    ("get_many and write_many match one at a time", many_at_once),
    ("tables never mix", tables_are_separate),
    ("concurrent writers never lose an update", writers_are_serialised),
    (
        "the commit queue commits, and a failing job leaves nothing",
        commit_queue,
    ),
    ("watchers wake after a commit", watch_wakes),
];

/// Run every check on stores `open` makes, one new store per check.
pub fn run<S: Storage>(open: impl Fn() -> S) {
    for (name, check) in CHECKS {
        let store = open();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&store)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("storage conformance: {name}: {message}");
        }
    }
}

fn put(store: &dyn Storage, table: Table, key: &[u8], value: &[u8]) {
    let mut tx = store.write().expect("write");
    tx.put(table, key, value).expect("put");
    tx.commit().expect("commit");
}

fn get(store: &dyn Storage, table: Table, key: &[u8]) -> Option<Vec<u8>> {
    store.read().expect("read").get(table, key).expect("get")
}

fn keys_of(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<Vec<u8>> {
    entries.into_iter().map(|(key, _)| key).collect()
}

fn commit_is_atomic(store: &dyn Storage) {
    let mut tx = store.write().expect("write");
    tx.put(Table::Meta, b"a", b"1").expect("put");
    tx.put(Table::Tenants, b"b", b"2").expect("put");
    assert_eq!(get(store, Table::Meta, b"a"), None, "not visible before commit");
    tx.commit().expect("commit");
    assert_eq!(get(store, Table::Meta, b"a").as_deref(), Some(&b"1"[..]));
    assert_eq!(get(store, Table::Tenants, b"b").as_deref(), Some(&b"2"[..]));
}

fn dropped_writes_vanish(store: &dyn Storage) {
    put(store, Table::Meta, b"kept", b"old");
    {
        let mut tx = store.write().expect("write");
        tx.put(Table::Meta, b"kept", b"new").expect("put");
        tx.put(Table::Meta, b"added", b"x").expect("put");
        tx.delete_prefix(Table::Meta, b"").expect("delete_prefix");
    }
    assert_eq!(get(store, Table::Meta, b"kept").as_deref(), Some(&b"old"[..]));
    assert_eq!(get(store, Table::Meta, b"added"), None);
}

fn reads_own_writes(store: &dyn Storage) {
    put(store, Table::Kv, b"p\0gone", b"1");
    let mut tx = store.write().expect("write");
    tx.put(Table::Kv, b"p\0new", b"2").expect("put");
    assert!(tx.delete(Table::Kv, b"p\0gone").expect("delete"));
    assert_eq!(
        tx.get(Table::Kv, b"p\0new").expect("get").as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(tx.get(Table::Kv, b"p\0gone").expect("get"), None);
    let scanned = keys_of(tx.scan(Table::Kv, b"p\0", None, 10).expect("scan"));
    assert_eq!(
        scanned,
        [b"p\0new".to_vec()],
        "a scan sees the transaction's writes"
    );
    tx.commit().expect("commit");
}

fn snapshots_are_stable(store: &dyn Storage) {
    put(store, Table::Runs, b"r", b"before");
    let snapshot = store.read().expect("read");
    put(store, Table::Runs, b"r", b"after");
    put(store, Table::Runs, b"s", b"new");
    assert_eq!(
        snapshot.get(Table::Runs, b"r").expect("get").as_deref(),
        Some(&b"before"[..])
    );
    assert_eq!(snapshot.scan(Table::Runs, b"", None, 10).expect("scan").len(), 1);
    drop(snapshot);
    assert_eq!(get(store, Table::Runs, b"r").as_deref(), Some(&b"after"[..]));
}

fn scans(store: &dyn Storage) {
    let mut tx = store.write().expect("write");
    for key in [&b"t\0c"[..], b"t\0a", b"t\0b", b"u\0a", b"t", b"s\0z"] {
        tx.put(Table::Records, key, key).expect("put");
    }
    tx.commit().expect("commit");
    let read = store.read().expect("read");
    let all = keys_of(read.scan(Table::Records, b"t\0", None, 10).expect("scan"));
    assert_eq!(all, [b"t\0a".to_vec(), b"t\0b".to_vec(), b"t\0c".to_vec()]);
    let page = keys_of(read.scan(Table::Records, b"t\0", None, 2).expect("scan"));
    assert_eq!(page, [b"t\0a".to_vec(), b"t\0b".to_vec()], "limit");
    let next = keys_of(
        read.scan(Table::Records, b"t\0", Some(b"t\0b"), 10)
            .expect("scan"),
    );
    assert_eq!(next, [b"t\0c".to_vec()], "after is exclusive");
    let between = keys_of(
        read.scan(Table::Records, b"t\0", Some(b"t\0aa"), 10)
            .expect("scan"),
    );
    assert_eq!(
        between,
        [b"t\0b".to_vec(), b"t\0c".to_vec()],
        "after need not exist"
    );
    assert!(
        read.scan(Table::Records, b"t\0", Some(b"t\0c"), 10)
            .expect("scan")
            .is_empty()
    );
    assert!(
        read.scan(Table::Records, b"t\0", None, 0)
            .expect("scan")
            .is_empty(),
        "limit 0"
    );
    assert!(
        read.scan(Table::Records, b"v", None, 10)
            .expect("scan")
            .is_empty()
    );
    let values: Vec<Vec<u8>> = read
        .scan(Table::Records, b"u\0", None, 10)
        .expect("scan")
        .into_iter()
        .map(|(_, value)| value)
        .collect();
    assert_eq!(values, [b"u\0a".to_vec()], "values come with their keys");
}

fn last_under_prefix(store: &dyn Storage) {
    let read = store.read().expect("read");
    assert_eq!(read.last(Table::Audit, b"a\0").expect("last"), None, "empty");
    drop(read);
    let mut tx = store.write().expect("write");
    for seq in [3u64, 1, 20, 2] {
        let key = [&b"a\0"[..], &seq.to_be_bytes()].concat();
        tx.put(Table::Audit, &key, &seq.to_be_bytes()).expect("put");
    }
    tx.put(Table::Audit, b"b\0", b"other chain").expect("put");
    tx.commit().expect("commit");
    let (key, value) = store
        .read()
        .expect("read")
        .last(Table::Audit, b"a\0")
        .expect("last")
        .expect("an entry");
    assert_eq!(key, [&b"a\0"[..], &20u64.to_be_bytes()].concat());
    assert_eq!(value, 20u64.to_be_bytes());
}

fn high_bytes(store: &dyn Storage) {
    let mut tx = store.write().expect("write");
    tx.put(Table::Kv, b"a\xff\xff", b"in").expect("put");
    tx.put(Table::Kv, b"a\xff", b"in").expect("put");
    tx.put(Table::Kv, b"b", b"out").expect("put");
    tx.put(Table::Kv, b"\xff", b"out").expect("put");
    tx.commit().expect("commit");
    let read = store.read().expect("read");
    let under = keys_of(read.scan(Table::Kv, b"a\xff", None, 10).expect("scan"));
    assert_eq!(under, [b"a\xff".to_vec(), b"a\xff\xff".to_vec()]);
    let (last, _) = read.last(Table::Kv, b"a").expect("last").expect("an entry");
    assert_eq!(last, b"a\xff\xff");
    assert_eq!(read.scan(Table::Kv, b"\xff", None, 10).expect("scan").len(), 1);
}

fn deletes(store: &dyn Storage) {
    let mut tx = store.write().expect("write");
    for key in [&b"x\0a"[..], b"x\0b", b"x\0c", b"xy", b"w"] {
        tx.put(Table::Jobs, key, b"").expect("put");
    }
    tx.commit().expect("commit");
    let mut tx = store.write().expect("write");
    assert!(tx.delete(Table::Jobs, b"w").expect("delete"));
    assert!(!tx.delete(Table::Jobs, b"w").expect("delete"), "already gone");
    assert!(!tx.delete(Table::Jobs, b"never").expect("delete"));
    assert_eq!(tx.delete_prefix(Table::Jobs, b"x\0").expect("delete_prefix"), 3);
    assert_eq!(tx.delete_prefix(Table::Jobs, b"x\0").expect("delete_prefix"), 0);
    tx.commit().expect("commit");
    let left = keys_of(
        store
            .read()
            .expect("read")
            .scan(Table::Jobs, b"", None, 10)
            .expect("scan"),
    );
    assert_eq!(left, [b"xy".to_vec()], "only keys under the prefix went");
}

fn many_at_once(store: &dyn Storage) {
    put(store, Table::Secrets, b"k2", b"old");
    let mut tx = store.write().expect("write");
    let changes: Vec<(&[u8], Option<&[u8]>)> = vec![
        (b"k1", Some(b"one")),
        (b"k2", None),
        (b"k3", Some(b"")),
        (b"k1", Some(b"last")),
    ];
    tx.write_many(Table::Secrets, &changes).expect("write_many");
    tx.commit().expect("commit");
    let keys = vec![b"k1".to_vec(), b"k2".to_vec(), b"k3".to_vec(), b"k4".to_vec()];
    let values = store
        .read()
        .expect("read")
        .get_many(Table::Secrets, &keys)
        .expect("get_many");
    assert_eq!(
        values,
        [Some(b"last".to_vec()), None, Some(Vec::new()), None],
        "in order, the later change wins, an empty value is a value"
    );
}

fn tables_are_separate(store: &dyn Storage) {
    put(store, Table::Tenants, b"same", b"tenants");
    put(store, Table::Proposals, b"same", b"proposals");
    assert_eq!(
        get(store, Table::Tenants, b"same").as_deref(),
        Some(&b"tenants"[..])
    );
    assert_eq!(
        get(store, Table::Proposals, b"same").as_deref(),
        Some(&b"proposals"[..])
    );
    for table in Table::ALL {
        store
            .read()
            .expect("read")
            .scan(table, b"", None, 1)
            .expect("every table exists");
    }
}

fn writers_are_serialised(store: &dyn Storage) {
    const WRITERS: u64 = 4;
    const INCREMENTS: u64 = 50;
    let increment = || {
        for _ in 0..INCREMENTS {
            let mut tx = store.write().expect("write");
            let now = tx
                .get(Table::Meta, b"counter")
                .expect("get")
                .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            tx.put(Table::Meta, b"counter", &(now + 1).to_be_bytes())
                .expect("put");
            tx.commit().expect("commit");
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..WRITERS {
            scope.spawn(increment);
        }
    });
    let total = get(store, Table::Meta, b"counter").expect("a counter");
    assert_eq!(total, (WRITERS * INCREMENTS).to_be_bytes(), "no update lost");
}

fn commit_queue(store: &dyn Storage) {
    store
        .commits()
        .commit_blocking("t", 4, |tx| tx.put(Table::Usage, b"queued", b"ok"))
        .expect("a queued commit");
    assert_eq!(get(store, Table::Usage, b"queued").as_deref(), Some(&b"ok"[..]));
    let refused = store
        .commits()
        .commit_blocking::<(), StoreError, _>("t", 4, |tx| {
            tx.put(Table::Usage, b"refused", b"no")?;
            Err(StoreError::QuotaExceeded { limit: 1 })
        });
    assert!(
        matches!(refused, Err(StoreError::QuotaExceeded { .. })),
        "{refused:?}"
    );
    assert_eq!(get(store, Table::Usage, b"refused"), None);
}

fn watch_wakes(store: &dyn Storage) {
    let mut watch = store.watch_commits();
    watch.mark_unchanged();
    put(store, Table::Meta, b"w", b"1");
    assert!(watch.has_changed().expect("the store is open"), "a commit wakes");
    watch.mark_unchanged();
    drop(store.write().expect("write"));
    let _ = store.read().expect("read");
    assert!(
        !watch.has_changed().expect("open"),
        "nothing committed, nothing to wake for"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_store_conforms() {
        let dirs = std::sync::Mutex::new(Vec::new());
        super::run(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = super::super::RedbStore::open(dir.path()).expect("open");
            dirs.lock().expect("dirs").push(dir);
            store
        });
    }
}
