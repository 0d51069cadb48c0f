//! The `omnify` command line.

mod admin;
mod audit;
mod client;
#[cfg(feature = "demo")]
mod demo;
mod package;
mod pairs;
mod plugin_dev;
mod plugin_new;
mod plugin_run;
mod serve;
mod sync;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Omnify: a runtime for sandboxed marketing agents and platform connectors.
#[derive(Debug, Parser)]
#[command(name = "omnify", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host and its HTTP API on the embedded store.
    Serve(serve::ServeArgs),
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Check or export the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Start a sync of a tenant's connector on a server; `--follow` shows
    /// its progress.
    Sync(sync::SyncArgs),
    #[command(flatten)]
    Admin(admin::AdminCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run one export of a plugin in the sandbox and print its result and
    /// usage: the plugin author's inner loop.
    Run(plugin_run::RunArgs),
    /// Watch a plugin crate and, on every change, rebuild it, publish it to
    /// a development host as a dev version, upgrade a tenant to it and call
    /// one export.
    Dev(plugin_dev::DevArgs),
    /// Create a plugin crate (a connector, or an agent with `--agent`) that
    /// builds, tests and runs on its own.
    New(plugin_new::NewArgs),
    /// Make a publisher signing key.
    Keygen(package::KeygenArgs),
    /// Build (if needed) and package a plugin with its plugin.toml.
    Pack(package::PackArgs),
    /// Sign a package.
    Sign(package::SignArgs),
    /// Show what a package holds: manifest, world, imports, exports, digest,
    /// signer.
    Inspect(package::PackageArgs),
    /// Check a package's signature, world and declared capabilities.
    Verify(package::PackageArgs),
    /// Publish a package to a server.
    Publish(package::PublishArgs),
}

impl Cli {
    /// Run the command; the exit code says whether it succeeded.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Serve(args) => serve::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::Plugin(PluginCommand::Run(args)) => plugin_run::run(args).await,
            Command::Plugin(PluginCommand::Dev(args)) => plugin_dev::run(args).await,
            Command::Plugin(PluginCommand::New(args)) => plugin_new::run(args),
            Command::Plugin(PluginCommand::Keygen(args)) => package::keygen(args),
            Command::Plugin(PluginCommand::Pack(args)) => tokio::task::block_in_place(|| package::pack(args)),
            Command::Plugin(PluginCommand::Sign(args)) => package::sign(args),
            Command::Plugin(PluginCommand::Inspect(args)) => package::inspect(args),
            Command::Plugin(PluginCommand::Verify(args)) => package::verify(args),
            Command::Plugin(PluginCommand::Publish(args)) => package::publish(args).await,
            Command::Audit(command) => audit::run(command),
            Command::Sync(args) => sync::run(args).await,
            Command::Admin(command) => admin::run(command).await,
        }
    }
}

impl Cli {
    /// What is logged when `RUST_LOG` is not set: a server logs its own and
    /// its plugins' activity; one-shot commands print their results instead.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => {
                "warn,omnify_host=info,omnify_api=info,omnify_control=info,omnify_runtime=info,omnify::guest=info"
            }
            _ => "warn",
        }
    }
}

/// The filter `directives` describe, with the one directive the host always
/// adds: `wasmtime_wasi` logs what guests write to stdout and stderr raw at
/// `debug`, so it is kept at `info`; the host logs that output itself,
/// escaped and with the call's secrets masked.
pub fn log_filter(directives: &str) -> tracing_subscriber::EnvFilter {
    let filter = tracing_subscriber::EnvFilter::new(directives);
    match "wasmtime_wasi=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Log to stderr, filtered by `RUST_LOG`, else by `default_filter`.
pub fn init_tracing(default_filter: &str) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| default_filter.to_string());
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(&directives))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
