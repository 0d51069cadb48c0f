//! A newcomer's first minutes: `omnify serve --demo`, started as the
//! README says, prints a console address and a key; signed in with that
//! key, the inbox shows the demo agents' pending proposals; one approved
//! runs on the platform sandbox (its result is recorded and the audit chain
//! names the key), one rejected with a reason never runs; signing out
//! closes the inbox.

use super::{browser, click, page_text, reject, screenshot, wait_for_text};
use fantoccini::Locator;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TENANT: &str = "demo";

/// `omnify serve --demo` on a fresh data directory, stopped when dropped.
struct Demo {
    child: Child,
    _data: tempfile::TempDir,
    api: String,
    console: String,
    key: String,
    admin_token: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text after `marker` on `line`, up to the next space.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &line[line.find(marker)? + marker.len()..];
    rest.split_whitespace().next()
}

/// Start the demo and read what it prints until its ready line.
fn start_demo() -> Demo {
    let data = tempfile::tempdir().expect("a data directory");
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnify-cli"))
        .current_dir(&repository)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("omnify serve --demo starts");
    let stdout = child.stdout.take().expect("its stdout");
    let mut demo = Demo {
        child,
        _data: data,
        api: String::new(),
        console: String::new(),
        key: String::new(),
        admin_token: String::new(),
    };
    let mut printed = String::new();
    // The demo builds the plugins (already built for this test run) and
    // syncs every connector before it is ready; the read ends at its
    // ready line or when the process exits.
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line of its output");
        printed.push_str(&line);
        printed.push('\n');
        if let Some(token) = after(&line, "stored only as a hash): ") {
            demo.admin_token = token.into();
        }
        if let Some(key) = after(&line, "export OMNIFY_KEY=") {
            demo.key = key.into();
        }
        if let Some(console) = after(&line, "Console on ") {
            demo.console = console.into();
        }
        if let Some(api) = after(&line, "Omnify API on ") {
            demo.api = api.into();
            break;
        }
    }
    assert!(
        !demo.api.is_empty() && !demo.key.is_empty() && !demo.admin_token.is_empty(),
        "the demo never said where it listens, its key and the admin token:\n{printed}"
    );
    assert!(
        demo.console.ends_with("/console"),
        "the console's address:\n{printed}"
    );
    assert!(
        !printed.contains(" failed: "),
        "every demo run succeeded:\n{printed}"
    );
    demo
}

impl Demo {
    async fn get(&self, token: &str, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .expect("the API answers");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        let body = response.bytes().await.expect("a body");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// The tenant's whole audit chain, a page at a time.
    async fn audit(&self) -> Vec<Value> {
        let mut entries: Vec<Value> = Vec::new();
        loop {
            let since = entries.last().map_or(0, |e| e["seq"].as_u64().expect("a seq"));
            let path = format!("/v1/tenants/{TENANT}/audit?since={since}&limit=1000");
            let page = self.get(&self.admin_token, &path).await;
            let page = page.as_array().expect("a list of entries").clone();
            if page.is_empty() {
                return entries;
            }
            entries.extend(page);
        }
    }

    async fn proposal(&self, id: &str) -> Value {
        self.get(&self.key, &format!("/v1/tenants/{TENANT}/proposals/{id}"))
            .await
    }

    /// Wait until proposal `id` is in `status`.
    async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        let by = Instant::now() + Duration::from_secs(30);
        loop {
            let proposal = self.proposal(id).await;
            if proposal["status"] == status {
                return proposal;
            }
            assert!(Instant::now() < by, "never {status}: {proposal}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_decides_the_demos_proposals_with_the_printed_key() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let demo = tokio::task::spawn_blocking(start_demo)
        .await
        .expect("the demo starts");
    let pending = demo
        .get(
            &demo.key,
            &format!("/v1/tenants/{TENANT}/proposals?status=pending"),
        )
        .await;
    let ids: Vec<String> = pending
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| !p["requires_expert"].as_bool().unwrap_or(false))
        .filter_map(|p| p["id"].as_str().map(String::from))
        .collect();
    assert!(
        ids.len() >= 2,
        "the demo's agents leave proposals for an operator: {pending}"
    );

    // The printed address and key are all it takes.
    client.goto(&demo.console).await.expect("the console");
    let field = client.find(Locator::Id("key")).await.expect("the key field");
    field.send_keys(&demo.key).await.expect("typed");
    click(&client, "form[action='/console/sign-in'] button").await;
    let inbox = wait_for_text(&client, "Before → after").await;
    for id in &ids {
        assert!(inbox.contains(&format!("proposal-{id}")), "{id} is in the inbox");
    }
    screenshot(&client, "demo-inbox").await;

    // Approve the first: it runs on the platform sandbox, as the key's.
    let approve = format!("#proposal-{} form[action$='/approve'] button.approve", ids[0]);
    click(&client, &approve).await;
    let executed = demo.wait_for_status(&ids[0], "executed").await;
    assert!(
        executed["execution"]["result"].is_object() && executed["execution"]["error"].is_null(),
        "the platform's answer is recorded: {executed}"
    );
    let keys = demo
        .get(&demo.admin_token, &format!("/v1/tenants/{TENANT}/keys"))
        .await;
    let key_id = keys
        .as_array()
        .expect("a list")
        .iter()
        .find(|k| k["label"] == "demo frontend" && k["revoked_at"].is_null())
        .and_then(|k| k["id"].as_str())
        .expect("the printed key is listed")
        .to_string();
    let entries = demo.audit().await;
    for action in ["proposal.approve", "proposal.execute"] {
        assert!(
            entries.iter().any(|e| e["action"] == action
                && e["actor"] == format!("key:{key_id}")
                && e["details"]["proposal"] == ids[0].as_str()),
            "the audit chain has {action} by the printed key"
        );
    }

    // Reject the second with a reason: it never runs.
    client
        .goto(&format!("{}/tenants/{TENANT}/inbox", demo.console))
        .await
        .expect("the inbox");
    reject(&client, &ids[1], "not this week").await;
    let rejected = demo.wait_for_status(&ids[1], "rejected").await;
    assert!(rejected["execution"].is_null(), "{rejected}");
    assert_eq!(rejected["decision"]["reason"], "not this week");
    screenshot(&client, "demo-inbox-decided").await;

    // Sign out: the inbox is closed again.
    click(&client, "form[action='/console/sign-out'] button").await;
    wait_for_text(&client, "Sign in").await;
    client
        .goto(&format!("{}/tenants/{TENANT}/inbox", demo.console))
        .await
        .expect("the inbox");
    let page = page_text(&client).await;
    assert!(
        !page.contains(&format!("proposal-{}", ids[1])),
        "nothing shown signed out"
    );
    client.close().await.expect("the session closes");
}
