//! `omnify plugin run`: load a component (building it first when given a
//! crate), call one export with the configuration, secrets and grants given
//! on the command line, and print the result and the usage.

use super::pairs::{json_or_text, split_pair};
use anyhow::{Context, bail};
use clap::Args;
use omnify_registry::{Builder, Manifest, PluginKind};
use omnify_runtime::capability::egress::EgressConfig;
use omnify_runtime::invoke::{Call, Grants, HostPattern, InvocationContext, Limits, Output, Secret, Usage};
use omnify_runtime::runtime::{Runtime, RuntimeConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `omnify plugin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A component (`.wasm`) or a plugin crate's directory, which is built.
    plugin: PathBuf,
    /// The export to call: spec, check, discover, read, actions, act,
    /// verify-webhook (connectors) or describe, run (agents).
    export: String,
    /// The export's input as JSON, e.g. `{"stream":"orders"}` for read.
    #[arg(long, default_value = "null")]
    input: String,
    /// A configuration setting; the value is JSON if it parses, else text.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret the plugin may read; its name counts as declared.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// A host the plugin may call (`host`, `*.domain`, `host:port`,
    /// `host:*`); unlike the manifest's hosts, it may be a private address
    /// (`127.0.0.1:*` for a local sandbox).
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// The plugin's manifest; `plugin.toml` next to the crate or component
    /// is used when present. Its capabilities are granted and its limits
    /// apply.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The tenant the call runs for.
    #[arg(long, default_value = "local")]
    tenant: String,
    /// Fuel for the call (overrides the manifest).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit in MiB (overrides the manifest).
    #[arg(long)]
    memory_mb: Option<u32>,
    /// Time limit in milliseconds (overrides the manifest).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Where compiled plugins are cached between runs.
    #[arg(long, env = "OMNIFY_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

/// Run the command.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (component_path, manifest) = resolve_plugin(&args)?;
    let input: Value = serde_json::from_str(&args.input).context("--input is not valid JSON")?;
    let call = Call::from_json(&args.export, input)?;
    let ctx = context(&args, manifest.as_ref())?;

    let private_hosts = args
        .allow_hosts
        .iter()
        .map(|h| HostPattern::parse(h))
        .collect::<Result<_, _>>()?;
    let (runtime, _store) = Runtime::in_memory(RuntimeConfig {
        cache_dir: args.cache_dir.clone(),
        egress: EgressConfig {
            private_hosts,
            resolver: None,
        },
        ..RuntimeConfig::default()
    })?;
    let plugin = tokio::task::block_in_place(|| runtime.load_file(&component_path))?;
    if let Some(manifest) = &manifest
        && manifest.plugin.kind != plugin.kind()
    {
        bail!(
            "plugin.toml says this is a {} but the component is a {}",
            manifest.plugin.kind,
            plugin.kind()
        );
    }

    match runtime.invoke(&plugin, &ctx, call).await {
        Ok(Output { value, usage, logs }) => {
            print_logs(&logs);
            println!("{}", serde_json::to_string_pretty(&value)?);
            eprintln!("{}", describe_usage(&usage));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            print_logs(&error.logs);
            eprintln!("error: {}", error.kind);
            eprintln!("{}", describe_usage(&error.usage));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The component to load and the manifest that describes it.
fn resolve_plugin(args: &RunArgs) -> anyhow::Result<(PathBuf, Option<Manifest>)> {
    let (component, dir) = if args.plugin.is_dir() {
        let builder = Builder::for_crate(&args.plugin)?;
        eprintln!("building {} for wasm32-wasip2…", args.plugin.display());
        let built = builder.build_crate(&args.plugin)?;
        (built.path, args.plugin.clone())
    } else {
        let dir = args.plugin.parent().map(Path::to_path_buf).unwrap_or_default();
        (args.plugin.clone(), dir)
    };
    let manifest_path = args.manifest.clone().or_else(|| {
        let beside = dir.join("plugin.toml");
        beside.is_file().then_some(beside)
    });
    let manifest = manifest_path.map(|path| Manifest::load(&path)).transpose()?;
    Ok((component, manifest))
}

fn context(args: &RunArgs, manifest: Option<&Manifest>) -> anyhow::Result<InvocationContext> {
    let mut ctx = InvocationContext::new(
        &args.tenant,
        manifest.map_or("local-plugin", |m| m.plugin.name.as_str()),
    );
    ctx.request_id = "cli".into();
    for pair in &args.config {
        let (key, value) = split_pair("--config", pair)?;
        ctx.config.insert(key.to_string(), json_or_text(value));
    }
    for pair in &args.secrets {
        let (name, value) = split_pair("--secret", pair)?;
        ctx.secrets.insert(name.to_string(), Secret::new(value));
    }
    let mut grants = Grants {
        kv: manifest.is_none_or(|m| m.capabilities.kv),
        secrets: ctx.secrets.keys().cloned().collect(),
        ..Grants::default()
    };
    let mut hosts = args.allow_hosts.clone();
    if let Some(manifest) = manifest {
        hosts.extend(manifest.capabilities.http_hosts.iter().cloned());
        grants
            .secrets
            .extend(manifest.capabilities.secrets.iter().cloned());
        if manifest.plugin.kind == PluginKind::Agent {
            for stream in &manifest.capabilities.data_streams {
                if let Some((connector, stream)) = stream.split_once('/') {
                    grants
                        .data_streams
                        .insert((connector.to_string(), stream.to_string()));
                }
            }
        }
    }
    grants.http_hosts = hosts
        .iter()
        .map(|h| HostPattern::parse(h))
        .collect::<Result<_, _>>()?;
    ctx.grants = grants;

    let mut limits = manifest.map_or_else(Limits::default, |m| Limits::requested(&m.limits));
    if let Some(fuel) = args.fuel {
        limits.fuel = fuel;
    }
    if let Some(mb) = args.memory_mb {
        limits.memory_bytes = (mb as usize) << 20;
    }
    if let Some(ms) = args.timeout_ms {
        limits.timeout = Duration::from_millis(ms);
    }
    ctx.limits = limits;
    Ok(ctx)
}

fn print_logs(logs: &[omnify_runtime::invoke::LogLine]) {
    for line in logs {
        let level = serde_json::to_value(line.level).ok();
        let level = level.as_ref().and_then(Value::as_str).unwrap_or("log");
        eprintln!("[{level}] {}", line.message);
    }
}

fn describe_usage(usage: &Usage) -> String {
    format!(
        "usage: fuel {} · wall {:.1} ms · peak memory {:.1} MiB · host calls {} · HTTP {} requests, {} B sent, {} B received{}{}",
        usage.fuel,
        usage.wall_time.as_secs_f64() * 1000.0,
        usage.peak_memory_bytes as f64 / f64::from(1 << 20),
        usage.host_calls,
        usage.http_requests,
        usage.http_bytes_sent,
        usage.http_bytes_received,
        if usage.denied_calls > 0 {
            format!(" · {} refused capability calls", usage.denied_calls)
        } else {
            String::new()
        },
        if usage.log_bytes_dropped > 0 {
            format!(" · {} log bytes dropped", usage.log_bytes_dropped)
        } else {
            String::new()
        },
    )
}
