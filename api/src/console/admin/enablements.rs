//! A tenant's plugins for the admin: each enablement with its pinned and
//! previous versions (upgrade, rollback), and a form for its configuration
//! and secrets (the façade methods of `PUT …/plugins/{plugin}`, `POST
//! …/upgrade` and `POST …/rollback`). The configuration is checked by the
//! host against the plugin's schema; each failing path is shown next to its
//! field. Secrets are write-only: the form shows which are set, and can
//! replace or clear one, never show it.

use super::{ENABLE, Fields, ROLLBACK, UPGRADE};
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
use omnify_control::control::ControlError;
use omnify_control::enablement::{EnableRequest, Enablement, Repin, RepinRequest, SecretChanges};
use omnify_control::tenant::Principal;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How the host words a configuration its plugin's schema refuses.
const SCHEMA_REFUSAL: &str = "config does not match the plugin's schema: ";

fn list_path(tenant: &str) -> String {
    format!("/console/tenants/{tenant}/admin/plugins")
}

/// A value typed into a field: JSON when it reads as JSON (`5`, `true`,
/// `["a"]`, `"5"` for the string), else the text itself as a string.
fn value_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// A value as its field shows it, so that [`value_of`] reads it back the
/// same: a string as itself unless it would read as JSON, then quoted.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) if serde_json::from_str::<Value>(text.trim()).is_err() => text.clone(),
        other => other.to_string(),
    }
}

/// The first segment of a JSON pointer, unescaped: the configuration key
/// an error is about.
fn field_of(pointer: &str) -> Option<String> {
    let first = pointer.strip_prefix('/')?.split('/').next()?;
    (!first.is_empty()).then(|| first.replace("~1", "/").replace("~0", "~"))
}

/// The schema's complaints by configuration key, and those about the whole
/// configuration.
type SchemaErrors = (BTreeMap<String, Vec<String>>, Vec<String>);

/// The [`SchemaErrors`] of the host's refusal; `None` for another refusal.
fn schema_errors(message: &str) -> Option<SchemaErrors> {
    let problems = message.strip_prefix(SCHEMA_REFUSAL)?;
    let (mut by_field, mut general) = (BTreeMap::<String, Vec<String>>::new(), Vec::new());
    for problem in problems.split("; at ") {
        let problem = problem.strip_prefix("at ").unwrap_or(problem);
        let (pointer, text) = problem.split_once(": ").unwrap_or(("/", problem));
        // A missing required key is reported on the whole object, naming
        // the key first: it belongs next to that key's field.
        let field = field_of(pointer).or_else(|| {
            text.strip_prefix('"')
                .and_then(|rest| rest.split_once('"'))
                .filter(|(_, after)| after.starts_with(" is a required property"))
                .map(|(name, _)| name.to_string())
        });
        match field {
            Some(field) => by_field.entry(field).or_default().push(text.to_string()),
            None => general.push(text.to_string()),
        }
    }
    Some((by_field, general))
}

/// One configuration field.
struct FieldView {
    name: String,
    value: String,
    errors: Vec<String>,
}

/// One secret the plugin may be given: only whether it is set.
struct SecretView {
    name: String,
    set: bool,
}

#[derive(Template)]
#[template(path = "admin_enablement.html")]
struct EnablementPage {
    chrome: Chrome,
    tenant: String,
    plugin: String,
    version: String,
    requirement: String,
    kind: String,
    fields: Vec<FieldView>,
    general_errors: Vec<String>,
    secrets: Vec<SecretView>,
}

fn secrets_of(enablement: &Enablement) -> Vec<SecretView> {
    let mut names: Vec<String> = enablement.grants.secrets.clone();
    for name in &enablement.secret_names {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| SecretView {
            set: enablement.secret_names.contains(&name),
            name,
        })
        .collect()
}

/// The tenant's enablement of `plugin`, for an admin.
async fn enablement_of(
    console: &Console,
    principal: &Principal,
    tenant: &str,
    plugin: &str,
) -> Result<Enablement, ControlError> {
    access::allow(principal, ENABLE, Some(tenant))?;
    console
        .control
        .list_enablements(principal, tenant)
        .await?
        .into_iter()
        .find(|e| e.plugin == plugin)
        .ok_or_else(|| {
            ControlError::NotFound(format!("plugin `{plugin}` is not enabled for tenant `{tenant}`"))
        })
}

fn form_page(
    console: &Console,
    visitor: &Visitor,
    enablement: &Enablement,
    config: &Map<String, Value>,
    errors: SchemaErrors,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let (mut by_field, general_errors) = errors;
    let mut fields: Vec<FieldView> = config
        .iter()
        .map(|(name, value)| FieldView {
            name: name.clone(),
            value: text_of(value),
            errors: by_field.remove(name).unwrap_or_default(),
        })
        .collect();
    // Keys the schema wants that the form lacks get a field of their own.
    fields.extend(by_field.into_iter().map(|(name, errors)| FieldView {
        name,
        value: String::new(),
        errors,
    }));
    let chrome = Chrome::new(console, visitor, Some(&enablement.tenant), "admin-plugins").with_notice(notice);
    render(
        status,
        &EnablementPage {
            chrome,
            tenant: enablement.tenant.clone(),
            plugin: enablement.plugin.clone(),
            version: enablement.version.clone(),
            requirement: enablement.requirement.clone(),
            kind: format!("{:?}", enablement.kind).to_lowercase(),
            fields,
            general_errors,
            secrets: secrets_of(enablement),
        },
    )
}

/// `GET /console/tenants/{tenant}/admin/plugins/{plugin}`: the form.
pub async fn show(
    State(console): State<Console>,
    visitor: Visitor,
    Path((tenant, plugin)): Path<(String, String)>,
) -> Response {
    let principal = &visitor.session.principal;
    match enablement_of(&console, principal, &tenant, &plugin).await {
        Ok(enablement) => form_page(
            &console,
            &visitor,
            &enablement,
            &enablement.config,
            Default::default(),
            StatusCode::OK,
            None,
        ),
        Err(error) => refused(&visitor, error),
    }
}

/// The configuration and secret changes a submitted form asks for.
fn request_of(fields: &Fields) -> Result<(Map<String, Value>, SecretChanges), ControlError> {
    let removed: Vec<&str> = fields.with_prefix("remove.").map(|(name, _)| name).collect();
    let mut config: Map<String, Value> = fields
        .with_prefix("config.")
        .filter(|(name, _)| !removed.contains(name))
        .map(|(name, text)| (name.to_string(), value_of(text)))
        .collect();
    let new_name = fields.get("new_name").unwrap_or_default().trim();
    if !new_name.is_empty() {
        config.insert(
            new_name.to_string(),
            value_of(fields.get("new_value").unwrap_or_default()),
        );
    }
    let mut secrets = SecretChanges::new();
    for (name, value) in fields.with_prefix("secret.").filter(|(_, v)| !v.is_empty()) {
        secrets.insert(name.to_string(), Some(value.to_string()));
    }
    for (name, _) in fields.with_prefix("clear.") {
        if secrets.contains_key(name) {
            return Err(ControlError::Invalid(format!(
                "secret `{name}`: either type a new value or clear it, not both"
            )));
        }
        secrets.insert(name.to_string(), None);
    }
    Ok((config, secrets))
}

/// `POST /console/tenants/{tenant}/admin/plugins/{plugin}`: save the
/// configuration and the secret changes; the version, grants and limits
/// stay as they are.
pub async fn save(
    State(console): State<Console>,
    Path((tenant, plugin)): Path<(String, String)>,
    ConsoleForm(visitor, fields): ConsoleForm<Fields>,
) -> Response {
    let principal = &visitor.session.principal;
    let enablement = match enablement_of(&console, principal, &tenant, &plugin).await {
        Ok(enablement) => enablement,
        Err(error) => return refused(&visitor, error),
    };
    let (config, secrets) = match request_of(&fields) {
        Ok(asked) => asked,
        Err(error) => {
            let (status, text) = refusal(error);
            let config = enablement.config.clone();
            return form_page(
                &console,
                &visitor,
                &enablement,
                &config,
                Default::default(),
                status,
                Some(Notice::Refused(text)),
            );
        }
    };
    let request = EnableRequest {
        version: Some(enablement.requirement.clone()),
        config: config.clone(),
        secrets,
        grants: Some(enablement.grants.clone()),
        limits: Some(enablement.limits),
        run_limits: enablement.run_limits,
    };
    match console.control.enable(principal, &tenant, &plugin, request).await {
        Ok(_) => {
            let text = format!("The configuration of {plugin} was saved.");
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(text));
            redirect(&format!("{}/{plugin}", list_path(&tenant)), &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            let errors = schema_errors(&text).unwrap_or_default();
            let notice = Notice::Refused(if errors.0.is_empty() && errors.1.is_empty() {
                text
            } else {
                "The plugin's schema refuses this configuration; nothing was changed. See the fields below."
                    .into()
            });
            // The fields as submitted, so the errors sit next to them; the
            // secrets typed are not shown again.
            form_page(
                &console,
                &visitor,
                &enablement,
                &config,
                errors,
                status,
                Some(notice),
            )
        }
    }
}

/// One enablement in the list.
struct EnablementRow {
    plugin: String,
    kind: String,
    version: String,
    requirement: String,
    previous_version: Option<String>,
    secrets_set: usize,
    signer_revoked: bool,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "admin_enablements.html")]
struct EnablementsPage {
    chrome: Chrome,
    tenant: String,
    enablements: Vec<EnablementRow>,
}

async fn list_page(
    console: &Console,
    visitor: &Visitor,
    tenant: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let principal = &visitor.session.principal;
    let listed = match access::allow(principal, ENABLE, Some(tenant)) {
        Ok(()) => console.control.list_enablements(principal, tenant).await,
        Err(error) => Err(error),
    };
    let enablements = match listed {
        Ok(enablements) => enablements,
        Err(error) => return refused(visitor, error),
    };
    let enablements = enablements
        .into_iter()
        .map(|e| EnablementRow {
            kind: format!("{:?}", e.kind).to_lowercase(),
            secrets_set: e.secret_names.len(),
            signer_revoked: e.signer_revoked,
            previous_version: e.previous_version,
            requirement: e.requirement,
            version: e.version,
            updated_at: e.updated_at,
            plugin: e.plugin,
        })
        .collect();
    let chrome = Chrome::new(console, visitor, Some(tenant), "admin-plugins").with_notice(notice);
    render(
        status,
        &EnablementsPage {
            chrome,
            tenant: tenant.to_string(),
            enablements,
        },
    )
}

/// `GET /console/tenants/{tenant}/admin/plugins`.
pub async fn list(State(console): State<Console>, visitor: Visitor, Path(tenant): Path<String>) -> Response {
    list_page(&console, &visitor, &tenant, StatusCode::OK, None).await
}

async fn repin(console: &Console, visitor: &Visitor, tenant: &str, plugin: &str, change: Repin) -> Response {
    let principal = &visitor.session.principal;
    let route = match change {
        Repin::Upgrade => UPGRADE,
        Repin::Rollback => ROLLBACK,
    };
    let moved = match access::allow(principal, route, Some(tenant)) {
        Ok(()) => {
            console
                .control
                .repin(principal, tenant, plugin, change, RepinRequest::default())
                .await
        }
        Err(error) => Err(error),
    };
    match moved {
        Ok(e) => {
            let text = format!("{} now runs {} for {tenant}.", e.plugin, e.version);
            console
                .sessions
                .leave_notice(&visitor.session, Notice::Done(text));
            redirect(&list_path(tenant), &[])
        }
        Err(error) => {
            let (status, text) = refusal(error);
            list_page(console, visitor, tenant, status, Some(Notice::Refused(text))).await
        }
    }
}

/// `POST /console/tenants/{tenant}/admin/plugins/{plugin}/upgrade`.
pub async fn upgrade(
    State(console): State<Console>,
    Path((tenant, plugin)): Path<(String, String)>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    repin(&console, &visitor, &tenant, &plugin, Repin::Upgrade).await
}

/// `POST /console/tenants/{tenant}/admin/plugins/{plugin}/rollback`.
pub async fn rollback(
    State(console): State<Console>,
    Path((tenant, plugin)): Path<(String, String)>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    repin(&console, &visitor, &tenant, &plugin, Repin::Rollback).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_values_read_back_the_same() {
        for value in [
            json!("acme"),
            json!("5"),
            json!(5),
            json!(true),
            json!(["a"]),
            json!(""),
            json!("http://x/"),
        ] {
            assert_eq!(value_of(&text_of(&value)), value, "{value}");
        }
        assert_eq!(value_of("12"), json!(12));
        assert_eq!(value_of("plain text"), json!("plain text"));
    }

    #[test]
    fn schema_errors_go_to_their_fields() {
        let message = "config does not match the plugin's schema: at /base_url: 5 is not of type \"string\"; \
                       at /: \"account_id\" is a required property; at /: something else";
        let (by_field, general) = schema_errors(message).expect("a schema refusal");
        assert_eq!(by_field["base_url"], vec!["5 is not of type \"string\""]);
        assert_eq!(
            by_field["account_id"],
            vec!["\"account_id\" is a required property"]
        );
        assert_eq!(general, vec!["something else"]);
        assert!(schema_errors("plugin `x` is not enabled").is_none());
        assert_eq!(field_of("/a~1b/0").as_deref(), Some("a/b"));
    }
}
