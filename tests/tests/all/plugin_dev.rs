//! `omnify plugin dev` end to end: the real binary builds the partner
//! example from a copy outside the workspace, trusts its development key,
//! publishes dev versions to a real host, enables and upgrades a tenant,
//! and calls `read`; in watch mode an edit of the source shows up in the
//! next iteration's output, and a build failure does not end the loop.

use omnify_registry::build::TARGET_DIR_VAR;
use omnify_tests::host::TestHost;
use reqwest::Method;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A bound on one iteration: a cold build of the SDK and its dependencies
/// for wasm takes a few minutes on a small machine.
const ITERATION: Duration = Duration::from_secs(240);

/// The most iterations one edit may cause (an editor's save can be seen as
/// several changes).
const ITERATIONS_PER_EDIT: usize = 3;

const TENANT: &str = "acme";
const READ_GREETINGS: &str = r#"{"stream":"greetings","mode":"full-refresh"}"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// `value` with `workspace = true` replaced by the workspace's entry for
/// `name` in `inherited`; a dependency's path is made absolute.
fn inherit(name: &str, value: &toml::Value, inherited: &toml::Table, dependency: bool) -> toml::Value {
    let Some(table) = value.as_table().filter(|t| t.get("workspace").is_some()) else {
        return value.clone();
    };
    let mut resolved = match inherited.get(name).cloned() {
        Some(toml::Value::String(version)) if dependency => {
            toml::Table::from_iter([("version".to_string(), version.into())])
        }
        Some(toml::Value::Table(entry)) if dependency => entry,
        Some(other) => return other,
        None => panic!("the workspace defines no `{name}`"),
    };
    if let Some(path) = resolved.get("path").and_then(toml::Value::as_str) {
        let absolute = workspace().join(path).display().to_string();
        resolved.insert("path".into(), absolute.into());
    }
    if let Some(features) = table.get("features") {
        resolved.insert("features".into(), features.clone());
    }
    toml::Value::Table(resolved)
}

/// Copy the partner example into `dest` as a crate of its own: workspace
/// inheritance resolved, path dependencies absolute, the workspace's lock
/// file and toolchain.
fn copy_example(dest: &Path) {
    let example = workspace().join("examples/hello-connector");
    let read_toml = |path: &Path| -> toml::Table {
        toml::from_str(&std::fs::read_to_string(path).expect("read")).expect("TOML")
    };
    let root = read_toml(&workspace().join("Cargo.toml"));
    let mut manifest = read_toml(&example.join("Cargo.toml"));
    let section = |name: &str| {
        root["workspace"][name]
            .as_table()
            .expect("a workspace table")
            .clone()
    };
    let (package, dependencies) = (section("package"), section("dependencies"));
    for (table, inherited, dependency) in [
        ("package", &package, false),
        ("dependencies", &dependencies, true),
    ] {
        if let Some(entries) = manifest.get_mut(table).and_then(toml::Value::as_table_mut) {
            for (name, value) in entries.iter_mut() {
                *value = inherit(name, value, inherited, dependency);
            }
        }
    }
    manifest.insert("workspace".into(), toml::Table::new().into());
    std::fs::create_dir_all(dest.join("src")).expect("mkdir");
    std::fs::write(dest.join("Cargo.toml"), toml::to_string(&manifest).expect("TOML")).expect("write");
    std::fs::copy(example.join("plugin.toml"), dest.join("plugin.toml")).expect("copy");
    std::fs::copy(example.join("src/lib.rs"), dest.join("src/lib.rs")).expect("copy");
    for file in ["Cargo.lock", "rust-toolchain.toml"] {
        std::fs::copy(workspace().join(file), dest.join(file)).expect("copy");
    }
}

/// A running `omnify plugin dev`, its stdout read line by line.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
}

impl Dev {
    fn spawn(crate_dir: &Path, url: &str, token: &str, extra: &[&str]) -> Self {
        let stderr = crate_dir.with_extension(format!("stderr-{}.log", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_omnify-cli"))
            .args(["plugin", "dev"])
            .arg(crate_dir)
            .args(["--server", url, "--tenant", TENANT, "--export", "read"])
            .args(["--input", READ_GREETINGS, "--config", r#"names=["Ada"]"#])
            .args(extra)
            .env("OMNIFY_KEY", token)
            // Shared across runs, so that only the copied crate is rebuilt.
            .env(TARGET_DIR_VAR, workspace().join("target/partner"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("a log file"))
            .spawn()
            .expect("omnify starts");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Everything printed so far, for failure messages.
    fn transcript(&self) -> String {
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "stdout:\n{}\nstderr (last lines):\n{}",
            self.seen.join("\n"),
            tail.join("\n")
        )
    }

    /// The lines of the next iteration, up to its `[n] ok` or `[n] failed`
    /// line, and whether it succeeded; none if stdout ended first.
    fn next_iteration(&mut self) -> Option<(bool, Vec<String>)> {
        let deadline = Instant::now() + ITERATION;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no iteration ended within {ITERATION:?}\n{}", self.transcript())
                }
            };
            self.seen.push(line.clone());
            // `[<n>] ok in …` or `[<n>] failed at …` ends an iteration.
            let outcome = line
                .strip_prefix('[')
                .and_then(|rest| rest.split_once("] "))
                .filter(|(number, _)| number.parse::<u64>().is_ok())
                .and_then(|(_, rest)| {
                    if rest.starts_with("ok in ") {
                        Some(true)
                    } else if rest.starts_with("failed at ") {
                        Some(false)
                    } else {
                        None
                    }
                });
            lines.push(line);
            if let Some(ok) = outcome {
                return Some((ok, lines));
            }
        }
    }

    /// The first of the next few iterations whose output contains `text`.
    fn iteration_showing(&mut self, text: &str) -> (bool, Vec<String>) {
        for _ in 0..ITERATIONS_PER_EDIT {
            let Some((ok, lines)) = self.next_iteration() else {
                break;
            };
            if lines.iter().any(|line| line.contains(text)) {
                return (ok, lines);
            }
        }
        panic!("no iteration showed `{text}`\n{}", self.transcript())
    }

    /// Wait for the process to exit after `--once`.
    fn exit(mut self) -> (ExitStatus, String) {
        // `--once` prints one iteration, then its stdout ends.
        for _ in 0..ITERATIONS_PER_EDIT {
            if self.next_iteration().is_none() {
                break;
            }
        }
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, self.transcript());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "omnify did not exit\n{}",
                self.transcript()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// The version pinned for the tenant and the one before it.
async fn pinned(host: &TestHost, admin: &str) -> (String, Option<String>) {
    let reply = host
        .call(
            Method::GET,
            &format!("/v1/tenants/{TENANT}/plugins"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let enablement = &reply.json[0];
    assert_eq!(enablement["plugin"], "hello-connector", "{}", reply.text);
    let version = enablement["version"].as_str().expect("a version").to_string();
    (
        version,
        enablement["previous_version"].as_str().map(str::to_string),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_dev_publishes_upgrades_and_reruns_on_every_change() {
    let data = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(data.path(), &[]).await;
    let admin = admin.expect("an admin token");
    assert_eq!(host.create_tenant(&admin, TENANT).await.status, 201);
    // Outside the workspace, as a partner's crate would be.
    let outside = tempfile::tempdir().expect("temp dir");
    assert!(!outside.path().starts_with(workspace()));
    let crate_dir = outside.path().join("hello-connector");
    copy_example(&crate_dir);
    let started = Instant::now();

    // A token the host does not know: built, then refused, and `--once`
    // says so with its exit status.
    let refused = Dev::spawn(&crate_dir, &host.url, "not-a-token", &["--once"]);
    let (status, transcript) = tokio::task::block_in_place(|| refused.exit());
    assert!(!status.success(), "{transcript}");
    assert!(transcript.contains("build    ok"), "{transcript}");
    assert!(transcript.contains("[1] failed at trust"), "{transcript}");
    assert!(transcript.contains("401"), "{transcript}");

    // One iteration: published as a dev version, enabled, `read` called.
    let once = Dev::spawn(&crate_dir, &host.url, &admin, &["--once"]);
    let (status, transcript) = tokio::task::block_in_place(|| once.exit());
    assert!(status.success(), "{transcript}");
    assert!(transcript.contains("\"text\": \"Hello, Ada!\""), "{transcript}");
    assert!(
        transcript.contains("added to the host's trust store"),
        "{transcript}"
    );
    let (first, _) = pinned(&host, &admin).await;
    assert!(first.starts_with("0.1.0-dev."), "{first}");
    let once_done = started.elapsed();

    // Watch mode: the first iteration upgrades, an edit rebuilds and shows
    // the new greeting, a broken edit fails only its iteration.
    let mut dev = Dev::spawn(&crate_dir, &host.url, &admin, &[]);
    let (ok, lines) = tokio::task::block_in_place(|| dev.iteration_showing("Hello, Ada!"));
    assert!(ok, "{}", dev.transcript());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("already in the host's trust store")),
        "{}",
        dev.transcript()
    );
    let (second, _) = pinned(&host, &admin).await;
    assert_ne!(second, first);

    let source = crate_dir.join("src/lib.rs");
    let original = std::fs::read_to_string(&source).expect("read");
    let howdy = original.replacen("\"Hello\".to_string()", "\"Howdy\".to_string()", 1);
    assert_ne!(howdy, original, "the example's default greeting moved");
    std::fs::write(&source, &howdy).expect("write");
    let (ok, lines) = tokio::task::block_in_place(|| dev.iteration_showing("Howdy, Ada!"));
    assert!(ok, "{}", dev.transcript());
    assert!(
        lines.iter().any(|l| l.contains("upgraded from")),
        "{}",
        dev.transcript()
    );
    let (third, previous) = pinned(&host, &admin).await;
    assert_eq!(previous.as_deref(), Some(second.as_str()));
    assert!(third > second, "{third} after {second}");

    std::fs::write(&source, format!("{howdy}\nfn broken( {{\n")).expect("write");
    let (ok, _) = tokio::task::block_in_place(|| dev.iteration_showing("failed at build"));
    assert!(!ok);
    assert_eq!(
        pinned(&host, &admin).await.0,
        third,
        "a failed build publishes nothing"
    );

    std::fs::write(&source, &howdy).expect("write");
    let (ok, _) = tokio::task::block_in_place(|| dev.iteration_showing("Howdy, Ada!"));
    assert!(ok, "{}", dev.transcript());
    assert_ne!(pinned(&host, &admin).await.0, third);
    assert!(
        dev.child.try_wait().expect("wait").is_none(),
        "the loop keeps running"
    );
    eprintln!(
        "plugin dev: two --once runs took {:.1} s, the watch loop {:.1} s",
        once_done.as_secs_f64(),
        (started.elapsed() - once_done).as_secs_f64()
    );
    drop(dev);
    host.stop().await;
}
