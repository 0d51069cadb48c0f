//! `omnify serve`: the host with its HTTP API on the embedded store.

use crate::api::{self, ApiConfig};
use crate::control::{ControlConfig, ControlError, ControlPlane};
use crate::runtime::RuntimeConfig;
use crate::tenant::{Principal, Role};
use anyhow::Context;
use clap::Args;
use omnify_registry::{Builder, Manifest};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `omnify serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the store, the master key and compiled plugins live.
    #[arg(long, env = "OMNIFY_DATA_DIR", default_value = "omnify-data")]
    pub data_dir: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "OMNIFY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// An origin a browser frontend may call the API from (repeatable; `*`
    /// for any).
    #[arg(long = "cors-origin", env = "OMNIFY_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// A plugin to add to the catalog at start: a crate directory (built for
    /// wasm32-wasip2) or a `.wasm`, with `plugin.toml` beside it
    /// (repeatable). A version already in the catalog is left as it is.
    #[arg(long = "plugin")]
    plugins: Vec<PathBuf>,
}

/// Run the server until Ctrl-C or SIGTERM, then finish in-flight requests.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (control, admin_token) = ControlPlane::open(ControlConfig {
        data_dir: args.data_dir.clone(),
        runtime: RuntimeConfig::default(),
    })
    .with_context(|| format!("cannot open the data directory {}", args.data_dir.display()))?;
    if let Some(token) = admin_token {
        println!("Admin token (shown once, stored only as a hash): {token}");
    }
    let control = Arc::new(control);
    for plugin in &args.plugins {
        add_plugin(&control, plugin).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let config = ApiConfig {
        cors_origins: args.cors_origins,
        ..ApiConfig::default()
    };
    println!(
        "Omnify API on http://{} (OpenAPI at /v1/openapi.json)",
        listener.local_addr()?
    );
    api::serve(listener, api::app(control, &config), shutdown_signal()).await?;
    println!("stopped");
    Ok(())
}

async fn add_plugin(control: &ControlPlane, path: &Path) -> anyhow::Result<()> {
    let (component, dir) = if path.is_dir() {
        let built = tokio::task::block_in_place(|| Builder::for_crate(path)?.build_crate(path))?;
        (built.path, path.to_path_buf())
    } else {
        (
            path.to_path_buf(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )
    };
    let manifest_path = dir.join("plugin.toml");
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = Manifest::parse(&manifest_text)?;
    let bytes = std::fs::read(&component).with_context(|| format!("cannot read {}", component.display()))?;
    let admin = Principal {
        role: Role::Admin,
        tenant: None,
        key_id: None,
    };
    match control.upload_plugin(&admin, &manifest_text, bytes).await {
        Ok(version) => println!(
            "added plugin {} {} ({})",
            version.name, version.version, version.kind
        ),
        Err(ControlError::Conflict(_)) => {
            println!(
                "plugin {} {} is already in the catalog",
                manifest.plugin.name, manifest.plugin.version
            )
        }
        Err(error) => return Err(error).with_context(|| format!("cannot add {}", path.display())),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
