//! Crash and resume: `omnify serve` is killed (SIGKILL) in the middle of a
//! sync, or between an approval and its execution, and started again on
//! the same data directory. The run resumes from its last committed batch
//! and the record store ends with exactly the source's records, none lost
//! and none duplicated; the approval executes once, as its approver's.

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
fn serve(data_dir: &Path, port: u16, guests: &[&str]) -> (Child, Option<String>, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnify"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        // The guests' sources listen on loopback.
        .args(["--grantable-host", "127.0.0.1:*"]);
    for guest in guests {
        let plugin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/guests")
            .join(guest);
        command.arg("--plugin").arg(plugin);
    }
    let mut child = command
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

/// [`serve`] on a blocking thread: it waits for the server to listen.
async fn serve_in_background(
    data_dir: &Path,
    port: u16,
    guests: &'static [&'static str],
) -> (Child, Option<String>, Vec<String>) {
    let dir = data_dir.to_path_buf();
    tokio::task::spawn_blocking(move || serve(&dir, port, guests))
        .await
        .expect("started")
}

/// A new host on `data_dir` with `guests`, tenant `acme`, and the paged
/// source enabled against the server on `source_port`; returns the host's
/// process and the admin token.
async fn host_with_acme(
    client: &reqwest::Client,
    data_dir: &Path,
    port: u16,
    guests: &'static [&'static str],
    source_port: u16,
) -> (Child, String) {
    use reqwest::Method;
    let (child, token, _) = serve_in_background(data_dir, port, guests).await;
    let token = token.expect("a new data directory prints the admin token");
    let base = format!("http://127.0.0.1:{port}/v1");
    let tenant = json!({"id": "acme", "name": "Acme"});
    call(
        client,
        Method::POST,
        format!("{base}/tenants"),
        &token,
        Some(tenant),
    )
    .await;
    let enable = json!({"config": {"base_url": format!("http://127.0.0.1:{source_port}")}});
    let url = format!("{base}/tenants/acme/plugins/paged-source");
    let enabled = call(client, Method::PUT, url, &token, Some(enable)).await;
    assert_eq!(enabled["version"], "1.0.0", "{enabled}");
    (child, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_with_no_record_lost_or_duplicated() {
    let served = Arc::new(AtomicU64::new(0));
    let source_port = start_source(served.clone()).await;
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = reqwest::Client::new();

    let (mut first, token) = host_with_acme(&client, data.path(), port, &["paged-source"], source_port).await;
    use reqwest::Method;
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

    let (mut second, again, lines) = serve_in_background(data.path(), port, &["paged-source"]).await;
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
    // The first page has no cursor; each next one passes `next` back as is.
    let mut after = String::new();
    loop {
        let page = call(
            &client,
            Method::GET,
            format!("{base}/tenants/acme/records/paged-source/items?limit=1000{after}"),
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
            Some(next) => after = format!("&after={next}"),
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

/// What the level server saw: every `PUT /level` with its idempotency key,
/// and the level it applied (each key once).
#[derive(Default)]
struct Levels {
    level: f64,
    puts: Vec<String>,
    applied: Vec<String>,
}

/// A platform with one number. The first `PUT` never answers, so that a
/// host can be killed while it waits; later ones apply once per key.
async fn start_level_server(levels: Arc<std::sync::Mutex<Levels>>) -> u16 {
    async fn get(State(levels): State<Arc<std::sync::Mutex<Levels>>>) -> axum::Json<Value> {
        let level = levels.lock().map(|l| l.level).unwrap_or_default();
        axum::Json(json!({ "level": level }))
    }
    async fn put(
        State(levels): State<Arc<std::sync::Mutex<Levels>>>,
        headers: axum::http::HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::Json<Value> {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let first = {
            let mut levels = levels.lock().expect("levels");
            levels.puts.push(key.clone());
            levels.puts.len() == 1
        };
        if first {
            // Held until the host is killed (and bounded all the same).
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        let mut levels = levels.lock().expect("levels");
        if !levels.applied.contains(&key) {
            levels.applied.push(key);
            levels.level = body["level"].as_f64().unwrap_or_default();
        }
        axum::Json(json!({ "level": levels.level }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let app = axum::Router::new()
        .route("/level", axum::routing::get(get).put(put))
        .with_state(levels);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_killed_before_it_executed_runs_once_at_the_next_start() {
    use reqwest::Method;
    let levels = Arc::new(std::sync::Mutex::new(Levels {
        level: 5.0,
        ..Levels::default()
    }));
    let source_port = start_level_server(levels.clone()).await;
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let client = reqwest::Client::new();
    const GUESTS: &[&str] = &["paged-source", "data-agent"];
    let (mut first, token) = host_with_acme(&client, data.path(), port, GUESTS, source_port).await;
    let enabled = call(
        &client,
        Method::PUT,
        format!("{base}/tenants/acme/plugins/data-agent"),
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(enabled["plugin"], "data-agent", "{enabled}");
    let key = call(
        &client,
        Method::POST,
        format!("{base}/tenants/acme/keys"),
        &token,
        Some(json!({"role": "operator", "label": "approver"})),
    )
    .await;
    let (operator, operator_id) = (
        key["key"].as_str().expect("key").to_string(),
        key["record"]["id"].as_str().expect("id").to_string(),
    );
    let task = json!({"kind": "propose", "input": {"proposals": [{
        "connector": "paged-source", "action": "set-level", "input": {"level": 7},
        "confidence": 0.9, "metric": "level", "absolute": 2, "percent": 40, "rationale": "raise it",
    }]}});
    let run = call(
        &client,
        Method::POST,
        format!("{base}/tenants/acme/plugins/data-agent/run"),
        &token,
        Some(task),
    )
    .await;
    let run_url = format!("{base}/tenants/acme/runs/{}", run["id"].as_str().expect("run"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while call(&client, Method::GET, run_url.clone(), &token, None).await["status"] == "running" {
        assert!(Instant::now() < deadline, "the agent run did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let proposals = call(
        &client,
        Method::GET,
        format!("{base}/tenants/acme/proposals"),
        &token,
        None,
    )
    .await;
    assert_eq!(proposals[0]["status"], "pending", "{proposals}");
    let id = proposals[0]["id"].as_str().expect("a proposal").to_string();

    // Approve; the platform holds the write; the host dies meanwhile.
    let approval = tokio::spawn({
        let (client, url, operator) = (
            client.clone(),
            format!("{base}/tenants/acme/proposals/{id}/approve"),
            operator.clone(),
        );
        async move {
            client
                .post(url)
                .bearer_auth(operator)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
        }
    });
    while levels.lock().expect("levels").puts.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the approval never reached the platform"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL the server");
    first.wait().expect("reaped");
    assert!(
        approval.await.expect("joined").is_err(),
        "the approver saw the host go away"
    );

    let (mut second, _, lines) = serve_in_background(data.path(), port, GUESTS).await;
    assert!(
        lines
            .iter()
            .any(|l| l == "executed 1 approval(s) interrupted by the last stop"),
        "{lines:?}"
    );
    let proposal = call(
        &client,
        Method::GET,
        format!("{base}/tenants/acme/proposals/{id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(proposal["status"], "executed", "{proposal}");
    {
        let levels = levels.lock().expect("levels");
        assert_eq!(
            levels.puts,
            vec![id.clone(), id.clone()],
            "the same key both times"
        );
        assert_eq!(levels.applied, vec![id.clone()], "applied once");
        assert_eq!(levels.level, 7.0);
    }
    let audit = call(
        &client,
        Method::GET,
        format!("{base}/tenants/acme/audit?limit=1000"),
        &token,
        None,
    )
    .await;
    let executions: Vec<&Value> = audit
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "proposal.execute")
        .collect();
    assert_eq!(executions.len(), 1, "{audit}");
    assert_eq!(
        executions[0]["actor"],
        format!("key:{operator_id}"),
        "still the approver's"
    );

    second.kill().expect("stop");
    second.wait().expect("reaped");
}
