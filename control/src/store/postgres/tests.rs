//! The store against a real server: `OMNIFY_TEST_POSTGRES` names one (a
//! URL such as `postgres://omnify@127.0.0.1:55432/postgres` whose user may
//! create databases). Each test works in databases of its own, dropped
//! afterwards. Without the variable the tests say so and pass, unless
//! `OMNIFY_REQUIRE_POSTGRES` is set.

use super::{PgStore, schema};
use crate::store::storage::{Storage, Table};
use crate::store::{StoreError, conformance};
use std::sync::Mutex;

/// The server the tests use, and a connection to it for setting up.
struct Server {
    url: url::Url,
    runtime: tokio::runtime::Runtime,
    admin: tokio_postgres::Client,
}

impl Server {
    /// The server `OMNIFY_TEST_POSTGRES` names, or `None` when unset.
    fn from_env(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("OMNIFY_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("OMNIFY_REQUIRE_POSTGRES").is_none(),
                "OMNIFY_REQUIRE_POSTGRES is set but OMNIFY_TEST_POSTGRES is not"
            );
            eprintln!("{test}: did not run: OMNIFY_TEST_POSTGRES is not set");
            return None;
        };
        let url = url::Url::parse(&url).expect("OMNIFY_TEST_POSTGRES is a URL");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let admin = runtime.block_on(connect(url.as_str()));
        Some(Self { url, runtime, admin })
    }

    /// A new, empty database, dropped with the guard.
    fn database(&self) -> Scratch<'_> {
        let name = format!("omnify_conf_{:016x}", getrandom::u64().expect("random"));
        self.runtime
            .block_on(self.admin.batch_execute(&format!("CREATE DATABASE {name}")))
            .expect("create a database");
        let mut url = self.url.clone();
        url.set_path(&name);
        Scratch {
            server: self,
            name,
            url: url.to_string(),
        }
    }

    /// Run `sql` in the database at `url`; the first column of its rows as text.
    fn query(&self, url: &str, sql: &str) -> Vec<String> {
        self.runtime.block_on(async {
            let client = connect(url).await;
            let rows = client.query(sql, &[]).await.expect("query");
            rows.iter().map(|row| row.get::<_, String>(0)).collect()
        })
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to OMNIFY_TEST_POSTGRES");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A database of one test.
struct Scratch<'a> {
    server: &'a Server,
    name: String,
    url: String,
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = self
            .server
            .runtime
            .block_on(self.server.admin.batch_execute(&drop))
        {
            eprintln!("cannot drop {}: {error}", self.name);
        }
    }
}

#[test]
fn the_postgres_store_conforms() {
    let Some(server) = Server::from_env("the_postgres_store_conforms") else {
        return;
    };
    let databases = Mutex::new(Vec::new());
    conformance::run(|| {
        let database = server.database();
        let store = PgStore::connect(&database.url).expect("connect");
        databases.lock().expect("databases").push(database);
        // A listener that connects counts a change of every table, which
        // would wake a case's watcher mid-case: start once it listens.
        assert!(
            eventually(|| store.changes().version(crate::store::Tables::ALL).is_some()),
            "the store's listener connects"
        );
        store
    });
}

/// Each applied version with when it was applied.
const APPLIED: &str = "SELECT version || ' ' || applied_at FROM schema_migrations ORDER BY version";

#[test]
fn a_second_connect_applies_no_migration() {
    let Some(server) = Server::from_env("a_second_connect_applies_no_migration") else {
        return;
    };
    let database = server.database();
    let first = PgStore::connect(&database.url).expect("connect");
    let applied = server.query(&database.url, APPLIED);
    assert_eq!(applied.len(), schema::MIGRATIONS.len(), "{applied:?}");
    let second = PgStore::connect(&database.url).expect("connect again");
    assert_eq!(
        server.query(&database.url, APPLIED),
        applied,
        "nothing applied again"
    );
    first.check_ready().expect("ready");
    second.check_ready().expect("ready");
}

#[test]
fn hosts_starting_together_migrate_once() {
    let Some(server) = Server::from_env("hosts_starting_together_migrate_once") else {
        return;
    };
    let database = server.database();
    let stores: Vec<PgStore> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PgStore::connect(&database.url)))
            .collect();
        starting
            .into_iter()
            .map(|host| host.join().expect("joined").expect("connect"))
            .collect()
    });
    assert_eq!(
        server.query(&database.url, APPLIED).len(),
        schema::MIGRATIONS.len()
    );
    for store in &stores {
        store.check_ready().expect("ready");
    }
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let Some(server) = Server::from_env("a_database_of_a_newer_schema_is_refused") else {
        return;
    };
    let database = server.database();
    let store = PgStore::connect(&database.url).expect("connect");
    let newer = schema::LATEST + 1;
    server.query(
        &database.url,
        &format!("INSERT INTO schema_migrations (version) VALUES ({newer}) RETURNING 'ok'"),
    );
    let error = store.check_ready().expect_err("not ready on a newer schema");
    assert!(error.to_string().contains("schema"), "{error}");
    match PgStore::connect(&database.url) {
        Err(StoreError::NewerSchema { found, supported }) => {
            assert_eq!((found, supported), (newer as u32, schema::LATEST as u32));
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[test]
fn calls_from_inside_another_runtime_work() {
    let Some(server) = Server::from_env("calls_from_inside_another_runtime_work") else {
        return;
    };
    let database = server.database();
    let outer = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    outer.block_on(async {
        let store = PgStore::connect(&database.url).expect("connect");
        let mut tx = store.write().expect("write");
        tx.put(Table::Tenants, b"t", b"v").expect("put");
        tx.commit().expect("commit");
        let read = store.read().expect("read");
        assert_eq!(
            read.get(Table::Tenants, b"t").expect("get").as_deref(),
            Some(&b"v"[..])
        );
        drop(read);
        // Dropping the store here must not panic either.
        drop(store);
    });
}

#[test]
fn tls_is_used_and_the_server_is_verified() {
    let Some(server) = Server::from_env("tls_is_used_and_the_server_is_verified") else {
        return;
    };
    // `.ci/run` serves TLS with a certificate of a CA of its own.
    let Ok(ca) = std::env::var("OMNIFY_TEST_POSTGRES_CA") else {
        assert!(
            std::env::var_os("OMNIFY_REQUIRE_POSTGRES").is_none(),
            "OMNIFY_REQUIRE_POSTGRES is set but OMNIFY_TEST_POSTGRES_CA is not"
        );
        eprintln!("tls_is_used_and_the_server_is_verified: did not run: OMNIFY_TEST_POSTGRES_CA is not set");
        return;
    };
    let database = server.database();
    let with = |query: &str| format!("{}?{query}", database.url);
    let store =
        PgStore::connect(&with(&format!("sslmode=require&sslrootcert={ca}"))).expect("connect over TLS");
    store.check_ready().expect("ready");
    let encrypted = format!(
        "SELECT count(*)::text FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
         WHERE ssl AND datname = '{}' AND application_name = 'omnify'",
        database.name
    );
    let connections = server.query(server.url.as_str(), &encrypted);
    assert_ne!(connections, ["0"], "the store's connections use TLS");
    drop(store);

    // The Mozilla roots alone do not know the test CA.
    let unknown = PgStore::connect(&with("sslmode=require")).err();
    let unknown = unknown.expect("a server of an unknown CA is refused").to_string();
    assert!(
        unknown.contains("certificate") || unknown.contains("Unknown"),
        "{unknown}"
    );
    let missing = PgStore::connect(&with("sslmode=require&sslrootcert=/nonexistent/ca.pem")).err();
    let missing = missing.expect("a missing CA file is refused").to_string();
    assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
}

#[test]
fn errors_never_show_the_password() {
    // Nothing listens on port 1 of the loopback.
    let unreachable = PgStore::connect("postgres://omnify:s3cret-pw@127.0.0.1:1/omnify").err();
    let unreachable = unreachable.expect("no server there").to_string();
    assert!(unreachable.contains("127.0.0.1:1"), "{unreachable}");
    let malformed = PgStore::connect("postgres://omnify:s3cret-pw@127.0.0.1:port/omnify").err();
    let malformed = malformed.expect("a malformed URL").to_string();
    for message in [unreachable, malformed] {
        assert!(!message.contains("s3cret-pw"), "{message}");
    }
}

/// Wait up to two seconds for `holds`.
fn eventually(holds: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(2) {
        if holds() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

#[test]
fn a_host_hears_which_tables_another_changed() {
    use crate::store::Tables;
    let Some(server) = Server::from_env("a_host_hears_which_tables_another_changed") else {
        return;
    };
    let database = server.database();
    let (one, other) = (
        PgStore::connect(&database.url).expect("connect"),
        PgStore::connect(&database.url).expect("connect again"),
    );
    let keys = Tables::of(&[Table::ApiKeys]);
    assert!(
        eventually(|| other.changes().version(keys).is_some()),
        "the listener vouches once it listens and its pings are answered"
    );
    let before = other.changes().version(keys);

    let mut watch = other.watch_commits();
    watch.mark_unchanged();
    let mut tx = one.write().expect("write");
    tx.put(Table::Audit, b"a", b"1").expect("put");
    tx.commit().expect("commit");
    assert!(
        eventually(|| watch.has_changed().unwrap_or(false)),
        "the commit is heard"
    );
    assert_eq!(
        other.changes().version(keys),
        before,
        "another table's commit leaves the keys' version"
    );

    let mut tx = one.write().expect("write");
    tx.put(Table::ApiKeys, b"k", b"1").expect("put");
    tx.commit().expect("commit");
    assert!(
        eventually(|| other.changes().version(keys) != before),
        "a commit of the keys changes their version on the other host"
    );
}
