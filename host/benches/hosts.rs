//! Invoke calls per second and durable audit appends per second on the
//! embedded store, on PostgreSQL with one host, and on PostgreSQL with two
//! hosts sharing the load, in one run:
//!
//! ```sh
//! OMNIFY_BENCH_POSTGRES=postgres://omnify@127.0.0.1:55432/postgres \
//!     cargo bench --profile dev -p omnify --bench hosts
//! ```
//!
//! The URL's user must be able to create databases: each setup gets one of
//! its own, dropped at the end. Both hosts run in this process (one engine
//! each), as two processes on one machine would share its cores.

use omnify_control::audit::{self, Event};
use omnify_control::control::{ControlConfig, ControlPlane};
use omnify_control::enablement::EnableRequest;
use omnify_control::store::StoreError;
use omnify_control::tenant::{NewTenant, Principal};
use omnify_registry::Builder;
use omnify_runtime::RuntimeConfig;
use omnify_runtime::invoke::Call;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 32;
const WINDOW: Duration = Duration::from_secs(5);

/// Run `call` from [`CONCURRENCY`] tasks for [`WINDOW`]; calls per second.
async fn rate<F, Fut>(call: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let (call, done) = (call.clone(), done.clone());
            tokio::spawn(async move {
                while start.elapsed() < WINDOW {
                    call(task).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("caller");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// A host on `data_dir`, on the store at `store_url` (embedded when none).
fn open(data_dir: &Path, store_url: Option<&str>, master_key: &Path) -> Arc<ControlPlane> {
    let mut config = ControlConfig::new(data_dir);
    config.runtime = RuntimeConfig::default();
    // The bench publishes its own unsigned package.
    config.dev = true;
    config.store_url = store_url.map(str::to_string);
    config.credentials.master_key_file = Some(master_key.to_path_buf());
    Arc::new(ControlPlane::open(config).expect("control plane").0)
}

/// Publish the hello connector and enable it for tenant `bench`.
async fn set_up(control: &ControlPlane, package: &[u8]) {
    let admin = Principal::admin();
    control.publish(&admin, package).await.expect("publish");
    let tenant = NewTenant {
        id: "bench".into(),
        name: "Bench".into(),
        quotas: Default::default(),
    };
    control.create_tenant(&admin, tenant).await.expect("tenant");
    let mut enable = EnableRequest::default();
    enable.config.insert("names".into(), serde_json::json!(["Ada"]));
    control
        .enable(&admin, "bench", "hello-connector", enable)
        .await
        .expect("enable");
}

/// Calls of `spec` and audit appends per second, spread over `hosts`.
async fn measure(name: &str, hosts: Vec<Arc<ControlPlane>>) -> (f64, f64) {
    // Each host compiles the component at its first call: not measured.
    for host in &hosts {
        host.invoke_enabled(
            &Principal::admin(),
            "bench",
            "hello-connector",
            Call::Spec,
            "warm-up",
        )
        .await
        .expect("invoke");
    }
    let hosts = Arc::new(hosts);
    let invokes = {
        let hosts = hosts.clone();
        rate(move |task| {
            let host = hosts[task % hosts.len()].clone();
            async move {
                host.invoke_enabled(
                    &Principal::admin(),
                    "bench",
                    "hello-connector",
                    Call::Spec,
                    "bench",
                )
                .await
                .expect("invoke");
            }
        })
        .await
    };
    let appends = {
        let hosts = hosts.clone();
        rate(move |task| {
            let host = hosts[task % hosts.len()].clone();
            async move {
                host.storage()
                    .commits()
                    .commit::<_, StoreError, _>("bench", 256, move |tx| {
                        let event = Event {
                            actor: "bench",
                            action: "bench.append",
                            target: "bench",
                            outcome: "ok",
                            details: serde_json::json!({ "task": task }),
                        };
                        audit::append(tx, "bench", event).map(drop)
                    })
                    .await
                    .expect("append");
            }
        })
        .await
    };
    println!("  {name:<28} {invokes:>9.0} invokes/s {appends:>9.0} audit appends/s");
    (invokes, appends)
}

/// A new database on the server at `server`, and its URL.
async fn database(server: &str) -> (String, String) {
    let name = format!("omnify_bench_{}", std::process::id());
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .expect("connect to OMNIFY_BENCH_POSTGRES");
    tokio::spawn(connection);
    // Two statements: neither may run inside a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .expect("create the bench database");
    }
    let mut url = url::Url::parse(server).expect("a URL");
    url.set_path(&name);
    (name, url.to_string())
}

async fn drop_database(server: &str, name: &str) {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let _ = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = Builder::new(root.join("target/wasm"))
        .build_packages(&root.join("Cargo.toml"), &["hello-connector"])
        .expect("build the hello connector")
        .remove(0);
    let manifest =
        std::fs::read_to_string(root.join("examples/hello-connector/plugin.toml")).expect("manifest");
    let bytes = std::fs::read(&component.path).expect("component");
    let package = omnify_registry::Package::new(&manifest, bytes)
        .expect("package")
        .to_bytes()
        .expect("package bytes");
    let server = std::env::var("OMNIFY_BENCH_POSTGRES").ok();
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().expect("temp dir")).collect();
    let master_key = dirs[0].path().join("master.key");
    std::fs::write(&master_key, [5u8; 32]).expect("master key");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async move {
        println!(
            "\nconcurrency {CONCURRENCY}, {} s each, `spec` of hello-connector through invoke_enabled:",
            WINDOW.as_secs()
        );
        let embedded = open(dirs[1].path(), None, &master_key);
        set_up(&embedded, &package).await;
        let (redb_invokes, redb_appends) = measure("embedded store (redb)", vec![embedded]).await;
        let Some(server) = server else {
            println!("  (set OMNIFY_BENCH_POSTGRES to measure PostgreSQL too)");
            return;
        };
        let (name, url) = database(&server).await;
        let one = open(dirs[2].path(), Some(&url), &master_key);
        set_up(&one, &package).await;
        let (pg_invokes, pg_appends) = measure("PostgreSQL, one host", vec![one.clone()]).await;
        let other = open(dirs[3].path(), Some(&url), &master_key);
        let (two_invokes, two_appends) = measure("PostgreSQL, two hosts", vec![one, other]).await;
        println!(
            "  ratios to the embedded store: invokes {:.2} (one host) {:.2} (two), appends {:.2} (one) {:.2} (two)",
            pg_invokes / redb_invokes,
            two_invokes / redb_invokes,
            pg_appends / redb_appends,
            two_appends / redb_appends
        );
        drop_database(&server, &name).await;
    });
}
