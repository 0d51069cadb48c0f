//! Two `omnify serve` processes on one PostgreSQL store, as an operator
//! runs them behind a load balancer. A sync started on host A survives
//! `kill -9` of A: once A's lease lapses, host B resumes it from its last
//! committed batch and finishes it with exactly the source's records. A
//! host stopped with SIGTERM hands its work back at once instead.

use omnify_tests::postgres::Scratch;
use omnify_tests::source::Source;
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The admin token both hosts accept.
const ADMIN: &str = "oma_test-admin-token-of-two-hosts-0123456789";

/// Records in the source, read 25 at a time with 40 ms per page.
const ITEMS: u64 = 500;
const BATCH: u64 = 25;

/// A running `omnify serve`, killed when dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `omnify serve` on `store` and wait (on a blocking thread) until it
/// listens; the `paged-source` guest is published when `publish`.
async fn serve(store: &str, data_dir: &Path, master_key: &Path, lease_seconds: u64, publish: bool) -> Serve {
    let (store, data_dir, master_key) = (
        store.to_string(),
        data_dir.to_path_buf(),
        master_key.to_path_buf(),
    );
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_omnify-cli"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .arg("--master-key-file")
            .arg(&master_key)
            .args(["--lease-seconds", &lease_seconds.to_string()])
            .args(["--grantable-host", "127.0.0.1:*"])
            .env("OMNIFY_STORE", &store)
            .env("OMNIFY_ADMIN_TOKEN", ADMIN)
            .env_remove("OMNIFY_DATA_DIR");
        if publish {
            command
                .arg("--plugin")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/paged-source"));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start omnify serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("a line");
            if let Some(rest) = line.strip_prefix("Omnify API on ") {
                let url = rest.split_whitespace().next().expect("a URL").to_string();
                return Serve { child, url };
            }
            seen.push(line);
        }
        let _ = child.kill();
        let status = child.wait();
        panic!("omnify serve stopped before it listened ({status:?}): {seen:?}");
    })
    .await
    .expect("started")
}

async fn call(
    client: &reqwest::Client,
    host: &Serve,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client
        .request(method, format!("{}{path}", host.url))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the host answers");
    serde_json::from_slice(&response.bytes().await.expect("a body")).unwrap_or(Value::Null)
}

/// Wait (60 s at most) until the run at `path`, read on `host`, satisfies
/// `done`.
async fn until_run(
    client: &reqwest::Client,
    host: &Serve,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = call(client, host, Method::GET, path, None).await;
        if done(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "the run did not get there: {run}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every record id of `acme`'s paged source, read on `host`.
async fn record_ids(client: &reqwest::Client, host: &Serve) -> Vec<u64> {
    let page = call(
        client,
        host,
        Method::GET,
        "/v1/tenants/acme/records/paged-source/items?limit=1000",
        None,
    )
    .await;
    page["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect()
}

/// A sync on host `first`, interrupted by `stop` once it is under way; host
/// `second` must finish it with exactly the source's records. Leases last
/// `lease_seconds`; returns how long after `stop` the run ended.
async fn handed_over(test: &str, lease_seconds: u64, stop: impl FnOnce(&mut Serve)) -> Option<Duration> {
    let database = Scratch::create(test).await?;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("temp")).collect();
    let master_key = dirs[0].path().join("master.key");
    std::fs::write(&master_key, [3u8; 32]).expect("write the master key");
    let source = Source::start(ITEMS).await;
    source.set_delay(Duration::from_millis(40));
    let client = reqwest::Client::new();

    let mut first = serve(&database.url, dirs[1].path(), &master_key, lease_seconds, true).await;
    let second = serve(&database.url, dirs[2].path(), &master_key, lease_seconds, false).await;
    let tenant = call(
        &client,
        &first,
        Method::POST,
        "/v1/tenants",
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(tenant["id"], "acme", "{tenant}");
    let enable = json!({"config": {"base_url": source.base_url()}});
    let enabled = call(
        &client,
        &second,
        Method::PUT,
        "/v1/tenants/acme/plugins/paged-source",
        Some(enable),
    )
    .await;
    assert_eq!(
        enabled["version"], "1.0.0",
        "host B enables what host A published: {enabled}"
    );

    let run = call(
        &client,
        &first,
        Method::POST,
        "/v1/tenants/acme/plugins/paged-source/sync",
        Some(json!({"batch_size": BATCH})),
    )
    .await;
    let path = format!("/v1/tenants/acme/runs/{}", run["id"].as_str().expect("a run"));
    let under_way = until_run(&client, &second, &path, |run| {
        run["streams"][0]["records_written"].as_u64().unwrap_or(0) >= 100
    })
    .await;
    assert_eq!(under_way["status"], "running", "{under_way}");
    let stopped = Instant::now();
    stop(&mut first);
    let run = until_run(&client, &second, &path, |run| run["status"] != "running").await;
    let taken = stopped.elapsed();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["streams"][0]["records_written"], ITEMS, "{run}");
    assert_eq!(
        record_ids(&client, &second).await,
        (1..=ITEMS).collect::<Vec<_>>(),
        "every record once"
    );
    let served = source.take_items_served();
    assert!(
        served <= ITEMS + 2 * BATCH,
        "resumed from the last committed batch, not the start: {served} served"
    );
    let verified = call(
        &client,
        &second,
        Method::GET,
        "/v1/tenants/acme/audit/verify",
        None,
    )
    .await;
    assert_eq!(verified["ok"], true, "{verified}");
    drop((first, second));
    Some(taken)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_on_a_killed_host_is_finished_by_the_other_with_every_record_once() {
    let test = "a_sync_on_a_killed_host_is_finished_by_the_other_with_every_record_once";
    let Some(taken) = handed_over(test, 2, |host| {
        host.child.kill().expect("SIGKILL host A");
        host.child.wait().expect("reaped");
    })
    .await
    else {
        return;
    };
    // Renewed at most 2/3 s before the kill, A's 2 s lease lapses no sooner
    // than 4/3 s after it; host B looks every second.
    assert!(
        taken >= Duration::from_secs(1),
        "not before A's lease lapsed: {taken:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_stopped_with_sigterm_hands_its_sync_to_the_other_at_once() {
    let test = "a_host_stopped_with_sigterm_hands_its_sync_to_the_other_at_once";
    let Some(taken) = handed_over(test, 60, |host| {
        let terminated = Command::new("kill")
            .args(["-TERM", &host.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(terminated.success());
        host.child.wait().expect("host A exits");
    })
    .await
    else {
        return;
    };
    // Handed back, not lapsed (leases last a minute here): host B takes
    // it over at its next look, within five seconds.
    assert!(
        taken < Duration::from_secs(30),
        "host B did not wait for the lease: {taken:?}"
    );
}
