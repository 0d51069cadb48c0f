//! Records per second through a full sync of 100,000 records from a
//! loopback source: through the Wasm connector (`paged-source`) and the sync
//! engine into the record store, against the same fetch-parse-store loop
//! written natively in Rust, in the same run.
//!
//! Both read pages of 1,000 records and commit each page with its state in
//! one durable transaction.
//!
//! Run with `cargo bench -p omnify --bench sync`.

use axum::extract::Query;
use omnify_control::control::{ControlConfig, ControlPlane};
use omnify_control::enablement::EnableRequest;
use omnify_control::store::storage::{Table, key, prefix};
use omnify_control::store::{RedbStore, Storage};
use omnify_control::sync::{RunStatus, SyncRequest};
use omnify_control::tenant::{NewTenant, Principal};
use omnify_registry::{Builder, Package};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const RECORDS: u64 = 100_000;
const PAGE: u32 = 1_000;

async fn items(Query(query): Query<HashMap<String, u64>>) -> axum::Json<Value> {
    let after = query.get("after").copied().unwrap_or(0);
    let last = (after + query.get("limit").copied().unwrap_or(100)).min(RECORDS);
    let items: Vec<Value> = (after + 1..=last)
        .map(|id| json!({"id": id, "name": format!("item {id}"), "group": id % 7, "spend": id as f64 * 0.25}))
        .collect();
    axum::Json(json!({"items": items, "next": (last < RECORDS).then_some(last)}))
}

/// Fetch and parse one page natively.
async fn fetch(client: &reqwest::Client, base_url: &str, after: u64) -> Value {
    let url = format!("{base_url}/items?after={after}&limit={PAGE}");
    let body = client
        .get(&url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body");
    serde_json::from_slice(&body).expect("json")
}

/// Store one page natively: each record keyed by its id, with the state,
/// in one durable commit. Returns the last id.
fn store_page(store: &RedbStore, page: &Value) -> u64 {
    let stream_prefix = prefix(&[b"bench", b"native", b"items"]);
    let mut after = 0;
    let mut tx = store.write().expect("write");
    for record in page["items"].as_array().expect("items") {
        let id = record["id"].as_u64().expect("id");
        let record_key = [stream_prefix.as_slice(), format!("{id:020}").as_bytes()].concat();
        tx.put(Table::Records, &record_key, record.to_string().as_bytes())
            .expect("put");
        after = id;
    }
    tx.put(
        Table::SyncState,
        &key(&[b"bench", b"native", b"items"]),
        after.to_string().as_bytes(),
    )
    .expect("state");
    tx.commit().expect("commit");
    after
}

/// The same work natively, one page after the other.
async fn native_sequential(base_url: &str, store: &RedbStore) -> u64 {
    let client = reqwest::Client::new();
    let (mut after, mut written) = (0, 0);
    loop {
        let page = fetch(&client, base_url, after).await;
        written += page["items"].as_array().map_or(0, Vec::len) as u64;
        after = store_page(store, &page);
        if page["next"].is_null() {
            return written;
        }
    }
}

/// The same work natively, fetching the next page while the previous one
/// commits, as the engine does.
async fn native_pipelined(base_url: &str, store: std::sync::Arc<RedbStore>) -> u64 {
    let client = reqwest::Client::new();
    let mut page = fetch(&client, base_url, 0).await;
    let mut written = 0;
    loop {
        written += page["items"].as_array().map_or(0, Vec::len) as u64;
        let next_after = page["items"]
            .as_array()
            .and_then(|i| i.last())
            .and_then(|r| r["id"].as_u64())
            .unwrap_or(0);
        let last = page["next"].is_null();
        let store = store.clone();
        let commit = tokio::task::spawn_blocking(move || store_page(&store, &page));
        if last {
            commit.await.expect("commit");
            return written;
        }
        let (committed, next) = tokio::join!(commit, fetch(&client, base_url, next_after));
        committed.expect("commit");
        page = next;
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = Builder::new(root.join("target/wasm"))
        .build_packages(&root.join("Cargo.toml"), &["paged-source"])
        .expect("build the connector")
        .remove(0);
    let manifest =
        std::fs::read_to_string(root.join("tests/guests/paged-source/plugin.toml")).expect("manifest");
    let package =
        Package::new(&manifest, std::fs::read(&component.path).expect("component")).expect("package");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().route("/items", axum::routing::get(items));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let sequential_dir = tempfile::tempdir().expect("temp dir");
        let sequential_store = RedbStore::open(sequential_dir.path()).expect("store");
        let started = Instant::now();
        assert_eq!(native_sequential(&base_url, &sequential_store).await, RECORDS);
        let sequential_time = started.elapsed();

        let pipelined_dir = tempfile::tempdir().expect("temp dir");
        let pipelined_store = std::sync::Arc::new(RedbStore::open(pipelined_dir.path()).expect("store"));
        let started = Instant::now();
        assert_eq!(native_pipelined(&base_url, pipelined_store).await, RECORDS);
        let native_time = started.elapsed();

        let data = tempfile::tempdir().expect("temp dir");
        let control = ControlPlane::open(ControlConfig {
            dev: true,
            // The source listens on loopback, which only operator-grantable
            // hosts may reach.
            grantable_hosts: vec![
                omnify_runtime::invoke::HostPattern::parse("127.0.0.1:*").expect("pattern"),
            ],
            credentials: Default::default(),
            ..ControlConfig::new(data.path())
        })
        .expect("control plane")
        .0;
        let control = std::sync::Arc::new(control);
        let admin = Principal::admin();
        control
            .publish(&admin, &package.to_bytes().expect("bytes"))
            .await
            .expect("publish");
        let tenant = NewTenant {
            id: "bench".into(),
            name: "Bench".into(),
            quotas: Default::default(),
        };
        control.create_tenant(&admin, tenant).await.expect("tenant");
        let mut enable = EnableRequest::default();
        enable.config.insert("base_url".into(), json!(base_url));
        control
            .enable(&admin, "bench", "paged-source", enable)
            .await
            .expect("enable");
        let request = SyncRequest {
            batch_size: Some(PAGE),
            ..SyncRequest::default()
        };
        let started = Instant::now();
        let run = control
            .start_sync(&admin, "bench", "paged-source", request)
            .await
            .expect("sync");
        let run = loop {
            let run = control.run(&admin, "bench", &run.id).await.expect("run");
            if run.status != RunStatus::Running {
                break run;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let wasm_time = started.elapsed();
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.last_error);
        assert_eq!(run.streams[0].records_written, RECORDS);

        let rate = |time: Duration| RECORDS as f64 / time.as_secs_f64();
        println!("\n{RECORDS} records, pages of {PAGE}, one durable commit per page:");
        let line = |name: &str, time: Duration| {
            println!(
                "  {name:<38} {:>9.0} records/s ({:.2} s)",
                rate(time),
                time.as_secs_f64()
            );
        };
        line("native loop, one page after the other", sequential_time);
        line("native loop, fetch overlapping commit", native_time);
        line("Wasm connector + sync engine", wasm_time);
        println!(
            "  ratio to the overlapping native loop: {:>6.2} (goal: at least 0.7)",
            rate(wasm_time) / rate(native_time)
        );
    });
}
