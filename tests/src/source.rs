//! A loopback source for the sync tests: `GET /items?after=&limit=` pages
//! through items by id, and can be told to fail the next requests with a
//! rate limit, an outage or a refused token, to answer slowly, to pad its
//! items, or to be stuck (always an empty page with more to come).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the next request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` in seconds.
    RateLimited(u64),
    /// 503.
    Unavailable,
    /// 401.
    Unauthorized,
}

#[derive(Default)]
struct Inner {
    items: u64,
    faults: VecDeque<Fault>,
    always: Option<Fault>,
    requests: Vec<(Instant, StatusCode)>,
    items_served: u64,
    delay: Duration,
    padding: usize,
    stuck: bool,
}

/// A running source.
#[derive(Clone)]
pub struct Source {
    /// The port at 127.0.0.1.
    pub port: u16,
    inner: Arc<Mutex<Inner>>,
}

impl Source {
    /// Start a source holding items 1 to `items`.
    pub async fn start(items: u64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let source = Self {
            port,
            inner: Arc::new(Mutex::new(Inner {
                items,
                ..Inner::default()
            })),
        };
        let app = Router::new()
            .route("/items", get(items_page))
            .with_state(source.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        source
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("source state")
    }

    /// The base URL a connector is configured with.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Fail the next request with `fault`.
    pub fn fail_next(&self, fault: Fault) {
        self.inner().faults.push_back(fault);
    }

    /// Fail every request with `fault`.
    pub fn fail_always(&self, fault: Fault) {
        self.inner().always = Some(fault);
    }

    /// Add `count` new items after the existing ones.
    pub fn add_items(&self, count: u64) {
        self.inner().items += count;
    }

    /// Every request so far: when, and the status answered.
    pub fn requests(&self) -> Vec<(Instant, StatusCode)> {
        self.inner().requests.clone()
    }

    /// Wait this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        self.inner().delay = delay;
    }

    /// Give each item a `pad` field of this many bytes.
    pub fn set_padding(&self, bytes: usize) {
        self.inner().padding = bytes;
    }

    /// Answer every page with no items and the same cursor, saying more
    /// follow: a connector bug's input.
    pub fn set_stuck(&self, stuck: bool) {
        self.inner().stuck = stuck;
    }

    /// Items handed out so far, and reset the count.
    pub fn take_items_served(&self) -> u64 {
        std::mem::take(&mut self.inner().items_served)
    }
}

async fn items_page(State(source): State<Source>, Query(query): Query<HashMap<String, u64>>) -> Response {
    let delay = source.inner().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut inner = source.inner();
    let fault = inner.faults.pop_front().or(inner.always);
    let response = match fault {
        Some(Fault::RateLimited(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds.to_string())],
            "rate limit reached",
        )
            .into_response(),
        Some(Fault::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response(),
        Some(Fault::Unauthorized) => (StatusCode::UNAUTHORIZED, "token expired").into_response(),
        None if inner.stuck => {
            let after = query.get("after").copied().unwrap_or(0);
            axum::Json(json!({"items": [], "next": after})).into_response()
        }
        None => {
            let after = query.get("after").copied().unwrap_or(0);
            let limit = query.get("limit").copied().unwrap_or(10).max(1);
            let last = (after + limit).min(inner.items);
            let items: Vec<_> = (after + 1..=last)
                .map(|id| {
                    let mut item = json!({"id": id, "name": format!("item {id}"), "group": id % 3});
                    if inner.padding > 0 {
                        item["pad"] = json!("p".repeat(inner.padding));
                    }
                    item
                })
                .collect();
            inner.items_served += items.len() as u64;
            let next = (last < inner.items).then_some(last);
            axum::Json(json!({"items": items, "next": next})).into_response()
        }
    };
    inner.requests.push((Instant::now(), response.status()));
    response
}
