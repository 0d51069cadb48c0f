//! The browser console at `/console`, served by the host on the API's
//! origin: server-rendered HTML (askama templates compiled into the
//! binary, one small stylesheet, one small script for the live feed), plain
//! forms that work without JavaScript. A visitor signs in with an API key or the admin token
//! ([`signin`]) and gets a session ([`session`]); every form carries a CSRF
//! token ([`csrf`]); every page and action is allowed exactly as its API
//! route would be ([`access`]) and goes through the same façade methods, so
//! the console can do nothing the API refuses and the audit log names the
//! real actor.

mod access;
mod activity;
mod admin;
mod audit;
mod chart;
mod connections;
mod cookie;
mod csrf;
mod inbox;
mod insights;
mod live;
mod page;
mod reports;
mod session;
mod signin;
mod usage;
mod usage_chart;
mod visitor;

use access::LIST_TENANTS;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use omnify_control::control::ControlPlane;
use page::{Chrome, render};
use session::Sessions;
use std::sync::Arc;
use std::time::Duration;
use visitor::{Visitor, refused};

/// How the console is served.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// How long a session lasts after sign-in.
    pub session_ttl: Duration,
    /// Mark cookies `Secure` on every response, for a host that is reached
    /// only through a TLS-terminating proxy; without it they are `Secure`
    /// when the proxy sends `X-Forwarded-Proto: https`.
    pub secure_cookies: bool,
    /// Sessions open at once; beyond it the one closest to its end closes.
    pub max_sessions: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(8 * 3600),
            secure_cookies: false,
            max_sessions: 10_000,
        }
    }
}

/// What the console's handlers share.
#[derive(Clone)]
pub(crate) struct Console {
    control: Arc<ControlPlane>,
    sessions: Arc<Sessions>,
    config: ConsoleConfig,
}

/// The console's stylesheet, built into the binary.
const STYLESHEET: &str = include_str!("assets/console.css");

/// The largest form the console reads.
const BODY_LIMIT: usize = 256 << 10;

/// What the browser may load and do on a console page: only this origin's
/// stylesheet and scripts (none inline), event streams only from this
/// origin, no frames, forms only to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
                   img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The console's routes under `/console`, with its own session check (not
/// the API's bearer check) and its own error pages.
pub fn router(control: Arc<ControlPlane>, config: &ConsoleConfig) -> Router {
    let console = Console {
        control,
        sessions: Arc::new(Sessions::new(config.session_ttl, config.max_sessions)),
        config: config.clone(),
    };
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/activity.js", get(activity::script))
        .route("/console/sign-in", get(signin::show).post(signin::submit))
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console/tenants", get(tenants))
        .route("/console/tenants/{tenant}/inbox", get(inbox::show))
        .route(
            "/console/tenants/{tenant}/proposals/{proposal}/approve",
            post(inbox::approve),
        )
        .route(
            "/console/tenants/{tenant}/proposals/{proposal}/reject",
            post(inbox::reject),
        )
        .route("/console/tenants/{tenant}/audit", get(audit::show))
        .route("/console/tenants/{tenant}/audit/verify", get(audit::verify))
        .route("/console/tenants/{tenant}/connections", get(connections::show))
        .route("/console/tenants/{tenant}/insights", get(insights::show))
        .route(
            "/console/tenants/{tenant}/connections/{plugin}/sync",
            post(connections::sync_now),
        )
        .merge(admin::routes())
        .route("/console/tenants/{tenant}/activity", get(activity::show))
        .route("/console/tenants/{tenant}/activity/events", get(live::events))
        .route(
            "/console/tenants/{tenant}/runs/{run}/cancel",
            post(activity::cancel),
        )
        .route("/console/tenants/{tenant}/usage", get(usage::show))
        .route("/console/tenants/{tenant}/reports", get(reports::show))
        .route(
            "/console/tenants/{tenant}/reports/download",
            get(reports::download),
        )
        // Not a fallback: the API's own answers unknown routes elsewhere.
        .route("/console/{*rest}", get(not_found).post(not_found))
        .with_state(console)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(protect))
}

/// Headers of every console response: the content security policy, no
/// framing, no sniffing, no referrer; pages are never cached.
async fn protect(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn not_found(request: Request) -> Response {
    let (parts, _) = request.into_parts();
    page::message(
        StatusCode::NOT_FOUND,
        "Not found",
        "The console has no such page.",
        &visitor::request_id(&parts),
    )
}

/// `GET /console`: a key's tenant inbox, the admin's tenant list.
async fn home(visitor: Visitor) -> Response {
    match &visitor.session.principal.tenant {
        Some(tenant) => signin::redirect(&format!("/console/tenants/{tenant}/inbox"), &[]),
        None => signin::redirect("/console/tenants", &[]),
    }
}

/// A tenant in the admin's list.
struct TenantView {
    id: String,
    name: String,
    status: String,
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    tenants: Vec<TenantView>,
}

/// `GET /console/tenants`: the admin picks a tenant.
async fn tenants(State(console): State<Console>, visitor: Visitor) -> Response {
    let principal = &visitor.session.principal;
    let listed = match access::allow(principal, LIST_TENANTS, None) {
        Ok(()) => console.control.list_tenants(principal).await,
        Err(error) => Err(error),
    };
    let tenants = match listed {
        Ok(tenants) => tenants,
        Err(error) => return refused(&visitor, error),
    };
    let tenants = tenants
        .into_iter()
        .map(|t| TenantView {
            status: format!("{:?}", t.status).to_lowercase(),
            id: t.id,
            name: t.name,
        })
        .collect();
    render(
        StatusCode::OK,
        &TenantsPage {
            chrome: Chrome::new(&console, &visitor, None, "tenants"),
            tenants,
        },
    )
}
