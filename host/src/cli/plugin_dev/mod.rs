//! `omnify plugin dev`: the partner's inner loop against a development
//! host. At start and on every change of the crate's sources it builds the
//! component, packs it as a prerelease of the manifest's version
//! (`1.2.0-dev.<unix seconds>`, as versions are immutable), signs it with a
//! development key that it adds to the host's trust store, publishes it,
//! enables it for the tenant (or upgrades the tenant to it), and calls one
//! export, printing each step's outcome and time. A failed step waits for
//! the next change; Ctrl-C ends the loop.

mod client;
mod watch;

use super::pairs::{json_or_text, split_pair};
use client::{DevHost, HostError};
use omnify_registry::signing::{KeyError, key_id};
use omnify_registry::{
    BuildError, Builder, Manifest, ManifestError, Package, PackageError, PluginKind, PublisherKey,
};
use semver::{Prerelease, Version, VersionReq};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use thiserror::Error;

/// How many dev versions an iteration tries when the one it packed is
/// already published (by another session in the same second).
const PUBLISH_ATTEMPTS: u32 = 5;

/// Arguments of `omnify plugin dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// The plugin crate's directory, with its `plugin.toml`.
    crate_dir: PathBuf,
    /// The development host.
    #[arg(long, env = "OMNIFY_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The tenant to enable the plugin for and call it as.
    #[arg(long)]
    tenant: String,
    /// The host's admin token (`omnify serve` prints it at first start):
    /// trusting the development key, publishing and enabling need it.
    #[arg(long, env = "OMNIFY_KEY", hide_env_values = true)]
    key: String,
    /// The export to call after each publish; `spec` for a connector and
    /// `describe` for an agent by default.
    #[arg(long)]
    export: Option<String>,
    /// The export's input as JSON, e.g. `{"stream":"orders"}` for read.
    #[arg(long, default_value = "null")]
    input: String,
    /// A configuration setting of the tenant's enablement; the value is JSON
    /// if it parses, else text. Applied at the first iteration.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A secret of the tenant's enablement. Applied at the first iteration.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
    /// A host to grant besides the manifest's, such as `127.0.0.1:*` for a
    /// local API; the server must list it with `--grantable-host`.
    #[arg(long = "grant-host", value_name = "HOST")]
    grant_hosts: Vec<String>,
    /// The development signing key; `omnify-dev/<publisher>.key` in the
    /// plugin build directory (`target/wasm` of the crate's workspace) by
    /// default, made on first use.
    #[arg(long)]
    dev_key: Option<PathBuf>,
    /// How long the sources must stay unchanged before a rebuild.
    #[arg(long, default_value = "300ms", value_parser = humantime::parse_duration)]
    debounce: Duration,
    /// One iteration, then exit with its outcome.
    #[arg(long)]
    once: bool,
}

/// Why a step of an iteration failed.
#[derive(Debug, Error)]
enum StepError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("plugin.toml: {0}")]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("the development key: {0}")]
    Key(#[from] KeyError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{0}")]
    Io(String),
}

/// What stays the same across iterations.
struct Session {
    dir: PathBuf,
    tenant: String,
    export: Option<String>,
    input: Value,
    config: Map<String, Value>,
    secrets: Map<String, Value>,
    grant_hosts: Vec<String>,
    dev_key: Option<PathBuf>,
    host: DevHost,
    /// Whether the flags' configuration and secrets were applied.
    configured: bool,
    /// The key ids already put in the host's trust store.
    trusted: Vec<String>,
    /// The seconds of the last dev version, so that two builds within one
    /// second still get two versions.
    last_stamp: u64,
}

/// Run the command.
pub async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let dir = std::path::absolute(&args.crate_dir)?;
    anyhow::ensure!(
        dir.join("plugin.toml").is_file(),
        "{} has no plugin.toml: point `plugin dev` at a plugin crate's directory",
        dir.display()
    );
    let input: Value =
        serde_json::from_str(&args.input).map_err(|e| anyhow::anyhow!("--input is not valid JSON: {e}"))?;
    let mut session = Session {
        tenant: args.tenant,
        export: args.export,
        input,
        config: pairs("--config", &args.config, true)?,
        secrets: pairs("--secret", &args.secrets, false)?,
        grant_hosts: args.grant_hosts,
        dev_key: args.dev_key,
        host: DevHost::new(&args.server, &args.key)?,
        configured: false,
        trusted: Vec::new(),
        last_stamp: 0,
        dir,
    };
    if args.once {
        let ok = session.iterate(1, "start").await;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    // Watching starts before the first build, so that an edit made during it
    // is not missed.
    let mut watch = watch::SourceWatch::start(&session.dir, args.debounce)?;
    let (stop_send, mut stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_send.send(());
        }
    });
    let mut reason = "start".to_string();
    for iteration in 1.. {
        tokio::select! {
            _ = session.iterate(iteration, &reason) => {}
            _ = &mut stop => break,
        }
        println!(
            "watching {} (src/, Cargo.toml, plugin.toml); Ctrl-C ends",
            session.dir.display()
        );
        let changed = tokio::select! {
            changed = watch.next_change() => changed,
            _ = &mut stop => break,
        };
        let Some(paths) = changed else {
            anyhow::bail!("the file watcher stopped");
        };
        reason = format!(
            "changed {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `KEY=VALUE` pairs as a map; values are JSON if `json` and they parse.
fn pairs(flag: &str, pairs: &[String], json: bool) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let (key, value) = split_pair(flag, pair)?;
        let value = if json {
            json_or_text(value)
        } else {
            Value::String(value.to_string())
        };
        map.insert(key.to_string(), value);
    }
    Ok(map)
}

/// Print one step's outcome and time.
fn report<T>(
    step: &str,
    started: Instant,
    outcome: &Result<T, StepError>,
    detail: impl FnOnce(&T) -> String,
) {
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(value) => println!("  {step:<8} ok     {secs:>6.1} s  {}", detail(value)),
        Err(error) => println!("  {step:<8} FAILED {secs:>6.1} s  {error}"),
    }
}

impl Session {
    /// One build, publish, enable and call; prints each step and whether the
    /// iteration succeeded.
    async fn iterate(&mut self, iteration: u64, reason: &str) -> bool {
        let started = Instant::now();
        println!("[{iteration}] {reason}: building {}", self.dir.display());
        match self.steps().await {
            Ok(()) => {
                println!("[{iteration}] ok in {:.1} s", started.elapsed().as_secs_f64());
                true
            }
            Err(step) => {
                println!(
                    "[{iteration}] failed at {step} after {:.1} s; waiting for the next change",
                    started.elapsed().as_secs_f64()
                );
                false
            }
        }
    }

    /// The steps; the name of the one that failed.
    async fn steps(&mut self) -> Result<(), &'static str> {
        let started = Instant::now();
        let dir = self.dir.clone();
        let built = tokio::task::spawn_blocking(move || Builder::for_crate(&dir)?.build_crate(&dir))
            .await
            .map_err(|e| StepError::Io(format!("the build task failed: {e}")))
            .and_then(|built| built.map_err(StepError::from));
        report("build", started, &built, |b| b.path.display().to_string());
        let built = built.map_err(|_| "build")?;

        let mut attempt = 1;
        let manifest = loop {
            let manifest = self.pack_and_publish(&built.path).await?;
            match manifest {
                Ok(manifest) => break manifest,
                // Another session published this second's version first.
                Err(taken) if attempt < PUBLISH_ATTEMPTS => {
                    println!("  publish  retry           {taken} is taken; packing the next version");
                    attempt += 1;
                }
                Err(taken) => {
                    println!("  publish  FAILED          {taken} and the versions before it are taken");
                    return Err("publish");
                }
            }
        };

        let started = Instant::now();
        let enabled = self.enable(&manifest).await;
        report("enable", started, &enabled, String::clone);
        enabled.map_err(|_| "enable")?;

        let export = self.export(manifest.plugin.kind);
        let started = Instant::now();
        let called = self
            .host
            .invoke(&self.tenant, &manifest.plugin.name, &export, &self.input)
            .await
            .map_err(StepError::from);
        report("invoke", started, &called, |_| export.clone());
        let answer = called.map_err(|_| "invoke")?;
        print_answer(&answer);
        Ok(())
    }

    /// Pack, sign and publish the component as a new dev version; the
    /// manifest published, or the version if it was already taken.
    async fn pack_and_publish(
        &mut self,
        component: &Path,
    ) -> Result<Result<Manifest, Version>, &'static str> {
        let started = Instant::now();
        let packed = self.pack(component);
        report("pack", started, &packed, |(package, _)| {
            let m = &package.manifest().plugin;
            format!("{} {} signed for `{}`", m.name, m.version, m.publisher)
        });
        let (package, key) = packed.map_err(|_| "pack")?;

        let id = key_id(&key.public_key_hex());
        if !self.trusted.contains(&id) {
            let started = Instant::now();
            let trusted = self
                .host
                .trust_key(key.publisher(), &key.public_key_hex())
                .await
                .map_err(StepError::from);
            report("trust", started, &trusted, |added| {
                let what = if *added { "added to" } else { "already in" };
                format!("development key {id} {what} the host's trust store")
            });
            trusted.map_err(|_| "trust")?;
            self.trusted.push(id);
        }

        let manifest = package.manifest().clone();
        let started = Instant::now();
        let published = match package.to_bytes() {
            Ok(bytes) => self.host.publish(bytes).await.map_err(StepError::from),
            Err(error) => Err(error.into()),
        };
        if let Err(StepError::Host(error)) = &published
            && error.status() == Some(reqwest::StatusCode::CONFLICT)
        {
            return Ok(Err(manifest.plugin.version));
        }
        report("publish", started, &published, |v| {
            let field = |name: &str| v[name].as_str().unwrap_or("?").to_string();
            format!("{} {} ({})", field("name"), field("version"), field("kind"))
        });
        published.map_err(|_| "publish")?;
        Ok(Ok(manifest))
    }

    /// The export to call.
    fn export(&self, kind: PluginKind) -> String {
        self.export.clone().unwrap_or_else(|| {
            match kind {
                PluginKind::Connector => "spec",
                PluginKind::Agent => "describe",
            }
            .to_string()
        })
    }

    /// The package of the built component as a new dev version, signed.
    fn pack(&mut self, component: &Path) -> Result<(Package, PublisherKey), StepError> {
        let manifest_path = self.dir.join("plugin.toml");
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| StepError::Io(format!("cannot read {}: {e}", manifest_path.display())))?;
        let manifest = Manifest::parse_publishable(&text)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.last_stamp = now.max(self.last_stamp + 1);
        let version = dev_version(&manifest.plugin.version, self.last_stamp);
        let text = with_version(&text, &version)?;
        let bytes = std::fs::read(component)
            .map_err(|e| StepError::Io(format!("cannot read {}: {e}", component.display())))?;
        let mut package = Package::new(&text, bytes)?;
        let key = self.dev_key_of(&manifest.plugin.publisher)?;
        package.sign(&key);
        Ok((package, key))
    }

    /// The development key of `publisher`, made on first use.
    fn dev_key_of(&self, publisher: &str) -> Result<PublisherKey, StepError> {
        let path = match &self.dev_key {
            Some(path) => path.clone(),
            // Beside the build output: private to this checkout, never
            // committed, and not among the watched sources.
            None => Builder::for_crate(&self.dir)?
                .target_dir()
                .join("omnify-dev")
                .join(format!("{publisher}.key")),
        };
        let key = if path.exists() {
            PublisherKey::load(&path)?
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StepError::Io(format!("cannot create {}: {e}", parent.display())))?;
            }
            let key = PublisherKey::generate(publisher)?;
            key.save(&path)?;
            key
        };
        if key.publisher() != publisher {
            return Err(StepError::Io(format!(
                "{} signs for `{}` but plugin.toml's publisher is `{publisher}`",
                path.display(),
                key.publisher()
            )));
        }
        Ok(key)
    }

    /// Enable the plugin for the tenant at the new version, or upgrade the
    /// tenant to it; what was done.
    async fn enable(&mut self, manifest: &Manifest) -> Result<String, StepError> {
        let name = &manifest.plugin.name;
        let version = &manifest.plugin.version;
        let mut grants = serde_json::to_value(&manifest.capabilities)
            .map_err(|e| StepError::Io(format!("cannot write the grants: {e}")))?;
        if let Some(hosts) = grants["http_hosts"].as_array_mut() {
            hosts.extend(self.grant_hosts.iter().cloned().map(Value::String));
        }
        let current = self.host.enablement(&self.tenant, name).await?;
        let admits = current
            .as_ref()
            .and_then(|e| e["requirement"].as_str())
            .and_then(|r| VersionReq::parse(r).ok())
            .is_some_and(|r| r.matches(version));
        let has_settings = !self.config.is_empty() || !self.secrets.is_empty();
        let settings_pending = has_settings && !self.configured;
        if admits && !settings_pending {
            let upgraded = self.host.upgrade(&self.tenant, name, &grants).await?;
            return Ok(format!(
                "tenant `{}` upgraded from {} to {}",
                self.tenant,
                upgraded["previous_version"].as_str().unwrap_or("?"),
                upgraded["version"].as_str().unwrap_or("?")
            ));
        }
        let request = json!({
            "version": dev_requirement(version).to_string(),
            "config": self.config,
            "secrets": self.secrets,
            "grants": grants,
        });
        let enabled = self.host.enable(&self.tenant, name, &request).await?;
        self.configured = true;
        Ok(format!(
            "tenant `{}` runs {} (requirement `{}`)",
            self.tenant,
            enabled["version"].as_str().unwrap_or("?"),
            enabled["requirement"].as_str().unwrap_or("?")
        ))
    }
}

/// `version` as the dev prerelease made at `stamp` (unix seconds).
fn dev_version(version: &Version, stamp: u64) -> Version {
    let mut dev = Version::new(version.major, version.minor, version.patch);
    // `dev.<digits>` is always a valid prerelease.
    dev.pre = Prerelease::new(&format!("dev.{stamp}")).unwrap_or_default();
    dev
}

/// The requirement that accepts every dev version of `dev`'s release and
/// nothing else, so that an upgrade picks the newest dev build even when the
/// release itself is published.
fn dev_requirement(dev: &Version) -> VersionReq {
    let release = Version::new(dev.major, dev.minor, dev.patch);
    let text = format!(">={release}-dev.0, <{release}");
    // Both comparators are well-formed for any version.
    VersionReq::parse(&text).unwrap_or(VersionReq::STAR)
}

/// The manifest `text` with `[plugin] version` set to `version`.
fn with_version(text: &str, version: &Version) -> Result<String, StepError> {
    let mut table: toml::Table = toml::from_str(text).map_err(ManifestError::from)?;
    let plugin = table
        .get_mut("plugin")
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| StepError::Io("plugin.toml has no [plugin] table".into()))?;
    plugin.insert("version".into(), toml::Value::String(version.to_string()));
    toml::to_string(&table).map_err(|e| StepError::Io(format!("cannot write the manifest: {e}")))
}

/// Print what an `/invoke` answered: logs (when the host returns them), the
/// result, and the usage.
fn print_answer(answer: &Value) {
    for line in answer["logs"].as_array().into_iter().flatten() {
        let level = line["level"].as_str().unwrap_or("log");
        println!("  [{level}] {}", line["message"].as_str().unwrap_or_default());
    }
    let result = answer["output"].get("result").unwrap_or(&answer["output"]);
    match serde_json::to_string_pretty(result) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{result}"),
    }
    let usage = &answer["usage"];
    let number = |field: &str| usage[field].as_u64().unwrap_or(0);
    println!(
        "  usage: fuel {} · wall {:.1} ms · peak memory {:.1} MiB · host calls {} · HTTP {} requests{}",
        number("fuel"),
        number("wall_time_us") as f64 / 1000.0,
        number("peak_memory_bytes") as f64 / f64::from(1 << 20),
        number("host_calls"),
        number("http_requests"),
        match number("denied_calls") {
            0 => String::new(),
            denied => format!(" · {denied} refused capability calls"),
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_versions_order_and_match_only_their_release() {
        let base = Version::parse("1.2.0-beta.1").expect("a version");
        let (earlier, later) = (
            dev_version(&base, 1_700_000_000),
            dev_version(&base, 1_700_000_001),
        );
        assert_eq!(earlier.to_string(), "1.2.0-dev.1700000000");
        assert!(earlier < later);
        let requirement = dev_requirement(&later);
        assert!(requirement.matches(&earlier) && requirement.matches(&later));
        for other in ["1.2.0", "1.1.9", "1.3.0-dev.1", "1.2.0-beta.1"] {
            let other = Version::parse(other).expect("a version");
            assert!(!requirement.matches(&other), "{other}");
        }
    }

    #[test]
    fn the_manifest_gets_the_dev_version() {
        let text = "[plugin]\nname = \"x\"\nversion = \"0.1.0\"\n\n[capabilities]\nkv = true\n";
        let version = Version::parse("0.1.0-dev.5").expect("a version");
        let rewritten = with_version(text, &version).expect("rewritten");
        let table: toml::Table = toml::from_str(&rewritten).expect("TOML");
        assert_eq!(table["plugin"]["version"].as_str(), Some("0.1.0-dev.5"));
        assert_eq!(table["capabilities"]["kv"].as_bool(), Some(true));
    }

    #[test]
    fn pairs_parse_json_values_for_config_only() {
        let config = pairs(
            "--config",
            &["names=[\"Ada\"]".into(), "greeting=Hi".into()],
            true,
        )
        .expect("pairs");
        assert_eq!(config["names"], json!(["Ada"]));
        assert_eq!(config["greeting"], json!("Hi"));
        let secrets = pairs("--secret", &["token=123".into()], false).expect("pairs");
        assert_eq!(secrets["token"], json!("123"));
        assert!(pairs("--config", &["=x".into()], true).is_err());
    }
}
