//! Versioned migrations, embedded in the binary and applied at connect.
//!
//! `schema_migrations` records each applied version. Migrating runs in one
//! transaction that holds an advisory lock, so two hosts starting together
//! apply each migration once; a database whose newest version is greater
//! than this build knows is refused rather than misread.

use super::unavailable;
use crate::store::StoreError;
use tokio_postgres::Client;

/// One step of the schema.
pub(super) struct Migration {
    /// Its version: migrations apply in increasing order.
    pub version: i32,
    /// The statements that make it.
    pub sql: &'static str,
}

/// Every migration, oldest first. Never edit one that has shipped: add
/// another.
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    // Every table in one relation; bytea compares byte-wise, which is the
    // key order scans need, and the primary key's index serves them.
    sql: "CREATE TABLE entries (
              tbl text NOT NULL,
              key bytea NOT NULL,
              value bytea NOT NULL,
              PRIMARY KEY (tbl, key)
          )",
}];

/// The newest version this build knows.
pub(super) const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The advisory lock migrations hold ("omnify-m").
const MIGRATION_LOCK: i64 = 0x6f6d_6e69_6679_2d6d;

/// The newest applied version (0 when none is).
const APPLIED: &str = "SELECT coalesce(max(version), 0) FROM schema_migrations";

/// Apply the migrations `client`'s database lacks; how many there were.
pub(super) async fn migrate(client: &Client) -> Result<usize, StoreError> {
    client
        .batch_execute(&format!(
            "BEGIN;
             SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )"
        ))
        .await
        .map_err(|e| unavailable("prepare the schema", &e))?;
    let outcome = apply(client).await;
    let end = match outcome {
        Ok(_) => "COMMIT",
        Err(_) => "ROLLBACK",
    };
    let ended = client.batch_execute(end).await;
    let applied = outcome?;
    ended.map_err(|e| unavailable("commit the schema", &e))?;
    Ok(applied)
}

/// The migrations after the applied version, inside the open transaction.
async fn apply(client: &Client) -> Result<usize, StoreError> {
    let found = applied_version(client).await?;
    if found > LATEST {
        return Err(StoreError::NewerSchema {
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: u32::try_from(LATEST).unwrap_or(0),
        });
    }
    let mut count = 0;
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        client
            .batch_execute(migration.sql)
            .await
            .map_err(|e| unavailable(&format!("apply schema version {}", migration.version), &e))?;
        client
            .execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&migration.version],
            )
            .await
            .map_err(|e| unavailable("record a schema version", &e))?;
        count += 1;
    }
    Ok(count)
}

/// The newest applied version.
pub(super) async fn applied_version(client: &Client) -> Result<i32, StoreError> {
    let row = client
        .query_one(APPLIED, &[])
        .await
        .map_err(|e| unavailable("read the schema version", &e))?;
    row.try_get(0)
        .map_err(|e| unavailable("read the schema version", &e))
}
