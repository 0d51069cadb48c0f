//! `omnify enable | disable | enablements`: a tenant's plugins, at
//! `/v1/tenants/{tenant}/plugins`.

use super::table::{self, column, field};
use super::{AdminError, ApiArgs, Session};
use crate::cli::pairs::{json_or_text, split_pair};
use clap::Args;
use reqwest::Method;
use serde_json::{Map, Value};

/// Arguments of `omnify enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The tenant.
    tenant: String,
    /// The plugin, as published.
    plugin: String,
    /// Which versions may run, as a semver requirement (`^1.2`); the newest
    /// matching one is pinned. `*` when absent.
    #[arg(long)]
    version: Option<String>,
    /// A configuration setting; the value is JSON if it parses, else text.
    /// The configuration sent replaces the one stored.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret to set or replace; secrets not named are kept.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// A stored secret to remove.
    #[arg(long = "clear-secret", value_name = "NAME")]
    clear_secrets: Vec<String>,
    /// What the plugin may use, as JSON, e.g. `{"http_hosts":
    /// ["127.0.0.1:8081"], "secrets": ["api_token"], "kv": true}`; it
    /// replaces the default of everything its manifest asks for.
    #[arg(long, value_name = "JSON")]
    grants: Option<String>,
    /// Limits per call as JSON (`fuel_per_call`, `memory_mb`, `timeout_ms`).
    #[arg(long, value_name = "JSON")]
    limits: Option<String>,
    /// Limits per run as JSON (`max_batches`, `max_records`, `max_bytes`,
    /// `max_duration_secs`).
    #[arg(long, value_name = "JSON")]
    run_limits: Option<String>,
}

/// Arguments of `omnify disable`.
#[derive(Debug, Args)]
pub struct DisableArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The tenant.
    tenant: String,
    /// The plugin.
    plugin: String,
}

/// Arguments of `omnify enablements`.
#[derive(Debug, Args)]
pub struct EnablementsArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// The tenant.
    tenant: String,
}

fn json_flag(flag: &'static str, text: &str) -> Result<Value, AdminError> {
    serde_json::from_str(text).map_err(|e| AdminError::bad_flag(flag, e))
}

impl EnableArgs {
    /// The body of `PUT /v1/tenants/{tenant}/plugins/{plugin}`.
    fn request(&self) -> Result<Value, AdminError> {
        let mut body = Map::new();
        if let Some(version) = &self.version {
            body.insert("version".into(), Value::String(version.clone()));
        }
        let mut config = Map::new();
        for pair in &self.config {
            let (key, value) = split_pair("--config", pair).map_err(|e| AdminError::Usage(e.to_string()))?;
            config.insert(key.to_string(), json_or_text(value));
        }
        body.insert("config".into(), Value::Object(config));
        let mut secrets = Map::new();
        for pair in &self.secrets {
            let (name, value) = split_pair("--secret", pair).map_err(|e| AdminError::Usage(e.to_string()))?;
            secrets.insert(name.to_string(), Value::String(value.to_string()));
        }
        for name in &self.clear_secrets {
            if secrets.insert(name.clone(), Value::Null).is_some() {
                return Err(AdminError::bad_flag(
                    "--clear-secret",
                    format!("`{name}` is also set with --secret"),
                ));
            }
        }
        if !secrets.is_empty() {
            body.insert("secrets".into(), Value::Object(secrets));
        }
        for (flag, key, text) in [
            ("--grants", "grants", &self.grants),
            ("--limits", "limits", &self.limits),
            ("--run-limits", "run_limits", &self.run_limits),
        ] {
            if let Some(text) = text {
                body.insert(key.into(), json_flag(flag, text)?);
            }
        }
        Ok(Value::Object(body))
    }
}

/// Run `omnify enable`.
pub(super) async fn enable(args: EnableArgs) -> Result<(), AdminError> {
    let body = args.request()?;
    let session = Session::open(&args.api)?;
    let path = ["tenants", args.tenant.as_str(), "plugins", args.plugin.as_str()];
    let answer = session.call(Method::PUT, &path, &[], Some(&body)).await?;
    session.show(&answer, show_enablement);
    Ok(())
}

/// Run `omnify disable`.
pub(super) async fn disable(args: DisableArgs) -> Result<(), AdminError> {
    let session = Session::open(&args.api)?;
    let path = ["tenants", args.tenant.as_str(), "plugins", args.plugin.as_str()];
    let answer = session.call(Method::DELETE, &path, &[], None).await?;
    session.show(&answer, |_| {
        format!("{} disabled for {}", args.plugin, args.tenant)
    });
    Ok(())
}

/// Run `omnify enablements`.
pub(super) async fn list(args: EnablementsArgs) -> Result<(), AdminError> {
    let session = Session::open(&args.api)?;
    let answer = session
        .call(Method::GET, &["tenants", &args.tenant, "plugins"], &[], None)
        .await?;
    session.show(&answer, |body| {
        let columns = [
            column("PLUGIN", |r| field(r, "plugin")),
            column("KIND", |r| field(r, "kind")),
            column("VERSION", version_cell),
            column("REQUIREMENT", |r| field(r, "requirement")),
            column("SECRETS", |r| field(r, "secret_names")),
            column("UPDATED", |r| field(r, "updated_at")),
        ];
        table::list(&columns, table::page(body).0, "plugins enabled")
    });
    Ok(())
}

/// The pinned version, marked when its signer's key was revoked since.
fn version_cell(enablement: &Value) -> String {
    let version = field(enablement, "version");
    if enablement["signer_revoked"] == true {
        format!("{version} (signer revoked)")
    } else {
        version
    }
}

fn show_enablement(enablement: &Value) -> String {
    table::record(&[
        ("tenant", field(enablement, "tenant")),
        ("plugin", field(enablement, "plugin")),
        ("kind", field(enablement, "kind")),
        ("version", version_cell(enablement)),
        ("requirement", field(enablement, "requirement")),
        ("previous", field(enablement, "previous_version")),
        ("config", field(enablement, "config")),
        ("secrets", field(enablement, "secret_names")),
        ("grants", field(enablement, "grants")),
        ("limits", field(enablement, "limits")),
        ("run limits", field(enablement, "run_limits")),
        ("updated", field(enablement, "updated_at")),
    ])
}
