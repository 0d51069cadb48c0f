//! Tamper evidence, restart, suspension and deletion, shutdown, and secrets.

use super::*;
use omnify_control::store::storage::key;
use omnify_tests::host::Reply;

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
    let exported_entries = export
        .text
        .lines()
        .filter(|line| !line.starts_with("{\"checkpoint\""))
        .count();
    assert_eq!(exported_entries as u64, entries - 1, "checkpoint lines aside");
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
            Some(&admin),
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
    let by_key = host
        .call(Method::GET, "/v1/tenants/acme/plugins", Some(&operator), None)
        .await;
    assert_eq!(by_key.status, 200, "the key still works: {}", by_key.text);
    let read_secret = json!({"export": "act", "input": {"name": "secret", "input": {"name": "api_token"}, "idempotency_key": "2"}});
    let reply = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&admin),
            Some(&read_secret),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
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
            Some(&admin),
            Some(&read_kv),
        )
        .await;
    assert_eq!(reply.json["output"]["result"]["value"], "kept");

    let enabled = host
        .control
        .list_enablements(&omnify_control::tenant::Principal::admin(), "acme")
        .await
        .expect("enablements");
    let plugin = host
        .control
        .runtime()
        .loaded(&enabled[0].digest)
        .expect("loaded by the calls above");
    assert_eq!(
        plugin.code_source(),
        omnify_runtime::plugin::CodeSource::Precompiled
    );

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
    seen.push(host.enable(admin, "acme", "hostile", &enable).await);
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
    // A connector that logs its token and returns it in an error: the host
    // masks it before it logs, stores, audits or answers with it.
    let leak = json!({"export": "act", "input": {"name": "leak-secret", "idempotency_key": "l"}});
    let leaked = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(admin),
            Some(&leak),
        )
        .await;
    assert_eq!(
        leaked.status, 424,
        "the platform refused the token: {}",
        leaked.text
    );
    assert!(
        !leaked.text.contains(SECRET),
        "the error leaked the secret: {}",
        leaked.text
    );
    assert!(leaked.text.contains("[secret]"), "{}", leaked.text);
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
    let leaked: Vec<String> = String::from_utf8_lossy(&logs)
        .lines()
        .filter(|line| line.contains(SECRET))
        .map(|line| line.chars().take(300).collect())
        .collect();
    assert!(leaked.is_empty(), "log lines leaked the secret: {leaked:#?}");
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
    host.until_running("acme", 1).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probes_need_no_key_and_ready_fails_on_a_store_of_another_schema() {
    let data = tempfile::tempdir().expect("temp dir");
    let (host, _) = TestHost::start(data.path(), &[]).await;
    let alive = host.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!((alive.status, alive.json["status"].clone()), (200, json!("ok")));
    let ready = host.call(Method::GET, "/v1/ready", None, None).await;
    assert_eq!(
        (ready.status, ready.json["status"].clone()),
        (200, json!("ready")),
        "{}",
        ready.text
    );

    // A store written by a newer host: alive, but not to be sent traffic.
    // (The PostgreSQL store keeps its version in its migrations table; its
    // own tests refuse a newer one.)
    let store = host.control.storage();
    if store.shared() {
        host.stop().await;
        return;
    }
    let schema = store
        .read()
        .expect("read")
        .get(Table::Meta, b"schema_version")
        .expect("get")
        .expect("a schema version");
    let mut tx = store.write().expect("write");
    tx.put(Table::Meta, b"schema_version", &99u32.to_be_bytes())
        .expect("put");
    tx.commit().expect("commit");
    let not_ready = host.call(Method::GET, "/v1/ready", None, None).await;
    assert_eq!(not_ready.status, 503, "{}", not_ready.text);
    assert_eq!(not_ready.json["error"]["code"], "not_ready", "{}", not_ready.text);
    assert!(
        not_ready.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("schema"),
        "{}",
        not_ready.text
    );
    assert_eq!(host.call(Method::GET, "/v1/health", None, None).await.status, 200);

    let mut tx = store.write().expect("write");
    tx.put(Table::Meta, b"schema_version", &schema).expect("put");
    tx.commit().expect("commit");
    assert_eq!(host.call(Method::GET, "/v1/ready", None, None).await.status, 200);
    host.stop().await;
}
