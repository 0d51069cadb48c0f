//! `omnify serve`: the host with its HTTP API, on the embedded store or a
//! shared PostgreSQL one.

use anyhow::Context;
use clap::Args;
use omnify_api::ApiConfig;
use omnify_control::catalog::trust::NewTrustedKey;
use omnify_control::control::{ControlConfig, ControlError, ControlPlane, HostCredentials};
use omnify_control::scheduler::{Scheduler, SchedulerConfig, SystemClock};
use omnify_control::tenant::Principal;
use omnify_control::webhooks::WebhookLimits;
use omnify_registry::PublisherKey;
use omnify_runtime::invoke::HostPattern;
use omnify_runtime::runtime::RuntimeConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
    /// A plugin to publish at start: a crate directory (built for
    /// wasm32-wasip2) or a `.wasm`, with `plugin.toml` beside it
    /// (repeatable). It is signed with a development key of its publisher,
    /// kept in `<data dir>/dev-keys` and trusted by this host. A version
    /// already published is left as it is.
    #[arg(long = "plugin")]
    plugins: Vec<PathBuf>,
    /// Development mode: accept unsigned packages. Never in production.
    #[arg(long)]
    dev: bool,
    /// A host an admin may grant to any plugin besides those its manifest
    /// names, such as `127.0.0.1:*` for sandboxes on any loopback port
    /// (repeatable). These are also the only hosts that may reach private
    /// and loopback addresses.
    #[arg(long = "grantable-host", env = "OMNIFY_GRANTABLE_HOSTS", value_delimiter = ',', value_parser = HostPattern::parse)]
    grantable_hosts: Vec<HostPattern>,
    /// Demo: publish the first-party plugins in `plugins/`, start the
    /// platform sandboxes on loopback, and enable every connector against
    /// them for a `demo` tenant with its syncs scheduled.
    #[arg(long)]
    demo: bool,
    /// Webhook deliveries admitted per minute per connector of a tenant, on
    /// average.
    #[arg(long, env = "OMNIFY_WEBHOOK_PER_MINUTE")]
    webhook_per_minute: Option<u32>,
    /// Webhook deliveries admitted at once per connector of a tenant after a
    /// quiet spell.
    #[arg(long, env = "OMNIFY_WEBHOOK_BURST")]
    webhook_burst: Option<u32>,
    /// Webhook deliveries verified at the same time per connector of a
    /// tenant.
    #[arg(long, env = "OMNIFY_WEBHOOK_CONCURRENCY")]
    webhook_concurrency: Option<u32>,
    /// The largest webhook body, in bytes.
    #[arg(long, env = "OMNIFY_WEBHOOK_MAX_BODY")]
    webhook_max_body: Option<usize>,
    /// Mark the console's cookies `Secure` on every response, for a host
    /// reached only through a TLS-terminating proxy (without it they are
    /// `Secure` when the proxy sends `X-Forwarded-Proto: https`).
    #[arg(long, env = "OMNIFY_CONSOLE_SECURE_COOKIES")]
    console_secure_cookies: bool,
    /// Where people reach this host, for example `https://omnify.example.com`:
    /// the links in outgoing events are absolute with it (paths without).
    #[arg(long, env = "OMNIFY_PUBLIC_URL")]
    public_url: Option<String>,
    /// The master key file (32 bytes), for example a mounted secret; by
    /// default `<data dir>/master.key`, created at first start. A file
    /// named here is never created.
    #[arg(long, env = "OMNIFY_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// A file holding the admin token to accept (`oma_` and at least 32
    /// more characters), instead of one made and printed at first start.
    #[arg(long, env = "OMNIFY_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// The admin token to accept, from `OMNIFY_ADMIN_TOKEN` only (a flag's
    /// value would show in the process list); the file wins over it.
    #[arg(skip = std::env::var("OMNIFY_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()))]
    admin_token: Option<String>,
    /// A shared PostgreSQL store, `postgres://user:password@host:port/db`,
    /// instead of the embedded one in the data directory; several hosts may
    /// serve one. Prefer `OMNIFY_STORE` when the URL holds a password (a
    /// flag's value shows in the process list). Hosts of one store need the
    /// same master key.
    #[arg(long, env = "OMNIFY_STORE")]
    store: Option<String>,
    /// A file holding the PostgreSQL password (a mounted secret), for a
    /// store URL without one.
    #[arg(long, env = "OMNIFY_POSTGRES_PASSWORD_FILE", requires = "store")]
    store_password_file: Option<PathBuf>,
    /// Seconds a host's leases on runs and due jobs last unless renewed:
    /// after a host dies, the others take its work over this long after.
    #[arg(long, env = "OMNIFY_LEASE_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    lease_seconds: u64,
    /// Seconds a stopping host waits for its runs to reach a batch boundary
    /// before it gives them up.
    #[arg(long, env = "OMNIFY_STOP_GRACE_SECONDS", default_value_t = 10)]
    stop_grace_seconds: u64,
}

impl ServeArgs {
    /// Where the host's own secrets come from.
    fn credentials(&self) -> anyhow::Result<HostCredentials> {
        let admin_token = match &self.admin_token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the admin token file {}", path.display()))?
                    .trim()
                    .to_string(),
            ),
            None => self.admin_token.clone(),
        };
        Ok(HostCredentials {
            master_key_file: self.master_key_file.clone(),
            admin_token,
        })
    }

    /// The PostgreSQL store's URL, with the password from its file.
    fn store_url(&self) -> anyhow::Result<Option<String>> {
        let (Some(store), Some(file)) = (&self.store, &self.store_password_file) else {
            return Ok(self.store.clone());
        };
        let password = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the PostgreSQL password from {}", file.display()))?;
        let mut url = url::Url::parse(store).context("the store URL is invalid")?;
        url.set_password(Some(password.trim()))
            .map_err(|()| anyhow::anyhow!("the store URL cannot hold a password"))?;
        Ok(Some(url.to_string()))
    }

    /// The webhook limits: the host's defaults, overridden by the flags.
    fn webhook_limits(&self) -> WebhookLimits {
        let defaults = WebhookLimits::default();
        WebhookLimits {
            per_minute: self.webhook_per_minute.unwrap_or(defaults.per_minute),
            burst: self.webhook_burst.unwrap_or(defaults.burst),
            concurrent: self.webhook_concurrency.unwrap_or(defaults.concurrent),
            max_body_bytes: self.webhook_max_body.unwrap_or(defaults.max_body_bytes),
            ..defaults
        }
    }
}

/// Run the server until Ctrl-C or SIGTERM, then finish in-flight requests.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    #[cfg(not(feature = "demo"))]
    if args.demo {
        anyhow::bail!(
            "--demo needs the platform sandboxes, which this build leaves out: build omnify with its \
             `demo` feature (on by default)"
        );
    }
    #[cfg(feature = "demo")]
    let mut args = args;
    #[cfg(feature = "demo")]
    if args.demo {
        args.plugins.extend(super::demo::first_party_plugins()?);
        // The sandboxes listen on loopback.
        args.grantable_hosts.push(HostPattern::parse("127.0.0.1:*")?);
    }
    let webhook_limits = args.webhook_limits();
    let credentials = args.credentials()?;
    let store_url = args.store_url()?;
    let (control, admin_token) = ControlPlane::open(ControlConfig {
        data_dir: args.data_dir.clone(),
        runtime: RuntimeConfig::default(),
        dev: args.dev,
        sync: Default::default(),
        grantable_hosts: args.grantable_hosts,
        credentials,
        store_url,
        lease: Duration::from_secs(args.lease_seconds),
    })
    .with_context(|| match args.store.is_some() {
        true => "cannot open the PostgreSQL store".to_string(),
        false => format!("cannot open the data directory {}", args.data_dir.display()),
    })?;
    if let Some(token) = admin_token {
        println!("Admin token (shown once, stored only as a hash): {token}");
    }
    control.set_webhook_limits(webhook_limits);
    if let Some(url) = &args.public_url {
        control.notifier().set_public_url(url);
    }
    let control = Arc::new(control);
    tokio::spawn(omnify_control::webhooks::flush_refusals_periodically(
        Arc::downgrade(&control),
    ));
    for plugin in &args.plugins {
        add_plugin(&control, plugin, &args.data_dir.join("dev-keys")).await?;
    }
    let resumed = control.resume_interrupted_runs().await?;
    if resumed > 0 {
        println!("resumed {resumed} interrupted sync run(s)");
    }
    let approvals = control.resume_approved_proposals().await?;
    if approvals > 0 {
        println!("executed {approvals} approval(s) interrupted by the last stop");
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let api_url = format!("http://{}", listener.local_addr()?);
    // The demo's sign-ins come back to this host where it listens.
    if args.demo && args.public_url.is_none() {
        control.notifier().set_public_url(&api_url);
    }
    // Kept alive until the server stops.
    #[cfg(feature = "demo")]
    let _demo = if args.demo {
        let (sandbox, key) = super::demo::prepare(&control).await?;
        println!("{}", super::demo::instructions(&api_url, &key));
        Some(sandbox)
    } else {
        None
    };
    Scheduler::start(control.clone(), Arc::new(SystemClock), SchedulerConfig::default()).await?;
    let config = ApiConfig {
        cors_origins: args.cors_origins,
        console: omnify_api::console::ConsoleConfig {
            secure_cookies: args.console_secure_cookies,
            ..Default::default()
        },
        ..ApiConfig::default()
    };
    println!("Console on {api_url}/console (sign in with an API key or the admin token)");
    // Last: scripts and tests wait for this line, and may stop reading then.
    println!("Omnify API on {api_url} (OpenAPI at /v1/openapi.json)");
    omnify_api::serve(
        listener,
        omnify_api::app(control.clone(), &config),
        shutdown_signal(),
    )
    .await?;
    // Other hosts of the store resume what this one held at once.
    match control
        .hand_back(Duration::from_secs(args.stop_grace_seconds))
        .await
    {
        Ok(released) => println!("handed back {released} lease(s)"),
        Err(error) => tracing::error!(%error, "cannot hand back this host's work; its leases lapse instead"),
    }
    if let Err(error) = control.flush_webhook_refusals(true).await {
        tracing::error!(%error, "cannot write the last webhook refusal summaries");
    }
    println!("stopped");
    Ok(())
}

/// Package `path`, sign it with the development key of its publisher
/// (made and trusted on first use), and publish it.
async fn add_plugin(control: &ControlPlane, path: &Path, keys_dir: &Path) -> anyhow::Result<()> {
    let mut package = tokio::task::block_in_place(|| super::package::package_plugin(path))?;
    let admin = Principal::admin();
    let publisher = package.manifest().plugin.publisher.clone();
    anyhow::ensure!(
        !publisher.is_empty(),
        "{}: plugin.toml names no publisher",
        path.display()
    );
    let (name, version) = (
        package.manifest().plugin.name.clone(),
        package.manifest().plugin.version.clone(),
    );
    // Hosts sharing a store find what the first of them published, and
    // need not trust a development key of their own for it.
    if control.plugin_version(&name, &version.to_string()).await.is_ok() {
        println!("{name} {version} is already published");
        return Ok(());
    }
    std::fs::create_dir_all(keys_dir)?;
    // Inside the data directory, which is private: so is this.
    #[cfg(unix)]
    std::fs::set_permissions(
        keys_dir,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
    )?;
    let key_path = keys_dir.join(format!("{publisher}.key"));
    let key = if key_path.exists() {
        PublisherKey::load(&key_path)?
    } else {
        let key = PublisherKey::generate(&publisher)?;
        key.save(&key_path)?;
        key
    };
    let trust = NewTrustedKey {
        publisher,
        public_key: key.public_key_hex(),
    };
    match control.trust_key(&admin, trust).await {
        Ok(_) | Err(ControlError::Conflict(_)) => {}
        Err(error) => return Err(error.into()),
    }
    package.sign(&key);
    match control.publish(&admin, &package.to_bytes()?).await {
        Ok(published) => println!(
            "published {} {} ({})",
            published.name, published.version, published.kind
        ),
        Err(ControlError::Conflict(_)) => println!("{name} {version} is already published"),
        Err(error) => return Err(error).with_context(|| format!("cannot publish {}", path.display())),
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

#[cfg(test)]
mod tests {
    use super::ServeArgs;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Command::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).map(|c| c.serve)
    }

    #[test]
    fn the_store_password_comes_from_its_file_encoded_into_the_url() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("password");
        std::fs::write(&file, "p@ss:w/rd\n").expect("write");
        let file = file.to_str().expect("a path");
        let args = parse(&[
            "--store",
            "postgres://omnify@db:5432/omnify",
            "--store-password-file",
            file,
        ])
        .expect("valid flags");
        let url = args.store_url().expect("a URL").expect("a store");
        assert_eq!(url, "postgres://omnify:p%40ss%3Aw%2Frd@db:5432/omnify");
        let parsed: tokio_postgres::Config = url.parse().expect("tokio-postgres reads it");
        assert_eq!(parsed.get_password(), Some(&b"p@ss:w/rd"[..]));

        let missing = parse(&[
            "--store",
            "postgres://omnify@db/omnify",
            "--store-password-file",
            "/nonexistent/password",
        ])
        .expect("valid flags")
        .store_url()
        .expect_err("a missing file is an error");
        assert!(missing.to_string().contains("/nonexistent/password"), "{missing}");
        assert!(
            parse(&["--store-password-file", file]).is_err(),
            "a password file needs a store"
        );
        assert!(
            parse(&["--lease-seconds", "0"]).is_err(),
            "leases last a second at least"
        );
    }
}
