//! The console's roles are the API's: each page and action names the API
//! route it stands for, and is allowed exactly when that route's entry in
//! [`crate::access::ROUTES`] allows the visitor's principal, for the
//! tenant in the URL. The façade method then checks again, as it does for
//! the API.

use crate::access::{Access, required};
use axum::http::Method;
use omnify_control::control::ControlError;
use omnify_control::tenant::Principal;

/// An API route a console page or action stands for.
#[derive(Debug, Clone)]
pub struct Route(pub Method, pub &'static str);

/// Reading the proposals.
pub const LIST_PROPOSALS: Route = Route(Method::GET, "/v1/tenants/{tenant}/proposals");
/// Approving a proposal.
pub const APPROVE: Route = Route(Method::POST, "/v1/tenants/{tenant}/proposals/{proposal}/approve");
/// Rejecting a proposal.
pub const REJECT: Route = Route(Method::POST, "/v1/tenants/{tenant}/proposals/{proposal}/reject");
/// Reading the audit chain.
pub const LIST_AUDIT: Route = Route(Method::GET, "/v1/tenants/{tenant}/audit");
/// Verifying the audit chain.
pub const VERIFY_AUDIT: Route = Route(Method::GET, "/v1/tenants/{tenant}/audit/verify");
/// Reading the enabled plugins.
pub const LIST_ENABLEMENTS: Route = Route(Method::GET, "/v1/tenants/{tenant}/plugins");
/// Reading the runs.
pub const LIST_RUNS: Route = Route(Method::GET, "/v1/tenants/{tenant}/runs");
/// Reading the jobs.
pub const LIST_JOBS: Route = Route(Method::GET, "/v1/tenants/{tenant}/jobs");
/// Starting a sync.
pub const START_SYNC: Route = Route(Method::POST, "/v1/tenants/{tenant}/plugins/{plugin}/sync");
/// Reading a stream's synced records.
pub const READ_RECORDS: Route = Route(Method::GET, "/v1/tenants/{tenant}/records/{connector}/{stream}");
/// Listing the tenants.
pub const LIST_TENANTS: Route = Route(Method::GET, "/v1/tenants");
/// Following the tenant's live feed.
pub const FOLLOW_EVENTS: Route = Route(Method::GET, "/v1/tenants/{tenant}/events");
/// Cancelling a run.
pub const CANCEL_RUN: Route = Route(Method::POST, "/v1/tenants/{tenant}/runs/{run}/cancel");
/// Reading the usage.
pub const READ_USAGE: Route = Route(Method::GET, "/v1/tenants/{tenant}/usage");
/// Downloading a report.
pub const DOWNLOAD_REPORT: Route = Route(Method::GET, "/v1/tenants/{tenant}/reports/{dataset}");
/// Reading the tenant (its quotas).
pub const READ_TENANT: Route = Route(Method::GET, "/v1/tenants/{tenant}");

/// Whether the API would let `principal` call `route` (for `tenant`, when
/// the route has one); the API's own message when not.
pub fn allow(principal: &Principal, route: Route, tenant: Option<&str>) -> Result<(), ControlError> {
    let Route(method, path) = route;
    match required(&method, path) {
        Some(Access::Least(role)) => {
            if let Some(tenant) = tenant {
                principal.require_tenant(tenant)?;
            }
            principal.require(role)
        }
        Some(Access::Public) => Ok(()),
        None => Err(ControlError::Forbidden(format!(
            "the console's action stands for `{method} {path}`, which has no access rule"
        ))),
    }
}

/// Whether `principal` may do `route` for `tenant` (for showing buttons;
/// the action itself is checked again when it comes).
pub fn may(principal: &Principal, route: Route, tenant: &str) -> bool {
    allow(principal, route, Some(tenant)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnify_control::tenant::Role;

    #[test]
    fn every_console_route_is_in_the_api_table() {
        for route in [
            LIST_PROPOSALS,
            APPROVE,
            REJECT,
            LIST_AUDIT,
            VERIFY_AUDIT,
            LIST_ENABLEMENTS,
            LIST_RUNS,
            LIST_JOBS,
            START_SYNC,
            READ_RECORDS,
            LIST_TENANTS,
            FOLLOW_EVENTS,
            CANCEL_RUN,
            READ_USAGE,
            READ_TENANT,
        ] {
            assert!(required(&route.0, route.1).is_some(), "{route:?}");
        }
    }

    #[test]
    fn roles_and_tenants_are_the_apis() {
        let viewer = Principal::key("k1", "acme", Role::Viewer);
        let operator = Principal::key("k2", "acme", Role::Operator);
        assert!(allow(&viewer, LIST_PROPOSALS, Some("acme")).is_ok());
        assert!(allow(&viewer, APPROVE, Some("acme")).is_err());
        assert!(allow(&operator, APPROVE, Some("acme")).is_ok());
        assert!(allow(&operator, APPROVE, Some("rival")).is_err());
        assert!(allow(&operator, LIST_TENANTS, None).is_err());
        assert!(allow(&Principal::admin(), LIST_TENANTS, None).is_ok());
    }
}
