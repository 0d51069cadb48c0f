//! The admin's plugins: every published version, with its publisher, its
//! signer and whether it was yanked, and a yank button (the façade method
//! of `POST /v1/plugins/{plugin}/versions/{version}/yank`). Upgrading and
//! rolling back are per tenant, on the tenant's plugins page.

use super::YANK;
use crate::console::Console;
use crate::console::access;
use crate::console::page::{Chrome, refusal, render};
use crate::console::session::Notice;
use crate::console::signin::{Plain, redirect};
use crate::console::visitor::{ConsoleForm, Visitor, refused};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

/// Where the page lives.
const PAGE: &str = "/console/admin/plugins";

/// One published version.
struct VersionRow {
    version: String,
    contract: String,
    publisher: String,
    signed_by: String,
    yanked: bool,
    signer_revoked: bool,
    published_at: String,
}

/// A plugin with its versions, newest first.
struct PluginRow {
    name: String,
    kind: String,
    description: String,
    versions: Vec<VersionRow>,
}

#[derive(Template)]
#[template(path = "admin_plugins.html")]
struct PluginsPage {
    chrome: Chrome,
    plugins: Vec<PluginRow>,
}

async fn page(console: &Console, visitor: &Visitor, status: StatusCode, notice: Option<Notice>) -> Response {
    let principal = &visitor.session.principal;
    let listed = match access::allow(principal, YANK, None) {
        Ok(()) => console.control.list_plugins().await,
        Err(error) => Err(error),
    };
    let mut versions = match listed {
        Ok(versions) => versions,
        Err(error) => return refused(visitor, error),
    };
    versions.sort_by(|a, b| {
        let newer = |v: &str| semver::Version::parse(v).ok();
        a.name
            .cmp(&b.name)
            .then_with(|| newer(&b.version).cmp(&newer(&a.version)))
    });
    let mut plugins: Vec<PluginRow> = Vec::new();
    for v in versions {
        if plugins.last().is_none_or(|p| p.name != v.name) {
            plugins.push(PluginRow {
                name: v.name.clone(),
                kind: v.kind.clone(),
                description: v.description.clone(),
                versions: Vec::new(),
            });
        }
        if let Some(plugin) = plugins.last_mut() {
            plugin.versions.push(VersionRow {
                version: v.version,
                contract: v.contract,
                publisher: v.publisher,
                signed_by: v
                    .signed_by
                    .unwrap_or_else(|| "unsigned (development upload)".into()),
                yanked: v.yanked,
                signer_revoked: v.signer_revoked,
                published_at: v.published_at,
            });
        }
    }
    let chrome = Chrome::new(console, visitor, None, "admin-plugins").with_notice(notice);
    render(status, &PluginsPage { chrome, plugins })
}

/// `GET /console/admin/plugins`.
pub async fn show(State(console): State<Console>, visitor: Visitor) -> Response {
    page(&console, &visitor, StatusCode::OK, None).await
}

/// `POST /console/admin/plugins/{plugin}/versions/{version}/yank`: no
/// tenant is pinned to it again; those pinned stay until they upgrade.
pub async fn yank(
    State(console): State<Console>,
    Path((plugin, version)): Path<(String, String)>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    let principal = &visitor.session.principal;
    let yanked = match access::allow(principal, YANK, None) {
        Ok(()) => console.control.yank(principal, &plugin, &version).await,
        Err(error) => Err(error),
    };
    match yanked {
        Ok(v) => {
            let text = format!("{} {} yanked.", v.name, v.version);
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(text));
            redirect(PAGE, &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            page(&console, &visitor, status, Some(Notice::Refused(text))).await
        }
    }
}
