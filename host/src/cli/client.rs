//! A small client of a host's HTTP API, shared by the commands that talk to
//! a server (`omnify sync`, `omnify plugin dev`, the admin commands): one
//! base URL, one bearer token, JSON in and out, and the API's error shape
//! turned into [`ClientError::Refused`].

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;
use url::Url;

/// How long one request may take: a little more than the server's own
/// limit, so that its timeout answer is the one seen.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(340);

/// Why a request to the host failed.
#[derive(Debug, Error)]
pub enum ClientError {
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
    #[error("{} {} answered {}: {}", .0.method, .0.path, .0.status, .0.message)]
    Refused(Box<Refusal>),
}

/// A refusal of the host: what was asked and what it answered.
#[derive(Debug)]
pub struct Refusal {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The status.
    pub status: StatusCode,
    /// The API's error code (`error.code`), empty when the answer had none.
    pub code: String,
    /// The error message of the answer, or its text.
    pub message: String,
    /// The answer's body, unchanged.
    pub body: String,
}

impl ClientError {
    /// The status of a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Refused(refusal) => Some(refusal.status),
            _ => None,
        }
    }
}

/// A request body.
pub enum Body<'a> {
    /// None.
    Empty,
    /// A JSON document.
    Json(&'a Value),
    /// Raw bytes (`application/octet-stream`), such as a package.
    Bytes(Vec<u8>),
}

/// A successful answer: its body as sent and as JSON (`null` when empty
/// or not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The body, unchanged.
    pub text: String,
    /// The body parsed as JSON.
    pub json: Value,
}

/// A client of one host, authenticated with one token.
pub struct ApiClient {
    client: reqwest::Client,
    server: Url,
    token: String,
}

impl ApiClient {
    /// A client of the host at `server` using `token`.
    pub fn new(server: &str, token: &str) -> Result<Self, ClientError> {
        let parsed = Url::parse(server)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base())
            .ok_or_else(|| ClientError::BadServer(server.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| ClientError::Unreachable {
                url: server.to_string(),
                source,
            })?;
        Ok(Self {
            client,
            server: parsed,
            token: token.to_string(),
        })
    }

    /// The URL of the path made of `segments`, each escaped, with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.server.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Send a request to the path made of `segments`; a status other than
    /// 2xx is a [`ClientError::Refused`].
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Answer, ClientError> {
        let url = self.url(segments, query);
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token);
        request = match body {
            Body::Empty => request,
            Body::Json(value) => request
                .header(CONTENT_TYPE, "application/json")
                .body(value.to_string()),
            Body::Bytes(bytes) => request
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes),
        };
        let unreachable = |source| ClientError::Unreachable {
            url: url.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(Answer { text, json });
        }
        let message = json["error"]["message"]
            .as_str()
            .map_or_else(|| text.trim().to_string(), str::to_string);
        Err(ClientError::Refused(Box::new(Refusal {
            method,
            path: url.path().to_string(),
            status,
            code: json["error"]["code"].as_str().unwrap_or_default().to_string(),
            message,
            body: text,
        })))
    }

    /// [`send`](Self::send) without a query, answering only the JSON.
    pub async fn json(
        &self,
        method: Method,
        segments: &[&str],
        body: Body<'_>,
    ) -> Result<Value, ClientError> {
        Ok(self.send(method, segments, &[], body).await?.json)
    }
}
