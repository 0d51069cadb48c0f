//! Events out: a tenant's webhook endpoints get signed deliveries of its
//! events at a loopback receiver started here (allowed by the test host's
//! grantable `127.0.0.1:*`), retried after a failure, never carrying a
//! secret; a private URL is refused; deleting an endpoint stops them; a
//! restart neither repeats nor loses one; an expert's SLA escalates once on
//! an injected clock, and an expiring proposal is announced once.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use omnify_tests::guests;
use omnify_tests::host::{TestHost, data_agent_manifest, hello_manifest};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const TENANT: &str = "acme";
pub(crate) const CONNECTOR_SECRET: &str = "sk_live_NOTIFY_SECRET_9876";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

#[derive(Default)]
pub(crate) struct ReceiverState {
    pub(crate) received: Mutex<Vec<Received>>,
    /// Answer 500 to this many requests first, by path.
    pub(crate) fail_next: Mutex<HashMap<String, u32>>,
    /// Answer 503 to every request while set.
    pub(crate) down: AtomicBool,
}

/// A webhook receiver on loopback: `POST /hook/{name}`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    pub(crate) state: Arc<ReceiverState>,
    _server: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    state.received.lock().expect("lock").push(Received {
        path: name.clone(),
        headers,
        body,
    });
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let failing = match state.fail_next.lock().expect("lock").get_mut(&name) {
        Some(left) if *left > 0 => {
            *left -= 1;
            true
        }
        _ => false,
    };
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route("/hook/{name}", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the receiver runs");
        });
        Self {
            url,
            state,
            _server: server,
        }
    }

    pub(crate) fn hook(&self, name: &str) -> String {
        format!("{}/hook/{name}", self.url)
    }

    pub(crate) fn fail_next(&self, name: &str, times: u32) {
        self.state
            .fail_next
            .lock()
            .expect("lock")
            .insert(name.to_string(), times);
    }

    pub(crate) fn received(&self, name: &str) -> Vec<Received> {
        let all = self.state.received.lock().expect("lock");
        all.iter().filter(|r| r.path == name).cloned().collect()
    }
}

/// A host with tenant `acme`, the hello connector (with a secret), the data
/// agent, and an operator's key.
pub(crate) struct Env {
    pub(crate) host: TestHost,
    pub(crate) admin: String,
    pub(crate) operator: String,
    pub(crate) expert: String,
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) async fn env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    let admin = admin.expect("admin token");
    assert_eq!(host.create_tenant(&admin, TENANT).await.status, 201);
    for (manifest, component) in [
        (hello_manifest(), guests::HELLO_CONNECTOR),
        (data_agent_manifest(), guests::DATA_AGENT),
    ] {
        let published = host.upload(&admin, &manifest, component).await;
        assert_eq!(published.status, 201, "{}", published.text);
    }
    let hello = json!({"config": {"names": ["Ada"]}, "secrets": {"api_token": CONNECTOR_SECRET}});
    let reply = host.enable(&admin, TENANT, "hello-connector", &hello).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = host.enable(&admin, TENANT, "data-agent", &json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (operator, _) = host.create_key(&admin, TENANT, "operator").await;
    let (expert, _) = host.create_key(&admin, TENANT, "expert").await;
    Env {
        host,
        admin,
        operator,
        expert,
        dir,
    }
}

impl Env {
    /// Have the data agent propose adding `name`; returns the proposal.
    pub(crate) async fn propose(&self, name: &str) -> Value {
        let task = json!({"kind": "propose", "input": {"proposals": [{
            "connector": "hello-connector", "action": "add-name", "input": {"name": name},
            "confidence": 0.9, "metric": "names", "absolute": 1, "percent": 50, "rationale": name,
        }]}});
        let path = format!("/v1/tenants/{TENANT}/plugins/data-agent/run");
        let started = self
            .host
            .call(Method::POST, &path, Some(&self.admin), Some(&task))
            .await;
        assert_eq!(started.status, 202, "{}", started.text);
        let run = self
            .host
            .wait_for_run(&self.admin, TENANT, started.json["id"].as_str().expect("run"))
            .await;
        assert_eq!(run["status"], "succeeded", "{run}");
        let listed = self
            .host
            .call(
                Method::GET,
                &format!("/v1/tenants/{TENANT}/proposals"),
                Some(&self.admin),
                None,
            )
            .await;
        listed
            .json
            .as_array()
            .expect("proposals")
            .iter()
            .find(|p| p["run"] == run["id"])
            .cloned()
            .expect("the run's proposal")
    }

    /// Register an endpoint; returns its id and secret.
    pub(crate) async fn register(&self, url: &str, kinds: &[&str], escalation: bool) -> (String, String) {
        let body = json!({"url": url, "kinds": kinds, "escalation": escalation});
        let reply = self
            .call(Method::POST, "endpoints", Some(&self.admin), Some(&body))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        (
            reply.json["endpoint"]["id"].as_str().expect("id").to_string(),
            reply.json["secret"].as_str().expect("secret").to_string(),
        )
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        below: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> omnify_tests::host::Reply {
        let path = format!("/v1/tenants/{TENANT}/{below}");
        self.host.call(method, &path, token, body).await
    }

    pub(crate) async fn deliveries(&self, endpoint: &str) -> Vec<Value> {
        let reply = self
            .call(
                Method::GET,
                &format!("endpoints/{endpoint}/deliveries"),
                Some(&self.admin),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json.as_array().expect("deliveries").clone()
    }

    /// Poll the deliveries of `endpoint` until `done` holds (20 s at most).
    pub(crate) async fn until(
        &self,
        endpoint: &str,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let deliveries = self.deliveries(endpoint).await;
            if done(&deliveries) {
                return deliveries;
            }
            assert!(Instant::now() < deadline, "{what}: {deliveries:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub(crate) fn delivered_of<'a>(deliveries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    deliveries
        .iter()
        .filter(|d| d["kind"] == kind && d["status"] == "delivered")
        .collect()
}

/// Whether `header` is `t=<unix>,v1=<hex>` with the HMAC-SHA256 of
/// `"<unix>.<body>"` under `secret`.
pub(crate) fn signature_verifies(header: &str, secret: &str, body: &str) -> bool {
    let Some((t, v1)) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
    else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&expected).is_ok()
}

mod deliveries;
mod events;
