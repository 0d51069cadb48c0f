//! A shared store: every table in one PostgreSQL relation, so that several
//! hosts can serve one control plane. Write transactions take one advisory
//! lock, which serialises writers across every connection and every host,
//! as the embedded store's single writer does; read transactions are
//! repeatable-read snapshots.
//!
//! The driver is asynchronous while the [`Storage`] trait is not: the store
//! owns a small runtime that drives the connections, and each call waits
//! for its future with a plain executor, so a call never panics when it is
//! made from inside another runtime.

mod listen;
mod schema;
mod tls;
mod tx;

#[cfg(test)]
mod tests;

use super::StoreError;
use super::changes::Changes;
use super::commits::CommitQueue;
use super::storage::{ReadTx, Storage, WriteTx};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures::executor::block_on;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;

/// The most connections one host opens.
const MAX_CONNECTIONS: usize = 16;

/// How long a call waits for a connection of the pool (all may be in use).
const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long opening a connection may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store.
pub struct PgStore {
    // Fields drop in order: the commit queue first (its writer thread
    // finishes what is queued on the pool), the runtime last.
    commits: CommitQueue,
    pool: Pool,
    /// Counts commits, so that live readers wake when something changed,
    /// and tells the other hosts.
    announce: Arc<tx::Announce>,
    /// Where the store is, for messages: never the password.
    target: String,
    background: Background,
}

/// The runtime that drives the connections. It is shut down without
/// waiting, which is allowed even inside another runtime (a plain drop
/// there would panic).
struct Background(Option<Runtime>);

impl Background {
    fn handle(&self) -> Result<&Handle, StoreError> {
        self.0
            .as_ref()
            .map(Runtime::handle)
            .ok_or_else(|| StoreError::Unavailable("the PostgreSQL store is closed".into()))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connect to the database at `url` (`postgres://user:password@host:port/db`,
    /// with `sslmode` and `sslrootcert` as in libpq; see [`tls`]) and bring
    /// its schema up to date, refusing one written by a newer build.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let (url, root_cert) = tls::split_root_cert(url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("the PostgreSQL URL is invalid: {e}")))?;
        let tls = tls::connector(&config, root_cert.as_deref())?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("omnify");
        }
        let target = describe(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("omnify-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let background = Background(Some(runtime));
        let listener_config = config.clone();
        let manager_config = ManagerConfig {
            // A connection back from a transaction has ended it, or was
            // discarded; checking it with a query again would cost a round
            // trip per transaction.
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(config, tls.clone(), manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(MAX_CONNECTIONS)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot set up the PostgreSQL pool: {e}")))?;

        let handle = background.handle()?.clone();
        let first = connection(&pool, &handle, &target)?;
        let applied = block_on(schema::migrate(&first))?;
        drop(first);
        if applied > 0 {
            tracing::info!(target = %target, applied, version = schema::LATEST, "migrated the PostgreSQL schema");
        }

        let instance = listen::instance_id()?;
        let announce = Arc::new(tx::Announce {
            changes: Arc::new(Changes::shared()),
            instance: instance.clone(),
        });
        handle.spawn(listen::listen(
            listener_config,
            tls,
            announce.changes.clone(),
            instance,
            target.clone(),
        ));
        let (writer, announced, at) = (pool.clone(), announce.clone(), target.clone());
        let commits = CommitQueue::start(Box::new(move || {
            let tx: Box<dyn WriteTx> = Box::new(tx::PgWrite::begin(
                connection(&writer, &handle, &at)?,
                announced.clone(),
            )?);
            Ok(tx)
        }))?;
        Ok(Self {
            commits,
            pool,
            announce,
            target,
            background,
        })
    }

    fn connection(&self) -> Result<Object, StoreError> {
        connection(&self.pool, self.background.handle()?, &self.target)
    }
}

/// A connection of `pool`. Opening one spawns its driver, so the pool is
/// asked on the store's runtime.
fn connection(pool: &Pool, runtime: &Handle, target: &str) -> Result<Object, StoreError> {
    let pool = pool.clone();
    match block_on(runtime.spawn(async move { pool.get().await })) {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL at {target}: {}",
            with_causes(&e)
        ))),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL at {target}: {e}"
        ))),
    }
}

/// `user@host:port/database`, from what the URL says.
fn describe(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "{}@{}/{}",
        config.get_user().unwrap_or("?"),
        hosts.join(","),
        config.get_dbname().unwrap_or("?")
    )
}

impl Storage for PgStore {
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        Ok(Box::new(tx::PgRead::begin(self.connection()?)?))
    }

    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(tx::PgWrite::begin(
            self.connection()?,
            self.announce.clone(),
        )?))
    }

    fn commits(&self) -> &CommitQueue {
        &self.commits
    }

    fn check_ready(&self) -> Result<(), StoreError> {
        let connection = self.connection()?;
        let applied = block_on(schema::applied_version(&connection))?;
        if applied == schema::LATEST {
            Ok(())
        } else {
            Err(StoreError::Unavailable(format!(
                "the PostgreSQL schema at {} is version {applied}, this build needs version {}",
                self.target,
                schema::LATEST
            )))
        }
    }

    fn changes(&self) -> &Changes {
        &self.announce.changes
    }

    fn shared(&self) -> bool {
        true
    }
}

/// `error` and what caused it, down to the first cause (a TLS handshake
/// fails for a reason that only the innermost error gives).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// A driver error as a store error, saying what was being done.
fn unavailable(doing: &str, error: &tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("PostgreSQL: cannot {doing}: {}", with_causes(error)))
}
