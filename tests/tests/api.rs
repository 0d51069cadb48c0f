//! The control plane through its HTTP API: authorization on every route,
//! bad input, quotas, tamper evidence, persistence across a restart, and
//! secrets that never leak.

use omnify_host::store::storage::{Entry, Table, key};
use omnify_tests::guests;
use omnify_tests::host::{HOSTILE_MANIFEST, Reply, TestHost, hello_manifest};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

const SECRET: &str = "sk_live_VERY_SECRET_4242";

/// Everything any test in this binary logs, to check that no secret is ever
/// written to a log line.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || SharedWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");
        logs
    })
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A host with tenants `acme` and `rival`, the hello connector and the
/// hostile connector uploaded and enabled for `acme` (with a secret), and
/// keys: acme operator, acme expert, rival operator, and a revoked acme key.
struct World {
    host: TestHost,
    admin: String,
    acme_operator: String,
    rival_operator: String,
    revoked: String,
    acme_key_id: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    captured_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &["https://app.example.com"]).await;
    let admin = admin.expect("a new data directory creates an admin token");
    for tenant in ["acme", "rival"] {
        assert_eq!(host.create_tenant(&admin, tenant).await.status, 201);
    }
    assert_eq!(
        host.upload(&admin, &hello_manifest(), guests::HELLO_CONNECTOR)
            .await
            .status,
        201
    );
    assert_eq!(
        host.upload(&admin, HOSTILE_MANIFEST, guests::HOSTILE)
            .await
            .status,
        201
    );
    let enable_hello = json!({ "config": { "names": ["Ada", "Grace"] }, "secrets": { "api_token": SECRET } });
    let reply = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(&admin),
            Some(&enable_hello),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let enable_hostile = json!({ "secrets": { "api_token": SECRET } });
    let reply = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hostile",
            Some(&admin),
            Some(&enable_hostile),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (acme_operator, acme_key_id) = host.create_key(&admin, "acme", "operator").await;
    let (rival_operator, _) = host.create_key(&admin, "rival", "operator").await;
    let (revoked, revoked_id) = host.create_key(&admin, "acme", "expert").await;
    let reply = host
        .call(
            Method::DELETE,
            &format!("/v1/tenants/acme/keys/{revoked_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    World {
        host,
        admin,
        acme_operator,
        rival_operator,
        revoked,
        acme_key_id,
        _dir: dir,
    }
}

/// Everything a request could have changed: every table of the store.
fn snapshot(host: &TestHost) -> Vec<(Table, Vec<Entry>)> {
    let tx = host.control.storage().read().expect("read");
    Table::ALL
        .into_iter()
        .map(|table| (table, tx.scan(table, b"", None, usize::MAX).expect("scan")))
        .collect()
}

/// A new host on `dir` with tenant `acme` and the hostile connector enabled
/// for it with `enable`; returns the admin token.
async fn host_with_hostile(dir: &std::path::Path, enable: Value) -> (TestHost, String) {
    captured_logs();
    let (host, admin) = TestHost::start(dir, &[]).await;
    let admin = admin.expect("admin token");
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    assert_eq!(
        host.upload(&admin, HOSTILE_MANIFEST, guests::HOSTILE)
            .await
            .status,
        201
    );
    let reply = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hostile",
            Some(&admin),
            Some(&enable),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    (host, admin)
}

fn invoke_body(export: &str, input: Value) -> Value {
    json!({ "export": export, "input": input })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_refuses_the_wrong_credentials() {
    let world = world().await;
    let host = &world.host;
    let doc = host.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc.json["paths"].as_object().expect("paths");
    for expected in [
        "/v1/tenants",
        "/v1/tenants/{tenant}",
        "/v1/tenants/{tenant}/keys",
        "/v1/plugins",
        "/v1/tenants/{tenant}/plugins/{plugin}",
        "/v1/tenants/{tenant}/plugins/{plugin}/invoke",
        "/v1/tenants/{tenant}/usage",
        "/v1/tenants/{tenant}/audit",
        "/v1/tenants/{tenant}/audit/verify",
        "/metrics",
    ] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }

    let before = snapshot(host);
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("operations") {
            assert!(
                operation.get("security").is_some(),
                "{method} {path} declares its security"
            );
            let summary = operation["summary"].as_str().unwrap_or_default();
            let admin_only = summary.contains("(admin)");
            let tenant_scoped = path.contains("{tenant}");
            let url = path
                .replace("{version}", "0.1.0")
                .replace("{tenant}", "acme")
                .replace("{plugin}", "hello-connector")
                .replace("{key}", &world.acme_key_id);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));

            let none = host.call(method.clone(), &url, None, body.as_ref()).await;
            assert_eq!(none.status, 401, "{method} {url} without a key: {}", none.text);
            let revoked = host
                .call(method.clone(), &url, Some(&world.revoked), body.as_ref())
                .await;
            assert_eq!(
                revoked.status, 401,
                "{method} {url} with a revoked key: {}",
                revoked.text
            );
            if tenant_scoped {
                let other = host
                    .call(method.clone(), &url, Some(&world.rival_operator), body.as_ref())
                    .await;
                assert_eq!(
                    other.status, 403,
                    "{method} {url} with another tenant's key: {}",
                    other.text
                );
            }
            if admin_only {
                let operator = host
                    .call(method.clone(), &url, Some(&world.acme_operator), body.as_ref())
                    .await;
                assert_eq!(
                    operator.status, 403,
                    "{method} {url} with an operator key: {}",
                    operator.text
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 18, "checked {checked} operations");
    assert_eq!(snapshot(host), before, "refused requests changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let before = snapshot(host);

    let malformed = host
        .send(
            host.request(Method::POST, "/v1/tenants")
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .body("{\"id\": \"new\","),
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.json["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );

    let wrong_type = host
        .call(
            Method::POST,
            "/v1/tenants",
            Some(admin),
            Some(&json!({"id": 7, "name": "Seven"})),
        )
        .await;
    assert_eq!(wrong_type.status, 422, "{}", wrong_type.text);
    assert!(
        wrong_type.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("id")
    );

    let bad_id = host
        .call(
            Method::POST,
            "/v1/tenants",
            Some(admin),
            Some(&json!({"id": "Not Valid", "name": "x"})),
        )
        .await;
    assert_eq!(bad_id.status, 422);

    let duplicate = host.create_tenant(admin, "acme").await;
    assert_eq!(duplicate.status, 409);

    let unknown_tenant = host
        .call(Method::GET, "/v1/tenants/nobody", Some(admin), None)
        .await;
    assert_eq!(
        (
            unknown_tenant.status,
            unknown_tenant.json["error"]["code"].as_str()
        ),
        (404, Some("not_found"))
    );

    let unknown_plugin = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/nothing",
            Some(admin),
            Some(&json!({})),
        )
        .await;
    assert_eq!(unknown_plugin.status, 404);
    assert_eq!(unknown_plugin.json["error"]["message"], "no plugin `nothing`");

    let not_enabled = host
        .call(
            Method::POST,
            "/v1/tenants/rival/plugins/hello-connector/invoke",
            Some(admin),
            Some(&invoke_body("spec", Value::Null)),
        )
        .await;
    assert_eq!(not_enabled.status, 404, "{}", not_enabled.text);

    // The server answers before reading the whole body and closes the
    // connection, so this request must not share a pooled one.
    let oversize = host
        .send(
            host.request(Method::POST, "/v1/tenants")
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .header("connection", "close")
                .body(json!({"id": "big", "name": "x".repeat(2 << 20)}).to_string()),
        )
        .await;
    assert_eq!(
        (oversize.status, oversize.json["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );

    let bad_config = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(admin),
            Some(&json!({"config": {"names": ["Ada", 3], "colour": "red"}})),
        )
        .await;
    assert_eq!(bad_config.status, 422);
    let message = bad_config.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at /names/1: 3 is not of type \"string\""),
        "{message}"
    );
    assert!(
        message.contains("colour"),
        "every failing path is named: {message}"
    );

    let ungrantable = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(admin),
            Some(&json!({"config": {"names": []}, "grants": {"http_hosts": ["evil.example.com"]}})),
        )
        .await;
    assert_eq!(ungrantable.status, 422);
    assert!(ungrantable.text.contains("evil.example.com"));

    let undeclared_secret = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(admin),
            Some(&json!({"config": {"names": []}, "secrets": {"other": "x"}})),
        )
        .await;
    assert_eq!(undeclared_secret.status, 422);

    let unknown_export = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/invoke",
            Some(admin),
            Some(&invoke_body("explode", Value::Null)),
        )
        .await;
    assert_eq!(unknown_export.status, 422);

    let bad_upload = host.publish_bytes(admin, b"not a package".to_vec()).await;
    assert_eq!(bad_upload.status, 422, "{}", bad_upload.text);
    let garbage = std::env::temp_dir().join(format!("not-a-component-{}", std::process::id()));
    std::fs::write(&garbage, b"hello").expect("write");
    let package = host
        .signed_package(
            admin,
            &hello_manifest().replace("0.1.0", "0.2.0"),
            garbage.to_str().expect("path"),
        )
        .await;
    let not_a_component = host
        .publish_bytes(admin, package.to_bytes().expect("package"))
        .await;
    assert_eq!(not_a_component.status, 422);
    assert!(
        not_a_component.text.contains("not a WebAssembly binary"),
        "{}",
        not_a_component.text
    );
    let same_version = host
        .upload(admin, &hello_manifest(), guests::HELLO_CONNECTOR)
        .await;
    assert_eq!(same_version.status, 409);

    assert_eq!(snapshot(host), before, "rejected requests changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_are_metered_audited_and_held_to_quotas() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let invoke = |token: String, body: Value| async move {
        host.call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/invoke",
            Some(&token),
            Some(&body),
        )
        .await
    };
    let read = invoke_body("read", json!({"stream": "greetings"}));
    let ok = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json["output"]["result"]["records"][1]["text"], "Hello, Grace!");
    assert!(ok.json["usage"]["fuel"].as_u64().unwrap_or(0) > 0);

    let quotas = json!({"calls_per_minute": 2});
    assert_eq!(
        host.call(Method::PUT, "/v1/tenants/acme/quotas", Some(admin), Some(&quotas))
            .await
            .status,
        200
    );
    let second = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(second.status, 200);
    let third = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert_eq!(third.json["error"]["code"], "quota_exceeded");
    assert_eq!(third.json["error"]["details"]["quota"], "calls_per_minute");
    assert!(third.json["error"]["details"]["resets_at"].as_str().is_some());

    let quotas = json!({"fuel_per_day": 1});
    assert_eq!(
        host.call(Method::PUT, "/v1/tenants/acme/quotas", Some(admin), Some(&quotas))
            .await
            .status,
        200
    );
    let over_fuel = invoke(world.acme_operator.clone(), read.clone()).await;
    assert_eq!(over_fuel.status, 429);
    assert_eq!(over_fuel.json["error"]["details"]["quota"], "fuel_per_day");

    let quotas = json!({"concurrent_calls": 1});
    assert_eq!(
        host.call(Method::PUT, "/v1/tenants/acme/quotas", Some(admin), Some(&quotas))
            .await
            .status,
        200
    );
    let slow =
        json!({"export": "act", "input": {"name": "sleep", "input": {"ms": 1500}, "idempotency_key": "k"}});
    let slow_call = async {
        host.call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(admin),
            Some(&slow),
        )
        .await
    };
    let second_call = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        invoke(world.acme_operator.clone(), read.clone()).await
    };
    let (slow_reply, concurrent) = tokio::join!(slow_call, second_call);
    assert_eq!(slow_reply.status, 200, "{}", slow_reply.text);
    assert_eq!(concurrent.status, 429);
    assert_eq!(concurrent.json["error"]["details"]["quota"], "concurrent_calls");

    let failing = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(admin),
            Some(&json!({"export": "act", "input": {"name": "panic", "idempotency_key": "k"}})),
        )
        .await;
    assert_eq!(failing.status, 502);
    assert_eq!(failing.json["error"]["details"]["error"]["code"], "panic");

    let usage = host
        .call(
            Method::GET,
            "/v1/tenants/acme/usage",
            Some(&world.acme_operator),
            None,
        )
        .await;
    let rows = usage.json.as_array().expect("usage rows");
    let hello = rows
        .iter()
        .find(|r| r["plugin"] == "hello-connector")
        .expect("hello usage");
    assert_eq!(hello["calls"], 2, "refused calls are not metered");
    let hostile = rows
        .iter()
        .find(|r| r["plugin"] == "hostile")
        .expect("hostile usage");
    assert_eq!(
        (hostile["calls"].as_u64(), hostile["errors"].as_u64()),
        (Some(2), Some(1))
    );

    let audit = host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(admin),
            None,
        )
        .await;
    let invocations: Vec<&Value> = audit
        .json
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "plugin.invoke")
        .collect();
    assert_eq!(invocations.len(), 4);
    assert_eq!(invocations[3]["outcome"], "error: panic");
    assert_eq!(invocations[0]["actor"], format!("key:{}", world.acme_key_id));

    let metrics = host.call(Method::GET, "/metrics", Some(admin), None).await;
    assert!(
        metrics
            .text
            .contains("omnify_invocations_total{tenant=\"acme\",plugin=\"hello-connector\"} 2"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("omnify_invocation_errors_total{tenant=\"acme\",plugin=\"hostile\",kind=\"panic\"} 1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id_and_cors_allows_only_configured_origins() {
    let world = world().await;
    let host = &world.host;
    let ok = host.call(Method::GET, "/v1/health", None, None).await;
    assert!(ok.headers.contains_key("x-request-id"));
    let error = host.call(Method::GET, "/v1/tenants", None, None).await;
    let header = error.headers["x-request-id"].to_str().expect("text").to_string();
    assert_eq!(error.json["error"]["request_id"], header);
    let unknown = host.call(Method::GET, "/v2/anything", None, None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json["error"]["request_id"],
        unknown.headers["x-request-id"].to_str().expect("text")
    );
    let given = host
        .send(
            host.request(Method::GET, "/v1/health")
                .header("x-request-id", "frontend-123"),
        )
        .await;
    assert_eq!(given.headers["x-request-id"], "frontend-123");

    let preflight = |origin: &'static str| {
        host.request(Method::OPTIONS, "/v1/tenants")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
    };
    let allowed = host.send(preflight("https://app.example.com")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = host.send(preflight("https://evil.example.com")).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
}

fn audit_entry_key(tenant: &str, seq: u64) -> Vec<u8> {
    key(&[tenant.as_bytes(), &seq.to_be_bytes()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_audit_log_is_detected() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let verify = || async {
        host.call(Method::GET, "/v1/tenants/acme/audit/verify", Some(admin), None)
            .await
    };
    let intact = verify().await;
    assert_eq!(intact.json["ok"], true, "{}", intact.text);
    let entries = intact.json["entries"].as_u64().expect("entries");
    assert!(entries >= 5);

    let store = host.control.storage();
    let original = store
        .read()
        .expect("read")
        .get(Table::Audit, &audit_entry_key("acme", 2))
        .expect("get")
        .expect("entry");
    let edited = String::from_utf8(original.clone())
        .expect("utf-8")
        .replace("\"admin\"", "\"someone-else\"");
    let mut tx = store.write().expect("write");
    tx.put(Table::Audit, &audit_entry_key("acme", 2), edited.as_bytes())
        .expect("edit");
    tx.commit().expect("commit");
    let broken = verify().await;
    assert_eq!(broken.json["ok"], false);
    assert_eq!(broken.json["first_bad"]["seq"], 2);
    assert!(
        broken.json["first_bad"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("edited")
    );

    let mut tx = store.write().expect("write");
    tx.put(Table::Audit, &audit_entry_key("acme", 2), &original)
        .expect("restore");
    tx.delete(Table::Audit, &audit_entry_key("acme", 4))
        .expect("delete");
    tx.commit().expect("commit");
    let removed = verify().await;
    assert_eq!(removed.json["first_bad"]["seq"], 4, "{}", removed.text);

    let export = host
        .call(Method::GET, "/v1/tenants/acme/audit/export", Some(admin), None)
        .await;
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    assert_eq!(export.text.lines().count() as u64, entries - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_plugins_are_not_recompiled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = host_with_hostile(dir.path(), json!({ "secrets": { "api_token": SECRET } })).await;
    let (operator, _) = host.create_key(&admin, "acme", "operator").await;
    let remember = json!({"export": "act", "input": {"name": "kv-set", "input": {"key": "k", "value": "kept"}, "idempotency_key": "1"}});
    assert_eq!(
        host.call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&operator),
            Some(&remember)
        )
        .await
        .status,
        200
    );
    let audit_before = host
        .call(Method::GET, "/v1/tenants/acme/audit/verify", Some(&admin), None)
        .await
        .json["entries"]
        .clone();
    host.stop().await;

    let (host, again) = TestHost::start(dir.path(), &[]).await;
    assert!(again.is_none(), "the admin token is created once");
    assert_eq!(
        host.call(Method::GET, "/v1/tenants/acme", Some(&admin), None)
            .await
            .status,
        200
    );
    let read_secret = json!({"export": "act", "input": {"name": "secret", "input": {"name": "api_token"}, "idempotency_key": "2"}});
    let reply = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&operator),
            Some(&read_secret),
        )
        .await;
    assert_eq!(reply.status, 200, "the key still works: {}", reply.text);
    assert_eq!(
        reply.json["output"]["result"]["length"],
        SECRET.len(),
        "the secret still decrypts"
    );
    let read_kv =
        json!({"export": "act", "input": {"name": "kv-get", "input": {"key": "k"}, "idempotency_key": "3"}});
    let reply = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&operator),
            Some(&read_kv),
        )
        .await;
    assert_eq!(reply.json["output"]["result"]["value"], "kept");

    let enabled = host
        .control
        .list_enablements(
            &omnify_host::tenant::Principal {
                role: omnify_host::tenant::Role::Admin,
                tenant: None,
                key_id: None,
            },
            "acme",
        )
        .await
        .expect("enablements");
    let plugin = host
        .control
        .runtime()
        .loaded(&enabled[0].digest)
        .expect("loaded by the calls above");
    assert_eq!(plugin.code_source(), omnify_host::plugin::CodeSource::Precompiled);

    let usage = host
        .call(Method::GET, "/v1/tenants/acme/usage", Some(&admin), None)
        .await;
    assert_eq!(usage.json[0]["calls"], 3);
    let verify = host
        .call(Method::GET, "/v1/tenants/acme/audit/verify", Some(&admin), None)
        .await;
    assert_eq!(verify.json["ok"], true);
    assert_eq!(
        verify.json["entries"].as_u64(),
        audit_before.as_u64().map(|n| n + 2)
    );
    host.stop().await;
}

/// One request of a scripted sequence: method, path, token, body, the status
/// expected, and what the step shows.
type Step<'a> = (Method, &'a str, Option<&'a str>, Option<&'a Value>, u16, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_and_deleting_a_tenant() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let spec = invoke_body("spec", Value::Null);
    let invoke = "/v1/tenants/acme/plugins/hello-connector/invoke";
    let (operator, body) = (Some(world.acme_operator.as_str()), Some(&spec));
    let steps: [Step; 8] = [
        (
            Method::POST,
            "/v1/tenants/acme/suspend",
            Some(admin),
            None,
            200,
            "suspend",
        ),
        (
            Method::POST,
            invoke,
            operator,
            body,
            403,
            "a suspended tenant's plugins do not run",
        ),
        (
            Method::POST,
            "/v1/tenants/acme/suspend",
            Some(admin),
            None,
            409,
            "already suspended",
        ),
        (
            Method::POST,
            "/v1/tenants/acme/resume",
            Some(admin),
            None,
            200,
            "resume",
        ),
        (
            Method::POST,
            invoke,
            operator,
            body,
            200,
            "a resumed tenant's plugins run",
        ),
        (
            Method::DELETE,
            "/v1/tenants/acme",
            Some(admin),
            None,
            204,
            "delete",
        ),
        (
            Method::GET,
            "/v1/tenants/acme",
            Some(admin),
            None,
            404,
            "the tenant is gone",
        ),
        (
            Method::GET,
            "/v1/plugins",
            operator,
            None,
            401,
            "its keys are gone",
        ),
    ];
    for (method, path, token, body, expected, what) in steps {
        let reply = host.call(method, path, token, body).await;
        assert_eq!(reply.status, expected, "{what}: {}", reply.text);
    }
    let tx = host.control.storage().read().expect("read");
    for table in [
        Table::Enablements,
        Table::Secrets,
        Table::Kv,
        Table::Usage,
        Table::ApiKeys,
    ] {
        assert!(
            tx.scan(table, b"acme\0", None, 1).expect("scan").is_empty(),
            "{table:?} erased"
        );
    }
    drop(tx);
    let verify = host
        .call(Method::GET, "/v1/tenants/acme/audit/verify", Some(admin), None)
        .await;
    assert_eq!(verify.json["ok"], true, "the chain is kept: {}", verify.text);
    let audit = host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(admin),
            None,
        )
        .await;
    let last = audit
        .json
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .expect("entries");
    assert_eq!(last["action"], "tenant.delete");
    assert_eq!(
        host.create_tenant(admin, "acme").await.status,
        409,
        "the id stays taken while its log is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_responses_logs_or_the_audit_log() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let mut seen: Vec<Reply> = Vec::new();
    seen.push(
        host.call(Method::GET, "/v1/tenants/acme/plugins", Some(admin), None)
            .await,
    );
    let enable = json!({ "secrets": { "api_token": SECRET } });
    seen.push(
        host.call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hostile",
            Some(admin),
            Some(&enable),
        )
        .await,
    );
    let read_secret = json!({"export": "act", "input": {"name": "secret", "input": {"name": "api_token"}, "idempotency_key": "s"}});
    seen.push(
        host.call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(admin),
            Some(&read_secret),
        )
        .await,
    );
    seen.push(
        host.call(Method::GET, "/v1/tenants/acme/audit/export", Some(admin), None)
            .await,
    );
    seen.push(
        host.call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(admin),
            None,
        )
        .await,
    );
    seen.push(host.call(Method::GET, "/metrics", Some(admin), None).await);
    for reply in &seen {
        assert!(reply.status < 300, "{}", reply.text);
        assert!(
            !reply.text.contains(SECRET),
            "a response leaked the secret: {}",
            reply.text
        );
    }
    assert!(seen[0].text.contains("api_token"), "secret names are listed");
    let store = host.control.storage().read().expect("read");
    for table in Table::ALL {
        for (_, value) in store.scan(table, b"", None, usize::MAX).expect("scan") {
            assert!(
                !value.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{table:?} holds the secret in clear"
            );
        }
    }
    let logs = captured_logs().lock().expect("logs").clone();
    assert!(!logs.is_empty(), "logs were captured");
    assert!(
        !logs.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "a log line leaked the secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_finishes_the_calls_in_flight() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = host_with_hostile(dir.path(), json!({})).await;

    let url = format!("{}/v1/tenants/acme/plugins/hostile/invoke", host.url);
    let slow =
        json!({"export": "act", "input": {"name": "sleep", "input": {"ms": 1000}, "idempotency_key": "k"}});
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(admin)
            .header("content-type", "application/json")
            .body(slow.to_string())
            .send()
            .await
            .map(|response| response.status().as_u16())
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    host.stop().await;
    let status = in_flight
        .await
        .expect("the client task")
        .expect("the call got an answer");
    assert_eq!(
        status, 200,
        "the call in flight finished before the server stopped"
    );
}
