//! Building plugin crates into WebAssembly components.
//!
//! A plugin is an ordinary Rust `cdylib` crate; building it for
//! `wasm32-wasip2` makes the linker emit a component directly. This module
//! runs that build, installing the target with rustup when it is missing
//! (cargo does not do that by itself), and keeps the output in a target
//! directory of its own so that it never waits on the lock of a cargo that
//! is already running (for example when called from a build script).
//!
//! The `plugin` profile is passed to cargo on the command line (as
//! `--config profile.plugin.*`), so a partner's crate needs no profile of
//! its own; a crate that defines `[profile.plugin]` keeps its other settings.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use thiserror::Error;

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// The cargo profile plugins are built with; see [`PROFILE_SETTINGS`].
pub const PLUGIN_PROFILE: &str = "plugin";

/// The settings of [`PLUGIN_PROFILE`], given to cargo as `--config` values:
/// cargo accepts a custom profile defined in configuration, which takes
/// precedence over the same keys in a `Cargo.toml`.
pub const PROFILE_SETTINGS: [&str; 3] = [
    "profile.plugin.inherits=\"release\"",
    "profile.plugin.debug=false",
    "profile.plugin.strip=\"debuginfo\"",
];

/// The variable that chooses where [`Builder::for_crate`] builds, instead
/// of `target/wasm` of the crate's workspace.
pub const TARGET_DIR_VAR: &str = "OMNIFY_PLUGIN_TARGET_DIR";

/// How many of cargo's last stderr lines are kept to explain a failure.
const KEPT_STDERR_LINES: usize = 400;

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
    #[error("building {what} failed (cargo exited with {status}; its messages are above): {advice}")]
    Cargo {
        /// What was being built.
        what: String,
        /// cargo's exit status.
        status: std::process::ExitStatus,
        /// What to change, read from cargo's messages.
        advice: String,
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
        let target_dir = target_dir.into();
        Self {
            cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            // cargo runs in the crate's directory: a relative path would
            // then name another place than the caller meant.
            target_dir: std::path::absolute(&target_dir).unwrap_or(target_dir),
        }
    }

    /// Where this builder writes.
    pub fn target_dir(&self) -> &Path {
        &self.target_dir
    }

    /// Build the packages `packages` of the workspace whose manifest is
    /// `workspace_manifest`, in one cargo invocation.
    pub fn build_packages(
        &self,
        workspace_manifest: &Path,
        packages: &[&str],
    ) -> Result<Vec<BuiltComponent>, BuildError> {
        ensure_wasm_target(workspace_manifest.parent().unwrap_or(Path::new(".")))?;
        let mut command = self.cargo_command();
        command.arg("--manifest-path").arg(workspace_manifest);
        for package in packages {
            command.args(["-p", package]);
        }
        let dir = workspace_manifest.parent().unwrap_or(Path::new("."));
        run(command, &packages.join(", "), dir)?;
        packages.iter().map(|package| self.output_of(package)).collect()
    }

    /// A builder for the crate in `dir`, writing into the directory
    /// [`TARGET_DIR_VAR`] names, else into `target/wasm` of the crate's
    /// workspace (the crate's own directory when it has none).
    pub fn for_crate(dir: &Path) -> Result<Self, BuildError> {
        let dir = &absolute(dir);
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return Err(BuildError::NotACrate(dir.display().to_string()));
        }
        if let Some(target_dir) = std::env::var_os(TARGET_DIR_VAR).filter(|d| !d.is_empty()) {
            return Ok(Self::new(target_dir));
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        // In the crate's directory, so that rustup picks the toolchain its
        // rust-toolchain.toml names and cargo reads its configuration.
        let output = Command::new(&cargo)
            .current_dir(dir)
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
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            let lines: Vec<String> = stderr.lines().map(without_colours).collect();
            return Err(BuildError::Metadata(format!("{stderr}\n{}", advice(&lines, dir))));
        }
        let root_manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let root = root_manifest.parent().unwrap_or(dir);
        Ok(Self::new(root.join("target").join("wasm")))
    }

    /// Build the crate in `dir` (a plugin partner's crate).
    pub fn build_crate(&self, dir: &Path) -> Result<BuiltComponent, BuildError> {
        let dir = &absolute(dir);
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            return Err(BuildError::NotACrate(dir.display().to_string()));
        }
        let package = package_name(&manifest)?;
        ensure_wasm_target(dir)?;
        let mut command = self.cargo_command();
        command.current_dir(dir).arg("--manifest-path").arg(&manifest);
        run(command, &package, dir)?;
        self.output_of(&package)
    }

    fn cargo_command(&self) -> Command {
        let mut command = Command::new(&self.cargo);
        command
            .args(["build", "--target", WASM_TARGET, "--profile", PLUGIN_PROFILE])
            .arg("--target-dir")
            .arg(&self.target_dir);
        for setting in PROFILE_SETTINGS {
            command.args(["--config", setting]);
        }
        // cargo's stderr is read through a pipe (see `run`): keep its colours
        // when the person watching has a terminal.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            command.args(["--color", "always"]);
        }
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

/// Run cargo, passing its messages through and keeping the last of them to
/// say what to change when it fails.
fn run(mut command: Command, what: &str, dir: &Path) -> Result<(), BuildError> {
    let spawn_error = |source| BuildError::Spawn {
        tool: "cargo".into(),
        source,
    };
    let mut child = command.stderr(Stdio::piped()).spawn().map_err(spawn_error)?;
    let mut kept = VecDeque::with_capacity(KEPT_STDERR_LINES);
    if let Some(stderr) = child.stderr.take() {
        let mut out = std::io::stderr();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // The partner watches the build: pass each line on as it comes.
            let _ = writeln!(out, "{line}");
            if kept.len() == KEPT_STDERR_LINES {
                kept.pop_front();
            }
            kept.push_back(without_colours(&line));
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    if status.success() {
        Ok(())
    } else {
        let lines: Vec<String> = kept.into();
        Err(BuildError::Cargo {
            what: what.to_string(),
            status,
            advice: advice(&lines, dir),
        })
    }
}

/// `path` made absolute against the current directory, as given when that
/// fails (the current directory was removed).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `line` without its terminal colour sequences (`ESC [ … m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What to change, judged from cargo's messages for the crate in `dir`.
fn advice(lines: &[String], dir: &Path) -> String {
    let has = |needle: &str| lines.iter().any(|line| line.contains(needle));
    let dir = dir.display();
    if has("omnify-sdk")
        && (has("failed to load source") || has("failed to read") || has("no matching package"))
    {
        format!(
            "cargo cannot find the SDK: in {dir}/Cargo.toml, point the dependency at an Omnify checkout, \
             `omnify-sdk = {{ version = \"0.1\", path = \"<checkout>/sdk\" }}`"
        )
    } else if has("believes it's in a workspace when it's not") {
        format!(
            "the crate sits inside another workspace: add an empty `[workspace]` table to {dir}/Cargo.toml"
        )
    } else if has("can't find crate for `core`") || has("can't find crate for `std`") {
        format!(
            "the toolchain that builds {dir} lacks the {WASM_TARGET} target: run `rustup target add {WASM_TARGET}` \
             in {dir}, or list it under `targets` in its rust-toolchain.toml"
        )
    } else if has("requires rustc") || has("feature `edition2024` is required") {
        format!("the toolchain is too old: pin `channel = \"1.95.0\"` in {dir}/rust-toolchain.toml")
    } else if lines
        .iter()
        .any(|line| line.starts_with("error[E") || line.starts_with("error: could not compile"))
    {
        format!(
            "fix the compile errors above; `cargo build --target {WASM_TARGET}` in {dir} shows them again"
        )
    } else {
        format!("fix what cargo reports above; `cargo build --target {WASM_TARGET}` in {dir} reproduces it")
    }
}

/// Install the wasm target with rustup if the toolchain active in `dir`
/// lacks it.
pub fn ensure_wasm_target(dir: &Path) -> Result<(), BuildError> {
    if wasm_target_installed(dir) {
        return Ok(());
    }
    let output = Command::new("rustup")
        .current_dir(dir)
        .args(["target", "add", WASM_TARGET])
        .output()
        .map_err(|e| BuildError::Target(format!("cannot run rustup: {e}")))?;
    if output.status.success() && wasm_target_installed(dir) {
        Ok(())
    } else {
        Err(BuildError::Target(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ))
    }
}

fn wasm_target_installed(dir: &Path) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .current_dir(dir)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(without_colours).collect()
    }

    #[test]
    fn colour_sequences_are_removed() {
        assert_eq!(
            without_colours("\u{1b}[1m\u{1b}[91merror\u{1b}[0m\u{1b}[1m: could not compile\u{1b}[0m"),
            "error: could not compile"
        );
        assert_eq!(without_colours("plain"), "plain");
    }

    #[test]
    fn advice_says_what_to_change() {
        let dir = Path::new("/home/p/acme");
        let cases = [
            (
                "error: failed to load source for dependency `omnify-sdk`\nCaused by: failed to read `/x/sdk/Cargo.toml`",
                "point the dependency at an Omnify checkout",
            ),
            (
                "error: current package believes it's in a workspace when it's not:",
                "add an empty `[workspace]` table to /home/p/acme/Cargo.toml",
            ),
            (
                "error[E0463]: can't find crate for `core`",
                "rustup target add wasm32-wasip2",
            ),
            (
                "error[E0425]: cannot find value `x` in this scope\nerror: could not compile `acme`",
                "fix the compile errors above",
            ),
            ("something else", "fix what cargo reports above"),
        ];
        for (stderr, expected) in cases {
            let advice = advice(&lines(stderr), dir);
            assert!(advice.contains(expected), "`{advice}` should say `{expected}`");
        }
    }

    #[test]
    fn the_profile_is_given_on_the_command_line() {
        let command = Builder::new("/tmp/out").cargo_command();
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for setting in PROFILE_SETTINGS {
            let at = args
                .iter()
                .position(|a| a == setting)
                .expect("each setting is passed");
            assert_eq!(args[at - 1], "--config");
        }
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--profile" && w[1] == PLUGIN_PROFILE)
        );
    }
}
