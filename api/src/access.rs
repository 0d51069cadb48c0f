//! Who may call which route: one table of the least role each route needs,
//! enforced by one middleware before any handler or body parser runs, and
//! the few exports of `/invoke` that only the admin may call. A route
//! without an entry is refused, so a new route cannot be reachable by
//! accident; a unit test checks that the table and the OpenAPI document
//! name the same routes.

use super::Api;
use super::error::ApiError;
use super::extract::Caller;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use omnify_control::control::ControlError;
use omnify_control::tenant::{Principal, Role};
use omnify_runtime::invoke::Call;
use tower_http::request_id::RequestId;

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: the route authenticates the request itself (webhooks).
    Public,
    /// A credential with at least this role; for a path with `{tenant}`, a
    /// key of that tenant (or the admin).
    Least(Role),
}

use Access::{Least, Public};
use Role::{Admin, Operator, Viewer};

/// Every route with the least role it needs.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("POST", "/v1/tenants", Least(Admin)),
    ("GET", "/v1/tenants", Least(Admin)),
    ("GET", "/v1/tenants/{tenant}", Least(Viewer)),
    ("DELETE", "/v1/tenants/{tenant}", Least(Admin)),
    ("POST", "/v1/tenants/{tenant}/suspend", Least(Admin)),
    ("POST", "/v1/tenants/{tenant}/resume", Least(Admin)),
    ("PUT", "/v1/tenants/{tenant}/quotas", Least(Admin)),
    ("POST", "/v1/tenants/{tenant}/keys", Least(Admin)),
    ("GET", "/v1/tenants/{tenant}/keys", Least(Admin)),
    ("DELETE", "/v1/tenants/{tenant}/keys/{key}", Least(Admin)),
    ("POST", "/v1/plugins", Least(Admin)),
    ("GET", "/v1/plugins", Least(Viewer)),
    ("GET", "/v1/plugins/{plugin}/versions", Least(Viewer)),
    ("GET", "/v1/plugins/{plugin}/versions/{version}", Least(Viewer)),
    (
        "GET",
        "/v1/plugins/{plugin}/versions/{version}/package",
        Least(Viewer),
    ),
    (
        "POST",
        "/v1/plugins/{plugin}/versions/{version}/yank",
        Least(Admin),
    ),
    ("PUT", "/v1/plugins/{plugin}/owner", Least(Admin)),
    ("POST", "/v1/publishers", Least(Admin)),
    ("GET", "/v1/publishers", Least(Admin)),
    ("DELETE", "/v1/publishers/{key}", Least(Admin)),
    ("GET", "/v1/tenants/{tenant}/plugins", Least(Viewer)),
    ("PUT", "/v1/tenants/{tenant}/plugins/{plugin}", Least(Admin)),
    ("DELETE", "/v1/tenants/{tenant}/plugins/{plugin}", Least(Admin)),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/invoke",
        Least(Operator),
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/upgrade",
        Least(Admin),
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/rollback",
        Least(Admin),
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/sync",
        Least(Operator),
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/run",
        Least(Operator),
    ),
    ("POST", "/v1/tenants/{tenant}/jobs", Least(Operator)),
    ("GET", "/v1/tenants/{tenant}/jobs", Least(Viewer)),
    ("DELETE", "/v1/tenants/{tenant}/jobs/{job}", Least(Operator)),
    ("GET", "/v1/tenants/{tenant}/runs", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/runs/{run}", Least(Viewer)),
    ("POST", "/v1/tenants/{tenant}/runs/{run}/cancel", Least(Operator)),
    (
        "GET",
        "/v1/tenants/{tenant}/records/{connector}/{stream}",
        Least(Viewer),
    ),
    ("GET", "/v1/tenants/{tenant}/usage", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/audit", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/audit/verify", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/audit/export", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/events", Least(Viewer)),
    ("GET", "/v1/audit/public-key", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/reports/{dataset}", Least(Viewer)),
    ("GET", "/metrics", Least(Admin)),
    ("GET", "/v1/tenants/{tenant}/proposals", Least(Viewer)),
    ("GET", "/v1/tenants/{tenant}/proposals/{proposal}", Least(Viewer)),
    (
        "POST",
        "/v1/tenants/{tenant}/proposals/{proposal}/approve",
        Least(Operator),
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/proposals/{proposal}/reject",
        Least(Operator),
    ),
    ("GET", "/v1/tenants/{tenant}/autonomy", Least(Viewer)),
    ("PUT", "/v1/tenants/{tenant}/autonomy", Least(Admin)),
    ("POST", "/v1/tenants/{tenant}/autonomy/simulate", Least(Admin)),
    ("POST", "/v1/hooks/{tenant}/{connector}", Public),
    ("POST", "/v1/tenants/{tenant}/endpoints", Least(Admin)),
    ("GET", "/v1/tenants/{tenant}/endpoints", Least(Admin)),
    (
        "DELETE",
        "/v1/tenants/{tenant}/endpoints/{endpoint}",
        Least(Admin),
    ),
    (
        "GET",
        "/v1/tenants/{tenant}/endpoints/{endpoint}/deliveries",
        Least(Admin),
    ),
    ("GET", "/v1/oauth/clients", Least(Admin)),
    ("PUT", "/v1/oauth/clients/{provider}", Least(Admin)),
    ("DELETE", "/v1/oauth/clients/{provider}", Least(Admin)),
    (
        "PUT",
        "/v1/tenants/{tenant}/oauth/clients/{provider}",
        Least(Admin),
    ),
    (
        "DELETE",
        "/v1/tenants/{tenant}/oauth/clients/{provider}",
        Least(Admin),
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/connect",
        Least(Operator),
    ),
    (
        "GET",
        "/v1/tenants/{tenant}/plugins/{plugin}/connection",
        Least(Viewer),
    ),
    ("GET", "/v1/oauth/callback", Public),
];

/// What `method` on the route `path` needs; none for a route not in the
/// table.
pub fn required(method: &Method, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, access)| *access)
}

/// Refuse an export of `/invoke` that would step around what the host
/// decides, unless the caller is the admin: performing an action skips the
/// tenant's approvals, verifying a webhook by hand forges a platform's
/// delivery, and a caller-supplied stream state points the connector (and
/// its credentials) wherever the state says.
pub fn require_for_call(principal: &Principal, call: &Call) -> Result<(), ControlError> {
    let why = match call {
        Call::Act { .. } => "performing an action directly skips the tenant's approvals",
        Call::VerifyWebhook { .. } => "webhook deliveries come from the platform, at /v1/hooks",
        Call::Read(request) if request.state.is_some() => {
            "a caller-supplied stream state decides where the connector sends its credentials"
        }
        _ => return Ok(()),
    };
    principal.require_admin().map_err(|_| {
        ControlError::Forbidden(format!(
            "`{}` through /invoke needs the admin token: {why}",
            call.export_name()
        ))
    })
}

/// Authenticate the caller and check the route's entry in [`ROUTES`]; the
/// handler then finds the [`Caller`] in the request's extensions.
pub(super) async fn authorize(
    State(api): State<Api>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let access = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| required(request.method(), path.as_str()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this route has no access rule, so nobody may call it",
            )
        })?;
    let Least(role) = access else {
        return Ok(next.run(request).await);
    };
    let (mut parts, body) = request.into_parts();
    let token = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send `Authorization: Bearer <admin token or API key>`",
            )
        })?;
    let principal = api.control.authenticate(token).await?;
    if let Ok(params) = RawPathParams::from_request_parts(&mut parts, &api).await {
        if let Some((_, tenant)) = params.iter().find(|(name, _)| *name == "tenant") {
            principal.require_tenant(tenant)?;
        }
        // An id off its documented rule names nothing that can exist.
        if let Some(route) = parts.extensions.get::<MatchedPath>() {
            super::constraints::check_path(route.as_str(), params.iter())?;
        }
    }
    principal.require(role)?;
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_string();
    parts.extensions.insert(Caller {
        principal,
        request_id,
    });
    Ok(next.run(Request::from_parts(parts, body)).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_table_names_exactly_the_documented_routes() {
        let (_, openapi) = super::super::routes();
        let documented: BTreeSet<(String, String)> = openapi
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ];
                methods
                    .into_iter()
                    .filter(|(_, present)| *present)
                    .map(|(method, _)| (method.to_string(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(method, path, _)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(documented, table);
        assert_eq!(table.len(), ROUTES.len(), "no route is listed twice");
    }

    #[test]
    fn only_the_admin_acts_directly() {
        let operator = Principal::key("k1", "acme", Role::Expert);
        let act = Call::Act {
            name: "pause-campaign".into(),
            input: serde_json::json!({}),
            idempotency_key: "x".into(),
        };
        assert!(require_for_call(&operator, &act).is_err());
        assert!(require_for_call(&Principal::admin(), &act).is_ok());
        assert!(require_for_call(&operator, &Call::Actions).is_ok());
    }
}
