//! The host keeps who a token belongs to, and what a plugin call runs with
//! (tenant, enablement, opened secrets), in memory between calls. These
//! tests play the side that changed something since the last call: every
//! change is what the very next call sees, never the cached read.

use omnify_tests::guests;
use omnify_tests::host::{Reply, TestHost, hello_manifest};
use reqwest::Method;
use serde_json::json;

const INVOKE: &str = "/v1/tenants/acme/plugins/hello-connector/invoke";

async fn read(host: &TestHost, key: &str) -> Reply {
    let body = json!({"export": "read", "input": {"stream": "greetings"}});
    host.call(Method::POST, INVOKE, Some(key), Some(&body)).await
}

fn first_greeting(reply: &Reply) -> &str {
    reply.json["output"]["result"]["records"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_what_the_next_call_sees() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    let admin = admin.expect("a new data directory creates an admin token");
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    let uploaded = host
        .upload(&admin, &hello_manifest(), guests::HELLO_CONNECTOR)
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    let enable = |name: &str| json!({"config": {"names": [name]}});
    let enabled = host
        .enable(&admin, "acme", "hello-connector", &enable("Ada"))
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let (key, key_id) = host.create_key(&admin, "acme", "operator").await;

    for _ in 0..3 {
        let reply = read(&host, &key).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(first_greeting(&reply), "Hello, Ada!");
    }

    // A new configuration.
    let enabled = host
        .enable(&admin, "acme", "hello-connector", &enable("Grace"))
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    assert_eq!(first_greeting(&read(&host, &key).await), "Hello, Grace!");

    // A suspension, and the resumption.
    let suspended = host
        .call(Method::POST, "/v1/tenants/acme/suspend", Some(&admin), None)
        .await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(
        read(&host, &key).await.status,
        403,
        "a suspended tenant's call is refused"
    );
    let resumed = host
        .call(Method::POST, "/v1/tenants/acme/resume", Some(&admin), None)
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_eq!(read(&host, &key).await.status, 200);

    // A revoked key, used a moment ago.
    let revoked = host
        .call(
            Method::DELETE,
            &format!("/v1/tenants/acme/keys/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let refused = read(&host, &key).await;
    assert_eq!(
        refused.status, 401,
        "the revoked key is refused at once: {}",
        refused.text
    );

    // A disabled plugin.
    let (other, _) = host.create_key(&admin, "acme", "operator").await;
    assert_eq!(read(&host, &other).await.status, 200);
    let disabled = host
        .call(
            Method::DELETE,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(disabled.status, 204, "{}", disabled.text);
    assert_eq!(
        read(&host, &other).await.status,
        404,
        "a disabled plugin does not run"
    );

    // A deleted tenant: its keys go with it.
    let deleted = host
        .call(Method::DELETE, "/v1/tenants/acme", Some(&admin), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let listed = host
        .call(Method::GET, "/v1/tenants/acme/plugins", Some(&other), None)
        .await;
    assert_eq!(listed.status, 401, "{}", listed.text);
    host.stop().await;
}
