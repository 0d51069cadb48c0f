//! `omnify plugin keygen | pack | sign | inspect | verify | publish`: the
//! partner's way from a crate to a signed package on a server.

use anyhow::{Context, bail};
use clap::Args;
use omnify_control::catalog::check_declared;
use omnify_registry::signing::key_id;
use omnify_registry::{Builder, Manifest, Package, PublisherKey};
use omnify_runtime::plugin::detect;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `omnify plugin keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The publisher the key signs for (the `publisher` of your manifests).
    #[arg(long)]
    publisher: String,
    /// Where to write the secret key (created with mode 0600).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `omnify plugin pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// A plugin crate directory (built for wasm32-wasip2) or a `.wasm`, with
    /// `plugin.toml` beside it.
    plugin: PathBuf,
    /// Sign the package with this key.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Where to write the package; `<name>-<version>.omnify` by default.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `omnify plugin sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The package to sign (rewritten in place).
    package: PathBuf,
    /// The publisher's key.
    #[arg(long)]
    key: PathBuf,
}

/// Arguments of `omnify plugin inspect` and `omnify plugin verify`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The package.
    package: PathBuf,
    /// Public keys (hex) to accept as signers; any valid signature when
    /// none is given.
    #[arg(long = "trust")]
    trusted: Vec<String>,
}

/// Arguments of `omnify plugin publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The package.
    package: PathBuf,
    /// The Omnify server.
    #[arg(long, env = "OMNIFY_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The admin token.
    #[arg(long, env = "OMNIFY_TOKEN")]
    token: String,
}

/// Build (when given a crate) and package a plugin with its `plugin.toml`,
/// refusing what `publish` would refuse: a manifest that lacks a field
/// publishing needs (checked before building), or a component that is not
/// the world, contract or capabilities the manifest declares.
pub fn package_plugin(path: &Path) -> anyhow::Result<Package> {
    let (manifest_path, manifest_text, manifest) = publishable_manifest(path)?;
    let component = if path.is_dir() {
        Builder::for_crate(path)?.build_crate(path)?.path
    } else {
        path.to_path_buf()
    };
    let bytes = std::fs::read(&component).with_context(|| format!("cannot read {}", component.display()))?;
    check_component(&bytes, &manifest).with_context(|| {
        format!(
            "{} does not match {}",
            component.display(),
            manifest_path.display()
        )
    })?;
    Ok(Package::new(&manifest_text, bytes)?)
}

/// The `plugin.toml` beside `path` (a crate directory or a `.wasm`): its
/// path, text and contents, refused unless it has every field publishing
/// needs.
fn publishable_manifest(path: &Path) -> anyhow::Result<(PathBuf, String, Manifest)> {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let manifest_path = dir.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest = Manifest::parse_publishable(&text)
        .with_context(|| format!("{} cannot be packaged", manifest_path.display()))?;
    Ok((manifest_path, text, manifest))
}

/// The checks `publish` makes of the component against its manifest.
fn check_component(component: &[u8], manifest: &Manifest) -> anyhow::Result<()> {
    let shape = detect::read_shape(component)?;
    let target = detect::target(&shape)?;
    if target.kind != manifest.plugin.kind {
        bail!(
            "the component is a {}: set `kind = \"{}\"` in plugin.toml",
            target.kind,
            target.kind
        );
    }
    if target.contract.major != manifest.plugin.contract.major {
        bail!(
            "the component targets contract {}: set `contract = \"{}\"` in plugin.toml",
            target.contract,
            target.contract
        );
    }
    check_declared(&shape, manifest)?;
    Ok(())
}

fn read_package(path: &Path) -> anyhow::Result<Package> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Package::from_bytes(&bytes)?)
}

fn write_package(package: &Package, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, package.to_bytes()?).with_context(|| format!("cannot write {}", path.display()))
}

/// `omnify plugin keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = PublisherKey::generate(&args.publisher)?;
    key.save(&args.out)?;
    println!("secret key: {} (keep it private)", args.out.display());
    println!("public key: {}", key.public_key_hex());
    println!("key id:     {}", key_id(&key.public_key_hex()));
    Ok(ExitCode::SUCCESS)
}

/// `omnify plugin pack`.
pub fn pack(args: PackArgs) -> anyhow::Result<ExitCode> {
    // A key that cannot sign for the publisher is refused before building.
    let key = args.key.as_deref().map(PublisherKey::load).transpose()?;
    if let Some(key) = &key {
        require_signer(key, &publishable_manifest(&args.plugin)?.2)?;
    }
    let mut package = package_plugin(&args.plugin)?;
    if let Some(key) = &key {
        package.sign(key);
    }
    let out = args.out.unwrap_or_else(|| PathBuf::from(package.file_name()));
    write_package(&package, &out)?;
    let signed = if package.signature().is_some() {
        "signed"
    } else {
        "unsigned"
    };
    println!(
        "{} ({signed}, component sha256 {})",
        out.display(),
        package.digest()
    );
    Ok(ExitCode::SUCCESS)
}

/// `omnify plugin sign`.
pub fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let mut package = read_package(&args.package)?;
    let key = PublisherKey::load(&args.key)?;
    require_signer(&key, package.manifest())?;
    package.sign(&key);
    write_package(&package, &args.package)?;
    println!(
        "signed {} with key {}",
        args.package.display(),
        key_id(&key.public_key_hex())
    );
    Ok(ExitCode::SUCCESS)
}

/// Refuse a key of another publisher than the package's: `publish` would.
fn require_signer(key: &PublisherKey, manifest: &Manifest) -> anyhow::Result<()> {
    let publisher = &manifest.plugin.publisher;
    if key.publisher() != publisher {
        bail!(
            "the key signs for `{}` but the package's publisher is `{publisher}`: sign with a key made by \
             `omnify plugin keygen --publisher {publisher}`, or set `publisher = \"{}\"` in plugin.toml",
            key.publisher(),
            key.publisher()
        );
    }
    Ok(())
}

/// What `inspect` and `verify` find in a package.
struct Findings {
    lines: Vec<String>,
    problems: Vec<String>,
}

fn examine(args: &PackageArgs) -> anyhow::Result<Findings> {
    let package = read_package(&args.package)?;
    let manifest = package.manifest();
    let mut lines = vec![
        format!("plugin:    {} {}", manifest.plugin.name, manifest.plugin.version),
        format!(
            "kind:      {} (contract {})",
            manifest.plugin.kind, manifest.plugin.contract
        ),
        format!("publisher: {}", manifest.plugin.publisher),
        format!("digest:    sha256:{}", package.digest()),
    ];
    let mut problems = Vec::new();
    if let Err(error) = Manifest::parse_publishable(package.manifest_text()) {
        problems.push(error.to_string());
    }
    match detect::read_shape(package.component()).and_then(|shape| Ok((detect::target(&shape)?, shape))) {
        Ok((target, shape)) => {
            lines.push(format!("world:     {} {}", target.kind, target.contract));
            lines.push(format!("imports:   {}", shape.imports.join(", ")));
            lines.push(format!("exports:   {}", shape.exports.join(", ")));
            if target.kind != manifest.plugin.kind {
                problems.push(format!(
                    "plugin.toml says {} but the component is a {}",
                    manifest.plugin.kind, target.kind
                ));
            }
            if let Err(error) = check_declared(&shape, manifest) {
                problems.push(error.to_string());
            }
        }
        Err(error) => problems.push(error.to_string()),
    }
    match package.verify() {
        Ok(signature) => {
            lines.push(format!(
                "signed by: {} (key {})",
                signature.publisher,
                signature.key_id()
            ));
            if !args.trusted.is_empty() && !args.trusted.contains(&signature.public_key) {
                problems.push(format!(
                    "key {} is not one of the trusted keys given",
                    signature.key_id()
                ));
            }
        }
        Err(error) => problems.push(error.to_string()),
    }
    Ok(Findings { lines, problems })
}

/// `omnify plugin inspect`: what the package holds, and any problem.
pub fn inspect(args: PackageArgs) -> anyhow::Result<ExitCode> {
    let findings = examine(&args)?;
    for line in &findings.lines {
        println!("{line}");
    }
    for problem in &findings.problems {
        println!("problem:   {problem}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `omnify plugin verify`: fails unless the package is sound and signed.
pub fn verify(args: PackageArgs) -> anyhow::Result<ExitCode> {
    let findings = examine(&args)?;
    if findings.problems.is_empty() {
        println!("{}: ok", args.package.display());
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &findings.problems {
            eprintln!("{}: {problem}", args.package.display());
        }
        Ok(ExitCode::FAILURE)
    }
}

/// `omnify plugin publish`.
pub async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.package).with_context(|| format!("cannot read {}", args.package.display()))?;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/plugins", args.server.trim_end_matches('/')))
        .bearer_auth(&args.token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", args.server))?;
    let status = response.status();
    let body: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap_or_default()).unwrap_or_default();
    if status.is_success() {
        println!(
            "published {} {}",
            body["name"].as_str().unwrap_or("?"),
            body["version"].as_str().unwrap_or("?")
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: {}",
            body["error"]["message"].as_str().unwrap_or(status.as_str())
        );
        Ok(ExitCode::FAILURE)
    }
}
