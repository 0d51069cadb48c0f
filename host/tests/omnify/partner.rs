//! A partner's first hour, outside this repository: `omnify plugin new`
//! makes a crate in a temporary directory, its own `cargo test` passes, and
//! `omnify plugin run` builds it and calls it in the sandbox (against a
//! loopback API the test serves); `plugin new` and `plugin pack` refuse
//! what they should, saying what to change.
//!
//! The nested cargo builds share `target/partner`, so a second run only
//! rebuilds the new crate itself.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The longest a nested `cargo test` or build may take (a cold one on a
/// busy two-core machine included).
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The longest a command that builds nothing may take.
const QUICK_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate lives in the workspace")
        .to_path_buf()
}

/// The target directory every nested cargo of these tests shares.
fn shared_target() -> PathBuf {
    workspace().join("target").join("partner")
}

/// A temporary directory outside the workspace, as a partner's would be.
fn outside_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(
        !dir.path().starts_with(workspace()),
        "{} must be outside the workspace",
        dir.path().display()
    );
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run `command` to its end, or kill it and fail after `timeout`. Its end is
/// seen as both output pipes closing.
fn run_bounded(mut command: Command, timeout: Duration) -> Output {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    let (done, finished) = mpsc::channel();
    let mut readers = Vec::new();
    for mut pipe in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let done = done.clone();
        readers.push(std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = done.send(());
            bytes
        }));
    }
    let deadline = Instant::now() + timeout;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        if finished.recv_timeout(left).is_err() {
            let _ = child.kill();
            panic!("{described} took more than {timeout:?}");
        }
    }
    let status = child.wait().expect("wait for the command");
    let mut outputs = readers.into_iter().map(|r| r.join().expect("pipe reader"));
    Output {
        status,
        stdout: outputs.next().unwrap_or_default(),
        stderr: outputs.next().unwrap_or_default(),
    }
}

/// `omnify <args>`, building plugins into the shared target directory.
fn omnify(args: &[&str], timeout: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnify"));
    command
        .args(args)
        .env("OMNIFY_PLUGIN_TARGET_DIR", shared_target());
    run_bounded(command, timeout)
}

/// `omnify <args>`, which must succeed.
fn omnify_ok(args: &[&str], timeout: Duration) -> Output {
    let output = omnify(args, timeout);
    assert!(
        output.status.success(),
        "omnify {args:?} failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    output
}

/// `omnify plugin new <name> --dir <parent> <extra>`; the crate's directory.
fn plugin_new(parent: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let parent_arg = parent.to_str().expect("utf-8 path");
    let mut args = vec!["plugin", "new", name, "--dir", parent_arg];
    args.extend_from_slice(extra);
    let output = omnify_ok(&args, QUICK_TIMEOUT);
    let dir = parent.join(name);
    assert!(
        text(&output.stdout).contains(&format!("in {}", dir.display())),
        "{}",
        text(&output.stdout)
    );
    for file in [
        "Cargo.toml",
        "rust-toolchain.toml",
        "plugin.toml",
        "src/lib.rs",
        "README.md",
        ".gitignore",
    ] {
        assert!(dir.join(file).is_file(), "plugin new wrote {file}");
    }
    dir
}

/// The crate's own `cargo test`, run as the partner would run it; the
/// workspace's lock file seeds its dependency versions, so the test does
/// not depend on what the registry published since.
fn cargo_test(dir: &Path) -> String {
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("seed the lock file");
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .arg("test")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target());
    for inherited in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        command.env_remove(inherited);
    }
    let output = run_bounded(command, BUILD_TIMEOUT);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "cargo test in {} failed:\n{stdout}\n{}",
        dir.display(),
        text(&output.stderr)
    );
    stdout
}

/// What the loopback API received: the query and the authorization.
type Seen = Arc<Mutex<Vec<(HashMap<String, String>, Option<String>)>>>;

/// `/items` in the shape the scaffold expects: three items, `per_page` a
/// page.
async fn items(
    State(seen): State<Seen>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::Json<Value> {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    seen.lock().expect("seen").push((query.clone(), authorization));
    let page: u64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let per_page: u64 = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(100);
    let first = (page - 1) * per_page + 1;
    let items: Vec<Value> = (first..=3.min(first + per_page - 1))
        .map(|id| json!({"id": id, "name": format!("item {id}")}))
        .collect();
    let next = (first + per_page <= 3).then_some(page + 1);
    axum::Json(json!({"items": items, "next_page": next}))
}

#[test]
fn a_new_connector_tests_runs_and_packs_outside_the_workspace() {
    let started = Instant::now();
    let parent = outside_dir();
    let dir = plugin_new(parent.path(), "acme-items", &["--publisher", "acme"]);
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    let sdk = workspace().join("sdk").canonicalize().expect("the SDK");
    assert!(
        cargo_toml.contains(&format!(
            "omnify-sdk = {{ version = \"0.1\", path = \"{}\" }}",
            sdk.display()
        )),
        "{cargo_toml}"
    );

    let tests = cargo_test(&dir);
    assert!(
        tests.contains("test result: ok. 3 passed"),
        "the scaffold's own tests ran: {tests}"
    );
    let tested = started.elapsed();

    let dir_arg = dir.to_str().expect("utf-8 path");
    let spec = omnify_ok(&["plugin", "run", dir_arg, "spec"], BUILD_TIMEOUT);
    let spec: Value = serde_json::from_slice(&spec.stdout).expect("spec prints JSON");
    assert_eq!(spec["result"]["required"], json!(["base_url"]));

    let async_runtime = tokio::runtime::Runtime::new().expect("tokio");
    let seen: Seen = Arc::default();
    let port = async_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let app = Router::new().route("/items", get(items)).with_state(seen.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        port
    });
    let base_url = format!("base_url=http://127.0.0.1:{port}");
    let allow = format!("127.0.0.1:{port}");
    let against_api = |export: &str, input: &str| {
        omnify(
            &[
                "plugin",
                "run",
                dir_arg,
                export,
                "--input",
                input,
                "--config",
                &base_url,
                "--secret",
                "api_token=t0k",
                "--allow-host",
                &allow,
            ],
            QUICK_TIMEOUT,
        )
    };

    let read = against_api("read", r#"{"stream": "items", "limit": 2}"#);
    assert!(read.status.success(), "{}", text(&read.stderr));
    let batch: Value = serde_json::from_slice(&read.stdout).expect("read prints JSON");
    assert_eq!(
        batch["result"]["records"],
        json!([{"id": 1, "name": "item 1"}, {"id": 2, "name": "item 2"}])
    );
    assert_eq!(batch["result"]["state"], json!(2));
    assert_eq!(batch["result"]["has_more"], true);
    assert!(
        text(&read.stderr).contains("page 1: 2 items"),
        "the plugin's log is shown: {}",
        text(&read.stderr)
    );
    let next = against_api("read", r#"{"stream": "items", "limit": 2, "state": 2}"#);
    let batch: Value = serde_json::from_slice(&next.stdout).expect("read prints JSON");
    assert_eq!(batch["result"]["records"], json!([{"id": 3, "name": "item 3"}]));
    assert_eq!(batch["result"]["has_more"], false);
    {
        let seen = seen.lock().expect("seen");
        assert_eq!(seen.len(), 2, "one request a page: {seen:?}");
        assert_eq!(seen[0].0.get("per_page").map(String::as_str), Some("2"));
        assert_eq!(seen[1].0.get("page").map(String::as_str), Some("2"));
        assert_eq!(seen[0].1.as_deref(), Some("Bearer t0k"));
    }
    let check = against_api("check", "null");
    assert!(check.status.success(), "{}", text(&check.stderr));
    let unknown = against_api("read", r#"{"stream": "orders"}"#);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("no stream `orders`"),
        "{}",
        text(&unknown.stderr)
    );

    // Packed and signed as its README says, the package verifies.
    let key = parent.path().join("acme.key");
    let package = parent.path().join("acme-items.omnify");
    let (key_arg, package_arg) = (key.to_str().expect("utf-8"), package.to_str().expect("utf-8"));
    omnify_ok(
        &["plugin", "keygen", "--publisher", "acme", "--out", key_arg],
        QUICK_TIMEOUT,
    );
    omnify_ok(
        &["plugin", "pack", dir_arg, "--key", key_arg, "--out", package_arg],
        BUILD_TIMEOUT,
    );
    let verified = omnify_ok(&["plugin", "verify", package_arg], QUICK_TIMEOUT);
    assert!(
        text(&verified.stdout).ends_with(": ok\n"),
        "{}",
        text(&verified.stdout)
    );
    // `verify` names a missing publisher too, in a package made without
    // `pack`.
    let component = shared_target().join("wasm32-wasip2/plugin/acme_items.wasm");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).expect("plugin.toml");
    let without: String = manifest
        .lines()
        .filter(|line| !line.starts_with("publisher ="))
        .map(|line| format!("{line}\n"))
        .collect();
    let bytes = std::fs::read(&component).expect("the component pack built");
    let unpublishable = omnify_registry::Package::new(&without, bytes).expect("a runnable manifest");
    let unpublishable_path = parent.path().join("no-publisher.omnify");
    std::fs::write(&unpublishable_path, unpublishable.to_bytes().expect("archive")).expect("write");
    let refused = omnify(
        &["plugin", "verify", unpublishable_path.to_str().expect("utf-8")],
        QUICK_TIMEOUT,
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("`plugin.publisher` is missing"),
        "{}",
        text(&refused.stderr)
    );
    eprintln!(
        "partner connector: cargo test after {:.1} s, everything after {:.1} s",
        tested.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_new_agent_tests_and_runs_outside_the_workspace() {
    let parent = outside_dir();
    let dir = plugin_new(parent.path(), "acme-counter", &["--agent"]);
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).expect("plugin.toml");
    assert!(manifest.contains("kind = \"agent\""), "{manifest}");

    let tests = cargo_test(&dir);
    assert!(
        tests.contains("test result: ok. 2 passed"),
        "the scaffold's own tests ran: {tests}"
    );

    let dir_arg = dir.to_str().expect("utf-8 path");
    let describe = omnify_ok(&["plugin", "run", dir_arg, "describe"], BUILD_TIMEOUT);
    let describe: Value = serde_json::from_slice(&describe.stdout).expect("describe prints JSON");
    assert_eq!(describe["result"]["name"], "acme-counter");
    assert_eq!(describe["result"]["tasks"][0]["kind"], "count-items");

    let run = omnify_ok(
        &[
            "plugin",
            "run",
            dir_arg,
            "run",
            "--input",
            r#"{"kind": "count-items"}"#,
        ],
        QUICK_TIMEOUT,
    );
    let output: Value = serde_json::from_slice(&run.stdout).expect("run prints JSON");
    let insight = &output["result"]["insights"][0];
    assert_eq!(insight["data"], json!({"count": 0}), "{output}");
    assert_eq!(insight["severity"], "warning", "{output}");
}

#[test]
fn plugin_new_refuses_bad_names_and_a_directory_in_use() {
    let parent = outside_dir();
    let parent_arg = parent.path().to_str().expect("utf-8 path");
    let cases: [(&[&str], &str); 5] = [
        (&["Acme_Items"], "`Acme_Items` cannot name a plugin"),
        (&["9lives"], "`9lives` cannot name a plugin"),
        (&["omnify"], "`omnify` is reserved"),
        (&["fine", "--publisher", "a b"], "`a b` cannot name a publisher"),
        (&["fine", "--sdk", parent_arg], "is not the Omnify SDK"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["plugin", "new", "--dir", parent_arg];
        all.extend_from_slice(args);
        let output = omnify(&all, QUICK_TIMEOUT);
        assert!(!output.status.success(), "{args:?} should be refused");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(expected),
            "{args:?}: `{stderr}` should say `{expected}`"
        );
    }
    assert_eq!(
        std::fs::read_dir(parent.path()).expect("list").count(),
        0,
        "a refusal writes nothing"
    );

    std::fs::create_dir(parent.path().join("taken")).expect("mkdir");
    std::fs::write(parent.path().join("taken").join("notes.txt"), "mine").expect("write");
    let taken = omnify(&["plugin", "new", "taken", "--dir", parent_arg], QUICK_TIMEOUT);
    assert!(!taken.status.success());
    assert!(
        text(&taken.stderr).contains("already exists and is not empty"),
        "{}",
        text(&taken.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(parent.path().join("taken").join("notes.txt")).expect("kept"),
        "mine"
    );

    std::fs::create_dir(parent.path().join("empty")).expect("mkdir");
    plugin_new(parent.path(), "empty", &[]);
}

#[test]
fn pack_refuses_a_manifest_without_publisher_before_building() {
    let parent = outside_dir();
    let dir = plugin_new(parent.path(), "no-publisher", &[]);
    let manifest_path = dir.join("plugin.toml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("plugin.toml");
    let without: String = manifest
        .lines()
        .filter(|line| !line.starts_with("publisher ="))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_ne!(without, manifest, "the scaffold names a publisher");
    std::fs::write(&manifest_path, without).expect("write");

    let dir_arg = dir.to_str().expect("utf-8 path");
    let out = parent.path().join("out.omnify");
    let pack = omnify(
        &["plugin", "pack", dir_arg, "--out", out.to_str().expect("utf-8")],
        QUICK_TIMEOUT,
    );
    assert!(!pack.status.success());
    let stderr = text(&pack.stderr);
    for expected in [
        "`plugin.publisher` is missing",
        "Add this line under `[plugin]`",
        "publisher = \"your-company\"",
        "omnify plugin keygen --publisher",
    ] {
        assert!(stderr.contains(expected), "`{stderr}` should say `{expected}`");
    }
    assert!(!stderr.contains("Compiling"), "refused before building: {stderr}");
    assert!(!out.exists(), "no package is written");

    // A key of another publisher is refused before building too.
    std::fs::write(&manifest_path, manifest).expect("restore");
    let key = parent.path().join("other.key");
    let key_arg = key.to_str().expect("utf-8");
    omnify_ok(
        &["plugin", "keygen", "--publisher", "other", "--out", key_arg],
        QUICK_TIMEOUT,
    );
    let pack = omnify(&["plugin", "pack", dir_arg, "--key", key_arg], QUICK_TIMEOUT);
    assert!(!pack.status.success());
    let stderr = text(&pack.stderr);
    assert!(
        stderr.contains("the key signs for `other` but the package's publisher is `your-company`"),
        "{stderr}"
    );
}
