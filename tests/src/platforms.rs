//! A host with first-party connectors enabled against the platform
//! sandboxes, for the connector tests.

use crate::host::{Reply, TestHost};
use omnify_sandbox::world::Scenario;
use omnify_sandbox::{Sandbox, SandboxConfig};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

/// The tenant the connectors are enabled for.
pub const TENANT: &str = "acme";

/// The first-party connectors.
pub const CONNECTORS: [&str; 5] = ["meta-ads", "google-ads", "tiktok-ads", "shopify", "stripe"];

/// The component of first-party plugin `name`, built by `build.rs`.
pub fn plugin_component(name: &str) -> &'static str {
    let path = match name {
        "meta-ads" => env!("OMNIFY_PLUGIN_META_ADS"),
        "google-ads" => env!("OMNIFY_PLUGIN_GOOGLE_ADS"),
        "tiktok-ads" => env!("OMNIFY_PLUGIN_TIKTOK_ADS"),
        "linkedin-ads" => env!("OMNIFY_PLUGIN_LINKEDIN_ADS"),
        "shopify" => env!("OMNIFY_PLUGIN_SHOPIFY"),
        "stripe" => env!("OMNIFY_PLUGIN_STRIPE"),
        "gohighlevel" => env!("OMNIFY_PLUGIN_GOHIGHLEVEL"),
        "analytics" => env!("OMNIFY_PLUGIN_ANALYTICS"),
        "creative" => env!("OMNIFY_PLUGIN_CREATIVE"),
        "client-learning" => env!("OMNIFY_PLUGIN_CLIENT_LEARNING"),
        other => panic!("`{other}` is not a first-party plugin"),
    };
    assert!(
        !path.is_empty(),
        "plugin `{name}` did not build; the build warnings of omnify-tests show why"
    );
    path
}

/// The `plugin.toml` of first-party plugin `name`.
pub fn plugin_manifest(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(name)
        .join("plugin.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A sandbox, and a host with connectors published and enabled against it.
pub struct PlatformHost {
    /// The host.
    pub host: TestHost,
    /// The admin token.
    pub admin: String,
    /// The platform sandboxes.
    pub sandbox: Sandbox,
    data: tempfile::TempDir,
}

impl PlatformHost {
    /// The sandbox (seed 42, facts planted, last day 2026-06-30) and a host
    /// with `plugins` published and enabled for [`TENANT`] (connectors
    /// against the sandbox, agents with the streams their manifest names).
    pub async fn start(plugins: &[&str]) -> Self {
        Self::start_with(plugins, Scenario::Planted).await
    }

    /// As [`PlatformHost::start`], with the data of `scenario`.
    pub async fn start_with(plugins: &[&str], scenario: Scenario) -> Self {
        Self::start_seeded(plugins, scenario, SandboxConfig::default().seed).await
    }

    /// As [`PlatformHost::start_with`], with the world of `seed`.
    pub async fn start_seeded(plugins: &[&str], scenario: Scenario, seed: u64) -> Self {
        let sandbox = Sandbox::start(SandboxConfig {
            seed,
            scenario,
            last_day: "2026-06-30".parse().ok(),
            ..SandboxConfig::default()
        })
        .await
        .expect("the sandbox starts");
        let data = tempfile::tempdir().expect("temp dir");
        let (host, admin) = TestHost::start(data.path(), &[]).await;
        let admin = admin.expect("admin token");
        for name in plugins {
            let published = host
                .upload(&admin, &plugin_manifest(name), plugin_component(name))
                .await;
            assert_eq!(published.status, 201, "publish {name}: {}", published.text);
        }
        assert_eq!(host.create_tenant(&admin, TENANT).await.status, 201);
        let env = Self {
            host,
            admin,
            sandbox,
            data,
        };
        for name in plugins {
            let reply = env.enable(name, &env.enablement(name)).await;
            assert_eq!(reply.status, 200, "enable {name}: {}", reply.text);
        }
        env
    }

    /// The body [`PlatformHost::start`] enables `plugin` with: the sandbox's
    /// enablement of a connector, `{}` for another plugin. Tests change it
    /// to re-enable a connector with, say, a wrong token.
    pub fn enablement(&self, plugin: &str) -> Value {
        self.sandbox
            .enablements()
            .into_iter()
            .find(|(name, _)| *name == plugin)
            .map_or_else(|| json!({}), |(_, body)| body)
    }

    /// The host's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// Enable (or re-configure) `connector` for [`TENANT`] with `body`.
    pub async fn enable(&self, connector: &str, body: &Value) -> Reply {
        let path = format!("/v1/tenants/{TENANT}/plugins/{connector}");
        self.host
            .call(Method::PUT, &path, Some(&self.admin), Some(body))
            .await
    }

    /// Sync `streams` of `connector` in `mode` (`full-refresh` or
    /// `incremental`) and wait for the run to end; returns the run.
    pub async fn sync(&self, connector: &str, streams: &[&str], mode: &str) -> Value {
        let path = format!("/v1/tenants/{TENANT}/plugins/{connector}/sync");
        let body = json!({ "streams": streams, "mode": mode });
        let started = self
            .host
            .call(Method::POST, &path, Some(&self.admin), Some(&body))
            .await;
        assert_eq!(started.status, 202, "start sync of {connector}: {}", started.text);
        let id = started.json["id"].as_str().expect("run id");
        self.host.wait_for_run(&self.admin, TENANT, id).await
    }

    /// Sync every stream of every connector in [`CONNECTORS`] at once and
    /// wait for the runs; panics if one fails.
    pub async fn sync_all(&self) {
        let mut runs = Vec::new();
        for connector in CONNECTORS {
            let path = format!("/v1/tenants/{TENANT}/plugins/{connector}/sync");
            let started = self
                .host
                .call(Method::POST, &path, Some(&self.admin), Some(&json!({})))
                .await;
            assert_eq!(started.status, 202, "start sync of {connector}: {}", started.text);
            runs.push(started.json["id"].as_str().expect("run id").to_string());
        }
        for id in runs {
            let run = self.host.wait_for_run(&self.admin, TENANT, &id).await;
            assert_eq!(run["status"], "succeeded", "{run}");
        }
    }

    /// Every synced record of `stream`, in primary-key order.
    pub async fn records(&self, connector: &str, stream: &str) -> Vec<Value> {
        let mut records = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/v1/tenants/{TENANT}/records/{connector}/{stream}?limit=1000");
            // The cursor is URL-safe: it goes back as it came.
            if let Some(after) = &after {
                path.push_str(&format!("&after={after}"));
            }
            let page = self.host.call(Method::GET, &path, Some(&self.admin), None).await;
            assert_eq!(page.status, 200, "records of {connector}/{stream}: {}", page.text);
            records.extend(page.json["records"].as_array().cloned().unwrap_or_default());
            match page.json["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => return records,
            }
        }
    }

    /// Call `export` of `connector` with `input` as the admin.
    pub async fn invoke(&self, connector: &str, export: &str, input: Value) -> Reply {
        let path = format!("/v1/tenants/{TENANT}/plugins/{connector}/invoke");
        let body = json!({ "export": export, "input": input });
        self.host
            .call(Method::POST, &path, Some(&self.admin), Some(&body))
            .await
    }

    /// Run the action `name` of `connector` with `input` under the
    /// idempotency key `key`.
    pub async fn act(&self, connector: &str, name: &str, input: Value, key: &str) -> Reply {
        let call = json!({ "name": name, "input": input, "idempotency_key": key });
        self.invoke(connector, "act", call).await
    }

    /// The audit entries of the actions run on `connector`, oldest first.
    pub async fn act_entries(&self, connector: &str) -> Vec<Value> {
        self.audit()
            .await
            .into_iter()
            .filter(|e| e["action"] == "plugin.act" && e["target"] == connector)
            .collect()
    }

    /// `GET path` as the admin.
    pub async fn get(&self, path: &str) -> Reply {
        self.host.call(Method::GET, path, Some(&self.admin), None).await
    }

    /// The proposal `id` of [`TENANT`].
    pub async fn proposal(&self, id: &str) -> Value {
        let reply = self.get(&format!("/v1/tenants/{TENANT}/proposals/{id}")).await;
        assert_eq!(reply.status, 200, "proposal {id}: {}", reply.text);
        reply.json
    }

    /// Run `task` (`{"kind", "input"}`) of the agent `agent` and wait for
    /// the run to end; returns the run.
    pub async fn run_agent(&self, agent: &str, task: Value) -> Value {
        let path = format!("/v1/tenants/{TENANT}/plugins/{agent}/run");
        let started = self
            .host
            .call(Method::POST, &path, Some(&self.admin), Some(&task))
            .await;
        assert_eq!(started.status, 202, "start {agent}: {}", started.text);
        let id = started.json["id"].as_str().expect("run id");
        self.host.wait_for_run(&self.admin, TENANT, id).await
    }

    /// The tenant's audit entries, oldest first.
    pub async fn audit(&self) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut since = 0u64;
        loop {
            let path = format!("/v1/tenants/{TENANT}/audit?since={since}&limit=1000");
            let page = self.host.call(Method::GET, &path, Some(&self.admin), None).await;
            assert_eq!(page.status, 200, "audit: {}", page.text);
            let batch = page.json.as_array().cloned().unwrap_or_default();
            let Some(last) = batch.last().and_then(|e| e["seq"].as_u64()) else {
                return entries;
            };
            since = last;
            entries.extend(batch);
        }
    }
}
