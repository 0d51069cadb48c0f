//! Indexes of runs, kept in the runs table under keys that start with NUL
//! (no tenant id does, so they never mix with the rows under
//! `tenant \0 run id`): each tenant's runs newest first, for paging the run
//! list without reading all of them, and the runs not yet ended, for
//! resuming at start without reading every run of every tenant.

use super::{Run, RunStatus, run_key};
use crate::control::ControlError;
use crate::store::storage::{ReadTx, Table, WriteTx, get_json, key, prefix, put_json};

/// Run ids are fixed-length ASCII, so complementing each byte reverses
/// their order.
fn inverted(id: &str) -> Vec<u8> {
    id.bytes().map(|b| !b).collect()
}

fn newest_prefix(tenant: &str) -> Vec<u8> {
    prefix(&[b"", b"newest", tenant.as_bytes()])
}

fn newest_key(tenant: &str, id: &str) -> Vec<u8> {
    [newest_prefix(tenant), inverted(id)].concat()
}

fn open_prefix() -> Vec<u8> {
    prefix(&[b"", b"open"])
}

fn open_key(tenant: &str, id: &str) -> Vec<u8> {
    [open_prefix(), key(&[tenant.as_bytes(), id.as_bytes()])].concat()
}

/// Remove `tenant`'s entries from both indexes (when the tenant is
/// deleted); how many there were.
pub(crate) fn erase_tenant(tx: &mut dyn WriteTx, tenant: &str) -> Result<u64, ControlError> {
    let open = [open_prefix(), prefix(&[tenant.as_bytes()])].concat();
    Ok(tx.delete_prefix(Table::Runs, &newest_prefix(tenant))? + tx.delete_prefix(Table::Runs, &open)?)
}

/// Set once every stored run is in both indexes.
const MIGRATED: &[u8] = b"\0migrated";

/// Store a new run with its index entries.
pub(super) fn insert(tx: &mut dyn WriteTx, run: &Run) -> Result<(), ControlError> {
    put_json(tx, Table::Runs, &run_key(&run.tenant, &run.id), run)?;
    tx.put(Table::Runs, &newest_key(&run.tenant, &run.id), run.id.as_bytes())?;
    if run.status == RunStatus::Running {
        tx.put(Table::Runs, &open_key(&run.tenant, &run.id), b"")?;
    }
    Ok(())
}

/// Store a changed run, leaving the open index when it ended.
pub(super) fn update(tx: &mut dyn WriteTx, run: &Run) -> Result<(), ControlError> {
    put_json(tx, Table::Runs, &run_key(&run.tenant, &run.id), run)?;
    if run.status != RunStatus::Running {
        tx.delete(Table::Runs, &open_key(&run.tenant, &run.id))?;
    }
    Ok(())
}

/// Up to `limit` runs of `tenant`, newest first, older than `after`.
pub(super) fn page(
    tx: &dyn ReadTx,
    tenant: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Run>, ControlError> {
    let after = after.map(|id| newest_key(tenant, id));
    let mut runs = Vec::new();
    for (_, id) in tx.scan(Table::Runs, &newest_prefix(tenant), after.as_deref(), limit)? {
        let id = String::from_utf8_lossy(&id).into_owned();
        if let Some(run) = get_json::<Run>(tx, Table::Runs, &run_key(tenant, &id))? {
            runs.push(run);
        }
    }
    Ok(runs)
}

/// Up to `limit` `(tenant, run id)` of runs not yet ended, after `after`
/// (the last pair of the previous page).
pub(super) fn open_runs(
    tx: &dyn ReadTx,
    after: Option<&(String, String)>,
    limit: usize,
) -> Result<Vec<(String, String)>, ControlError> {
    let start = open_prefix();
    let after = after.map(|(tenant, id)| open_key(tenant, id));
    Ok(tx
        .scan(Table::Runs, &start, after.as_deref(), limit)?
        .into_iter()
        .filter_map(|(key, _)| {
            let rest = key.get(start.len()..)?;
            let split = rest.iter().position(|&b| b == 0)?;
            let tenant = String::from_utf8(rest[..split].to_vec()).ok()?;
            let id = String::from_utf8(rest[split + 1..].to_vec()).ok()?;
            Some((tenant, id))
        })
        .collect())
}

/// Forget that `tenant`'s run `id` is open (its row is gone).
pub(super) fn forget_open(tx: &mut dyn WriteTx, tenant: &str, id: &str) -> Result<(), ControlError> {
    tx.delete(Table::Runs, &open_key(tenant, id))?;
    Ok(())
}

/// Index the runs of a store written before the indexes existed, once, a
/// page at a time; rows are rewritten without the sync state they used to
/// carry.
pub(super) fn migrate(tx: &mut dyn WriteTx) -> Result<u64, ControlError> {
    if tx.get(Table::Runs, MIGRATED)?.is_some() {
        return Ok(0);
    }
    let mut count = 0;
    // Index keys start with NUL: every row sorts after `\x01`.
    let mut cursor = b"\x01".to_vec();
    loop {
        let page = tx.scan(Table::Runs, b"", Some(&cursor), 256)?;
        let Some((last, _)) = page.last() else { break };
        cursor = last.clone();
        for (_, bytes) in page {
            let run: Run = serde_json::from_slice(&bytes)
                .map_err(|e| ControlError::Internal(format!("a stored run: {e}")))?;
            insert(tx, &run)?;
            count += 1;
        }
    }
    tx.put(Table::Runs, MIGRATED, b"1")?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::{RedbStore, Storage};

    fn old_row(tenant: &str, id: &str, status: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": id, "tenant": tenant, "plugin": "p", "version": "1.0.0", "status": status,
            "requested_by": "admin", "started_at": "2026-01-01T00:00:00Z", "ended_at": null,
            "batch_size": 50, "fuel": 0, "attempts": 0, "last_error": null,
            "streams": [{"stream": "items", "mode": "incremental", "primary_key": ["id"],
                "records_read": 1, "records_written": 1, "batches": 1, "done": false,
                "checkpoint": "a large state the row used to carry"}],
        }))
        .expect("JSON")
    }

    #[test]
    fn an_older_store_is_indexed_once_then_paged_and_resumed_from_its_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(dir.path()).expect("store");
        let ids: Vec<String> = (0..5).map(|i| format!("17330000000{i:02}-0000abcd")).collect();
        let mut tx = store.write().expect("write");
        for (i, id) in ids.iter().enumerate() {
            let status = if i == 3 { "running" } else { "succeeded" };
            tx.put(Table::Runs, &run_key("acme", id), &old_row("acme", id, status))
                .expect("put");
        }
        tx.put(
            Table::Runs,
            &run_key("rival", &ids[0]),
            &old_row("rival", &ids[0], "running"),
        )
        .expect("put");
        assert_eq!(migrate(&mut *tx).expect("migrate"), 6);
        assert_eq!(migrate(&mut *tx).expect("migrate"), 0, "once");
        tx.commit().expect("commit");

        let tx = store.read().expect("read");
        let newest: Vec<String> = page(&*tx, "acme", None, 2)
            .expect("page")
            .into_iter()
            .map(|run| run.id)
            .collect();
        assert_eq!(newest, vec![ids[4].clone(), ids[3].clone()]);
        let next: Vec<String> = page(&*tx, "acme", Some(&ids[3]), 10)
            .expect("page")
            .into_iter()
            .map(|run| run.id)
            .collect();
        assert_eq!(next, vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]);
        let open = open_runs(&*tx, None, 10).expect("open");
        assert_eq!(
            open,
            vec![
                ("acme".to_string(), ids[3].clone()),
                ("rival".to_string(), ids[0].clone())
            ]
        );
        assert_eq!(open_runs(&*tx, open.first(), 10).expect("open").len(), 1);
        let row = tx
            .get(Table::Runs, &run_key("acme", &ids[3]))
            .expect("get")
            .expect("row");
        assert!(
            !String::from_utf8_lossy(&row).contains("checkpoint"),
            "rewritten without the state"
        );
        drop(tx);

        let mut tx = store.write().expect("write");
        let mut run = page(&*tx, "acme", None, 2).expect("page").remove(1);
        run.status = RunStatus::Failed;
        update(&mut *tx, &run).expect("update");
        assert_eq!(
            open_runs(&*tx, None, 10).expect("open").len(),
            1,
            "ended runs leave the open index"
        );
        tx.commit().expect("commit");
    }

    #[test]
    fn inverted_ids_sort_newest_first() {
        let older = "1733000000000-0000abcd";
        let newer = "1733000000001-00000000";
        assert!(inverted(newer) < inverted(older));
        assert!(inverted("1733000000000-ffffffff") < inverted(older));
        assert!(!inverted(older).contains(&0));
    }
}
