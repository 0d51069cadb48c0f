//! `omnify proposals list | show | approve | reject`: the actions agents
//! proposed, at `/v1/tenants/{tenant}/proposals`.

use super::table::{self, column, field, number};
use super::{AdminError, ApiArgs, Session};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// Arguments of `omnify proposals`.
#[derive(Debug, Args)]
pub struct ProposalsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: ProposalsCommand,
}

#[derive(Debug, Subcommand)]
enum ProposalsCommand {
    /// List a tenant's proposals, newest first.
    List {
        /// The tenant.
        tenant: String,
        /// Only proposals in this status.
        #[arg(long, value_parser = ["pending", "approved", "rejected", "executed", "failed", "expired"])]
        status: Option<String>,
        /// At most this many proposals (1 to 1000); the API's default when
        /// absent.
        #[arg(long)]
        limit: Option<u32>,
        /// The page after this proposal: the one the previous page printed.
        #[arg(long, value_name = "ID")]
        after: Option<String>,
    },
    /// Show one proposal: its input, the preview the host verified, the
    /// policy's reason, the decision and the execution.
    Show {
        /// The tenant.
        tenant: String,
        /// The proposal.
        id: String,
    },
    /// Approve a proposal and execute it through its connector (operator;
    /// expert for expert-only proposals).
    Approve {
        /// The tenant.
        tenant: String,
        /// The proposal.
        id: String,
        /// The action's input as JSON, replacing the agent's.
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
    },
    /// Reject a proposal; it never runs (operator; expert for expert-only
    /// proposals).
    Reject {
        /// The tenant.
        tenant: String,
        /// The proposal.
        id: String,
        /// Why; kept in the audit log and learned from.
        #[arg(long)]
        reason: String,
    },
}

/// Run `omnify proposals …`.
pub(super) async fn run(args: ProposalsArgs) -> Result<(), AdminError> {
    let session = Session::open(&args.api)?;
    match args.command {
        ProposalsCommand::List {
            tenant,
            status,
            limit,
            after,
        } => {
            let limit_text = limit.map(|l| l.to_string());
            let query: Vec<(&str, &str)> = [
                ("status", status.as_deref()),
                ("limit", limit_text.as_deref()),
                ("after", after.as_deref()),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name, value)))
            .collect();
            let answer = session
                .call(Method::GET, &["tenants", &tenant, "proposals"], &query, None)
                .await?;
            session.show(&answer, |body| list_proposals(body, limit));
        }
        ProposalsCommand::Show { tenant, id } => {
            let answer = session
                .call(Method::GET, &["tenants", &tenant, "proposals", &id], &[], None)
                .await?;
            session.show(&answer, show_proposal);
        }
        ProposalsCommand::Approve { tenant, id, input } => {
            let body = match input {
                None => json!({}),
                Some(text) => json!({
                    "input": serde_json::from_str::<Value>(&text)
                        .map_err(|e| AdminError::bad_flag("--input", e))?
                }),
            };
            let path = ["tenants", tenant.as_str(), "proposals", id.as_str(), "approve"];
            let answer = session.call(Method::POST, &path, &[], Some(&body)).await?;
            session.show(&answer, show_proposal);
        }
        ProposalsCommand::Reject { tenant, id, reason } => {
            let body = json!({ "reason": reason });
            let path = ["tenants", tenant.as_str(), "proposals", id.as_str(), "reject"];
            let answer = session.call(Method::POST, &path, &[], Some(&body)).await?;
            session.show(&answer, show_proposal);
        }
    }
    Ok(())
}

fn list_proposals(body: &Value, limit: Option<u32>) -> String {
    let rows = table::page(body).0;
    let columns = [
        column("ID", |r| field(r, "id")),
        column("AGENT", |r| field(r, "agent")),
        column("ACTION", |r| {
            format!("{}:{}", field(r, "connector"), field(r, "action"))
        }),
        column("TARGET", target),
        column("CHANGE", change),
        column("CONFIDENCE", |r| number(&r["confidence"], 2)),
        column("STATUS", status),
        column("EXPIRES", |r| expires(&r["expires_at_unix"])),
    ];
    let mut text = table::list(&columns, rows, "proposals");
    if let Some(next) = table::next_cursor(body, limit) {
        text.push_str(&format!("\nnext page: --after {next}"));
    }
    text
}

/// The previewed target, `campaign 123`, or `-`.
fn target(proposal: &Value) -> String {
    let preview = &proposal["preview"];
    if preview.is_null() {
        return "-".to_string();
    }
    format!(
        "{} {}",
        field(preview, "target_kind"),
        field(preview, "target_id")
    )
}

/// The change the host verified (`+12.0%`), else the agent's claim marked
/// as such.
fn change(proposal: &Value) -> String {
    let percent = |value: &Value| value.as_f64().map(|p| format!("{p:+.1}%"));
    match percent(&proposal["verified"]["percent"]) {
        Some(verified) => verified,
        None => percent(&proposal["expected_impact"]["percent"])
            .map_or_else(|| "-".to_string(), |claimed| format!("{claimed} (claimed)")),
    }
}

/// The status, marked when approving it needs an expert.
fn status(proposal: &Value) -> String {
    let status = field(proposal, "status");
    if proposal["requires_expert"] == true {
        format!("{status} (expert)")
    } else {
        status
    }
}

/// Unix seconds as RFC 3339.
fn expires(value: &Value) -> String {
    value
        .as_i64()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map_or_else(|| "-".to_string(), |at| at.to_rfc3339())
}

fn show_proposal(proposal: &Value) -> String {
    let preview = &proposal["preview"];
    let preview = if preview.is_null() {
        "cannot be previewed".to_string()
    } else {
        format!(
            "{} {}: {} {} -> {} {}",
            field(preview, "target_kind"),
            field(preview, "target_id"),
            field(preview, "metric"),
            preview["current"],
            preview["after"],
            field(preview, "unit")
        )
    };
    let impact = &proposal["expected_impact"];
    let decision = &proposal["decision"];
    let decision = if decision.is_null() {
        "-".to_string()
    } else {
        let reason = match &decision["reason"] {
            Value::Null => String::new(),
            reason => format!(": {}", table::cell(reason)),
        };
        format!(
            "{} by {} at {}{reason}",
            field(decision, "kind"),
            field(decision, "by"),
            field(decision, "at")
        )
    };
    table::record(&[
        ("id", field(proposal, "id")),
        (
            "agent",
            format!(
                "{} {}",
                field(proposal, "agent"),
                field(proposal, "agent_version")
            ),
        ),
        ("run", field(proposal, "run")),
        (
            "action",
            format!("{}:{}", field(proposal, "connector"), field(proposal, "action")),
        ),
        ("input", proposal["input"].to_string()),
        ("confidence", number(&proposal["confidence"], 2)),
        ("preview", preview),
        ("change", change(proposal)),
        (
            "claimed impact",
            format!(
                "{} {} ({}%)",
                field(impact, "metric"),
                impact["absolute"],
                impact["percent"]
            ),
        ),
        ("rationale", field(proposal, "rationale")),
        ("status", status(proposal)),
        ("policy", field(proposal, "policy")),
        ("linked", field(proposal, "linked")),
        ("decision", decision),
        ("execution", field(proposal, "execution")),
        ("created", field(proposal, "created_at")),
        ("expires", expires(&proposal["expires_at_unix"])),
    ])
}
