//! A loopback HTTP server the tests start themselves, with the behaviours
//! the HTTP capability and the SDK's HTTP helper must handle.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use omnify_runtime::invoke::{HostPattern, InvocationContext, InvokeErrorKind, PluginError};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The token `/quotes` accepts.
pub const GOOD_TOKEN: &str = "good-token";

/// How many quotes `/quotes` serves in all.
pub const QUOTES: u64 = 5;

/// A running server; it stops with the test's async runtime.
#[derive(Clone)]
pub struct TestServer {
    /// The port it listens on at 127.0.0.1.
    pub port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A request `/echo` received, as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its method.
    pub method: String,
    /// Its headers, names in lower case.
    pub headers: HashMap<String, String>,
    /// Its body as text.
    pub body: String,
}

impl TestServer {
    /// Start a server on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let server = Self {
            port,
            hits: Arc::default(),
            received: Arc::default(),
        };
        let app = Router::new()
            .route("/quotes", get(quotes))
            .route("/redirect-away", get(redirect_away))
            .route("/redirect-home", get(redirect_home))
            .route("/landing", get(|| async { "landed" }))
            .route("/echo", any(echo))
            .route("/redirect-to", any(redirect_to))
            .route("/flaky", get(flaky))
            .route("/slow-down", get(slow_down))
            .route(
                "/hang",
                get(|| async {
                    // Longer than any call may wait; bounded all the same.
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/big", get(|| async { "x".repeat(2 << 20) }))
            .layer(axum::middleware::from_fn_with_state(server.clone(), count))
            .with_state(server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        server
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The allowlist entry for this server.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Grant `ctx` HTTP access to this server, and only to it.
    pub fn allow(&self, ctx: &mut InvocationContext) {
        ctx.grants.http_hosts = vec![HostPattern::parse(&self.host()).expect("a valid host pattern")];
    }

    /// The error a plugin reports when it reaches for this server under the
    /// name `localhost`, which is not on the allowlist.
    pub fn refused_as_localhost(&self) -> InvokeErrorKind {
        InvokeErrorKind::Plugin(PluginError::Config {
            message: format!(
                "host `localhost:{}` is not in this plugin's grant: it must be in the manifest's `capabilities.http_hosts` and in the enablement's `grants.http_hosts`",
                self.port
            ),
        })
    }

    /// The requests `/echo` received, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// A URL of `/redirect-to` that answers `status` with `Location: to`.
    pub fn redirect_url(&self, status: u16, to: &str) -> String {
        let to: String = form_urlencoded::byte_serialize(to.as_bytes()).collect();
        self.url(&format!("/redirect-to?status={status}&to={to}"))
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .map(|h| h.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

async fn count(
    State(server): State<TestServer>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Ok(mut hits) = server.hits.lock() {
        *hits.entry(request.uri().path().to_string()).or_default() += 1;
    }
    next.run(request).await
}

async fn quotes(headers: HeaderMap, Query(query): Query<HashMap<String, u64>>) -> Response {
    if let Some(auth) = headers.get(header::AUTHORIZATION)
        && auth.to_str().ok() != Some(&format!("Bearer {GOOD_TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid token"})),
        )
            .into_response();
    }
    let page = query.get("page").copied().unwrap_or(1).max(1);
    let per_page = query.get("per_page").copied().unwrap_or(2).max(1);
    let first = (page - 1) * per_page + 1;
    let quotes: Vec<_> = (first..=QUOTES)
        .take(per_page as usize)
        .map(|id| json!({"id": id, "text": format!("quote number {id}")}))
        .collect();
    let next_page = (first + per_page <= QUOTES).then_some(page + 1);
    axum::Json(json!({"quotes": quotes, "next_page": next_page})).into_response()
}

async fn redirect_away(State(server): State<TestServer>) -> Response {
    let location = format!("http://localhost:{}/landing", server.port);
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

async fn echo(State(server): State<TestServer>, request: axum::extract::Request) -> Response {
    let method = request.method().to_string();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if let Ok(mut received) = server.received.lock() {
        received.push(Received {
            method,
            headers,
            body,
        });
    }
    "echoed".into_response()
}

async fn redirect_to(Query(query): Query<HashMap<String, String>>) -> Response {
    let status = query
        .get("status")
        .and_then(|s| s.parse().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::FOUND);
    let to = query.get("to").cloned().unwrap_or_default();
    (status, [(header::LOCATION, to)]).into_response()
}

async fn redirect_home() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/landing")]).into_response()
}

async fn flaky(State(server): State<TestServer>) -> Response {
    if server.hits("/flaky") <= 1 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "0")],
            "slow down",
        )
            .into_response();
    }
    axum::Json(json!({"ok": true})).into_response()
}

async fn slow_down() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "120")],
        "quota exhausted",
    )
        .into_response()
}
