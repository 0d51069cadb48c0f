//! `omnify tenant create | list | show | suspend | resume | quotas |
//! autonomy | delete`: `/v1/tenants` and a tenant's autonomy.

use super::table::{self, column, field};
use super::{AdminError, ApiArgs, Session};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

/// Arguments of `omnify tenant`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant (admin).
    Create {
        /// Lower-case letters, digits and `-`, starting with a letter.
        id: String,
        /// A name for people; the id when absent.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        quotas: QuotaFlags,
    },
    /// List every tenant (admin).
    List,
    /// Show a tenant: its status and quotas.
    Show {
        /// The tenant.
        id: String,
    },
    /// Suspend a tenant: its plugins stop running until it is resumed
    /// (admin).
    Suspend {
        /// The tenant.
        id: String,
    },
    /// Resume a suspended tenant (admin).
    Resume {
        /// The tenant.
        id: String,
    },
    /// Replace a tenant's quotas; a quota left out is not limited (admin).
    Quotas {
        /// The tenant.
        id: String,
        #[command(flatten)]
        quotas: QuotaFlags,
    },
    /// Show a tenant's autonomy level and guardrails, or set them (admin):
    /// the level applies to every agent of the tenant.
    Autonomy {
        /// The tenant.
        id: String,
        /// The new level; guardrails are kept unless `--guardrails` is given.
        #[arg(long, value_parser = ["autonomous", "guided", "human-led", "expert-required"])]
        level: Option<String>,
        /// New guardrails as JSON, e.g. `{"max_change_percent": 20}` (needs
        /// `--level`).
        #[arg(long, requires = "level", value_name = "JSON")]
        guardrails: Option<String>,
    },
    /// Delete a tenant and erase its data; its audit log is kept (admin).
    Delete {
        /// The tenant.
        id: String,
    },
}

/// A tenant's quotas as flags.
#[derive(Debug, Args)]
struct QuotaFlags {
    /// Fuel all the tenant's calls may use per UTC day.
    #[arg(long)]
    fuel_per_day: Option<u64>,
    /// Calls per minute.
    #[arg(long)]
    calls_per_minute: Option<u32>,
    /// Calls running at the same time.
    #[arg(long)]
    concurrent_calls: Option<u32>,
}

impl QuotaFlags {
    fn to_json(&self) -> Value {
        let mut quotas = Map::new();
        if let Some(fuel) = self.fuel_per_day {
            quotas.insert("fuel_per_day".into(), json!(fuel));
        }
        if let Some(calls) = self.calls_per_minute {
            quotas.insert("calls_per_minute".into(), json!(calls));
        }
        if let Some(concurrent) = self.concurrent_calls {
            quotas.insert("concurrent_calls".into(), json!(concurrent));
        }
        Value::Object(quotas)
    }
}

/// Run `omnify tenant …`.
pub(super) async fn run(args: TenantArgs) -> Result<(), AdminError> {
    let session = Session::open(&args.api)?;
    match args.command {
        TenantCommand::Create { id, name, quotas } => {
            let name = name.unwrap_or_else(|| id.clone());
            let body = json!({"id": id, "name": name, "quotas": quotas.to_json()});
            let answer = session.call(Method::POST, &["tenants"], &[], Some(&body)).await?;
            session.show(&answer, show_tenant);
        }
        TenantCommand::List => {
            let answer = session.call(Method::GET, &["tenants"], &[], None).await?;
            session.show(&answer, |body| list_tenants(table::page(body).0));
        }
        TenantCommand::Show { id } => {
            let answer = session.call(Method::GET, &["tenants", &id], &[], None).await?;
            session.show(&answer, show_tenant);
        }
        TenantCommand::Suspend { id } => {
            let answer = session
                .call(Method::POST, &["tenants", &id, "suspend"], &[], None)
                .await?;
            session.show(&answer, show_tenant);
        }
        TenantCommand::Resume { id } => {
            let answer = session
                .call(Method::POST, &["tenants", &id, "resume"], &[], None)
                .await?;
            session.show(&answer, show_tenant);
        }
        TenantCommand::Quotas { id, quotas } => {
            let body = quotas.to_json();
            let answer = session
                .call(Method::PUT, &["tenants", &id, "quotas"], &[], Some(&body))
                .await?;
            session.show(&answer, show_tenant);
        }
        TenantCommand::Autonomy {
            id,
            level,
            guardrails,
        } => {
            let path = ["tenants", id.as_str(), "autonomy"];
            let answer = match level {
                None => session.call(Method::GET, &path, &[], None).await?,
                Some(level) => {
                    let mut body = json!({ "level": level });
                    if let Some(guardrails) = guardrails {
                        body["guardrails"] = serde_json::from_str(&guardrails)
                            .map_err(|e| AdminError::bad_flag("--guardrails", e))?;
                    }
                    session.call(Method::PUT, &path, &[], Some(&body)).await?
                }
            };
            session.show(&answer, show_autonomy);
        }
        TenantCommand::Delete { id } => {
            let answer = session.call(Method::DELETE, &["tenants", &id], &[], None).await?;
            session.show(&answer, |_| format!("tenant {id} deleted"));
        }
    }
    Ok(())
}

/// A tenant's quotas in one cell: `calls/min 600, fuel/day 1000`.
fn quotas_cell(quotas: &Value) -> String {
    let named = [
        ("fuel_per_day", "fuel/day"),
        ("calls_per_minute", "calls/min"),
        ("concurrent_calls", "concurrent"),
    ];
    let set: Vec<String> = named
        .iter()
        .filter(|(key, _)| !quotas[key].is_null())
        .map(|(key, label)| format!("{label} {}", quotas[key]))
        .collect();
    if set.is_empty() {
        "none".to_string()
    } else {
        set.join(", ")
    }
}

fn list_tenants(rows: &[Value]) -> String {
    let columns = [
        column("ID", |r| field(r, "id")),
        column("NAME", |r| field(r, "name")),
        column("STATUS", |r| field(r, "status")),
        column("QUOTAS", |r| quotas_cell(&r["quotas"])),
        column("CREATED", |r| field(r, "created_at")),
    ];
    table::list(&columns, rows, "tenants")
}

fn show_tenant(tenant: &Value) -> String {
    let quota = |key: &str| match &tenant["quotas"][key] {
        Value::Null => "unlimited".to_string(),
        value => value.to_string(),
    };
    table::record(&[
        ("id", field(tenant, "id")),
        ("name", field(tenant, "name")),
        ("status", field(tenant, "status")),
        ("fuel per day", quota("fuel_per_day")),
        ("calls per minute", quota("calls_per_minute")),
        ("concurrent calls", quota("concurrent_calls")),
        ("created", field(tenant, "created_at")),
    ])
}

fn show_autonomy(autonomy: &Value) -> String {
    let mut fields = vec![("level", field(autonomy, "level"))];
    if let Some(guardrails) = autonomy["guardrails"].as_object() {
        for (name, value) in guardrails {
            fields.push((name.as_str(), table::cell(value)));
        }
    }
    let learned = match &autonomy["learned"] {
        Value::Null => "nothing yet".to_string(),
        learned => format!(
            "default {} from run {} at {}",
            learned["default"],
            field(learned, "run"),
            field(learned, "learned_at")
        ),
    };
    fields.push(("learned", learned));
    table::record(&fields)
}
