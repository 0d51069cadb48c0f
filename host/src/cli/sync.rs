//! `omnify sync <tenant> <plugin> [--follow]`: start a sync through a
//! server's API and, with `--follow`, show each stream's progress until the
//! run ends; `omnify sync <tenant> --cancel <run>` cancels a run.

use super::client::{ApiClient, Body, ClientError};
use anyhow::{Context, bail};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `omnify sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The tenant.
    tenant: String,
    /// The connector (not with `--cancel`).
    #[arg(required_unless_present = "cancel")]
    plugin: Option<String>,
    /// Cancel this run (a sync or an agent run) instead of starting one;
    /// with `--follow`, wait until it has stopped.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["streams", "full_refresh"])]
    cancel: Option<String>,
    /// Only these streams (repeatable); every stream when absent.
    #[arg(long = "stream")]
    streams: Vec<String>,
    /// Re-read everything instead of continuing from the saved state.
    #[arg(long)]
    full_refresh: bool,
    /// Show progress until the run ends.
    #[arg(long)]
    follow: bool,
    /// The Omnify server.
    #[arg(long, env = "OMNIFY_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The admin token or one of the tenant's API keys.
    #[arg(long, env = "OMNIFY_TOKEN")]
    token: String,
}

async fn request(
    client: &ApiClient,
    method: reqwest::Method,
    segments: &[&str],
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let body = body.as_ref().map_or(Body::Empty, Body::Json);
    match client.json(method, segments, body).await {
        Ok(value) => Ok(value),
        Err(ClientError::Refused(refusal)) => bail!("{}", refusal.message),
        Err(error) => Err(error.into()),
    }
}

/// Run the command; fails when the run fails.
pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let client = ApiClient::new(&args.server, &args.token)?;
    if let Some(id) = &args.cancel {
        let path = ["v1", "tenants", &args.tenant, "runs", id, "cancel"];
        let run = request(&client, reqwest::Method::POST, &path, None).await?;
        println!(
            "run {id}: {}",
            if run["status"] == "cancelled" {
                "cancelled"
            } else {
                "cancelling"
            }
        );
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        return follow(&client, &args, id).await;
    }
    let plugin = args.plugin.as_deref().context("name the connector to sync")?;
    let mut body = json!({});
    if !args.streams.is_empty() {
        body["streams"] = json!(args.streams);
    }
    if args.full_refresh {
        body["mode"] = json!("full-refresh");
    }
    let path = ["v1", "tenants", &args.tenant, "plugins", plugin, "sync"];
    let run = request(&client, reqwest::Method::POST, &path, Some(body)).await?;
    let id = run["id"]
        .as_str()
        .context("the server returned no run id")?
        .to_string();
    println!("run {id} started");
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    follow(&client, &args, &id).await
}

/// Show the run's progress until it ends; fails unless it succeeded (or,
/// when cancelling it, was cancelled).
async fn follow(client: &ApiClient, args: &SyncArgs, id: &str) -> anyhow::Result<ExitCode> {
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>16} {spinner} {pos} records ({msg})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut by_stream: HashMap<String, ProgressBar> = HashMap::new();
    let run_path = ["v1", "tenants", &args.tenant, "runs", id];
    loop {
        let run = request(client, reqwest::Method::GET, &run_path, None).await?;
        for stream in run["streams"].as_array().into_iter().flatten() {
            let name = stream["stream"].as_str().unwrap_or("?").to_string();
            let bar = by_stream.entry(name.clone()).or_insert_with(|| {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(name);
                bar
            });
            bar.set_position(stream["records_written"].as_u64().unwrap_or(0));
            let state = match (stream["done"] == true, run["queued"] == true) {
                (true, _) => "done",
                (false, true) => "queued",
                (false, false) => "reading",
            };
            bar.set_message(format!("{} batches, {state}", stream["batches"]));
            bar.tick();
        }
        match run["status"].as_str() {
            Some("running") => tokio::time::sleep(Duration::from_millis(250)).await,
            Some("succeeded") => {
                for bar in by_stream.values() {
                    bar.finish();
                }
                println!("run {id} succeeded after {} read calls", run["attempts"]);
                return Ok(ExitCode::SUCCESS);
            }
            Some("cancelled") => {
                for bar in by_stream.values() {
                    bar.abandon();
                }
                println!(
                    "run {id} was cancelled by {}",
                    run["cancelled_by"].as_str().unwrap_or("someone")
                );
                let asked = args.cancel.is_some();
                return Ok(if asked {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            _ => {
                for bar in by_stream.values() {
                    bar.abandon();
                }
                eprintln!(
                    "run {id} failed: {}",
                    run["last_error"].as_str().unwrap_or("unknown error")
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}
