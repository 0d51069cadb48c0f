//! The HTTP API under `/v1`: JSON in and out, one error shape, a request id
//! on every response and log line, body-size limits, a timeout, CORS for
//! configured origins, and an OpenAPI 3.1 document built from the same route
//! table that serves requests (so every route is in it); and the operators'
//! [`console`], server-rendered pages on the same control plane.

pub mod access;
mod audit;
mod autonomy_simulation;
pub mod console;
pub mod constraints;
pub mod cursor;
mod docs;
mod enablements;
mod endpoints;
pub mod error;
pub(crate) mod events;
mod extract;
mod keys;
mod oauth;
mod plugins;
mod probes;
mod proposals;
mod reports;
mod sync;
mod tenants;
mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use omnify_control::control::ControlPlane;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// The header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the API's handlers share.
#[derive(Clone)]
pub struct Api {
    pub(crate) control: Arc<ControlPlane>,
}

/// How the API is served.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Origins a browser frontend may call from (`*` for any).
    pub cors_origins: Vec<String>,
    /// The largest request body, in bytes (plugin uploads have their own).
    pub body_limit: usize,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// The browser console at `/console`.
    pub console: crate::console::ConsoleConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            body_limit: 1 << 20,
            request_timeout: Duration::from_secs(330),
            console: Default::default(),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Omnify API",
        version = "1",
        description = "Tenants, plugins, enablements, invocations, usage and audit of an Omnify host.\n\n\
            Send `Authorization: Bearer <token>` with the admin token (printed once, at the host's first \
            start) or an API key of a tenant (`POST /v1/tenants/{tenant}/keys`); each route's description \
            names the least role it needs. Bodies are JSON unless a route says otherwise. Every error \
            answers `{\"error\": {\"code\": ..., \"message\": ..., \"request_id\": ..., \"details\": ...}}`, \
            and every response carries an `x-request-id` header.\n\n\
            Ids, names and limits are checked as this document states them (`pattern`, `minLength`, \
            `maxLength`, `enum`, `minimum`, `maximum`), so a client can check before sending. A page of \
            records has `next`, an opaque URL-safe token: pass it back unchanged as `after` (a token \
            this list did not give answers 400 `invalid_cursor`); runs page by the `id` of the last \
            run and audit entries by the `seq` of the last entry. A plugin's failure answers with a \
            status that says what happened (see `POST /v1/tenants/{tenant}/plugins/{plugin}/invoke`): \
            a platform's rate limit is 429 with `Retry-After`, a missing object 404, refused \
            credentials 424, and only the host's own failures are 500."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "tenants", description = "Tenants and their quotas"),
        (name = "keys", description = "Per-tenant API keys"),
        (name = "registry", description = "Signed plugin packages, versions and publisher keys"),
        (name = "plugins", description = "Enabling plugins for tenants, pinning versions, invoking"),
        (name = "sync", description = "Syncing connectors into the record store, runs, records"),
        (name = "usage", description = "Metering"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "proposals", description = "Actions agents propose, autonomy levels and approvals"),
        (name = "webhooks", description = "Platforms' webhook deliveries, verified by their connector"),
        (name = "endpoints", description = "A tenant's webhook endpoints for events out, and their signed deliveries"),
        (name = "oauth", description = "Signing tenants in to platforms: the host's OAuth clients, sign-ins and connections"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and the OpenAPI document describing exactly them.
pub fn routes() -> (Router<Api>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(tenants::routes())
        .merge(keys::routes())
        .merge(plugins::routes())
        .merge(enablements::routes())
        .merge(sync::routes())
        .merge(audit::routes())
        .merge(events::routes())
        .merge(reports::routes())
        .merge(proposals::routes())
        .merge(autonomy_simulation::routes())
        .merge(webhooks::routes())
        .merge(endpoints::routes())
        .merge(oauth::routes())
        .split_for_parts();
    // After the merge: the document's paths exist only from here.
    docs::ForApiUsers.modify(&mut openapi);
    constraints::Stated.modify(&mut openapi);
    (router, openapi)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        // A browser's script may read only the headers listed here.
        .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER), header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// The whole application: routes, the OpenAPI document, health, and the
/// middleware every request passes through.
pub fn app(control: Arc<ControlPlane>, config: &ApiConfig) -> Router {
    let (routes, openapi) = routes();
    let openapi = Arc::new(openapi);
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let console = crate::console::router(control.clone(), &config.console).layer(
        TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, config.request_timeout),
    );
    let api = Api { control };
    let api_routes = routes
        // Only on the table's routes: the document and health are open.
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            access::authorize,
        ))
        .route(
            "/v1/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(probes::routes())
        .with_state(api)
        .layer(DefaultBodyLimit::max(config.body_limit))
        // Listed outermost last: a request meets them bottom to top.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            config.request_timeout,
        ))
        // Outside the timeout, so that a timed-out request gets the error
        // shape too; it logs each error at the level of what it is.
        .layer(axum::middleware::from_fn(error::error_envelope));
    // The console checks its own sessions (not the bearer check above) and
    // answers with HTML pages, not the JSON error shape; it shares the
    // tracing and request-id layers below. The API is merged into it, not
    // the other way, so that the API's fallback (with the error shape)
    // answers unknown routes.
    console
        .merge(api_routes)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                // Not every 5xx is the host's fault: `error_envelope` logs them.
                .on_failure(()),
        )
        .layer(cors(&config.cors_origins))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Serve `app` on `listener` until `shutdown` resolves, then finish the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
