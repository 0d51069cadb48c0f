//! The admin's pages: tenants ([`tenants`]), plugins and their versions
//! ([`plugins`]), a tenant's enablements with their configuration and
//! write-only secrets ([`enablements`]), and its autonomy level and
//! guardrails with the simulation shown before saving ([`autonomy`]).
//! Each page and form stands for the admin route of the API it uses, and is
//! allowed exactly when that route is.

mod autonomy;
mod enablements;
mod plugins;
mod tenants;

use super::Console;
use super::access::Route;
use super::visitor::CsrfForm;
use axum::Router;
use axum::http::Method;
use axum::routing::{get, post};
use serde::Deserialize;

/// Creating a tenant.
const CREATE_TENANT: Route = Route(Method::POST, "/v1/tenants");
/// Suspending a tenant.
const SUSPEND_TENANT: Route = Route(Method::POST, "/v1/tenants/{tenant}/suspend");
/// Resuming a tenant.
const RESUME_TENANT: Route = Route(Method::POST, "/v1/tenants/{tenant}/resume");
/// Setting a tenant's quotas.
const SET_QUOTAS: Route = Route(Method::PUT, "/v1/tenants/{tenant}/quotas");
/// Yanking a plugin version.
const YANK: Route = Route(Method::POST, "/v1/plugins/{plugin}/versions/{version}/yank");
/// Enabling or re-configuring a plugin for a tenant.
const ENABLE: Route = Route(Method::PUT, "/v1/tenants/{tenant}/plugins/{plugin}");
/// Upgrading a tenant's plugin.
const UPGRADE: Route = Route(Method::POST, "/v1/tenants/{tenant}/plugins/{plugin}/upgrade");
/// Rolling a tenant's plugin back.
const ROLLBACK: Route = Route(Method::POST, "/v1/tenants/{tenant}/plugins/{plugin}/rollback");
/// Setting a tenant's autonomy.
const SET_AUTONOMY: Route = Route(Method::PUT, "/v1/tenants/{tenant}/autonomy");
/// Simulating a tenant's autonomy.
const SIMULATE_AUTONOMY: Route = Route(Method::POST, "/v1/tenants/{tenant}/autonomy/simulate");

/// The admin's routes, merged into the console's.
pub fn routes() -> Router<Console> {
    Router::new()
        .route("/console/admin/tenants", get(tenants::show).post(tenants::create))
        .route("/console/admin/tenants/{tenant}/suspend", post(tenants::suspend))
        .route("/console/admin/tenants/{tenant}/resume", post(tenants::resume))
        .route("/console/admin/tenants/{tenant}/quotas", post(tenants::quotas))
        .route("/console/admin/plugins", get(plugins::show))
        .route(
            "/console/admin/plugins/{plugin}/versions/{version}/yank",
            post(plugins::yank),
        )
        .route("/console/tenants/{tenant}/admin/plugins", get(enablements::list))
        .route(
            "/console/tenants/{tenant}/admin/plugins/{plugin}",
            get(enablements::show).post(enablements::save),
        )
        .route(
            "/console/tenants/{tenant}/admin/plugins/{plugin}/upgrade",
            post(enablements::upgrade),
        )
        .route(
            "/console/tenants/{tenant}/admin/plugins/{plugin}/rollback",
            post(enablements::rollback),
        )
        .route(
            "/console/tenants/{tenant}/admin/autonomy",
            get(autonomy::show).post(autonomy::save),
        )
        .route(
            "/console/tenants/{tenant}/admin/autonomy/simulate",
            post(autonomy::simulate),
        )
}

/// A form read as its fields in order, for forms whose field names are
/// data (a plugin's configuration keys).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The fields whose name starts with `prefix`, without it.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.0
            .iter()
            .filter_map(move |(key, value)| key.strip_prefix(prefix).map(|name| (name, value.as_str())))
    }
}

impl CsrfForm for Fields {
    fn csrf(&self) -> Option<&str> {
        self.get(super::csrf::CSRF_FIELD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::required;
    use crate::console::access::allow;
    use omnify_control::tenant::{Principal, Role};

    #[test]
    fn every_admin_form_stands_for_an_admin_route() {
        let operator = Principal::key("k1", "acme", Role::Operator);
        let expert = Principal::key("k2", "acme", Role::Expert);
        for route in [
            CREATE_TENANT,
            SUSPEND_TENANT,
            RESUME_TENANT,
            SET_QUOTAS,
            YANK,
            ENABLE,
            UPGRADE,
            ROLLBACK,
            SET_AUTONOMY,
            SIMULATE_AUTONOMY,
        ] {
            assert!(required(&route.0, route.1).is_some(), "{route:?}");
            assert!(allow(&Principal::admin(), route.clone(), Some("acme")).is_ok());
            assert!(
                allow(&operator, route.clone(), Some("acme")).is_err(),
                "{route:?}"
            );
            assert!(allow(&expert, route.clone(), Some("acme")).is_err(), "{route:?}");
        }
    }

    #[test]
    fn fields_keep_their_names() {
        let pairs = [
            ("csrf", "t"),
            ("config.a", "1"),
            ("config.b", "x"),
            ("secret.k", ""),
        ];
        let fields = Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        assert_eq!(fields.csrf(), Some("t"));
        let config: Vec<_> = fields.with_prefix("config.").collect();
        assert_eq!(config, vec![("a", "1"), ("b", "x")]);
    }
}
