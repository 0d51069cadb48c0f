//! Building plugin crates into WebAssembly components.
//!
//! A plugin is an ordinary Rust `cdylib` crate; building it for
//! `wasm32-wasip2` makes the linker emit a component directly. This module
//! runs that build, installing the target with rustup when it is missing
//! (cargo does not do that by itself), and keeps the output in a target
//! directory of its own so that it never waits on the lock of a cargo that
//! is already running (for example when called from a build script).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// The cargo profile plugins are built with (defined in the workspace).
pub const PLUGIN_PROFILE: &str = "plugin";

/// Why a plugin could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A tool could not be started.
    #[error("cannot run `{tool}`: {source}")]
    Spawn {
        /// The program.
        tool: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The wasm target is missing and could not be installed.
    #[error("the {WASM_TARGET} target is not installed and `rustup target add {WASM_TARGET}` failed: {0}")]
    Target(String),
    /// cargo reported a failure; its output was passed through.
    #[error("building {what} failed (cargo exited with {status})")]
    Cargo {
        /// What was being built.
        what: String,
        /// cargo's exit status.
        status: std::process::ExitStatus,
    },
    /// The directory is not a crate.
    #[error("{0} has no Cargo.toml")]
    NotACrate(String),
    /// cargo's metadata could not be read.
    #[error("cannot read the crate's metadata: {0}")]
    Metadata(String),
    /// The build succeeded but the component is not where it should be.
    #[error("cargo succeeded but {0} does not exist; is the crate a `cdylib`?")]
    Missing(String),
}

/// A built component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltComponent {
    /// The cargo package name.
    pub package: String,
    /// The `.wasm` file.
    pub path: PathBuf,
}

/// How to build: where cargo runs and where the output goes.
#[derive(Debug, Clone)]
pub struct Builder {
    cargo: OsString,
    target_dir: PathBuf,
}

impl Builder {
    /// A builder writing into `target_dir`. It uses the `cargo` that is
    /// running this process when there is one (the `CARGO` variable), so the
    /// toolchain matches.
    pub fn new(target_dir: impl Into<PathBuf>) -> Self {
        Self {
            cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            target_dir: target_dir.into(),
        }
    }

    /// Build the packages `packages` of the workspace whose manifest is
    /// `workspace_manifest`, in one cargo invocation.
    pub fn build_packages(
        &self,
        workspace_manifest: &Path,
        packages: &[&str],
    ) -> Result<Vec<BuiltComponent>, BuildError> {
        ensure_wasm_target()?;
        let mut command = self.cargo_command();
        command.arg("--manifest-path").arg(workspace_manifest);
        for package in packages {
            command.args(["-p", package]);
        }
        run(command, &packages.join(", "))?;
        packages.iter().map(|package| self.output_of(package)).collect()
    }

    /// A builder for the crate in `dir`, writing into `target/wasm` of the
    /// crate's workspace (the crate's own directory when it has none).
    pub fn for_crate(dir: &Path) -> Result<Self, BuildError> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return Err(BuildError::NotACrate(dir.display().to_string()));
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(&cargo)
            .args([
                "locate-project",
                "--workspace",
                "--message-format",
                "plain",
                "--manifest-path",
            ])
            .arg(&manifest)
            .output()
            .map_err(|source| BuildError::Spawn {
                tool: "cargo".into(),
                source,
            })?;
        if !output.status.success() {
            return Err(BuildError::Metadata(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ));
        }
        let root_manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let root = root_manifest.parent().unwrap_or(dir);
        Ok(Self::new(root.join("target").join("wasm")))
    }

    /// Build the crate in `dir` (a plugin partner's crate).
    pub fn build_crate(&self, dir: &Path) -> Result<BuiltComponent, BuildError> {
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return Err(BuildError::NotACrate(dir.display().to_string()));
        }
        let package = package_name(&manifest)?;
        ensure_wasm_target()?;
        let mut command = self.cargo_command();
        command.arg("--manifest-path").arg(&manifest);
        run(command, &package)?;
        self.output_of(&package)
    }

    fn cargo_command(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command
            .args(["build", "--target", WASM_TARGET, "--profile", PLUGIN_PROFILE])
            .arg("--target-dir")
            .arg(&self.target_dir);
        // Variables an enclosing cargo sets for its own build must not leak
        // into this one: they name another target, flags or a wrapper.
        for name in [
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "RUSTC_WRAPPER",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            command.env_remove(name);
        }
        command
    }

    fn output_of(&self, package: &str) -> Result<BuiltComponent, BuildError> {
        let path = self
            .target_dir
            .join(WASM_TARGET)
            .join(PLUGIN_PROFILE)
            .join(format!("{}.wasm", package.replace('-', "_")));
        if !path.is_file() {
            return Err(BuildError::Missing(path.display().to_string()));
        }
        Ok(BuiltComponent {
            package: package.to_string(),
            path,
        })
    }
}

fn run(mut command: Command, what: &str) -> Result<(), BuildError> {
    let status = command.status().map_err(|source| BuildError::Spawn {
        tool: "cargo".into(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Cargo {
            what: what.to_string(),
            status,
        })
    }
}

/// Install the wasm target with rustup if the active toolchain lacks it.
pub fn ensure_wasm_target() -> Result<(), BuildError> {
    if wasm_target_installed() {
        return Ok(());
    }
    let output = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .output()
        .map_err(|e| BuildError::Target(format!("cannot run rustup: {e}")))?;
    if output.status.success() && wasm_target_installed() {
        Ok(())
    } else {
        Err(BuildError::Target(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ))
    }
}

fn wasm_target_installed() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|dir| dir.is_dir())
}

/// The `[package] name` of a crate manifest.
fn package_name(manifest: &Path) -> Result<String, BuildError> {
    #[derive(serde::Deserialize)]
    struct CargoToml {
        package: Option<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
    }
    let text = std::fs::read_to_string(manifest).map_err(|e| BuildError::Metadata(e.to_string()))?;
    let parsed: CargoToml = toml::from_str(&text).map_err(|e| BuildError::Metadata(e.to_string()))?;
    parsed
        .package
        .map(|p| p.name)
        .ok_or_else(|| BuildError::Metadata(format!("{} has no [package]", manifest.display())))
}
