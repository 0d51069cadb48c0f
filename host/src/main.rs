//! The `omnify` command.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = omnify_host::cli::Cli::parse();
    omnify_host::cli::init_tracing(cli.default_log_filter());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
