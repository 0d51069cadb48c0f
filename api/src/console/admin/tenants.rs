//! The admin's tenants: create one, suspend or resume it, set its quotas,
//! through the façade methods of `POST /v1/tenants`, `POST …/suspend`,
//! `POST …/resume` and `PUT …/quotas`.

use super::{CREATE_TENANT, RESUME_TENANT, SET_QUOTAS, SUSPEND_TENANT};
use crate::console::Console;
use crate::console::access::{self, LIST_TENANTS};
use crate::console::page::{Chrome, refusal, render};
use crate::console::session::Notice;
use crate::console::signin::{Plain, redirect};
use crate::console::visitor::{ConsoleForm, CsrfForm, Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use omnify_control::control::ControlError;
use omnify_control::tenant::{NewTenant, Quotas, TenantStatus};
use serde::Deserialize;

/// Where the page lives.
const PAGE: &str = "/console/admin/tenants";

/// A tenant as the page shows it.
struct TenantRow {
    id: String,
    name: String,
    suspended: bool,
    fuel_per_day: String,
    calls_per_minute: String,
    concurrent_calls: String,
    created_at: String,
}

fn text_of<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

#[derive(Template)]
#[template(path = "admin_tenants.html")]
struct TenantsPage {
    chrome: Chrome,
    tenants: Vec<TenantRow>,
}

async fn page(console: &Console, visitor: &Visitor, status: StatusCode, notice: Option<Notice>) -> Response {
    let principal = &visitor.session.principal;
    let listed = async {
        access::allow(principal, CREATE_TENANT, None)?;
        access::allow(principal, LIST_TENANTS, None)?;
        console.control.list_tenants(principal).await
    }
    .await;
    let tenants = match listed {
        Ok(tenants) => tenants,
        Err(error) => return refused(visitor, error),
    };
    let tenants = tenants
        .into_iter()
        .map(|t| TenantRow {
            suspended: t.status == TenantStatus::Suspended,
            fuel_per_day: text_of(t.quotas.fuel_per_day),
            calls_per_minute: text_of(t.quotas.calls_per_minute),
            concurrent_calls: text_of(t.quotas.concurrent_calls),
            created_at: t.created_at,
            id: t.id,
            name: t.name,
        })
        .collect();
    let chrome = Chrome::new(console, visitor, None, "admin-tenants").with_notice(notice);
    render(status, &TenantsPage { chrome, tenants })
}

/// After an action: back to the page with its notice, or the page again
/// with the refusal and the API's status.
async fn answer<T>(
    console: &Console,
    visitor: &Visitor,
    result: Result<T, ControlError>,
    done: impl FnOnce(T) -> String,
) -> Response {
    match result {
        Ok(value) => {
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(done(value)));
            redirect(PAGE, &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            page(console, visitor, status, Some(Notice::Refused(text))).await
        }
    }
}

/// `GET /console/admin/tenants`.
pub async fn show(State(console): State<Console>, visitor: Visitor) -> Response {
    page(&console, &visitor, StatusCode::OK, None).await
}

/// The form creating a tenant.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    csrf: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

impl CsrfForm for CreateForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /console/admin/tenants`: create a tenant.
pub async fn create(
    State(console): State<Console>,
    ConsoleForm(visitor, form): ConsoleForm<CreateForm>,
) -> Response {
    let principal = &visitor.session.principal;
    let created = match access::allow(principal, CREATE_TENANT, None) {
        Ok(()) => {
            let name = if form.name.trim().is_empty() {
                form.id.trim().to_string()
            } else {
                form.name.trim().to_string()
            };
            let new = NewTenant {
                id: form.id.trim().to_string(),
                name,
                quotas: Quotas::default(),
            };
            console.control.create_tenant(principal, new).await
        }
        Err(error) => Err(error),
    };
    answer(&console, &visitor, created, |t| {
        format!("Tenant {} created.", t.id)
    })
    .await
}

async fn set_status(console: &Console, visitor: &Visitor, tenant: &str, status: TenantStatus) -> Response {
    let principal = &visitor.session.principal;
    let route = match status {
        TenantStatus::Suspended => SUSPEND_TENANT,
        TenantStatus::Active => RESUME_TENANT,
    };
    let changed = match access::allow(principal, route, Some(tenant)) {
        Ok(()) => console.control.set_tenant_status(principal, tenant, status).await,
        Err(error) => Err(error),
    };
    answer(console, visitor, changed, |t| match t.status {
        TenantStatus::Suspended => format!("Tenant {} suspended: its plugins do not run.", t.id),
        TenantStatus::Active => format!("Tenant {} resumed.", t.id),
    })
    .await
}

/// `POST /console/admin/tenants/{tenant}/suspend`.
pub async fn suspend(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    set_status(&console, &visitor, &tenant, TenantStatus::Suspended).await
}

/// `POST /console/admin/tenants/{tenant}/resume`.
pub async fn resume(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    set_status(&console, &visitor, &tenant, TenantStatus::Active).await
}

/// The quotas form: an empty field means no quota.
#[derive(Debug, Deserialize)]
pub struct QuotasForm {
    csrf: Option<String>,
    #[serde(default)]
    fuel_per_day: String,
    #[serde(default)]
    calls_per_minute: String,
    #[serde(default)]
    concurrent_calls: String,
}

impl CsrfForm for QuotasForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// An optional whole number from a form field.
fn quota<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, ControlError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ControlError::Invalid(format!(
            "{field}: `{text}` is not a whole number (leave it empty for no quota)"
        ))
    })
}

impl QuotasForm {
    fn quotas(&self) -> Result<Quotas, ControlError> {
        Ok(Quotas {
            fuel_per_day: quota("fuel_per_day", &self.fuel_per_day)?,
            calls_per_minute: quota("calls_per_minute", &self.calls_per_minute)?,
            concurrent_calls: quota("concurrent_calls", &self.concurrent_calls)?,
        })
    }
}

/// `POST /console/admin/tenants/{tenant}/quotas`.
pub async fn quotas(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    ConsoleForm(visitor, form): ConsoleForm<QuotasForm>,
) -> Response {
    let principal = &visitor.session.principal;
    let set = async {
        access::allow(principal, SET_QUOTAS, Some(&tenant))?;
        let quotas = form.quotas()?;
        console.control.set_quotas(principal, &tenant, quotas).await
    }
    .await;
    answer(&console, &visitor, set, |t| format!("Quotas of {} saved.", t.id)).await
}
