//! The development host's HTTP API, as `omnify plugin dev` uses it.

use crate::cli::client::{ApiClient, Body};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why a request to the development host failed.
pub use crate::cli::client::ClientError as HostError;

/// A client of one host, authenticated with one token.
pub struct DevHost {
    api: ApiClient,
}

impl DevHost {
    /// A client of the host at `server` using `token`.
    pub fn new(server: &str, token: &str) -> Result<Self, HostError> {
        Ok(Self {
            api: ApiClient::new(server, token)?,
        })
    }

    async fn send(&self, method: Method, segments: &[&str], body: Body<'_>) -> Result<Value, HostError> {
        self.api.json(method, segments, body).await
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
        self.send(Method::POST, &["v1", "plugins"], Body::Bytes(package))
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
