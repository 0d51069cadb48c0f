//! A real host (control plane and HTTP API) on a loopback port and a temp
//! data directory, with a small HTTP client for the tests.

use omnify_api::ApiConfig;
use omnify_control::control::{ControlConfig, ControlPlane};
use omnify_registry::{Package, PublisherKey};
use omnify_runtime::RuntimeConfig;
use omnify_runtime::engine::EngineConfig;
use omnify_runtime::invoke::HostPattern;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running host.
pub struct TestHost {
    /// The control plane behind the API (for direct checks of the store).
    pub control: Arc<ControlPlane>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    client: reqwest::Client,
    /// One signing key per publisher, trusted by this host on first use.
    keys: Mutex<HashMap<String, Arc<PublisherKey>>>,
}

/// A response: status, headers and the JSON body (`null` when empty or not
/// JSON, with the raw text kept).
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body parsed as JSON.
    pub json: Value,
    /// The body as text.
    pub text: String,
}

/// The configuration of a test host on `data_dir`, in development mode
/// when `dev`. The whole suite can run on PostgreSQL
/// (`OMNIFY_TEST_STORE=postgres`): each data directory then gets a
/// database of its own, the same one again when a test restarts it.
pub async fn test_config(data_dir: &Path, dev: bool) -> ControlConfig {
    let mut config = TestHost::config(data_dir, dev);
    if std::env::var("OMNIFY_TEST_STORE").as_deref() == Ok("postgres") {
        config.store_url = Some(crate::postgres::database_of(data_dir).await);
    }
    config
}

impl TestHost {
    /// Start a host on `data_dir`; returns the admin token too when the
    /// directory is new.
    pub async fn start(data_dir: &Path, cors_origins: &[&str]) -> (Self, Option<String>) {
        Self::start_with(data_dir, cors_origins, false).await
    }

    /// Start a host, in development mode when `dev` (unsigned packages
    /// accepted).
    pub async fn start_with(data_dir: &Path, cors_origins: &[&str], dev: bool) -> (Self, Option<String>) {
        Self::start_config(test_config(data_dir, dev).await, cors_origins).await
    }

    /// Start one of several hosts of the shared store at `store_url`, all
    /// with the master key in `master_key`; its leases last `lease`.
    pub async fn start_shared(
        data_dir: &Path,
        store_url: &str,
        master_key: &Path,
        lease: std::time::Duration,
    ) -> (Self, Option<String>) {
        let mut config = Self::config(data_dir, false);
        config.store_url = Some(store_url.to_string());
        config.credentials.master_key_file = Some(master_key.to_path_buf());
        config.lease = lease;
        Self::start_config(config, &[]).await
    }

    /// The configuration of a test host on `data_dir`.
    fn config(data_dir: &Path, dev: bool) -> ControlConfig {
        ControlConfig {
            dev,
            // Short backoffs keep the retry tests quick.
            sync: omnify_control::sync::SyncConfig {
                batch_size: 50,
                base_delay: std::time::Duration::from_millis(20),
                max_delay: std::time::Duration::from_millis(200),
                ..Default::default()
            },
            data_dir: data_dir.to_path_buf(),
            // Connectors are pointed at sandboxes on loopback, on any port.
            grantable_hosts: vec![HostPattern::parse("127.0.0.1:*").expect("a valid pattern")],
            credentials: Default::default(),
            store_url: None,
            lease: omnify_control::hosts::DEFAULT_LEASE,
            runtime: RuntimeConfig {
                engine: EngineConfig {
                    max_instances: 32,
                    ..EngineConfig::default()
                },
                ..RuntimeConfig::default()
            },
        }
    }

    /// Start a host as `config` says; see [`test_config`].
    async fn start_config(config: ControlConfig, cors_origins: &[&str]) -> (Self, Option<String>) {
        let (control, admin) = ControlPlane::open(config).expect("the control plane opens");
        let control = Arc::new(control);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let config = ApiConfig {
            cors_origins: cors_origins.iter().map(|s| s.to_string()).collect(),
            ..ApiConfig::default()
        };
        let app = omnify_api::app(control.clone(), &config);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            omnify_api::serve(listener, app, async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
        });
        let host = Self {
            control,
            url,
            stop: Some(stop),
            server: Some(server),
            client: reqwest::Client::new(),
            keys: Mutex::default(),
        };
        (host, admin)
    }

    /// Stop gracefully and wait until the store is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("the server stops cleanly");
        }
        let mut control = self.control.clone();
        drop(self);
        // The last reference closes the store (and joins its writer thread).
        // Connection tasks release their clones of the app state a moment
        // after the server future returns, so wait for them briefly.
        let mut waited = 0;
        let control = loop {
            match Arc::try_unwrap(control) {
                Ok(control) => break control,
                Err(shared) if waited < 500 => {
                    control = shared;
                    waited += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(_) => panic!("the control plane is still shared 5 s after the server stopped"),
            }
        };
        tokio::task::spawn_blocking(move || drop(control))
            .await
            .expect("closed");
    }

    /// Send a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(serde_json::to_vec(body).expect("JSON"));
        }
        self.send(request).await
    }

    /// Send a prepared request.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the host answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// A request builder for custom cases (raw bodies, extra headers).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// The signing key of `publisher`, trusted by this host.
    pub async fn key_of(&self, admin: &str, publisher: &str) -> Arc<PublisherKey> {
        if let Some(key) = self.keys.lock().expect("keys").get(publisher) {
            return key.clone();
        }
        let key = Arc::new(PublisherKey::generate(publisher).expect("key"));
        let body = json!({ "publisher": publisher, "public_key": key.public_key_hex() });
        let reply = self
            .call(Method::POST, "/v1/publishers", Some(admin), Some(&body))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        self.keys
            .lock()
            .expect("keys")
            .insert(publisher.to_string(), key.clone());
        key
    }

    /// A package of `manifest` and the component file, signed by its
    /// publisher's trusted key.
    pub async fn signed_package(&self, admin: &str, manifest: &str, component: &str) -> Package {
        let bytes = std::fs::read(component).expect("read the component");
        let mut package = Package::new(manifest, bytes).expect("a valid manifest");
        let key = self.key_of(admin, &package.manifest().plugin.publisher).await;
        package.sign(&key);
        package
    }

    /// Publish package bytes as the admin.
    pub async fn publish_bytes(&self, admin: &str, bytes: Vec<u8>) -> Reply {
        let request = self
            .request(Method::POST, "/v1/plugins")
            .bearer_auth(admin)
            .header("content-type", "application/octet-stream")
            .body(bytes);
        self.send(request).await
    }

    /// Sign and publish a component with its manifest as the admin.
    pub async fn upload(&self, admin: &str, manifest: &str, component: &str) -> Reply {
        let package = self.signed_package(admin, manifest, component).await;
        self.publish_bytes(admin, package.to_bytes().expect("package"))
            .await
    }

    /// Poll a run of `tenant` until it is no longer running (60 s at most);
    /// returns the run.
    pub async fn wait_for_run(&self, admin: &str, tenant: &str, run_id: &str) -> Value {
        let path = format!("/v1/tenants/{tenant}/runs/{run_id}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let run = self.call(Method::GET, &path, Some(admin), None).await;
            if run.json["status"] != "running" {
                return run.json;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run_id} did not end: {}",
                run.text
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Wait until `count` of `tenant`'s calls are running (10 s at most):
    /// an observable signal instead of a fixed sleep.
    pub async fn until_running(&self, tenant: &str, count: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.control.meter().running_calls(tenant) < count {
            assert!(
                std::time::Instant::now() < deadline,
                "{count} calls of {tenant} never ran"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Create a tenant as the admin.
    pub async fn create_tenant(&self, admin: &str, id: &str) -> Reply {
        let body = json!({ "id": id, "name": format!("Tenant {id}") });
        self.call(Method::POST, "/v1/tenants", Some(admin), Some(&body))
            .await
    }

    /// Enable (or re-configure) `plugin` for `tenant` with the enablement
    /// request `body`, calling as `token`.
    pub async fn enable(&self, token: &str, tenant: &str, plugin: &str, body: &Value) -> Reply {
        let path = format!("/v1/tenants/{tenant}/plugins/{plugin}");
        self.call(Method::PUT, &path, Some(token), Some(body)).await
    }

    /// Create a key of `role` for `tenant`; returns the key and its id.
    pub async fn create_key(&self, admin: &str, tenant: &str, role: &str) -> (String, String) {
        let body = json!({ "role": role, "label": "test" });
        let reply = self
            .call(
                Method::POST,
                &format!("/v1/tenants/{tenant}/keys"),
                Some(admin),
                Some(&body),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let key = reply.json["key"].as_str().expect("key").to_string();
        let id = reply.json["record"]["id"].as_str().expect("id").to_string();
        (key, id)
    }
}

/// The manifest of the hostile test connector.
pub const HOSTILE_MANIFEST: &str = r#"
[plugin]
name = "hostile"
version = "1.0.0"
kind = "connector"
contract = "1.1.0"
description = "Misbehaves on request"
publisher = "omnify-tests"

[capabilities]
http_hosts = ["127.0.0.1:*"]
secrets = ["api_token"]
kv = true

[limits]
timeout_ms = 5000
"#;

/// The manifest of the partner example.
pub fn hello_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello-connector/plugin.toml");
    std::fs::read_to_string(path).expect("read plugin.toml")
}

/// The manifest of the test agent.
pub fn data_agent_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/data-agent/plugin.toml");
    std::fs::read_to_string(path).expect("read plugin.toml")
}

/// The manifest of the paged test source.
pub fn paged_source_manifest() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("guests/paged-source/plugin.toml");
    std::fs::read_to_string(path).expect("read plugin.toml")
}

/// A new host with the paged test source published, and `tenants` created
/// with it enabled against `source`; returns the host, the admin token and
/// the data directory (kept alive by the caller).
pub async fn host_with_paged_source(
    tenants: &[&str],
    source: &crate::source::Source,
) -> (TestHost, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    let admin = admin.expect("admin token");
    let published = host
        .upload(&admin, &paged_source_manifest(), crate::guests::PAGED_SOURCE)
        .await;
    assert_eq!(published.status, 201, "{}", published.text);
    for tenant in tenants {
        assert_eq!(host.create_tenant(&admin, tenant).await.status, 201);
        let enable = json!({ "config": { "base_url": source.base_url() } });
        let path = format!("/v1/tenants/{tenant}/plugins/paged-source");
        let reply = host.call(Method::PUT, &path, Some(&admin), Some(&enable)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    (host, admin, dir)
}
