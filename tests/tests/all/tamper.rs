//! What someone with write access to the data directory can no longer do
//! unseen: shorten or rewrite an audit chain, plant native code in the
//! precompiled cache, or make the host replace a lost master key; and that
//! the data directory is private.

use omnify_control::audit::checkpoint::{self, Checkpointed};
use omnify_control::audit::{self, AuditEntry, exported};
use omnify_control::control::{ControlConfig, ControlPlane};
use omnify_control::store::storage::{Table, key, prefix};
use omnify_control::tenant::Principal;
use omnify_runtime::plugin::CodeSource;
use omnify_tests::guests;
use omnify_tests::host::{HOSTILE_MANIFEST, TestHost};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

fn entry_key(tenant: &str, seq: u64) -> Vec<u8> {
    key(&[tenant.as_bytes(), &seq.to_be_bytes()])
}

/// A host with tenant `acme` whose chain has `2 + 2 * rounds` entries.
async fn host_with_chain(dir: &Path, rounds: usize) -> (TestHost, String) {
    let (host, admin) = TestHost::start(dir, &[]).await;
    let admin = admin.expect("admin token");
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    assert_eq!(host.create_tenant(&admin, "rival").await.status, 201);
    for _ in 0..rounds {
        for action in ["suspend", "resume"] {
            let path = format!("/v1/tenants/acme/{action}");
            assert_eq!(
                host.call(Method::POST, &path, Some(&admin), None).await.status,
                200
            );
        }
    }
    let (_, _) = host.create_key(&admin, "acme", "viewer").await;
    (host, admin)
}

async fn verify(host: &TestHost, admin: &str) -> Value {
    host.call(Method::GET, "/v1/tenants/acme/audit/verify", Some(admin), None)
        .await
        .json
}

fn stored_entries(host: &TestHost) -> Vec<AuditEntry> {
    let tx = host.control.storage().read().expect("read");
    audit::list(&*tx, "acme", 0, usize::MAX).expect("list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_last_entries_with_the_head_is_detected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = host_with_chain(dir.path(), 2).await;
    let intact = verify(&host, &admin).await;
    assert_eq!(intact["ok"], true, "{intact}");
    let entries = intact["entries"].as_u64().expect("entries");

    let store = host.control.storage();
    let mut tx = store.write().expect("write");
    for seq in [entries - 1, entries] {
        assert!(tx.delete(Table::Audit, &entry_key("acme", seq)).expect("delete"));
    }
    assert!(tx.delete(Table::AuditHeads, b"acme").expect("delete the head"));
    tx.commit().expect("commit");

    let broken = verify(&host, &admin).await;
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["first_bad"]["seq"], entries - 1);
    let reason = broken["first_bad"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no head"), "{reason}");
    let chains = audit::chains(&*store.read().expect("read")).expect("chains");
    assert!(
        chains.contains(&"acme".to_string()),
        "the chain is still listed: {chains:?}"
    );

    // Every entry and the head gone: the tenant's record still tells.
    let mut tx = store.write().expect("write");
    tx.delete_prefix(Table::Audit, &prefix(&[b"acme"]))
        .expect("delete");
    tx.commit().expect("commit");
    let gone = verify(&host, &admin).await;
    assert_eq!(gone["ok"], false, "{gone}");
    assert!(
        gone["first_bad"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("chain was deleted"),
        "{gone}"
    );

    // A head without entries.
    let mut tx = store.write().expect("write");
    tx.put(Table::AuditHeads, b"ghost", br#"{"seq":3,"hash":"00"}"#)
        .expect("put");
    tx.commit().expect("commit");
    let tx = store.read().expect("read");
    let ghost = audit::verify(&*tx, "ghost").expect("verify");
    assert!(!ghost.ok, "{ghost:?}");
    drop(tx);
    host.stop().await;
}

/// Rewrite the chain from entry `from` with `edit`, recomputing every hash
/// after it and the head, as someone who knows the format would.
fn rewrite_and_rehash(host: &TestHost, from: u64, edit: impl Fn(&mut AuditEntry)) {
    let mut entries = stored_entries(host);
    let mut prev_hash = entries[from as usize - 2].hash.clone();
    let store = host.control.storage();
    let mut tx = store.write().expect("write");
    for entry in entries.iter_mut().skip(from as usize - 1) {
        if entry.seq == from {
            edit(entry);
        }
        entry.prev_hash = prev_hash;
        entry.hash = entry.computed_hash();
        prev_hash = entry.hash.clone();
        tx.put(
            Table::Audit,
            &entry_key("acme", entry.seq),
            &serde_json::to_vec(entry).expect("JSON"),
        )
        .expect("put");
    }
    let last = entries.last().expect("entries");
    let head = json!({ "seq": last.seq, "hash": last.hash });
    tx.put(Table::AuditHeads, b"acme", head.to_string().as_bytes())
        .expect("put");
    tx.commit().expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_and_rehashed_chain_is_caught_by_the_signed_checkpoints() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = host_with_chain(dir.path(), 2).await;
    // The auditor gets the host's public key from the API.
    let served = host
        .call(Method::GET, "/v1/audit/public-key", Some(&admin), None)
        .await;
    assert_eq!(served.status, 200, "{}", served.text);
    let served = served.json["public_key"].as_str().expect("a key");
    assert_eq!(served, host.control.audit_public_key());
    let public_key = checkpoint::parse_public_key(served).expect("key");

    // An auditor exports the chain (which signs its head) and keeps it.
    let export = host
        .call(Method::GET, "/v1/tenants/acme/audit/export", Some(&admin), None)
        .await;
    assert_eq!(export.status, 200, "{}", export.text);
    let copy = exported::parse(&export.text).expect("an export parses");
    let kept = &copy["acme"];
    let signed = kept.checkpoints.last().expect("the export signed the head");
    assert_eq!(signed.seq, kept.entries.len() as u64);
    assert!(exported::verify_copy("acme", kept, &public_key).ok);
    assert_eq!(
        verify(&host, &admin).await["checkpoints"].as_u64(),
        Some(kept.checkpoints.len() as u64)
    );

    // More happens, then entry 2 is rewritten and every hash recomputed.
    let path = "/v1/tenants/acme/suspend";
    assert_eq!(
        host.call(Method::POST, path, Some(&admin), None).await.status,
        200
    );
    rewrite_and_rehash(&host, 2, |entry| entry.actor = "someone-else".into());
    let tx = host.control.storage().read().expect("read");
    let chain_alone = audit::verify(&*tx, "acme").expect("verify");
    drop(tx);
    assert!(chain_alone.first_bad.is_none_or(|p| !p.reason.contains("edited")));

    // The store's own checkpoint no longer matches.
    let caught = verify(&host, &admin).await;
    assert_eq!(caught["ok"], false, "{caught}");
    assert_eq!(caught["first_bad"]["seq"], 1);
    assert!(
        caught["first_bad"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("rewritten"),
        "{caught}"
    );
    // Nor is the rewritten chain signed over by an export or the timer.
    let outcome = host
        .control
        .checkpoint_audit(&Principal::admin(), "acme")
        .await
        .expect("checkpoint");
    assert!(matches!(outcome, Checkpointed::Broken(_)), "{outcome:?}");

    // Deleting the store's checkpoints too hides it from the store alone …
    let store = host.control.storage();
    let mut tx = store.write().expect("write");
    tx.delete_prefix(Table::AuditCheckpoints, &prefix(&[b"acme"]))
        .expect("delete");
    tx.commit().expect("commit");
    assert_eq!(
        verify(&host, &admin).await["ok"],
        true,
        "undetectable in the store alone"
    );

    // … but not from the copy kept elsewhere, checked with the public key.
    let tx = store.read().expect("read");
    let against = exported::verify_store_against(&*tx, "acme", kept, &public_key).expect("verify");
    drop(tx);
    assert!(!against.ok, "{against:?}");
    let problem = against.first_bad.expect("a problem");
    assert_eq!(problem.seq, 1);
    assert!(problem.reason.contains("rewritten"), "{}", problem.reason);

    // A fresh export of the rewritten store, with the old checkpoint lines
    // added back, does not verify either.
    let fresh = host
        .call(Method::GET, "/v1/tenants/acme/audit/export", Some(&admin), None)
        .await;
    let old_lines: String = export
        .text
        .lines()
        .filter(|line| line.starts_with("{\"checkpoint\""))
        .map(|line| format!("{line}\n"))
        .collect();
    let spliced = exported::parse(&format!("{old_lines}{}", fresh.text)).expect("parses");
    assert!(!exported::verify_copy("acme", &spliced["acme"], &public_key).ok);

    // A checkpoint altered in the copy, or signed by another key, is refused.
    let mut forged = kept.clone();
    let last = forged.checkpoints.len() - 1;
    forged.checkpoints[last].seq -= 1;
    forged.checkpoints[last].hash = forged.entries[forged.checkpoints[last].seq as usize - 1]
        .hash
        .clone();
    let refused = exported::verify_copy("acme", &forged, &public_key);
    assert!(
        refused
            .first_bad
            .as_ref()
            .is_some_and(|p| p.reason.contains("not signed by this key")),
        "{refused:?}"
    );
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_entries_up_to_a_checkpoint_is_detected_with_the_head_rewritten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = host_with_chain(dir.path(), 2).await;
    let outcome = host
        .control
        .checkpoint_audit(&Principal::admin(), "acme")
        .await
        .expect("checkpoint");
    assert!(
        matches!(outcome, Checkpointed::Signed(_) | Checkpointed::Unchanged(_)),
        "{outcome:?}"
    );
    let entries = stored_entries(&host);
    let shortened = &entries[entries.len() - 3];
    let store = host.control.storage();
    let mut tx = store.write().expect("write");
    for entry in &entries[entries.len() - 2..] {
        tx.delete(Table::Audit, &entry_key("acme", entry.seq))
            .expect("delete");
    }
    let head = json!({ "seq": shortened.seq, "hash": shortened.hash });
    tx.put(Table::AuditHeads, b"acme", head.to_string().as_bytes())
        .expect("put");
    tx.commit().expect("commit");
    let caught = verify(&host, &admin).await;
    assert_eq!(caught["ok"], false, "{caught}");
    assert_eq!(caught["first_bad"]["seq"], shortened.seq + 1);
    assert!(
        caught["first_bad"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("covers entry"),
        "{caught}"
    );
    host.stop().await;
}

/// The precompiled file of the component at `path` in `data_dir`.
fn precompiled_file(data_dir: &Path, component: &str) -> std::path::PathBuf {
    let digest = omnify_runtime::plugin::digest(&std::fs::read(component).expect("component"));
    std::fs::read_dir(data_dir.join("precompiled"))
        .expect("the cache directory")
        .map(|entry| entry.expect("entry").path())
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&digest))
        })
        .unwrap_or_else(|| panic!("no precompiled file of {component}"))
}

/// Open a control plane on `data_dir`, load `component`, and say where its
/// code came from.
fn load_once(data_dir: &Path, component: &str) -> CodeSource {
    let (control, _) = ControlPlane::open(ControlConfig::new(data_dir)).expect("open");
    let source = control
        .runtime()
        .load_file(Path::new(component))
        .expect("load")
        .code_source();
    drop(control);
    source
}

#[test]
fn a_planted_or_copied_precompiled_file_is_recompiled_never_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let other = tempfile::tempdir().expect("temp dir");
    for component in [guests::HELLO_CONNECTOR, guests::HOSTILE] {
        assert_eq!(load_once(dir.path(), component), CodeSource::Compiled);
    }
    assert_eq!(
        load_once(dir.path(), guests::HELLO_CONNECTOR),
        CodeSource::Precompiled
    );

    // A valid file of another component, under this component's name.
    let hello = precompiled_file(dir.path(), guests::HELLO_CONNECTOR);
    std::fs::copy(precompiled_file(dir.path(), guests::HOSTILE), &hello).expect("copy");
    assert_eq!(
        load_once(dir.path(), guests::HELLO_CONNECTOR),
        CodeSource::Compiled
    );
    assert_eq!(
        load_once(dir.path(), guests::HELLO_CONNECTOR),
        CodeSource::Precompiled
    );

    // The same component's file from another host (another master key).
    assert_eq!(
        load_once(other.path(), guests::HELLO_CONNECTOR),
        CodeSource::Compiled
    );
    std::fs::copy(precompiled_file(other.path(), guests::HELLO_CONNECTOR), &hello).expect("copy");
    assert_eq!(
        load_once(dir.path(), guests::HELLO_CONNECTOR),
        CodeSource::Compiled
    );

    // Garbage with the right name.
    std::fs::write(&hello, vec![0x5a; 4096]).expect("plant");
    assert_eq!(
        load_once(dir.path(), guests::HELLO_CONNECTOR),
        CodeSource::Compiled
    );
    assert_eq!(
        load_once(dir.path(), guests::HELLO_CONNECTOR),
        CodeSource::Precompiled
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_everything_in_it_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("data");
    let (host, admin) = TestHost::start(&dir, &[]).await;
    let admin = admin.expect("admin token");
    let uploaded = host.upload(&admin, HOSTILE_MANIFEST, guests::HOSTILE).await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text);
    // On PostgreSQL the store and the audit signing key are not files here.
    let files_at_least = if host.control.storage().shared() { 2 } else { 3 };
    host.stop().await;
    assert!(dir.join("precompiled").is_dir(), "the upload compiled the plugin");

    let mut seen = 0;
    let mut pending = vec![dir.clone()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::metadata(&path).expect("metadata");
        let mode = metadata.permissions().mode() & 0o777;
        if metadata.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            for entry in std::fs::read_dir(&path).expect("list") {
                pending.push(entry.expect("entry").path());
            }
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
            seen += 1;
        }
    }
    assert!(
        seen >= files_at_least,
        "the store, the keys and the precompiled plugin: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_master_key_with_sealed_secrets_stops_the_host() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    let admin = admin.expect("admin token");
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    assert_eq!(
        host.upload(&admin, HOSTILE_MANIFEST, guests::HOSTILE)
            .await
            .status,
        201
    );
    let enable = json!({ "secrets": { "api_token": "sk_live_kept" } });
    let reply = host.enable(&admin, "acme", "hostile", &enable).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    host.stop().await;

    let key = dir.path().join(omnify_control::vault::MASTER_KEY_FILE);
    std::fs::remove_file(&key).expect("lose the key");
    let config = omnify_tests::host::test_config(dir.path(), false).await;
    let error = tokio::task::spawn_blocking(move || ControlPlane::open(config).err())
        .await
        .expect("joined")
        .expect("the host refuses to start")
        .to_string();
    assert!(
        error.contains("master key") && error.contains("is missing") && error.contains("1 sealed secret"),
        "{error}"
    );
    assert!(!key.exists(), "no new key replaced the lost one");

    // Without sealed secrets, a new key is made as on first start. (A
    // PostgreSQL store always holds one: the hosts' audit signing key.)
    let fresh = tempfile::tempdir().expect("temp dir");
    let (host, _) = TestHost::start(fresh.path(), &[]).await;
    let shared = host.control.storage().shared();
    host.stop().await;
    if shared {
        return;
    }
    std::fs::remove_file(fresh.path().join(omnify_control::vault::MASTER_KEY_FILE)).expect("remove");
    let (host, _) = TestHost::start(fresh.path(), &[]).await;
    host.stop().await;
}
