//! What every platform's server shares: the world it serves, a log of the
//! requests and of the writes it received, a rate limit that can be armed
//! to trip after a number of calls, and its OAuth authorization server.

use crate::oauth::{Dialect, Issuer};
use crate::world::World;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;

/// The world, shared by the five servers and the test that started them.
pub type SharedWorld = Arc<Mutex<World>>;

/// A write a connector made, as the platform received it.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteCall {
    /// `POST`, `DELETE`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The body, parsed from JSON or from a form.
    pub body: Value,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// Whether the platform applied it (a replayed idempotent request and a
    /// refused one are not applied).
    pub applied: bool,
}

#[derive(Debug, Default)]
struct Counters {
    /// `METHOD path?query` of every request, in order.
    requests: Vec<String>,
    writes: Vec<WriteCall>,
    /// Calls still allowed before the rate limit trips; `None` when unarmed.
    calls_until_limited: Option<u32>,
    /// Requests refused with the rate-limit signal so far.
    rate_limited: u32,
    /// How long every answer takes.
    latency: std::time::Duration,
}

/// The state of one platform's server.
#[derive(Debug)]
pub struct Platform {
    /// The world it serves.
    pub world: SharedWorld,
    counters: Mutex<Counters>,
    oauth: Arc<Issuer>,
}

impl Platform {
    /// A platform serving `world`, whose authorization server speaks `dialect`.
    pub(crate) fn new(world: SharedWorld, dialect: Dialect) -> Self {
        let oauth = {
            let world = world.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::new(Issuer::for_world(dialect, &world))
        };
        Self {
            world,
            counters: Mutex::default(),
            oauth,
        }
    }

    /// The platform's OAuth authorization server: its codes and tokens, the
    /// knobs that expire or refuse them, and what its endpoints received.
    pub fn oauth(&self) -> &Arc<Issuer> {
        &self.oauth
    }

    /// The world, locked. A test that panicked while holding it must not
    /// stop the other tests from reading it.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Let `calls` more calls through, then refuse the next one with the
    /// platform's rate-limit signal (once; later calls pass again).
    pub fn rate_limit_after(&self, calls: u32) {
        self.counters().calls_until_limited = Some(calls);
    }

    /// Whether this call is the one to refuse; handlers call it first.
    pub fn take_rate_limit(&self) -> bool {
        let mut counters = self.counters();
        match counters.calls_until_limited {
            Some(0) => {
                counters.calls_until_limited = None;
                counters.rate_limited += 1;
                true
            }
            Some(n) => {
                counters.calls_until_limited = Some(n - 1);
                false
            }
            None => false,
        }
    }

    /// Answer every request only after `latency`, like a slow platform.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.counters().latency = latency;
    }

    /// How many requests were refused with the rate-limit signal.
    pub fn rate_limited(&self) -> u32 {
        self.counters().rate_limited
    }

    /// Record a write.
    pub fn record_write(&self, write: WriteCall) {
        self.counters().writes.push(write);
    }

    /// The writes received so far.
    pub fn writes(&self) -> Vec<WriteCall> {
        self.counters().writes.clone()
    }

    /// `METHOD path?query` of every request received so far.
    pub fn requests(&self) -> Vec<String> {
        self.counters().requests.clone()
    }

    /// Forget the requests received so far (the write log is kept).
    pub fn clear_requests(&self) {
        self.counters().requests.clear();
    }
}

async fn log_request(State(platform): State<Arc<Platform>>, request: Request, next: Next) -> Response {
    let line = format!(
        "{} {}",
        request.method(),
        request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    tracing::debug!(target: "omnify_sandbox", "{line}");
    let latency = {
        let mut counters = platform.counters();
        counters.requests.push(line);
        counters.latency
    };
    tokio::time::sleep(latency).await;
    next.run(request).await
}

/// A platform's server, running on loopback.
#[derive(Debug, Clone)]
pub struct PlatformServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its state: logs and the rate limit.
    pub platform: Arc<Platform>,
}

impl std::ops::Deref for PlatformServer {
    type Target = Platform;

    fn deref(&self) -> &Platform {
        &self.platform
    }
}

/// The platform's API (`routes`, built on its state) with its OAuth
/// endpoints, every request logged.
pub(crate) fn app(platform: &Arc<Platform>, routes: impl FnOnce(Arc<Platform>) -> Router) -> Router {
    routes(platform.clone())
        .merge(platform.oauth.routes())
        .layer(middleware::from_fn_with_state(platform.clone(), log_request))
}

impl PlatformServer {
    /// Serve `routes` (built on the platform's state) and the OAuth
    /// endpoints of `dialect` on `address`.
    pub async fn start(
        world: SharedWorld,
        address: SocketAddr,
        dialect: Dialect,
        routes: impl FnOnce(Arc<Platform>) -> Router,
    ) -> std::io::Result<Self> {
        let platform = Arc::new(Platform::new(world, dialect));
        let app = app(&platform, routes);
        let listener = TcpListener::bind(address).await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!("sandbox server stopped: {error}");
            }
        });
        Ok(Self { url, platform })
    }
}
