//! The control plane through its HTTP API: authorization on every route,
//! bad input, quotas, tamper evidence, persistence across a restart, and
//! secrets (OAuth tokens among them) that never leak. One test binary; the shared setup is here.

mod access;
mod autonomy_simulation;
mod cursors;
mod enablement;
mod events;
mod lifecycle;
mod metering;
mod oauth;
mod openapi;
mod plugin_errors;
mod reports;
mod schema_constraints;

use omnify_control::store::storage::{Entry, Table};
use omnify_tests::guests;
use omnify_tests::host::{HOSTILE_MANIFEST, TestHost, data_agent_manifest, hello_manifest};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) const SECRET: &str = "sk_live_VERY_SECRET_4242";

/// Everything any test in this binary logs, to check that no secret is ever
/// written to a log line.
pub(crate) fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            // The host's own filter, at its most verbose.
            .with_env_filter(omnify_host::cli::log_filter("trace"))
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
pub(crate) struct World {
    pub(crate) host: TestHost,
    pub(crate) admin: String,
    pub(crate) acme_operator: String,
    pub(crate) rival_operator: String,
    pub(crate) revoked: String,
    pub(crate) acme_key_id: String,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn world() -> World {
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
        .enable(&admin, "acme", "hello-connector", &enable_hello)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let enable_hostile = json!({ "secrets": { "api_token": SECRET } });
    let reply = host.enable(&admin, "acme", "hostile", &enable_hostile).await;
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

/// Everything a request could have changed: every table of the store but
/// the two the host writes on timers.
pub(crate) fn snapshot(host: &TestHost) -> Vec<(Table, Vec<Entry>)> {
    let tx = host.control.storage().read().expect("read");
    Table::ALL
        .into_iter()
        // The host renews its leases and signs checkpoints of grown chains
        // on timers, whatever the requests do.
        .filter(|table| ![Table::Leases, Table::AuditCheckpoints].contains(table))
        .map(|table| (table, tx.scan(table, b"", None, usize::MAX).expect("scan")))
        .collect()
}

/// Fail, naming each table and key that differs, unless the store is as it
/// was in `before` (see [`snapshot`]).
pub(crate) fn assert_unchanged(host: &TestHost, before: &[(Table, Vec<Entry>)], what: &str) {
    let now = snapshot(host);
    let mut changes = Vec::new();
    for ((table, was), (_, is)) in before.iter().zip(&now) {
        let was: std::collections::BTreeMap<_, _> = was.iter().cloned().collect();
        let is: std::collections::BTreeMap<_, _> = is.iter().cloned().collect();
        for key in was
            .keys()
            .chain(is.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if was.get(key) != is.get(key) {
                changes.push(format!("{table:?} {}", String::from_utf8_lossy(key)));
            }
        }
    }
    assert!(changes.is_empty(), "{what}, but these changed: {changes:#?}");
}

/// A new host on `dir` with tenant `acme` and the hostile connector enabled
/// for it with `enable`; returns the admin token.
pub(crate) async fn host_with_hostile(dir: &std::path::Path, enable: Value) -> (TestHost, String) {
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
    let reply = host.enable(&admin, "acme", "hostile", &enable).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    (host, admin)
}

pub(crate) fn invoke_body(export: &str, input: Value) -> Value {
    json!({ "export": export, "input": input })
}
