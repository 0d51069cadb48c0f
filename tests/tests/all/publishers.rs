//! What publishers can and cannot do to a tenant: a plugin name belongs to
//! its first publisher, a revoked signer's versions are not chosen, and a
//! version that asks for more than the tenant granted needs a new grant.

use omnify_registry::{Package, PublisherKey};
use omnify_tests::guests;
use omnify_tests::host::{HOSTILE_MANIFEST, Reply, TestHost, hello_manifest};
use reqwest::Method;
use serde_json::{Value, json};

async fn host() -> (TestHost, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    (host, admin.expect("admin token"), dir)
}

/// Trust a new key of `publisher` and return it.
async fn trusted_key(host: &TestHost, admin: &str, publisher: &str) -> (PublisherKey, String) {
    let key = PublisherKey::generate(publisher).expect("key");
    let body = json!({ "publisher": publisher, "public_key": key.public_key_hex() });
    let reply = host
        .call(Method::POST, "/v1/publishers", Some(admin), Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.json["id"].as_str().expect("key id").to_string();
    (key, id)
}

/// Publish `manifest` with the hostile test component, signed by `key`.
async fn publish_signed(host: &TestHost, admin: &str, manifest: &str, key: &PublisherKey) -> Reply {
    let bytes = std::fs::read(guests::HOSTILE).expect("component");
    let mut package = Package::new(manifest, bytes).expect("package");
    package.sign(key);
    host.publish_bytes(admin, package.to_bytes().expect("bytes"))
        .await
}

fn hostile(version: &str) -> String {
    HOSTILE_MANIFEST.replace("version = \"1.0.0\"", &format!("version = \"{version}\""))
}

async fn versions(host: &TestHost, admin: &str) -> Value {
    host.call(Method::GET, "/v1/plugins", Some(admin), None)
        .await
        .json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_belongs_to_its_first_publisher_until_the_admin_transfers_it() {
    let (host, admin, _dir) = host().await;
    assert_eq!(
        host.upload(&admin, &hello_manifest(), guests::HELLO_CONNECTOR)
            .await
            .status,
        201
    );
    let (squatter, _) = trusted_key(&host, &admin, "squatter").await;
    let squatted = hello_manifest()
        .replace("0.1.0", "99.0.0")
        .replace("example-partner", "squatter");
    let before = versions(&host, &admin).await;

    let bytes = std::fs::read(guests::HELLO_CONNECTOR).expect("component");
    let mut package = Package::new(&squatted, bytes.clone()).expect("package");
    package.sign(&squatter);
    let refused = host
        .publish_bytes(&admin, package.to_bytes().expect("bytes"))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(
        refused.text.contains("belongs to publisher `example-partner`"),
        "{}",
        refused.text
    );
    assert_eq!(versions(&host, &admin).await, before, "nothing was published");

    let transfer = json!({"publisher": "squatter"});
    let path = "/v1/plugins/hello-connector/owner";
    let moved = host.call(Method::PUT, path, Some(&admin), Some(&transfer)).await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let accepted = host
        .publish_bytes(&admin, package.to_bytes().expect("bytes"))
        .await;
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    let former = host
        .upload(
            &admin,
            &hello_manifest().replace("0.1.0", "0.2.0"),
            guests::HELLO_CONNECTOR,
        )
        .await;
    assert_eq!(
        former.status, 409,
        "the former owner no longer publishes it: {}",
        former.text
    );
    let unknown = host
        .call(
            Method::PUT,
            "/v1/plugins/nothing/owner",
            Some(&admin),
            Some(&transfer),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_signers_versions_are_not_chosen_and_pins_show_it() {
    let (host, admin, _dir) = host().await;
    let (first, first_id) = trusted_key(&host, &admin, "omnify-tests").await;
    let (second, second_id) = trusted_key(&host, &admin, "omnify-tests").await;
    assert_eq!(
        publish_signed(&host, &admin, &hostile("1.0.0"), &first)
            .await
            .status,
        201
    );
    assert_eq!(
        publish_signed(&host, &admin, &hostile("1.1.0"), &second)
            .await
            .status,
        201
    );
    for tenant in ["early", "late"] {
        assert_eq!(host.create_tenant(&admin, tenant).await.status, 201);
    }
    let enable = json!({"version": "^1"});
    let early = host.enable(&admin, "early", "hostile", &enable).await;
    assert_eq!(early.json["version"], "1.1.0", "{}", early.text);

    let revoke = host
        .call(
            Method::DELETE,
            &format!("/v1/publishers/{second_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoke.status, 200, "{}", revoke.text);
    let late = host.enable(&admin, "late", "hostile", &enable).await;
    assert_eq!(
        late.json["version"], "1.0.0",
        "the revoked signer's 1.1.0 is skipped: {}",
        late.text
    );
    let listed = host
        .call(Method::GET, "/v1/tenants/early/plugins", Some(&admin), None)
        .await;
    assert_eq!(listed.json[0]["version"], "1.1.0");
    assert_eq!(listed.json[0]["signer_revoked"], true, "{}", listed.text);
    let listed = host
        .call(Method::GET, "/v1/tenants/late/plugins", Some(&admin), None)
        .await;
    assert_eq!(listed.json[0]["signer_revoked"], false);
    let all = versions(&host, &admin).await;
    let revoked: Vec<&Value> = all
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["signer_revoked"] == true)
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["version"], "1.1.0");

    let revoke = host
        .call(
            Method::DELETE,
            &format!("/v1/publishers/{first_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoke.status, 200);
    assert_eq!(host.create_tenant(&admin, "later").await.status, 201);
    let none = host.enable(&admin, "later", "hostile", &enable).await;
    assert_eq!(none.status, 404, "{}", none.text);
    assert!(none.text.contains("revoked"), "{}", none.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_that_asks_for_more_needs_an_explicit_grant() {
    let (host, admin, _dir) = host().await;
    assert_eq!(
        host.upload(&admin, &hostile("1.0.0"), guests::HOSTILE)
            .await
            .status,
        201
    );
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    let path = "/v1/tenants/acme/plugins/hostile";
    let enabled = host
        .call(Method::PUT, path, Some(&admin), Some(&json!({"version": "^1"})))
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let greedy = hostile("1.1.0")
        .replace(
            "http_hosts = [\"127.0.0.1:*\"]",
            "http_hosts = [\"127.0.0.1:*\", \"evil.example.com\"]",
        )
        .replace(
            "secrets = [\"api_token\"]",
            "secrets = [\"api_token\", \"root_password\"]",
        );
    assert_eq!(host.upload(&admin, &greedy, guests::HOSTILE).await.status, 201);

    let refused = host
        .call(Method::POST, &format!("{path}/upgrade"), Some(&admin), None)
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    for named in ["evil.example.com", "root_password"] {
        assert!(refused.text.contains(named), "{named}: {}", refused.text);
    }
    let still = host
        .call(Method::GET, "/v1/tenants/acme/plugins", Some(&admin), None)
        .await;
    assert_eq!(still.json[0]["version"], "1.0.0");

    let beyond = json!({"grants": {"http_hosts": ["127.0.0.1", "elsewhere.example.com"]}});
    let refused = host
        .call(
            Method::POST,
            &format!("{path}/upgrade"),
            Some(&admin),
            Some(&beyond),
        )
        .await;
    assert_eq!(
        refused.status, 422,
        "grants stay within the new manifest: {}",
        refused.text
    );

    let grants = json!({"grants": {"http_hosts": ["127.0.0.1", "evil.example.com"], "secrets": ["api_token"], "kv": true}});
    let upgraded = host
        .call(
            Method::POST,
            &format!("{path}/upgrade"),
            Some(&admin),
            Some(&grants),
        )
        .await;
    assert_eq!(upgraded.status, 200, "{}", upgraded.text);
    assert_eq!(upgraded.json["version"], "1.1.0");
    assert_eq!(
        upgraded.json["grants"]["http_hosts"],
        json!(["127.0.0.1", "evil.example.com"])
    );
    // Back to 1.0.0, which asks for less: no new grant needed.
    let rolled = host
        .call(Method::POST, &format!("{path}/rollback"), Some(&admin), None)
        .await;
    assert_eq!(rolled.status, 200, "{}", rolled.text);
    assert_eq!(rolled.json["version"], "1.0.0");
}
