//! Readiness follows the store: a host reaches PostgreSQL through a
//! loopback relay the test can cut, and `/v1/ready` answers 503 while the
//! database is out of reach and 200 again once it is back, with no restart;
//! `/v1/health` (alive) answers throughout.

use omnify_tests::host::TestHost;
use omnify_tests::postgres::Scratch;
use reqwest::Method;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Relays connections to the database while open; cut, it ends every
/// relayed connection and closes new ones at once, as a stopped server
/// looks to its clients.
#[derive(Clone)]
struct Relay {
    open: Arc<Mutex<bool>>,
    relayed: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    /// Start relaying to `target` (`host:port`); returns the relay and its
    /// port.
    async fn start(target: String) -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let relay = Self {
            open: Arc::new(Mutex::new(true)),
            relayed: Arc::default(),
        };
        let accepting = relay.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*accepting.open.lock().expect("state") {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let relayed = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accepting.relayed.lock().expect("state").push(relayed);
            }
        });
        (relay, port)
    }

    fn cut(&self) {
        *self.open.lock().expect("state") = false;
        for relayed in self.relayed.lock().expect("state").drain(..) {
            relayed.abort();
        }
    }

    fn restore(&self) {
        *self.open.lock().expect("state") = true;
    }
}

/// Poll `path` until it answers `status` (20 s at most); how long it took.
async fn until_status(host: &TestHost, path: &str, status: u16) -> Duration {
    let started = Instant::now();
    loop {
        let reply = host.call(Method::GET, path, None, None).await;
        if reply.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} still answers {} ({}), not {status}",
            reply.status,
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_the_database_is_out_of_reach_and_recovers_without_a_restart() {
    let Some(database) = Scratch::create("readiness_fails_while_the_database_is_out_of_reach").await else {
        return;
    };
    let mut url = url::Url::parse(&database.url).expect("a URL");
    let target = format!(
        "{}:{}",
        url.host_str().expect("a host"),
        url.port().unwrap_or(5432)
    );
    let (relay, port) = Relay::start(target).await;
    url.set_port(Some(port)).expect("a port");
    let (key_dir, data) = (
        tempfile::tempdir().expect("temp"),
        tempfile::tempdir().expect("temp"),
    );
    let master_key = key_dir.path().join("master.key");
    std::fs::write(&master_key, [9u8; 32]).expect("write the master key");
    let (host, admin) = TestHost::start_shared(data.path(), url.as_str(), &master_key, super::LEASE).await;
    let admin = admin.expect("a new store");
    assert_eq!(host.call(Method::GET, "/v1/ready", None, None).await.status, 200);

    relay.cut();
    until_status(&host, "/v1/ready", 503).await;
    let not_ready = host.call(Method::GET, "/v1/ready", None, None).await;
    assert_eq!(not_ready.json["error"]["code"], "not_ready", "{}", not_ready.text);
    assert_eq!(
        host.call(Method::GET, "/v1/health", None, None).await.status,
        200,
        "alive all the same"
    );
    let refused = host.create_tenant(&admin, "acme").await;
    assert_eq!(
        refused.status, 503,
        "a write with no store is refused, not lost: {}",
        refused.text
    );

    relay.restore();
    until_status(&host, "/v1/ready", 200).await;
    assert_eq!(
        host.create_tenant(&admin, "acme").await.status,
        201,
        "and works again"
    );
    host.stop().await;
}
