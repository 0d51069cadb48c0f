//! The admin commands (`omnify tenant | enable | enablements | key |
//! proposals | runs`) as the real binary, against a real host on loopback:
//! what the API walkthrough does with `curl`, one command each, as tables
//! by default and as the API's own answers with `--json`.

use omnify_tests::guests;
use omnify_tests::host::{TestHost, hello_manifest};
use omnify_tests::platforms::TENANT;
use omnify_tests::proposing::{budget_change, budget_writes, campaign, propose_run, start};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What a command printed, and how it exited.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// Its stdout, after checking that it succeeded.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "the command failed: {self:#?}");
        &self.stdout
    }

    /// Its stdout as JSON, after checking that it succeeded.
    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// Its stderr, after checking that it failed.
    fn failed(&self) -> &str {
        assert_ne!(self.code, 0, "the command succeeded: {self:#?}");
        &self.stderr
    }
}

/// Run `omnify <args>` with `env` as its only `OMNIFY_*` variables, and wait
/// (at most [`COMMAND_TIMEOUT`]) until it exits.
async fn omnify_with_env(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnify-cli"));
    command
        .args(args)
        .env_remove("OMNIFY_SERVER")
        .env_remove("OMNIFY_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("omnify starts");
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for omnify") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("omnify {args:?} did not exit within {COMMAND_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).expect("read stdout"),
        stderr: std::fs::read_to_string(&err).expect("read stderr"),
    }
}

/// Run `omnify <args> --server <server> --token <token>`.
async fn omnify(server: &str, token: &str, args: &[&str]) -> Outcome {
    let mut all = args.to_vec();
    all.extend(["--server", server, "--token", token]);
    omnify_with_env(&all, &[]).await
}

/// The value of the `field  value` line of a shown record.
fn shown(text: &str, field: &str) -> String {
    text.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix(field).filter(|rest| rest.starts_with(' ')))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no `{field}` in:\n{text}"))
}

/// The row of a listed table whose first column is `id`, split into cells
/// at runs of two or more spaces.
fn row<'a>(text: &'a str, id: &str) -> Vec<&'a str> {
    text.lines()
        .map(str::trim)
        .find(|line| line.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row `{id}` in:\n{text}"))
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect()
}

/// `GET path` as `token`: the API's own answer, to compare with `--json`.
async fn api(host: &TestHost, token: &str, path: &str) -> Value {
    let reply = host.call(Method::GET, path, Some(token), None).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.json
}

/// A host with the hello connector published; its admin token.
async fn hello_host() -> (TestHost, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    let admin = admin.expect("admin token");
    let published = host
        .upload(&admin, &hello_manifest(), guests::HELLO_CONNECTOR)
        .await;
    assert_eq!(published.status, 201, "{}", published.text);
    (host, admin, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sets_up_a_tenant_with_one_command_each() {
    let (host, admin, _dir) = hello_host().await;
    let url = host.url.clone();
    let (url, admin) = (url.as_str(), admin.as_str());

    // A tenant, with a quota.
    let created = omnify(
        url,
        admin,
        &[
            "tenant",
            "create",
            "acme",
            "--name",
            "Acme Inc.",
            "--calls-per-minute",
            "600",
        ],
    )
    .await;
    let created = created.ok();
    assert_eq!(shown(created, "id"), "acme");
    assert_eq!(shown(created, "name"), "Acme Inc.");
    assert_eq!(shown(created, "calls per minute"), "600");
    assert_eq!(shown(created, "fuel per day"), "unlimited");
    let stored = api(&host, admin, "/v1/tenants/acme").await;
    assert_eq!(stored["quotas"]["calls_per_minute"], 600);

    let listed = omnify(url, admin, &["tenant", "list"]).await;
    let listed = listed.ok();
    assert!(
        listed
            .lines()
            .next()
            .is_some_and(|h| h.contains("ID") && h.contains("QUOTAS")),
        "{listed}"
    );
    assert_eq!(row(listed, "acme")[..3], ["acme", "Acme Inc.", "active"]);
    assert_eq!(row(listed, "acme")[3], "calls/min 600");
    let as_json = omnify(url, admin, &["tenant", "list", "--json"]).await.json();
    assert_eq!(as_json, api(&host, admin, "/v1/tenants").await);
    let one = omnify(url, admin, &["tenant", "show", "acme", "--json"]).await;
    let reply = host
        .call(Method::GET, "/v1/tenants/acme", Some(admin), None)
        .await;
    assert_eq!(
        one.ok().trim_end(),
        reply.text,
        "--json prints the body as the API sent it"
    );
    assert_eq!(one.json(), stored);

    // A plugin, with configuration and a secret.
    let enabled = omnify(
        url,
        admin,
        &[
            "enable",
            "acme",
            "hello-connector",
            "--version",
            "^0.1",
            "--config",
            r#"names=["Ada","Grace"]"#,
            "--config",
            "greeting=Welcome",
            "--secret",
            "api_token=not-a-real-token",
        ],
    )
    .await;
    let enabled = enabled.ok();
    assert_eq!(shown(enabled, "plugin"), "hello-connector");
    assert_eq!(shown(enabled, "secrets"), "api_token");
    assert!(!enabled.contains("not-a-real-token"), "{enabled}");
    let enablements = api(&host, admin, "/v1/tenants/acme/plugins").await;
    assert_eq!(
        enablements[0]["config"],
        json!({"names": ["Ada", "Grace"], "greeting": "Welcome"})
    );
    assert_eq!(enablements[0]["requirement"], "^0.1");
    let listed = omnify(url, admin, &["enablements", "acme"]).await;
    let cells = row(listed.ok(), "hello-connector");
    assert_eq!(cells[1], "connector");
    assert_eq!(cells[4], "api_token");
    let as_json = omnify(url, admin, &["enablements", "acme", "--json"])
        .await
        .json();
    assert_eq!(as_json, enablements);

    // A configuration the plugin's schema refuses: the API's message and
    // code, and nothing changes.
    let refused = omnify(
        url,
        admin,
        &["enable", "acme", "hello-connector", "--config", "names=[3]"],
    )
    .await;
    let stderr = refused.failed();
    assert!(
        stderr.contains("/names/0") && stderr.contains("(invalid, HTTP 422)"),
        "{stderr}"
    );
    assert_eq!(api(&host, admin, "/v1/tenants/acme/plugins").await, enablements);
    let malformed = omnify(
        url,
        admin,
        &["enable", "acme", "hello-connector", "--config", "names"],
    )
    .await;
    assert!(malformed.failed().contains("is not KEY=VALUE"), "{malformed:?}");

    // An operator key, printed once, that works.
    let key = omnify(
        url,
        admin,
        &[
            "key",
            "create",
            "acme",
            "--role",
            "operator",
            "--name",
            "dashboard",
        ],
    )
    .await;
    let key_text = key.ok();
    let operator = shown(key_text, "key:");
    assert!(operator.starts_with("omk_"), "{key_text}");
    let id = shown(key_text, "id");
    assert_eq!(shown(key_text, "role"), "operator");
    let keys = omnify(url, admin, &["key", "list", "acme"]).await;
    let keys = keys.ok();
    assert_eq!(row(keys, &id)[2..4], ["operator", "dashboard"]);
    assert!(
        !keys.contains(&operator),
        "the key itself is never listed: {keys}"
    );
    let as_json = omnify(url, admin, &["key", "list", "acme", "--json"])
        .await
        .json();
    assert_eq!(as_json, api(&host, admin, "/v1/tenants/acme/keys").await);

    // The operator syncs (`omnify sync`, on the same client) and reads the
    // runs here.
    let none = omnify(url, &operator, &["runs", "list", "acme"]).await;
    assert_eq!(none.ok().trim(), "no runs");
    let synced = omnify(url, &operator, &["sync", "acme", "hello-connector", "--follow"]).await;
    let synced = synced.ok();
    let run_id = synced
        .lines()
        .find_map(|line| line.strip_prefix("run ")?.strip_suffix(" started"))
        .unwrap_or_else(|| panic!("no run started in:\n{synced}"))
        .to_string();
    assert!(synced.contains(&format!("run {run_id} succeeded")), "{synced}");
    let run = api(&host, admin, &format!("/v1/tenants/acme/runs/{run_id}")).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let unknown = omnify(url, &operator, &["sync", "acme", "no-such-plugin"]).await;
    assert!(unknown.failed().contains("no-such-plugin"), "{unknown:?}");
    let runs = omnify(url, &operator, &["runs", "list", "acme"]).await;
    let cells = row(runs.ok(), &run_id);
    assert_eq!(cells[1..5], ["hello-connector", "sync", "succeeded", "2"]);
    let as_json = omnify(url, &operator, &["runs", "list", "acme", "--json"])
        .await
        .json();
    assert_eq!(as_json, api(&host, admin, "/v1/tenants/acme/runs").await);
    let one = omnify(url, &operator, &["runs", "show", "acme", &run_id]).await;
    let one = one.ok();
    assert_eq!(shown(one, "status"), "succeeded");
    assert_eq!(row(one, "greetings")[2..4], ["2", "2"]);
    let as_json = omnify(url, &operator, &["runs", "show", "acme", &run_id, "--json"])
        .await
        .json();
    assert_eq!(as_json, run);

    // Suspend, resume.
    let suspended = omnify(url, admin, &["tenant", "suspend", "acme"]).await;
    assert_eq!(shown(suspended.ok(), "status"), "suspended");
    let resumed = omnify(url, admin, &["tenant", "resume", "acme"]).await;
    assert_eq!(shown(resumed.ok(), "status"), "active");

    // Quotas and the autonomy level.
    let quotas = omnify(
        url,
        admin,
        &["tenant", "quotas", "acme", "--fuel-per-day", "1000000000"],
    )
    .await;
    let quotas = quotas.ok();
    assert_eq!(shown(quotas, "fuel per day"), "1000000000");
    assert_eq!(
        shown(quotas, "calls per minute"),
        "unlimited",
        "quotas are replaced"
    );
    let autonomy = omnify(url, admin, &["tenant", "autonomy", "acme"]).await;
    assert_eq!(shown(autonomy.ok(), "level"), "human-led");
    let guided = omnify(
        url,
        admin,
        &[
            "tenant",
            "autonomy",
            "acme",
            "--level",
            "guided",
            "--guardrails",
            r#"{"max_change_percent": 10}"#,
        ],
    )
    .await;
    let guided = guided.ok();
    assert_eq!(shown(guided, "level"), "guided");
    assert_eq!(shown(guided, "max_change_percent"), "10.0");
    let stored = api(&host, admin, "/v1/tenants/acme/autonomy").await;
    assert_eq!(stored["level"], "guided");
    let unleveled = omnify(url, admin, &["tenant", "autonomy", "acme", "--guardrails", "{}"]).await;
    assert!(unleveled.failed().contains("--level"), "{unleveled:?}");

    // Revoking the key locks it out.
    let revoked = omnify(url, admin, &["key", "revoke", "acme", &id]).await;
    assert_ne!(shown(revoked.ok(), "revoked"), "-");
    let locked = omnify(url, &operator, &["runs", "list", "acme"]).await;
    assert!(
        locked.failed().contains("(unauthenticated, HTTP 401)"),
        "{locked:?}"
    );

    // Disable, then delete the tenant.
    let disabled = omnify(url, admin, &["disable", "acme", "hello-connector"]).await;
    assert_eq!(disabled.ok().trim(), "hello-connector disabled for acme");
    assert_eq!(api(&host, admin, "/v1/tenants/acme/plugins").await, json!([]));
    let deleted = omnify(url, admin, &["tenant", "delete", "acme"]).await;
    assert_eq!(deleted.ok().trim(), "tenant acme deleted");
    let gone = omnify(url, admin, &["tenant", "show", "acme"]).await;
    assert!(gone.failed().contains("(not_found, HTTP 404)"), "{gone:?}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_and_servers_fail_clearly() {
    let (host, admin, _dir) = hello_host().await;
    let url = host.url.as_str();
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);

    // A token the host does not know: the API's message and code, exit 1,
    // nothing on stdout; with --json the API's error body on stdout.
    let wrong = omnify(url, "oma_not-the-admin-token", &["tenant", "list"]).await;
    let stderr = wrong.failed();
    assert!(
        stderr.starts_with("error: ") && stderr.contains("(unauthenticated, HTTP 401)"),
        "{stderr}"
    );
    assert_eq!(wrong.code, 1);
    assert_eq!(wrong.stdout, "");
    let wrong = omnify(url, "oma_not-the-admin-token", &["tenant", "list", "--json"]).await;
    wrong.failed();
    let body: Value = serde_json::from_str(&wrong.stdout).expect("the API's error body");
    assert_eq!(body["error"]["code"], "unauthenticated");

    // A tenant's key where the admin token is needed.
    let (viewer, _) = host.create_key(&admin, "acme", "viewer").await;
    let refused = omnify(url, &viewer, &["tenant", "create", "other"]).await;
    assert!(refused.failed().contains("(forbidden, HTTP 403)"), "{refused:?}");
    let refused = omnify(url, &viewer, &["key", "create", "acme", "--role", "expert"]).await;
    assert!(refused.failed().contains("(forbidden, HTTP 403)"), "{refused:?}");
    assert_eq!(
        api(&host, &admin, "/v1/tenants").await.as_array().map(Vec::len),
        Some(1)
    );

    // No token at all, and a server that is not there.
    let none = omnify_with_env(&["tenant", "list", "--server", url], &[]).await;
    assert!(none.failed().contains("no token"), "{none:?}");
    let closed = omnify("http://127.0.0.1:1", &admin, &["tenant", "list"]).await;
    assert!(
        closed.failed().contains("cannot reach http://127.0.0.1:1"),
        "{closed:?}"
    );
    let bad = omnify("not a url", &admin, &["tenant", "list"]).await;
    assert!(bad.failed().contains("is not an http(s) URL"), "{bad:?}");

    // The server and token from the environment.
    let from_env = omnify_with_env(
        &["tenant", "list", "--json"],
        &[("OMNIFY_SERVER", url), ("OMNIFY_TOKEN", &admin)],
    )
    .await;
    assert_eq!(from_env.json(), api(&host, &admin, "/v1/tenants").await);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_decide_proposals_and_read_runs_from_the_command_line() {
    let env = start().await;
    let url = env.host.url.as_str();
    let (operator, _) = env.host.create_key(&env.admin, TENANT, "operator").await;
    let operator = operator.as_str();
    // Rationales sort as the campaigns do: 4%, 6%, 8%.
    let wanted = vec![
        budget_change(&env, 0, 4.0, 0.9),
        budget_change(&env, 1, 6.0, 0.9),
        budget_change(&env, 2, 8.0, 0.9),
    ];
    let run = propose_run(&env, wanted, vec![]).await;
    let run_id = run["id"].as_str().expect("run id");
    // A second run, so that the runs fill more than one page of one.
    propose_run(&env, vec![], vec![]).await;
    let mut made = env
        .get(&format!("/v1/tenants/{TENANT}/proposals?status=pending"))
        .await
        .json;
    let made = made.as_array_mut().expect("proposals");
    made.sort_by_key(|p| p["rationale"].as_str().unwrap_or_default().to_string());
    assert_eq!(made.len(), 3, "{made:?}");
    let ids: Vec<String> = made
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect();

    // The pending proposals, as a table and as the API's answer.
    let pending = omnify(
        url,
        operator,
        &["proposals", "list", TENANT, "--status", "pending"],
    )
    .await;
    let pending = pending.ok();
    for (id, proposal) in ids.iter().zip(made.iter()) {
        let cells = row(pending, id);
        assert_eq!(cells[2], "meta-ads:set-daily-budget", "{pending}");
        assert_eq!(cells[6], "pending", "{pending}");
        assert_eq!(cells[5], "0.90", "{pending}");
        let target = format!(
            "campaign {}",
            proposal["input"]["campaign_id"].as_str().expect("campaign")
        );
        assert_eq!(cells[3], target, "{pending}");
    }
    let as_json = omnify(
        url,
        operator,
        &["proposals", "list", TENANT, "--status", "pending", "--json"],
    )
    .await
    .json();
    assert_eq!(
        as_json,
        env.get(&format!("/v1/tenants/{TENANT}/proposals?status=pending"))
            .await
            .json
    );
    let one = omnify(url, operator, &["proposals", "show", TENANT, &ids[0]]).await;
    let one = one.ok();
    assert_eq!(
        shown(one, "rationale"),
        made[0]["rationale"].as_str().expect("rationale")
    );
    assert_eq!(shown(one, "run"), run_id);
    assert_eq!(shown(one, "change"), "+4.0%");

    // Approve one as proposed, one with an edited input; reject one.
    let approved = omnify(url, operator, &["proposals", "approve", TENANT, &ids[0]]).await;
    assert_eq!(shown(approved.ok(), "status"), "executed");
    assert_eq!(budget_writes(&env), 1);
    let mut edited = made[1]["input"].clone();
    let (_, budget) = campaign(&env, 1);
    edited["daily_budget"] = json!((budget * 1.02 * 100.0).round() / 100.0);
    let edited_text = edited.to_string();
    let approved = omnify(
        url,
        operator,
        &[
            "proposals",
            "approve",
            TENANT,
            &ids[1],
            "--input",
            &edited_text,
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(approved, env.proposal(&ids[1]).await);
    assert_eq!(approved["status"], "executed", "{approved}");
    assert_eq!(approved["input"], edited);
    assert_eq!(approved["decision"]["kind"], "edited");
    assert_eq!(budget_writes(&env), 2);
    let unreasoned = omnify(url, operator, &["proposals", "reject", TENANT, &ids[2]]).await;
    assert!(unreasoned.failed().contains("--reason"), "{unreasoned:?}");
    let rejected = omnify(
        url,
        operator,
        &[
            "proposals",
            "reject",
            TENANT,
            &ids[2],
            "--reason",
            "not during the sale",
        ],
    )
    .await;
    let rejected = rejected.ok();
    assert_eq!(shown(rejected, "status"), "rejected");
    assert!(
        shown(rejected, "decision").ends_with(": not during the sale"),
        "{rejected}"
    );
    let stored = env.proposal(&ids[2]).await;
    assert_eq!(stored["decision"]["reason"], "not during the sale");
    assert_eq!(budget_writes(&env), 2, "a rejected proposal never runs");
    let unknown = omnify(
        url,
        operator,
        &["proposals", "approve", TENANT, "no-such-proposal"],
    )
    .await;
    assert!(unknown.failed().contains("(not_found, HTTP 404)"), "{unknown:?}");
    let left = omnify(
        url,
        operator,
        &["proposals", "list", TENANT, "--status", "pending"],
    )
    .await;
    assert_eq!(left.ok().trim(), "no proposals");
    let bad_input = omnify(
        url,
        operator,
        &["proposals", "approve", TENANT, &ids[0], "--input", "{"],
    )
    .await;
    assert!(bad_input.failed().contains("--input"), "{bad_input:?}");

    // The agent run that proposed them.
    let runs = omnify(url, operator, &["runs", "list", TENANT, "--limit", "1"]).await;
    let runs = runs.ok();
    assert!(
        runs.contains("next page: --after"),
        "a full page says how to go on: {runs}"
    );
    let runs = omnify(url, operator, &["runs", "list", TENANT]).await;
    let cells = row(runs.ok(), run_id);
    assert_eq!(cells[1..4], ["data-agent", "agent: propose", "succeeded"]);
    let shown_run = omnify(url, operator, &["runs", "show", TENANT, run_id]).await;
    let shown_run = shown_run.ok();
    assert_eq!(shown(shown_run, "output"), "0 insights, 3 proposals, 0 refused");
    assert_eq!(shown(shown_run, "kind"), "agent: propose");
    let cancelled = omnify(url, operator, &["runs", "cancel", TENANT, run_id]).await;
    assert!(
        cancelled.failed().contains("(conflict, HTTP 409)"),
        "{cancelled:?}"
    );
    env.host.stop().await;
}
