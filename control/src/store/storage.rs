//! The narrow transactional interface the control plane is written against:
//! named tables of byte keys and byte values, read and written in
//! transactions. The embedded store implements it with redb; a shared SQL
//! database can implement it with one `(table, key, value)` relation.

use super::StoreError;
use super::changes::Changes;
use super::commits::CommitQueue;
use std::ops::Bound;

/// The tables of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Store-wide settings, such as the schema version.
    Meta,
    /// Tenants by id.
    Tenants,
    /// API keys by id.
    ApiKeys,
    /// API key ids by the hash of the key.
    ApiKeyHashes,
    /// Plugin versions by `name \0 version`.
    Plugins,
    /// Component bytes by digest.
    Components,
    /// Package files by `name \0 version`.
    Packages,
    /// Trusted publisher keys by key id.
    PublisherKeys,
    /// Enablements by `tenant \0 plugin`.
    Enablements,
    /// Encrypted secrets by `tenant \0 plugin \0 name`.
    Secrets,
    /// Plugin key-value entries by `tenant \0 plugin \0 key`.
    Kv,
    /// Bytes used by each `tenant \0 plugin`'s key-value entries.
    KvUsage,
    /// Synced records by `tenant \0 connector \0 stream \0 key`.
    Records,
    /// The state an incremental sync resumes from, by `tenant \0 connector \0 stream`.
    SyncState,
    /// Sync runs by `tenant \0 run id`.
    Runs,
    /// Scheduled jobs by `tenant \0 job id`.
    Jobs,
    /// Runs of due jobs that no worker has started yet, by queue id.
    Queue,
    /// Usage by `tenant \0 plugin \0 day`.
    Usage,
    /// Audit entries by `tenant \0 sequence`.
    Audit,
    /// The last audit entry of each tenant's chain.
    AuditHeads,
    /// Signed checkpoints of the audit chains, by `tenant \0 sequence`.
    AuditCheckpoints,
    /// Agents' proposed actions by `tenant \0 proposal id`.
    Proposals,
    /// Each tenant's autonomy level, guardrails and learned thresholds, by
    /// `tenant \0`.
    Autonomy,
    /// The publisher that owns each plugin name, by name.
    PluginOwners,
    /// Tenants' webhook endpoints for events out, by `tenant \0 endpoint id`.
    NotifyEndpoints,
    /// Deliveries of events to endpoints, by `tenant \0 endpoint \0 delivery id`.
    NotifyOutbox,
    /// Deliveries waiting for an attempt, by `due time \0 tenant \0 endpoint \0 delivery id`.
    NotifyDue,
    /// The last audit entry each tenant's notifier turned into deliveries, by tenant.
    NotifyCursors,
    /// Time-based events already sent once, by `tenant \0 proposal \0 kind`.
    NotifyMarks,
    /// Which host holds a run, a queued job or its own liveness, and until
    /// when, by `kind \0 name…` (see `crate::hosts`).
    Leases,
    /// Quota counters shared by the hosts of one store, by
    /// `tenant \0 counter \0 host`.
    QuotaCounters,
    /// OAuth clients the host signs in with, by `tenant-or-empty \0 provider`
    /// (empty: the host's own; a tenant's overrides it for that tenant).
    OAuthClients,
    /// Sign-ins started and not yet finished, by their `state`.
    OAuthPending,
    /// Each enablement's OAuth connection (status, expiry, the sealed
    /// refresh token), by `tenant \0 plugin`.
    Connections,
}

impl Table {
    /// Every table, for backends that create them up front.
    pub const ALL: [Table; 34] = [
        Table::Meta,
        Table::Tenants,
        Table::ApiKeys,
        Table::ApiKeyHashes,
        Table::Plugins,
        Table::Components,
        Table::Packages,
        Table::PublisherKeys,
        Table::Enablements,
        Table::Secrets,
        Table::Kv,
        Table::KvUsage,
        Table::Records,
        Table::SyncState,
        Table::Runs,
        Table::Jobs,
        Table::Queue,
        Table::Usage,
        Table::Audit,
        Table::AuditHeads,
        Table::AuditCheckpoints,
        Table::Proposals,
        Table::Autonomy,
        Table::PluginOwners,
        Table::NotifyEndpoints,
        Table::NotifyOutbox,
        Table::NotifyDue,
        Table::NotifyCursors,
        Table::NotifyMarks,
        Table::Leases,
        Table::QuotaCounters,
        Table::OAuthClients,
        Table::OAuthPending,
        Table::Connections,
    ];

    /// The table's stable name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Tenants => "tenants",
            Table::ApiKeys => "api_keys",
            Table::ApiKeyHashes => "api_key_hashes",
            Table::Plugins => "plugins",
            Table::Components => "components",
            Table::Packages => "packages",
            Table::PublisherKeys => "publisher_keys",
            Table::Enablements => "enablements",
            Table::Secrets => "secrets",
            Table::Kv => "kv",
            Table::KvUsage => "kv_usage",
            Table::Records => "records",
            Table::SyncState => "sync_state",
            Table::Runs => "runs",
            Table::Jobs => "jobs",
            Table::Queue => "queue",
            Table::Usage => "usage",
            Table::Audit => "audit",
            Table::AuditHeads => "audit_heads",
            Table::AuditCheckpoints => "audit_checkpoints",
            Table::Proposals => "proposals",
            Table::Autonomy => "autonomy",
            Table::PluginOwners => "plugin_owners",
            Table::NotifyEndpoints => "notify_endpoints",
            Table::NotifyOutbox => "notify_outbox",
            Table::NotifyDue => "notify_due",
            Table::NotifyCursors => "notify_cursors",
            Table::NotifyMarks => "notify_marks",
            Table::Leases => "leases",
            Table::QuotaCounters => "quota_counters",
            Table::OAuthClients => "oauth_clients",
            Table::OAuthPending => "oauth_pending",
            Table::Connections => "connections",
        }
    }
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Reads within one consistent snapshot.
pub trait ReadTx {
    /// The value under `key`.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Up to `limit` entries whose key starts with `prefix`, in key order,
    /// after `after` when given.
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError>;

    /// The last entry whose key starts with `prefix`.
    fn last(&self, table: Table, prefix: &[u8]) -> Result<Option<Entry>, StoreError>;

    /// The values under `keys`, in their order (a backend may do this
    /// faster than one `get` at a time).
    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(table, key)).collect()
    }
}

/// A write of many keys: a value to store, or `None` to remove the key.
pub type Change<'a> = (&'a [u8], Option<&'a [u8]>);

/// Writes that become visible and durable together on `commit`, or not at
/// all when the transaction is dropped.
pub trait WriteTx: ReadTx {
    /// Store `value` under `key`.
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Remove `key`; whether it existed.
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<bool, StoreError>;

    /// Apply `changes` in order (a backend may do this faster than one
    /// `put` or `delete` at a time).
    fn write_many(&mut self, table: Table, changes: &[Change<'_>]) -> Result<(), StoreError> {
        for (key, value) in changes {
            match value {
                Some(value) => self.put(table, key, value)?,
                None => {
                    self.delete(table, key)?;
                }
            }
        }
        Ok(())
    }

    /// Remove every key that starts with `prefix`; how many there were.
    fn delete_prefix(&mut self, table: Table, prefix: &[u8]) -> Result<u64, StoreError>;

    /// Make the writes durable.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A transactional store.
pub trait Storage: Send + Sync {
    /// Start a read transaction.
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError>;

    /// Start a write transaction. Write transactions are serialised.
    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError>;

    /// The queue that commits the writes every call makes (usage, audit,
    /// key-value changes, synced batches) in groups, fairly between tenants.
    fn commits(&self) -> &CommitQueue;

    /// Whether the store answers and holds the schema this host writes
    /// (the readiness probe asks this).
    fn check_ready(&self) -> Result<(), StoreError>;

    /// The store's commits, counted per table (see [`Changes`]).
    fn changes(&self) -> &Changes;

    /// A receiver that sees a new value after every commit, so that live
    /// readers (the event feed, the notifier) wake when something changed.
    fn watch_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes().subscribe()
    }

    /// Whether other hosts may be using the store at the same time. An
    /// embedded store is locked by its one host, so whatever another host
    /// left there belongs to a host that has stopped.
    fn shared(&self) -> bool {
        false
    }
}

/// A composite key: the parts joined by NUL bytes. Names in keys never
/// contain NUL (tenant and plugin names are checked), so parts cannot run
/// into each other.
pub fn key(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(0);
        }
        key.extend_from_slice(part);
    }
    key
}

/// `key(parts)` followed by a separator: the prefix of everything below.
pub fn prefix(parts: &[&[u8]]) -> Vec<u8> {
    let mut prefix = key(parts);
    prefix.push(0);
    prefix
}

/// Where a scan of the keys under `prefix` starts: just after `after`, or
/// at the prefix itself when there is no `after` or it sorts before the
/// prefix (such an `after` excludes nothing under it). Every backend scans
/// from here.
pub fn scan_start<'a>(prefix: &'a [u8], after: Option<&'a [u8]>) -> Bound<&'a [u8]> {
    match after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    }
}

/// The smallest key greater than every key that starts with `prefix`; none
/// when no key is (the prefix is empty or only 0xFF bytes).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Read a JSON value.
pub fn get_json<T: serde::de::DeserializeOwned>(
    tx: &(impl ReadTx + ?Sized),
    table: Table,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tx.get(table, key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt(format!("{}: {e}", table.name())))
        })
        .transpose()
}

/// Write a JSON value.
pub fn put_json<T: serde::Serialize>(
    tx: &mut (impl WriteTx + ?Sized),
    table: Table,
    key: &[u8],
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.put(table, key, &bytes)
}

/// Every JSON value whose key starts with `prefix`.
pub fn scan_json<T: serde::de::DeserializeOwned>(
    tx: &(impl ReadTx + ?Sized),
    table: Table,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    tx.scan(table, prefix, after, limit)?
        .into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice(&bytes)
                .map(|value| (key, value))
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", table.name())))
        })
        .collect()
}
