//! `omnify plugin run`, the partner's inner loop, driven as a partner would:
//! on the example crate's directory, which it builds, and on bad input.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-connector")
}

fn omnify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnify"))
        .args(args)
        .output()
        .expect("run omnify")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plugin_run_builds_the_example_crate_and_prints_result_and_usage() {
    let example = example();
    let output = omnify(&[
        "plugin",
        "run",
        example.to_str().expect("utf-8 path"),
        "read",
        "--input",
        r#"{"stream": "greetings", "limit": 10}"#,
        "--config",
        r#"names=["Ada", "Grace"]"#,
        "--config",
        "greeting=Welcome",
    ]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let result: Value = serde_json::from_slice(&output.stdout).expect("the result is JSON");
    assert_eq!(result["export"], "read");
    assert_eq!(result["result"]["records"][1]["text"], "Welcome, Grace!");
    assert_eq!(result["result"]["has_more"], false);
    assert!(stderr.contains("usage: fuel "), "{stderr}");
}

#[test]
fn plugin_run_reports_the_plugins_error_and_fails() {
    let example = example();
    let output = omnify(&[
        "plugin",
        "run",
        example.to_str().expect("utf-8 path"),
        "act",
        "--input",
        r#"{"name": "add-name", "input": {"name": ""}, "idempotency_key": "k1"}"#,
        "--config",
        "names=[]",
    ]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("error: invalid input: `name` must be a non-empty string"),
        "{stderr}"
    );
    assert!(
        stderr.contains("usage: fuel "),
        "usage is reported on failure too: {stderr}"
    );
}

#[test]
fn plugin_run_refuses_bad_input_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_wasm = dir.path().join("plugin.wasm");
    std::fs::write(&not_wasm, b"hello").expect("write");
    let not_wasm = not_wasm.to_str().expect("utf-8 path");

    let cases: [(&[&str], &str); 4] = [
        (&["plugin", "run", not_wasm, "spec"], "not a WebAssembly binary"),
        (
            &["plugin", "run", not_wasm, "frobnicate"],
            "unknown export `frobnicate`",
        ),
        (
            &["plugin", "run", not_wasm, "read", "--input", "{not json"],
            "--input is not valid JSON",
        ),
        (
            &["plugin", "run", not_wasm, "spec", "--config", "novalue"],
            "--config `novalue` is not KEY=VALUE",
        ),
    ];
    for (args, expected) in cases {
        let output = omnify(args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(expected),
            "{args:?}: `{stderr}` should say `{expected}`"
        );
    }
}

#[test]
fn audit_verify_checks_every_chain_of_a_stopped_server() {
    use omnify_control::control::{ControlConfig, ControlPlane};
    use omnify_control::store::storage::{Table, key};
    use omnify_control::tenant::{NewTenant, Principal, TenantStatus};

    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let empty = omnify(&["audit", "verify", "--data-dir", data_dir]);
    assert!(!empty.status.success());
    assert!(
        text(&empty.stderr).contains("holds no Omnify store"),
        "{}",
        text(&empty.stderr)
    );

    let async_runtime = tokio::runtime::Runtime::new().expect("tokio");
    async_runtime.block_on(async {
        let (control, _) = ControlPlane::open(ControlConfig {
            data_dir: dir.path().to_path_buf(),
            runtime: Default::default(),
            dev: false,
            sync: Default::default(),
            grantable_hosts: Vec::new(),
            credentials: Default::default(),
            store_url: None,
            lease: omnify_control::hosts::DEFAULT_LEASE,
        })
        .expect("open");
        let admin = Principal::admin();
        for id in ["acme", "rival"] {
            let tenant = NewTenant {
                id: id.into(),
                name: id.into(),
                quotas: Default::default(),
            };
            control.create_tenant(&admin, tenant).await.expect("tenant");
        }
        for status in [TenantStatus::Suspended, TenantStatus::Active] {
            control
                .set_tenant_status(&admin, "acme", status)
                .await
                .expect("status");
        }
    });

    let intact = omnify(&["audit", "verify", "--data-dir", data_dir]);
    assert!(intact.status.success(), "{}", text(&intact.stderr));
    assert_eq!(
        text(&intact.stdout),
        "acme: ok (3 entries)\nrival: ok (1 entries)\n"
    );

    let exported = omnify(&["audit", "export", "--tenant", "acme", "--data-dir", data_dir]);
    let exported = text(&exported.stdout);
    let checkpoints = exported
        .lines()
        .filter(|line| line.starts_with("{\"checkpoint\""))
        .count();
    assert_eq!(exported.lines().count() - checkpoints, 3);
    assert_eq!(checkpoints, 1, "the export signed the head: {exported}");
    let copy = dir.path().join("acme.jsonl");
    std::fs::write(&copy, &exported).expect("keep the copy");
    let copy_arg = copy.to_str().expect("utf-8 path");
    let printed = omnify(&["audit", "public-key", "--data-dir", data_dir]);
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let public_key = text(&printed.stdout).trim().to_string();
    assert_eq!(public_key.len(), 64, "{public_key}");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let copy_only = omnify(&[
        "audit",
        "verify",
        "--checkpoints",
        copy_arg,
        "--public-key",
        &public_key,
        "--data-dir",
        elsewhere.path().to_str().expect("utf-8 path"),
    ]);
    assert!(copy_only.status.success(), "{}", text(&copy_only.stdout));
    assert_eq!(
        text(&copy_only.stdout),
        "acme (exported copy): ok (3 entries, 1 signed checkpoints)\n"
    );
    let with_store = omnify(&[
        "audit",
        "verify",
        "--checkpoints",
        copy_arg,
        "--data-dir",
        data_dir,
    ]);
    assert!(with_store.status.success(), "{}", text(&with_store.stdout));
    assert!(
        text(&with_store.stdout).contains("acme (store): ok (3 entries"),
        "{}",
        text(&with_store.stdout)
    );

    {
        let store = omnify_control::store::RedbStore::open(dir.path()).expect("open");
        use omnify_control::store::Storage;
        let mut tx = store.write().expect("write");
        tx.delete(Table::Audit, &key(&[b"acme", &2u64.to_be_bytes()]))
            .expect("delete");
        tx.commit().expect("commit");
    }
    let broken = omnify(&["audit", "verify", "--data-dir", data_dir]);
    assert!(!broken.status.success());
    assert!(
        text(&broken.stdout).contains("acme: BROKEN at entry 2:"),
        "{}",
        text(&broken.stdout)
    );
}

#[test]
fn a_partner_keygens_packs_signs_inspects_and_verifies_a_package() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("partner.key");
    let package = dir.path().join("hello.omnify");
    let (key_arg, package_arg) = (key.to_str().expect("utf-8"), package.to_str().expect("utf-8"));
    let example = example();
    let example = example.to_str().expect("utf-8");

    let keygen = omnify(&[
        "plugin",
        "keygen",
        "--publisher",
        "example-partner",
        "--out",
        key_arg,
    ]);
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    let public_key = text(&keygen.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("public key: ").map(str::to_string))
        .expect("the public key is printed");

    let unsigned = omnify(&["plugin", "pack", example, "--out", package_arg]);
    assert!(unsigned.status.success(), "{}", text(&unsigned.stderr));
    let verify = omnify(&["plugin", "verify", package_arg]);
    assert!(!verify.status.success());
    assert!(
        text(&verify.stderr).contains("not signed"),
        "{}",
        text(&verify.stderr)
    );

    let sign = omnify(&["plugin", "sign", package_arg, "--key", key_arg]);
    assert!(sign.status.success(), "{}", text(&sign.stderr));
    let verify = omnify(&["plugin", "verify", package_arg, "--trust", &public_key]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    let untrusted = omnify(&["plugin", "verify", package_arg, "--trust", &"ab".repeat(32)]);
    assert!(!untrusted.status.success());

    let inspect = omnify(&["plugin", "inspect", package_arg]);
    let shown = text(&inspect.stdout);
    for expected in [
        "plugin:    hello-connector 0.1.0",
        "world:     connector 1.1.0",
        "omnify:plugin/http@1.1.0",
        "omnify:plugin/connector-api@1.1.0",
        "signed by: example-partner",
    ] {
        assert!(shown.contains(expected), "inspect shows `{expected}`: {shown}");
    }

    let mut bytes = std::fs::read(&package).expect("read");
    let at = bytes
        .windows(6)
        .position(|w| w == b"Greets")
        .expect("manifest text");
    bytes[at] = b'g';
    std::fs::write(&package, bytes).expect("tamper");
    let tampered = omnify(&["plugin", "verify", package_arg]);
    assert!(!tampered.status.success());
    assert!(
        text(&tampered.stderr).contains("does not match"),
        "{}",
        text(&tampered.stderr)
    );
}
