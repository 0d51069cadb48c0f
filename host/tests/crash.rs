//! Crash and resume: `omnify serve` is killed (SIGKILL) in the middle of a
//! sync and started again on the same data directory; the run resumes from
//! its last committed batch and the record store ends with exactly the
//! source's records, none lost and none duplicated.

use axum::extract::{Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ITEMS: u64 = 1000;

/// A slow source: each page takes 50 ms, so a sync lasts long enough to be
/// interrupted.
async fn start_source(served: Arc<AtomicU64>) -> u16 {
    async fn page(
        State(served): State<Arc<AtomicU64>>,
        Query(query): Query<HashMap<String, u64>>,
    ) -> axum::Json<Value> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = query.get("after").copied().unwrap_or(0);
        let last = (after + query.get("limit").copied().unwrap_or(10)).min(ITEMS);
        served.fetch_add(last - after, Ordering::Relaxed);
        let items: Vec<Value> = (after + 1..=last).map(|id| json!({"id": id})).collect();
        axum::Json(json!({"items": items, "next": (last < ITEMS).then_some(last)}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let app = axum::Router::new()
        .route("/items", axum::routing::get(page))
        .with_state(served);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Start `omnify serve` and wait until it listens; returns the child and
/// the admin token when the data directory was new.
fn serve(data_dir: &Path, port: u16) -> (Child, Option<String>, Vec<String>) {
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests/paged-source");
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnify"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .arg("--plugin")
        .arg(plugin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start omnify serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    let mut token = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if let Some(found) = line.strip_prefix("Admin token (shown once, stored only as a hash): ") {
            token = Some(found.to_string());
        }
        let ready = line.starts_with("Omnify API on");
        lines.push(line);
        if ready {
            break;
        }
    }
    (child, token, lines)
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("the server answers");
    let bytes = response.bytes().await.expect("a body");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_with_no_record_lost_or_duplicated() {
    let served = Arc::new(AtomicU64::new(0));
    let source_port = start_source(served.clone()).await;
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = reqwest::Client::new();

    let (mut first, token, _) = tokio::task::spawn_blocking({
        let dir = data.path().to_path_buf();
        move || serve(&dir, port)
    })
    .await
    .expect("started");
    let token = token.expect("a new data directory prints the admin token");
    use reqwest::Method;
    call(
        &client,
        Method::POST,
        format!("{base}/tenants"),
        &token,
        Some(json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    let enable = json!({"config": {"base_url": format!("http://127.0.0.1:{source_port}")}});
    let enabled = call(
        &client,
        Method::PUT,
        format!("{base}/tenants/acme/plugins/paged-source"),
        &token,
        Some(enable),
    )
    .await;
    assert_eq!(enabled["version"], "1.0.0", "{enabled}");
    let run = call(
        &client,
        Method::POST,
        format!("{base}/tenants/acme/plugins/paged-source/sync"),
        &token,
        Some(json!({"batch_size": 25})),
    )
    .await;
    let run_id = run["id"].as_str().expect("a run").to_string();
    let run_url = format!("{base}/tenants/acme/runs/{run_id}");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = call(&client, Method::GET, run_url.clone(), &token, None).await;
        if run["streams"][0]["records_written"].as_u64().unwrap_or(0) >= 300 {
            assert_eq!(run["status"], "running", "killed mid-run: {run}");
            break;
        }
        assert!(Instant::now() < deadline, "the sync made no progress: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL the server");
    first.wait().expect("reaped");

    let (mut second, again, lines) = tokio::task::spawn_blocking({
        let dir = data.path().to_path_buf();
        move || serve(&dir, port)
    })
    .await
    .expect("restarted");
    assert!(again.is_none());
    assert!(
        lines.iter().any(|l| l == "resumed 1 interrupted sync run(s)"),
        "{lines:?}"
    );
    let run = loop {
        let run = call(&client, Method::GET, run_url.clone(), &token, None).await;
        if run["status"] != "running" {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "the resumed sync did not finish: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run["status"], "succeeded", "{run}");

    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let page = call(
            &client,
            Method::GET,
            format!("{base}/tenants/acme/records/paged-source/items?limit=1000&after={after}"),
            &token,
            None,
        )
        .await;
        ids.extend(
            page["records"]
                .as_array()
                .expect("records")
                .iter()
                .filter_map(|r| r["id"].as_u64()),
        );
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(
        ids,
        (1..=ITEMS).collect::<Vec<_>>(),
        "exactly the source's records"
    );
    let fetched = served.load(Ordering::Relaxed);
    assert!(
        fetched <= ITEMS + 25,
        "resumed from the last committed batch, not from the start: {fetched} fetched"
    );

    // The CLI follows a run to its end: an incremental run with nothing new.
    let follow = tokio::task::spawn_blocking({
        let (server, token) = (format!("http://127.0.0.1:{port}"), token.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_omnify"))
                .args([
                    "sync",
                    "acme",
                    "paged-source",
                    "--follow",
                    "--server",
                    &server,
                    "--token",
                    &token,
                ])
                .output()
                .expect("run omnify sync")
        }
    })
    .await
    .expect("joined");
    let printed = String::from_utf8_lossy(&follow.stdout);
    assert!(
        follow.status.success(),
        "{printed} {}",
        String::from_utf8_lossy(&follow.stderr)
    );
    assert!(printed.contains("succeeded after 1 read calls"), "{printed}");

    second.kill().expect("stop");
    second.wait().expect("reaped");
}
