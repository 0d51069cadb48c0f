//! The `omnify` command line.

mod plugin_run;

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
    /// Work with plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run one export of a plugin in the sandbox and print its result and
    /// usage: the plugin author's inner loop.
    Run(plugin_run::RunArgs),
}

impl Cli {
    /// Run the command; the exit code says whether it succeeded.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Plugin(PluginCommand::Run(args)) => plugin_run::run(args).await,
        }
    }
}

/// Log to stderr, filtered by `RUST_LOG` (default: warnings, and the
/// plugin's own log lines).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
