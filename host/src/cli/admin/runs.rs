//! `omnify runs list | show | cancel`: a tenant's sync and agent runs, at
//! `/v1/tenants/{tenant}/runs`.

use super::table::{self, column, field};
use super::{AdminError, ApiArgs, Session};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

/// The longest error shown in a list's cell; `runs show` has all of it.
const ERROR_CELL_CHARS: usize = 60;

/// Arguments of `omnify runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: RunsCommand,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// List a tenant's runs, newest first.
    List {
        /// The tenant.
        tenant: String,
        /// At most this many runs (1 to 1000); the API's default when absent.
        #[arg(long)]
        limit: Option<u32>,
        /// The page after this cursor: the one the previous page printed,
        /// passed to the API as it is.
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
    },
    /// Show one run, with its progress per stream (or an agent run's task
    /// and output).
    Show {
        /// The tenant.
        tenant: String,
        /// The run.
        id: String,
    },
    /// Cancel a run that has not ended (operator).
    Cancel {
        /// The tenant.
        tenant: String,
        /// The run.
        id: String,
    },
}

/// Run `omnify runs …`.
pub(super) async fn run(args: RunsArgs) -> Result<(), AdminError> {
    let session = Session::open(&args.api)?;
    match args.command {
        RunsCommand::List { tenant, limit, after } => {
            let limit_text = limit.map(|l| l.to_string());
            let mut query = Vec::new();
            if let Some(limit) = &limit_text {
                query.push(("limit", limit.as_str()));
            }
            if let Some(after) = &after {
                query.push(("after", after.as_str()));
            }
            let answer = session
                .call(Method::GET, &["tenants", &tenant, "runs"], &query, None)
                .await?;
            session.show(&answer, |body| list_runs(body, limit));
        }
        RunsCommand::Show { tenant, id } => {
            let answer = session
                .call(Method::GET, &["tenants", &tenant, "runs", &id], &[], None)
                .await?;
            session.show(&answer, show_run);
        }
        RunsCommand::Cancel { tenant, id } => {
            let answer = session
                .call(
                    Method::POST,
                    &["tenants", &tenant, "runs", &id, "cancel"],
                    &[],
                    None,
                )
                .await?;
            session.show(&answer, show_run);
        }
    }
    Ok(())
}

fn list_runs(body: &Value, limit: Option<u32>) -> String {
    let columns = [
        column("ID", |r| field(r, "id")),
        column("PLUGIN", |r| field(r, "plugin")),
        column("KIND", kind),
        column("STATUS", status),
        column("RECORDS", |r| records(r).to_string()),
        column("STARTED", |r| field(r, "started_at")),
        column("ENDED", |r| field(r, "ended_at")),
        column("ERROR", |r| shortened(&field(r, "last_error"))),
    ];
    let mut text = table::list(&columns, table::page(body).0, "runs");
    if let Some(next) = table::next_cursor(body, limit) {
        text.push_str(&format!("\nnext page: --after {next}"));
    }
    text
}

/// `sync`, or the agent task's kind.
fn kind(run: &Value) -> String {
    match run["task"]["kind"].as_str() {
        Some(task) => format!("agent: {task}"),
        None => "sync".to_string(),
    }
}

/// The status, `queued` while the run waits for a worker.
fn status(run: &Value) -> String {
    if run["status"] == "running" && run["queued"] == true {
        "queued".to_string()
    } else {
        field(run, "status")
    }
}

/// Records written over every stream.
fn records(run: &Value) -> u64 {
    run["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["records_written"].as_u64())
        .sum()
}

fn shortened(text: &str) -> String {
    if text.chars().count() <= ERROR_CELL_CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(ERROR_CELL_CHARS - 1).collect();
    format!("{cut}…")
}

fn show_run(run: &Value) -> String {
    let mut fields = vec![
        ("id", field(run, "id")),
        (
            "plugin",
            format!("{} {}", field(run, "plugin"), field(run, "version")),
        ),
        ("kind", kind(run)),
        ("status", status(run)),
        ("requested by", field(run, "requested_by")),
        ("cancelled by", field(run, "cancelled_by")),
        ("started", field(run, "started_at")),
        ("ended", field(run, "ended_at")),
        ("read calls", field(run, "attempts")),
        ("fuel", field(run, "fuel")),
        ("last error", field(run, "last_error")),
    ];
    if !run["task"].is_null() {
        fields.push(("task", run["task"].to_string()));
    }
    let output = &run["output"];
    if !output.is_null() {
        let count = |key: &str| output[key].as_array().map_or(0, Vec::len);
        fields.push((
            "output",
            format!(
                "{} insights, {} proposals, {} refused",
                count("insights"),
                count("proposals"),
                count("refused")
            ),
        ));
    }
    let mut text = table::record(&fields);
    let streams = run["streams"].as_array().map_or(&[][..], Vec::as_slice);
    if !streams.is_empty() {
        let columns = [
            column("STREAM", |s| field(s, "stream")),
            column("MODE", |s| field(s, "mode")),
            column("READ", |s| field(s, "records_read")),
            column("WRITTEN", |s| field(s, "records_written")),
            column("BATCHES", |s| field(s, "batches")),
            column("DONE", |s| {
                if s["done"] == true { "yes" } else { "no" }.to_string()
            }),
        ];
        text.push_str("\n\n");
        text.push_str(&table::list(&columns, streams, "streams"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn runs_read_as_sync_or_agent_and_queued() {
        let sync = json!({"status": "running", "queued": true, "streams": [
            {"records_written": 3}, {"records_written": 4}]});
        assert_eq!(kind(&sync), "sync");
        assert_eq!(status(&sync), "queued");
        assert_eq!(records(&sync), 7);
        let agent = json!({"status": "succeeded", "task": {"kind": "daily-review"}});
        assert_eq!(kind(&agent), "agent: daily-review");
        assert_eq!(status(&agent), "succeeded");
        assert_eq!(shortened(&"x".repeat(100)).chars().count(), ERROR_CELL_CHARS);
    }
}
