//! `omnify key create | list | revoke`: a tenant's API keys, at
//! `/v1/tenants/{tenant}/keys`.

use super::table::{self, column, field};
use super::{AdminError, ApiArgs, Session};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// Arguments of `omnify key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create an API key; the key itself is printed this once (admin).
    Create {
        /// The tenant.
        tenant: String,
        /// What the key may do.
        #[arg(long, value_parser = ["viewer", "operator", "expert"])]
        role: String,
        /// A note to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List a tenant's keys by prefix, never the keys themselves (admin).
    List {
        /// The tenant.
        tenant: String,
    },
    /// Revoke a key (admin).
    Revoke {
        /// The tenant.
        tenant: String,
        /// The key's id (`omk_<id>_…`).
        id: String,
    },
}

/// Run `omnify key …`.
pub(super) async fn run(args: KeyArgs) -> Result<(), AdminError> {
    let session = Session::open(&args.api)?;
    match args.command {
        KeyCommand::Create { tenant, role, name } => {
            let body = json!({"role": role, "label": name});
            let answer = session
                .call(Method::POST, &["tenants", &tenant, "keys"], &[], Some(&body))
                .await?;
            session.show(&answer, |created| {
                format!(
                    "{}\n\nkey: {}\n(shown only this once: store it now)",
                    show_key(&created["record"]),
                    field(created, "key")
                )
            });
        }
        KeyCommand::List { tenant } => {
            let answer = session
                .call(Method::GET, &["tenants", &tenant, "keys"], &[], None)
                .await?;
            session.show(&answer, |body| {
                let columns = [
                    column("ID", |r| field(r, "id")),
                    column("PREFIX", |r| field(r, "prefix")),
                    column("ROLE", |r| field(r, "role")),
                    column("LABEL", |r| field(r, "label")),
                    column("CREATED", |r| field(r, "created_at")),
                    column("REVOKED", |r| field(r, "revoked_at")),
                ];
                table::list(&columns, table::page(body).0, "keys")
            });
        }
        KeyCommand::Revoke { tenant, id } => {
            let answer = session
                .call(Method::DELETE, &["tenants", &tenant, "keys", &id], &[], None)
                .await?;
            session.show(&answer, show_key);
        }
    }
    Ok(())
}

fn show_key(key: &Value) -> String {
    table::record(&[
        ("id", field(key, "id")),
        ("tenant", field(key, "tenant")),
        ("role", field(key, "role")),
        ("label", field(key, "label")),
        ("prefix", field(key, "prefix")),
        ("created", field(key, "created_at")),
        ("revoked", field(key, "revoked_at")),
    ])
}
