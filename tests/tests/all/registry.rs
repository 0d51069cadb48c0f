//! The registry through the API: every refusal at publish names its reason
//! and changes nothing; versions resolve per tenant; upgrade and rollback
//! under a steady stream of calls fail no call.

use omnify_registry::{Package, PublisherKey};
use omnify_tests::guests;
use omnify_tests::holding::holding_server;
use omnify_tests::host::{HOSTILE_MANIFEST, TestHost, hello_manifest};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

async fn host() -> (TestHost, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    (host, admin.expect("admin token"), dir)
}

fn hostile_version(version: &str) -> String {
    HOSTILE_MANIFEST.replace("version = \"1.0.0\"", &format!("version = \"{version}\""))
}

fn message(reply: &omnify_tests::host::Reply) -> String {
    reply.json["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_refuses_every_unsound_package_with_its_reason() {
    let (host, admin, _dir) = host().await;
    let good = host
        .signed_package(&admin, &hello_manifest(), guests::HELLO_CONNECTOR)
        .await;
    let component = good.component().to_vec();
    let before = host
        .call(Method::GET, "/v1/plugins", Some(&admin), None)
        .await
        .json;

    let unsigned = Package::new(&hello_manifest(), component.clone()).expect("package");

    let mut garbled = good.to_bytes().expect("bytes");
    let signature = good.signature().expect("signed").signature.clone();
    let position = garbled
        .windows(signature.len())
        .position(|w| w == signature.as_bytes())
        .expect("the signature is in the archive");
    garbled[position] = if garbled[position] == b'0' { b'1' } else { b'0' };

    let stranger = PublisherKey::generate("example-partner").expect("key");
    let mut unknown_key = unsigned.clone();
    unknown_key.sign(&stranger);

    let mut tampered_component = component.clone();
    let last = tampered_component.len() - 1;
    tampered_component[last] ^= 0xff;
    let tampered_component = {
        let mut bytes = good.to_bytes().expect("bytes");
        let at = bytes
            .windows(component.len())
            .position(|w| w == component.as_slice())
            .expect("the component is in the archive");
        bytes[at..at + component.len()].copy_from_slice(&tampered_component);
        bytes
    };

    let mut tampered_manifest = good.to_bytes().expect("bytes");
    let at = tampered_manifest
        .windows(b"Greets".len())
        .position(|w| w == b"Greets")
        .expect("the manifest is in the archive");
    tampered_manifest[at] = b'g';

    let wrong_publisher = {
        let manifest = hello_manifest().replace("example-partner", "someone-else");
        let mut package = Package::new(&manifest, component.clone()).expect("package");
        package.sign(&*host.key_of(&admin, "example-partner").await);
        package
    };
    let future_contract = host
        .signed_package(
            &admin,
            &hello_manifest().replace("hello-connector", "from-the-future"),
            guests::WRONG_MAJOR,
        )
        .await;
    let under_declared = host
        .signed_package(
            &admin,
            &HOSTILE_MANIFEST.replace("kv = true", "kv = false"),
            guests::HOSTILE,
        )
        .await;

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a package", b"hello".to_vec(), "not a valid archive"),
        ("unsigned", unsigned.to_bytes().expect("bytes"), "not signed"),
        ("garbled signature", garbled, "does not match"),
        (
            "unknown key",
            unknown_key.to_bytes().expect("bytes"),
            "not in the host's trust store",
        ),
        (
            "tampered component",
            tampered_component,
            "does not match the package",
        ),
        (
            "tampered manifest",
            tampered_manifest,
            "does not match the package",
        ),
        (
            "wrong publisher",
            wrong_publisher.to_bytes().expect("bytes"),
            "names publisher `someone-else`",
        ),
        (
            "unsupported contract",
            future_contract.to_bytes().expect("bytes"),
            "2.0.0 is not supported",
        ),
        (
            "under-declared imports",
            under_declared.to_bytes().expect("bytes"),
            "does not declare capabilities.kv",
        ),
    ];
    for (case, bytes, reason) in cases {
        let reply = host.publish_bytes(&admin, bytes).await;
        assert_eq!(reply.status, 422, "{case}: {}", reply.text);
        assert!(
            message(&reply).contains(reason),
            "{case}: `{}` should say `{reason}`",
            message(&reply)
        );
    }

    let keys = host.call(Method::GET, "/v1/publishers", Some(&admin), None).await;
    let key_id = keys
        .json
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["publisher"] == "example-partner"))
        .and_then(|k| k["id"].as_str())
        .expect("the example partner's key")
        .to_string();
    assert_eq!(
        host.publish_bytes(&admin, good.to_bytes().expect("bytes"))
            .await
            .status,
        201
    );
    let duplicate = host.publish_bytes(&admin, good.to_bytes().expect("bytes")).await;
    assert_eq!(duplicate.status, 409);
    assert!(message(&duplicate).contains("immutable"));

    let revoke = host
        .call(
            Method::DELETE,
            &format!("/v1/publishers/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoke.status, 200, "{}", revoke.text);
    let next = host
        .signed_package(
            &admin,
            &hello_manifest().replace("0.1.0", "0.2.0"),
            guests::HELLO_CONNECTOR,
        )
        .await;
    let revoked = host.publish_bytes(&admin, next.to_bytes().expect("bytes")).await;
    assert_eq!(revoked.status, 422);
    assert!(message(&revoked).contains("was revoked"), "{}", message(&revoked));

    let after = host
        .call(Method::GET, "/v1/plugins", Some(&admin), None)
        .await
        .json;
    assert_eq!(before.as_array().map(Vec::len), Some(0));
    assert_eq!(
        after.as_array().map(Vec::len),
        Some(1),
        "only the sound package was published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_accepts_unsigned_packages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start_with(dir.path(), &[], true).await;
    let admin = admin.expect("admin token");
    let bytes = std::fs::read(guests::HELLO_CONNECTOR).expect("component");
    let unsigned = Package::new(&hello_manifest(), bytes).expect("package");
    let reply = host
        .publish_bytes(&admin, unsigned.to_bytes().expect("bytes"))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json["signed_by"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_resolve_per_tenant_and_yanked_versions_are_skipped() {
    let (host, admin, _dir) = host().await;
    for version in ["1.0.0", "1.2.0", "1.3.0-beta.1", "2.0.0"] {
        let reply = host
            .upload(&admin, &hostile_version(version), guests::HOSTILE)
            .await;
        assert_eq!(reply.status, 201, "{version}: {}", reply.text);
    }
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    let enable = |requirement: &str| json!({ "version": requirement });
    let path = "/v1/tenants/acme/plugins/hostile";
    let cases = [
        ("^1", "1.2.0"),
        ("~1.0", "1.0.0"),
        ("*", "2.0.0"),
        ("=1.3.0-beta.1", "1.3.0-beta.1"),
    ];
    for (requirement, pinned) in cases {
        let reply = host
            .call(Method::PUT, path, Some(&admin), Some(&enable(requirement)))
            .await;
        assert_eq!(reply.status, 200, "{requirement}: {}", reply.text);
        assert_eq!(reply.json["version"], pinned, "{requirement}");
    }
    let none = host
        .call(Method::PUT, path, Some(&admin), Some(&enable("^3")))
        .await;
    assert_eq!(none.status, 404);
    let bad = host
        .call(Method::PUT, path, Some(&admin), Some(&enable("one point two")))
        .await;
    assert_eq!(bad.status, 422);

    let reply = host
        .call(Method::PUT, path, Some(&admin), Some(&enable("^1")))
        .await;
    assert_eq!(reply.json["version"], "1.2.0");
    let yank = host
        .call(
            Method::POST,
            "/v1/plugins/hostile/versions/1.2.0/yank",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(yank.status, 200, "{}", yank.text);
    let still_pinned = host
        .call(
            Method::POST,
            &format!("{path}/invoke"),
            Some(&admin),
            Some(&json!({"export": "spec"})),
        )
        .await;
    assert_eq!(
        still_pinned.status, 200,
        "a yanked version keeps running where pinned"
    );
    let reply = host
        .call(Method::PUT, path, Some(&admin), Some(&enable("^1")))
        .await;
    assert_eq!(
        reply.json["version"], "1.0.0",
        "resolution skips the yanked 1.2.0"
    );

    let versions = host
        .call(Method::GET, "/v1/plugins/hostile/versions", Some(&admin), None)
        .await;
    let listed: Vec<&str> = versions
        .json
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(listed, ["1.0.0", "1.2.0", "1.3.0-beta.1", "2.0.0"]);
    let download = host
        .call(
            Method::GET,
            "/v1/plugins/hostile/versions/2.0.0/package",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(download.status, 200);
    let package = host
        .send(
            host.request(Method::GET, "/v1/plugins/hostile/versions/2.0.0/package")
                .bearer_auth(&admin),
        )
        .await;
    assert_eq!(package.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_and_rollback_under_a_steady_stream_of_calls_fail_no_call() {
    let (host, admin, _dir) = host().await;
    assert_eq!(
        host.upload(&admin, &hostile_version("1.0.0"), guests::HOSTILE)
            .await
            .status,
        201
    );
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    let path = "/v1/tenants/acme/plugins/hostile";
    let reply = host
        .call(Method::PUT, path, Some(&admin), Some(&json!({"version": "^1"})))
        .await;
    assert_eq!(reply.json["version"], "1.0.0");
    let no_newer = host
        .call(Method::POST, &format!("{path}/upgrade"), Some(&admin), None)
        .await;
    assert_eq!(no_newer.status, 409);
    assert_eq!(
        host.upload(&admin, &hostile_version("1.1.0"), guests::HOSTILE)
            .await
            .status,
        201
    );

    let host = Arc::new(host);
    let running = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stream = {
        let (host, admin, running, answered) =
            (host.clone(), admin.clone(), running.clone(), answered.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            let call = json!({"export": "act", "input": {"name": "ok", "idempotency_key": "k"}});
            while running.load(Ordering::Relaxed) {
                let reply = host
                    .call(Method::POST, &format!("{path}/invoke"), Some(&admin), Some(&call))
                    .await;
                statuses.push(reply.status);
                answered.fetch_add(1, Ordering::SeqCst);
            }
            statuses
        })
    };
    // Let a few more calls go through after each change (bounded in time).
    let pause = || {
        let answered = answered.clone();
        async move {
            let (from, deadline) = (
                answered.load(Ordering::SeqCst),
                std::time::Instant::now() + std::time::Duration::from_secs(30),
            );
            while answered.load(Ordering::SeqCst) < from + 5 {
                assert!(std::time::Instant::now() < deadline, "the calls stopped");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    };
    pause().await;
    let upgraded = host
        .call(Method::POST, &format!("{path}/upgrade"), Some(&admin), None)
        .await;
    assert_eq!(
        (upgraded.status, upgraded.json["version"].as_str()),
        (200, Some("1.1.0")),
        "{}",
        upgraded.text
    );
    pause().await;
    let rolled_back = host
        .call(Method::POST, &format!("{path}/rollback"), Some(&admin), None)
        .await;
    assert_eq!(
        (rolled_back.status, rolled_back.json["version"].as_str()),
        (200, Some("1.0.0")),
        "{}",
        rolled_back.text
    );
    pause().await;
    running.store(false, Ordering::Relaxed);
    let statuses = stream.await.expect("the stream");
    assert!(statuses.len() > 10, "the stream kept calling: {}", statuses.len());
    assert!(statuses.iter().all(|s| *s == 200), "no call failed: {statuses:?}");

    let audit = host
        .call(
            Method::GET,
            "/v1/tenants/acme/audit?since=0&limit=1000",
            Some(&admin),
            None,
        )
        .await;
    let entries = audit.json.as_array().expect("entries");
    let versions: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "plugin.act")
        .filter_map(|e| e["details"]["version"].as_str())
        .collect();
    assert_eq!(
        versions.len(),
        statuses.len(),
        "every call's record names its version"
    );
    assert!(
        versions.contains(&"1.0.0") && versions.contains(&"1.1.0"),
        "{versions:?}"
    );
    let position = |action: &str| {
        entries
            .iter()
            .position(|e| e["action"] == action)
            .expect("audited")
    };
    let (up, down) = (position("plugin.upgrade"), position("plugin.rollback"));
    assert!(up < down);
    assert_eq!(entries[up]["details"], json!({"from": "1.0.0", "to": "1.1.0"}));
    // Calls recorded well after each change ran on the version it pinned.
    let last = entries
        .iter()
        .rev()
        .find(|e| e["action"] == "plugin.act")
        .expect("a call");
    assert_eq!(last["details"]["version"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_runs_to_its_end_on_the_build_pinned_when_it_started() {
    let (host, admin, _dir) = host().await;
    let manifest = |dir: &str| {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).expect("manifest")
    };
    let (url, waiting, release) = holding_server().await;
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    let first = host
        .upload(
            &admin,
            &manifest("guests/versioned/plugin.toml"),
            guests::VERSIONED,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let path = "/v1/tenants/acme/plugins/versioned";
    let enable = json!({"config": {"base_url": url}});
    let pinned = host.call(Method::PUT, path, Some(&admin), Some(&enable)).await;
    assert_eq!(pinned.json["version"], "1.0.0", "{}", pinned.text);
    let second = host
        .upload(
            &admin,
            &manifest("guests/versioned-next/plugin.toml"),
            guests::VERSIONED_NEXT,
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_ne!(
        first.json["digest"], second.json["digest"],
        "two different builds"
    );

    let host = Arc::new(host);
    let read = |host: Arc<TestHost>, admin: String| {
        tokio::spawn(async move {
            let call = json!({"export": "read", "input": {"stream": "build"}});
            host.call(Method::POST, &format!("{path}/invoke"), Some(&admin), Some(&call))
                .await
        })
    };
    let until_waiting = |count: usize| {
        let waiting = waiting.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while waiting.load(Ordering::SeqCst) < count {
                assert!(
                    std::time::Instant::now() < deadline,
                    "a call never reached the server"
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    let build_of =
        |reply: &omnify_tests::host::Reply| reply.json["output"]["result"]["records"][0]["build"].clone();

    let before_upgrade = read(host.clone(), admin.clone());
    until_waiting(1).await;
    let upgraded = host
        .call(Method::POST, &format!("{path}/upgrade"), Some(&admin), None)
        .await;
    assert_eq!(upgraded.json["version"], "2.0.0", "{}", upgraded.text);
    let before_rollback = read(host.clone(), admin.clone());
    until_waiting(2).await;
    let rolled = host
        .call(Method::POST, &format!("{path}/rollback"), Some(&admin), None)
        .await;
    assert_eq!(rolled.json["version"], "1.0.0", "{}", rolled.text);
    release.send(true).expect("release");

    let (before_upgrade, before_rollback) = (
        before_upgrade.await.expect("joined"),
        before_rollback.await.expect("joined"),
    );
    assert_eq!(build_of(&before_upgrade), "1", "{}", before_upgrade.text);
    assert_eq!(build_of(&before_rollback), "2", "{}", before_rollback.text);
    let after = read(host.clone(), admin.clone()).await.expect("joined");
    assert_eq!(build_of(&after), "1", "{}", after.text);
}
