//! Read and write transactions, each on one pooled connection.
//!
//! A read is a repeatable-read snapshot, taken when the transaction begins.
//! A write takes the store's advisory lock first, so that writers are
//! serialised across every connection and every host; its reads go to the
//! same connection and so see its own writes. A transaction dropped
//! without commit is rolled back, or its connection discarded when that
//! fails, so that no connection goes back to the pool mid-transaction.

use super::listen::notify_and_commit;
use super::unavailable;
use crate::store::StoreError;
use crate::store::changes::{Changes, Tables};
use crate::store::storage::{Change, Entry, ReadTx, Table, WriteTx, prefix_end, scan_start};
use deadpool_postgres::Object;
use futures::executor::block_on;
use std::cell::Cell;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The advisory lock every write transaction holds ("omnify-w").
const WRITE_LOCK: i64 = 0x6f6d_6e69_6679_2d77;

/// A snapshot from the start: the `SELECT` takes it (a repeatable-read
/// transaction otherwise takes it at its first query).
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1";

const GET: &str = "SELECT value FROM entries WHERE tbl = $1 AND key = $2";
const GET_MANY: &str = "SELECT key, value FROM entries WHERE tbl = $1 AND key = ANY($2)";
const PUT: &str = "INSERT INTO entries (tbl, key, value) VALUES ($1, $2, $3) \
                   ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value";
const PUT_MANY: &str = "INSERT INTO entries (tbl, key, value) \
                        SELECT $1::text, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v) \
                        ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM entries WHERE tbl = $1 AND key = $2";
const DELETE_MANY: &str = "DELETE FROM entries WHERE tbl = $1 AND key = ANY($2)";

type Params<'a> = [&'a (dyn ToSql + Sync)];

/// A connection inside a transaction.
struct Session {
    /// `None` once the transaction has ended.
    connection: Option<Object>,
    /// A statement failed: the server has aborted the transaction, and a
    /// `COMMIT` would roll it back without an error.
    failed: Cell<bool>,
}

impl Session {
    fn begin(connection: Object, begin: &str) -> Result<Self, StoreError> {
        match block_on(connection.batch_execute(begin)) {
            Ok(()) => Ok(Self {
                connection: Some(connection),
                failed: Cell::new(false),
            }),
            Err(e) => {
                discard(connection);
                Err(unavailable("begin a transaction", &e))
            }
        }
    }

    fn client(&self) -> Result<&Object, StoreError> {
        self.connection
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the transaction has ended".into()))
    }

    fn query(&self, doing: &str, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        let run = async {
            let statement = client.prepare_cached(sql).await?;
            client.query(&statement, params).await
        };
        block_on(run).map_err(|e| self.fail(doing, &e))
    }

    fn execute(&self, doing: &str, sql: &str, params: &Params<'_>) -> Result<u64, StoreError> {
        let client = self.client()?;
        let run = async {
            let statement = client.prepare_cached(sql).await?;
            client.execute(&statement, params).await
        };
        block_on(run).map_err(|e| self.fail(doing, &e))
    }

    fn fail(&self, doing: &str, error: &tokio_postgres::Error) -> StoreError {
        self.failed.set(true);
        unavailable(doing, error)
    }

    /// End the transaction with `end` (`COMMIT`, maybe after statements
    /// that take effect with it).
    fn commit(mut self, end: &str) -> Result<(), StoreError> {
        let Some(connection) = self.connection.take() else {
            return Err(StoreError::Unavailable("the transaction has ended".into()));
        };
        if self.failed.get() {
            rollback(connection);
            return Err(StoreError::Unavailable(
                "PostgreSQL: a statement of the transaction failed, so it was rolled back".into(),
            ));
        }
        match block_on(connection.batch_execute(end)) {
            Ok(()) => Ok(()),
            Err(e) => {
                discard(connection);
                Err(unavailable("commit", &e))
            }
        }
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.query("read", GET, &[&table.name(), &key])?;
        rows.first().map(|row| column(row, 0)).transpose()
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let range = Range::new(prefix, after);
        let name = table.name();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut params = range.params(&name);
        params.push(&limit);
        let sql = format!(
            "SELECT key, value FROM entries WHERE tbl = $1 AND {} ORDER BY key LIMIT ${}",
            range.condition(),
            params.len()
        );
        self.query("scan", &sql, &params)?.iter().map(entry).collect()
    }

    fn last(&self, table: Table, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        let range = Range::new(prefix, None);
        let name = table.name();
        let sql = format!(
            "SELECT key, value FROM entries WHERE tbl = $1 AND {} ORDER BY key DESC LIMIT 1",
            range.condition()
        );
        let rows = self.query("read the last entry", &sql, &range.params(&name))?;
        rows.first().map(entry).transpose()
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let rows = self.query("read", GET_MANY, &[&table.name(), &wanted])?;
        let found: HashMap<Vec<u8>, Vec<u8>> = rows.iter().map(entry).collect::<Result<_, _>>()?;
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            rollback(connection);
        }
    }
}

/// End the transaction on `connection` without its writes; a connection
/// that cannot say it did is discarded (the server then aborts it).
fn rollback(connection: Object) {
    if connection.is_closed() {
        return discard(connection);
    }
    if let Err(error) = block_on(connection.batch_execute("ROLLBACK")) {
        tracing::warn!(%error, "cannot roll back a PostgreSQL transaction; closing its connection");
        discard(connection);
    }
}

/// Close `connection` rather than return it to the pool.
fn discard(connection: Object) {
    drop(Object::take(connection));
}

fn column(row: &Row, index: usize) -> Result<Vec<u8>, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Corrupt(format!("PostgreSQL returned an unreadable entry: {e}")))
}

fn entry(row: &Row) -> Result<Entry, StoreError> {
    Ok((column(row, 0)?, column(row, 1)?))
}

/// The keys under a prefix, after a key: bound to `$2` and `$3`.
struct Range<'a> {
    start: &'a [u8],
    /// Whether `start` itself is excluded (it is the `after` key).
    after: bool,
    /// The first key past the prefix; `None` when no key is.
    end: Option<Vec<u8>>,
}

impl<'a> Range<'a> {
    fn new(prefix: &'a [u8], after: Option<&'a [u8]>) -> Self {
        let (start, after) = match scan_start(prefix, after) {
            Bound::Excluded(after) => (after, true),
            _ => (prefix, false),
        };
        Self {
            start,
            after,
            end: prefix_end(prefix),
        }
    }

    fn condition(&self) -> &'static str {
        match (self.after, self.end.is_some()) {
            (false, false) => "key >= $2",
            (false, true) => "key >= $2 AND key < $3",
            (true, false) => "key > $2",
            (true, true) => "key > $2 AND key < $3",
        }
    }

    /// `$1` (the table's name), then the bounds.
    fn params<'p>(&'p self, table: &'p &'static str) -> Vec<&'p (dyn ToSql + Sync)> {
        let mut params: Vec<&'p (dyn ToSql + Sync)> = vec![table, &self.start];
        if let Some(end) = &self.end {
            params.push(end);
        }
        params
    }
}

/// A read-only snapshot.
pub(super) struct PgRead(Session);

impl PgRead {
    /// Begin a snapshot on `connection`.
    pub(super) fn begin(connection: Object) -> Result<Self, StoreError> {
        Session::begin(connection, BEGIN_READ).map(Self)
    }
}

/// A write transaction holding the store's write lock.
pub(super) struct PgWrite(Session, Arc<Announce>, Tables);

/// How a store's commits are told: to this host's readers, and to the other
/// hosts' listeners.
pub(super) struct Announce {
    /// Counts this host's commits and those heard from other hosts.
    pub changes: Arc<Changes>,
    /// This store instance, named in its notifications.
    pub instance: String,
}

impl PgWrite {
    /// Begin a write on `connection`, waiting for the write lock; a commit
    /// is announced as `announce` says.
    pub(super) fn begin(connection: Object, announce: Arc<Announce>) -> Result<Self, StoreError> {
        let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})");
        Ok(Self(Session::begin(connection, &begin)?, announce, Tables::NONE))
    }
}

/// Reads look the same in both kinds of transaction.
macro_rules! impl_read_tx {
    ($transaction:ty) => {
        impl ReadTx for $transaction {
            fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
                self.0.get(table, key)
            }

            fn scan(
                &self,
                table: Table,
                prefix: &[u8],
                after: Option<&[u8]>,
                limit: usize,
            ) -> Result<Vec<Entry>, StoreError> {
                self.0.scan(table, prefix, after, limit)
            }

            fn last(&self, table: Table, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
                self.0.last(table, prefix)
            }

            fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
                self.0.get_many(table, keys)
            }
        }
    };
}

impl_read_tx!(PgRead);
impl_read_tx!(PgWrite);

impl WriteTx for PgWrite {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.2.insert(table);
        self.0
            .execute("write", PUT, &[&table.name(), &key, &value])
            .map(drop)
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.2.insert(table);
        Ok(self.0.execute("delete", DELETE, &[&table.name(), &key])? > 0)
    }

    fn write_many(&mut self, table: Table, changes: &[Change<'_>]) -> Result<(), StoreError> {
        // The last change of each key is the one that holds, so the rest
        // need not reach the server; what is left is two set statements.
        self.2.insert(table);
        let mut last: HashMap<&[u8], Option<&[u8]>> = HashMap::with_capacity(changes.len());
        for (key, value) in changes {
            last.insert(*key, *value);
        }
        let (mut keys, mut values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for (key, value) in last {
            match value {
                Some(value) => {
                    keys.push(key);
                    values.push(value);
                }
                None => gone.push(key),
            }
        }
        let name = table.name();
        if !gone.is_empty() {
            self.0.execute("delete", DELETE_MANY, &[&name, &gone])?;
        }
        if !keys.is_empty() {
            self.0.execute("write", PUT_MANY, &[&name, &keys, &values])?;
        }
        Ok(())
    }

    fn delete_prefix(&mut self, table: Table, prefix: &[u8]) -> Result<u64, StoreError> {
        self.2.insert(table);
        let range = Range::new(prefix, None);
        let name = table.name();
        let sql = format!("DELETE FROM entries WHERE tbl = $1 AND {}", range.condition());
        self.0.execute("delete", &sql, &range.params(&name))
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Self(session, announce, written) = *self;
        session.commit(&notify_and_commit(&announce.instance, written))?;
        announce.changes.committed(written);
        Ok(())
    }
}
