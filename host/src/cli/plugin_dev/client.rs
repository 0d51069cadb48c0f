//! The development host's HTTP API, as `omnify plugin dev` uses it.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;
use url::Url;

/// How long one request may take: a little more than the server's own
/// limit, so that its timeout answer is the one seen.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(340);

/// Why a request to the development host failed.
#[derive(Debug, Error)]
pub enum HostError {
    /// `--server` is not a URL.
    #[error("--server `{0}` is not an http(s) URL")]
    BadServer(String),
    /// The host could not be reached or answered garbage.
    #[error("cannot reach {url}: {source}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// The host refused the request.
    #[error("{method} {path} answered {status}: {message}")]
    Refused {
        /// The method.
        method: Method,
        /// The path.
        path: String,
        /// The status.
        status: StatusCode,
        /// The error message of the answer, or its text.
        message: String,
    },
}

impl HostError {
    /// The status of a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A request body.
enum Body<'a> {
    Empty,
    Json(&'a Value),
    Package(Vec<u8>),
}

/// A client of one host, authenticated with one token.
pub struct DevHost {
    client: reqwest::Client,
    server: Url,
    token: String,
}

impl DevHost {
    /// A client of the host at `server` using `token`.
    pub fn new(server: &str, token: &str) -> Result<Self, HostError> {
        let parsed = Url::parse(server)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base())
            .ok_or_else(|| HostError::BadServer(server.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| HostError::Unreachable {
                url: server.to_string(),
                source,
            })?;
        Ok(Self {
            client,
            server: parsed,
            token: token.to_string(),
        })
    }

    /// The URL of the path made of `segments`, each escaped.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.server.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(&self, method: Method, segments: &[&str], body: Body<'_>) -> Result<Value, HostError> {
        let url = self.url(segments);
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token);
        request = match body {
            Body::Empty => request,
            Body::Json(value) => request
                .header(CONTENT_TYPE, "application/json")
                .body(value.to_string()),
            Body::Package(bytes) => request
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes),
        };
        let unreachable = |source| HostError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        let message = json["error"]["message"]
            .as_str()
            .map_or_else(|| text.trim().to_string(), str::to_string);
        Err(HostError::Refused {
            method,
            path: url.path().to_string(),
            status,
            message,
        })
    }

    /// Add a publisher key to the trust store; false if it was already
    /// there.
    pub async fn trust_key(&self, publisher: &str, public_key: &str) -> Result<bool, HostError> {
        let body = serde_json::json!({ "publisher": publisher, "public_key": public_key });
        match self
            .send(Method::POST, &["v1", "publishers"], Body::Json(&body))
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if error.status() == Some(StatusCode::CONFLICT) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Publish a signed package.
    pub async fn publish(&self, package: Vec<u8>) -> Result<Value, HostError> {
        self.send(Method::POST, &["v1", "plugins"], Body::Package(package))
            .await
    }

    /// The enablement of `plugin` for `tenant`, if it is enabled.
    pub async fn enablement(&self, tenant: &str, plugin: &str) -> Result<Option<Value>, HostError> {
        let list = self
            .send(Method::GET, &["v1", "tenants", tenant, "plugins"], Body::Empty)
            .await?;
        Ok(list
            .as_array()
            .and_then(|all| all.iter().find(|e| e["plugin"] == plugin))
            .cloned())
    }

    /// Enable or re-configure `plugin` for `tenant`.
    pub async fn enable(&self, tenant: &str, plugin: &str, request: &Value) -> Result<Value, HostError> {
        self.send(
            Method::PUT,
            &["v1", "tenants", tenant, "plugins", plugin],
            Body::Json(request),
        )
        .await
    }

    /// Pin the newest version the enablement's requirement accepts, with
    /// `grants` from now on.
    pub async fn upgrade(&self, tenant: &str, plugin: &str, grants: &Value) -> Result<Value, HostError> {
        let body = serde_json::json!({ "grants": grants });
        self.send(
            Method::POST,
            &["v1", "tenants", tenant, "plugins", plugin, "upgrade"],
            Body::Json(&body),
        )
        .await
    }

    /// Call `export` of the version pinned for `tenant`.
    pub async fn invoke(
        &self,
        tenant: &str,
        plugin: &str,
        export: &str,
        input: &Value,
    ) -> Result<Value, HostError> {
        let body = serde_json::json!({ "export": export, "input": input });
        self.send(
            Method::POST,
            &["v1", "tenants", tenant, "plugins", plugin, "invoke"],
            Body::Json(&body),
        )
        .await
    }
}
