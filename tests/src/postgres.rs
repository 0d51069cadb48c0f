//! A database of its own for each test, on the PostgreSQL server that
//! `OMNIFY_TEST_POSTGRES` names (`.ci/run` starts one on a private port).
//! Without the variable a test says so and passes, unless
//! `OMNIFY_REQUIRE_POSTGRES` is set.

use sha2::{Digest, Sha256};

/// A new, empty database, dropped (with any connections still open to it)
/// when this is.
pub struct Scratch {
    server: url::Url,
    name: String,
    /// The database's URL.
    pub url: String,
}

impl Scratch {
    /// A new database for `test`, or `None` when no server is configured.
    pub async fn create(test: &str) -> Option<Self> {
        let Ok(server) = std::env::var("OMNIFY_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("OMNIFY_REQUIRE_POSTGRES").is_none(),
                "OMNIFY_REQUIRE_POSTGRES is set but OMNIFY_TEST_POSTGRES is not"
            );
            eprintln!("{test}: did not run: OMNIFY_TEST_POSTGRES is not set");
            return None;
        };
        let server = url::Url::parse(&server).expect("OMNIFY_TEST_POSTGRES is a URL");
        let mut random = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
            .expect("random bytes");
        let name = format!("omnify_hosts_{}", hex::encode(random));
        execute(server.as_str(), &format!("CREATE DATABASE {name}")).await;
        let mut url = server.clone();
        url.set_path(&name);
        Some(Self {
            server,
            name,
            url: url.to_string(),
        })
    }
}

/// The database of the test host on `data_dir` (`OMNIFY_TEST_STORE=postgres`),
/// made on first use: one per data directory, so that a host restarted on
/// it finds its store again. They go with the server `.ci/run` starts.
pub async fn database_of(data_dir: &std::path::Path) -> String {
    let server =
        std::env::var("OMNIFY_TEST_POSTGRES").expect("OMNIFY_TEST_STORE=postgres needs OMNIFY_TEST_POSTGRES");
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name = format!("omnify_host_{}", hex::encode(&digest[..10]));
    let mut url = url::Url::parse(&server).expect("OMNIFY_TEST_POSTGRES is a URL");
    let (client, connection) = tokio_postgres::connect(url.as_str(), tokio_postgres::NoTls)
        .await
        .expect("connect to OMNIFY_TEST_POSTGRES");
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .expect("look for the database")
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the database");
    }
    drop(client);
    let _ = driver.await;
    url.set_path(&name);
    url.to_string()
}

/// Run `sql` on the server at `url`.
pub async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to OMNIFY_TEST_POSTGRES");
    let driver = tokio::spawn(connection);
    client.batch_execute(sql).await.expect("the statement runs");
    drop(client);
    let _ = driver.await;
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (server, sql) = (
            self.server.to_string(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        // Dropped inside a test's runtime, which cannot be blocked on; and
        // bounded, so that a failed test's hosts still connecting cannot
        // hold it up.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| {
                    runtime.block_on(async {
                        tokio::time::timeout(std::time::Duration::from_secs(10), execute(&server, &sql)).await
                    })
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(Ok(())))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
