//! The admin commands: `omnify tenant | enable | disable | enablements |
//! key | proposals | runs`, each one call (or a short sequence) of a
//! server's HTTP API, shown as a table, or with `--json` as the API's answer
//! unchanged. A refusal is reported with the API's message and code, and
//! the command fails.

mod enable;
mod key;
mod proposals;
mod runs;
mod table;
mod tenant;

use super::client::{Answer, ApiClient, Body, ClientError};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use thiserror::Error;

/// Where the API is and who calls it; shared by every admin command and
/// accepted anywhere on its command line.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The Omnify server.
    #[arg(
        long,
        env = "OMNIFY_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// The admin token (`oma_…`) or an API key of the tenant (`omk_…`).
    #[arg(long, env = "OMNIFY_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print the API's answer unchanged (also a refusal's) instead of a
    /// table.
    #[arg(long, global = true)]
    json: bool,
}

/// The admin commands, as subcommands of `omnify`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants: create, list, show, suspend, resume, quotas, autonomy,
    /// delete.
    Tenant(tenant::TenantArgs),
    /// Enable or re-configure a plugin for a tenant.
    Enable(enable::EnableArgs),
    /// Disable a plugin for a tenant, erasing its secrets.
    Disable(enable::DisableArgs),
    /// List the plugins enabled for a tenant.
    Enablements(enable::EnablementsArgs),
    /// A tenant's API keys: create, list, revoke.
    Key(key::KeyArgs),
    /// Agents' proposals: list, show, approve, reject.
    Proposals(proposals::ProposalsArgs),
    /// Sync and agent runs: list, show, cancel.
    Runs(runs::RunsArgs),
}

/// Why an admin command failed.
#[derive(Debug, Error)]
pub enum AdminError {
    /// Neither `--token` nor `OMNIFY_TOKEN` was given.
    #[error("no token: pass --token or set OMNIFY_TOKEN (the admin token or a tenant's API key)")]
    NoToken,
    /// The API refused the request.
    #[error("{message} ({code}, HTTP {status})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The API's message.
        message: String,
    },
    /// The server could not be reached.
    #[error(transparent)]
    Client(ClientError),
    /// A flag's value is not what it must be.
    #[error("{flag}: {reason}")]
    BadFlag {
        /// The flag.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The command line says something that cannot be sent.
    #[error("{0}")]
    Usage(String),
}

impl AdminError {
    fn bad_flag(flag: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::BadFlag {
            flag,
            reason: reason.to_string(),
        }
    }
}

/// A connection to the API and how to show its answers.
struct Session {
    api: ApiClient,
    json: bool,
}

impl Session {
    fn open(args: &ApiArgs) -> Result<Self, AdminError> {
        let token = args
            .token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .ok_or(AdminError::NoToken)?;
        Ok(Self {
            api: ApiClient::new(&args.server, token).map_err(AdminError::Client)?,
            json: args.json,
        })
    }

    /// Call the API at `/v1/<segments>`. A refusal's body is printed as it
    /// is with `--json`, so that scripts read the API's error too.
    async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, AdminError> {
        let mut path = vec!["v1"];
        path.extend_from_slice(segments);
        let body = body.map_or(Body::Empty, Body::Json);
        match self.api.send(method, &path, query, body).await {
            Ok(answer) => Ok(answer),
            Err(ClientError::Refused(refusal)) => {
                if self.json && !refusal.body.trim().is_empty() {
                    println!("{}", refusal.body.trim_end());
                }
                let code = if refusal.code.is_empty() {
                    "no error code".to_string()
                } else {
                    refusal.code
                };
                Err(AdminError::Refused {
                    status: refusal.status.as_u16(),
                    code,
                    message: refusal.message,
                })
            }
            Err(error) => Err(AdminError::Client(error)),
        }
    }

    /// Print `answer`: unchanged with `--json`, else as `render` shows it.
    fn show(&self, answer: &Answer, render: impl FnOnce(&Value) -> String) {
        if self.json {
            if !answer.text.trim().is_empty() {
                println!("{}", answer.text.trim_end());
            }
        } else {
            println!("{}", render(&answer.json));
        }
    }
}

/// Run an admin command; fails with the API's refusal, if any.
pub async fn run(command: AdminCommand) -> anyhow::Result<std::process::ExitCode> {
    match command {
        AdminCommand::Tenant(args) => tenant::run(args).await?,
        AdminCommand::Enable(args) => enable::enable(args).await?,
        AdminCommand::Disable(args) => enable::disable(args).await?,
        AdminCommand::Enablements(args) => enable::list(args).await?,
        AdminCommand::Key(args) => key::run(args).await?,
        AdminCommand::Proposals(args) => proposals::run(args).await?,
        AdminCommand::Runs(args) => runs::run(args).await?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}
