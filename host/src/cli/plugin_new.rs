//! `omnify plugin new`: a plugin crate that builds, tests and runs outside
//! this repository, from the templates in `scaffold/`.

use clap::Args;
use omnify_registry::manifest::{RESERVED_NAMES, is_plugin_name, is_publisher_name};
use omnify_runtime::plugin::CONTRACT_VERSION;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use thiserror::Error;

/// Arguments of `omnify plugin new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name, also its crate's and directory's: lower-case
    /// letters, digits and `-`, starting with a letter.
    name: String,
    /// Make an agent instead of a connector.
    #[arg(long)]
    agent: bool,
    /// The directory to create the crate in.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The SDK to depend on: the `sdk` directory of an Omnify checkout. By
    /// default, the one of the checkout this binary was built from.
    #[arg(long)]
    sdk: Option<PathBuf>,
    /// The publisher written in `plugin.toml`: the name your signing key is
    /// made for.
    #[arg(long, default_value = "your-company")]
    publisher: String,
}

/// Why a crate was not created.
#[derive(Debug, Error)]
pub enum NewError {
    /// The name cannot name a plugin.
    #[error(
        "`{0}` cannot name a plugin: use 1 to 64 lower-case letters, digits or `-`, starting with a letter (for example `acme-ads`)"
    )]
    Name(String),
    /// The name is the host's own.
    #[error("`{0}` is reserved for the host's own records; choose another name")]
    Reserved(String),
    /// The publisher cannot name a publisher.
    #[error(
        "`{0}` cannot name a publisher: use 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
    )]
    Publisher(String),
    /// The directory exists and holds something.
    #[error("{0} already exists and is not empty; choose another name or `--dir`, or empty it")]
    NotEmpty(String),
    /// `--sdk` does not name the SDK.
    #[error(
        "{0} is not the Omnify SDK (no Cargo.toml of `omnify-sdk` there); pass the `sdk` directory of an Omnify checkout"
    )]
    NotSdk(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What a new crate is made of: the plugin's kind and the values its
/// templates are filled with.
#[derive(Debug, Clone)]
pub struct Scaffold {
    /// The plugin's name.
    pub name: String,
    /// An agent rather than a connector.
    pub agent: bool,
    /// The `publisher` of its manifest.
    pub publisher: String,
    /// The SDK's directory, or `None` to depend on the registry's `omnify-sdk`.
    pub sdk: Option<PathBuf>,
}

/// The SDK of the checkout this binary was built from, if it is still there.
pub fn default_sdk() -> Option<PathBuf> {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk"));
    path.join("Cargo.toml")
        .is_file()
        .then(|| path.canonicalize().ok())
        .flatten()
}

impl Scaffold {
    /// The `omnify-sdk` line of `Cargo.toml`.
    pub fn sdk_dependency(&self) -> String {
        match &self.sdk {
            // TOML basic strings escape `\` and `"`; a Windows path has the first.
            Some(path) => format!(
                "omnify-sdk = {{ version = \"0.1\", path = \"{}\" }}",
                path.display()
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            ),
            None => "omnify-sdk = \"0.1\"".to_string(),
        }
    }

    /// The files of the crate, as paths relative to its directory and their
    /// contents.
    pub fn files(&self) -> Vec<(&'static str, String)> {
        let (kind, lib, manifest, run, harness_extra) = if self.agent {
            (
                "agent",
                include_str!("scaffold/agent.rs.tmpl"),
                include_str!("scaffold/plugin.agent.toml.tmpl"),
                include_str!("scaffold/run.agent.md.tmpl"),
                "and the synced\nrecords it reads",
            )
        } else {
            (
                "connector",
                include_str!("scaffold/connector.rs.tmpl"),
                include_str!("scaffold/plugin.connector.toml.tmpl"),
                include_str!("scaffold/run.connector.md.tmpl"),
                "and answers its\nHTTP requests with scripted replies (statuses, headers, bodies, 429s)",
            )
        };
        let sdk_line = self.sdk_dependency();
        let values = [
            ("{{run_section}}", run.trim_end()),
            ("{{name}}", &self.name),
            ("{{crate_name}}", &self.name.replace('-', "_")),
            ("{{type_name}}", &type_name(&self.name)),
            ("{{publisher}}", &self.publisher),
            ("{{contract}}", &CONTRACT_VERSION.to_string()),
            ("{{kind}}", kind),
            ("{{sdk_dependency}}", &sdk_line),
            ("{{sdk_line}}", &sdk_line),
            ("{{harness_extra}}", harness_extra),
        ];
        let fill = |template: &str| {
            values.iter().fold(template.to_string(), |text, (key, value)| {
                text.replace(key, value)
            })
        };
        vec![
            ("Cargo.toml", fill(include_str!("scaffold/Cargo.toml.tmpl"))),
            (
                "rust-toolchain.toml",
                fill(include_str!("scaffold/rust-toolchain.toml.tmpl")),
            ),
            ("plugin.toml", fill(manifest)),
            ("src/lib.rs", fill(lib)),
            ("README.md", fill(include_str!("scaffold/README.md.tmpl"))),
            (".gitignore", fill(include_str!("scaffold/gitignore.tmpl"))),
        ]
    }

    /// Write the crate into `dir`, which must not exist or be empty.
    pub fn write(&self, dir: &Path) -> Result<(), NewError> {
        let write_error = |path: &Path| {
            let path = path.display().to_string();
            move |source| NewError::Write { path, source }
        };
        if dir.exists() {
            let mut entries = std::fs::read_dir(dir).map_err(write_error(dir))?;
            if entries.next().is_some() {
                return Err(NewError::NotEmpty(dir.display().to_string()));
            }
        }
        for (relative, content) in self.files() {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
            std::fs::write(&path, content).map_err(write_error(&path))?;
        }
        Ok(())
    }
}

/// `acme-ads` → `AcmeAds`, the plugin's type in `src/lib.rs`.
fn type_name(name: &str) -> String {
    name.split('-')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// Check the arguments and decide what to write.
fn scaffold(args: &NewArgs) -> Result<Scaffold, NewError> {
    if !is_plugin_name(&args.name) {
        return Err(NewError::Name(args.name.clone()));
    }
    if RESERVED_NAMES.contains(&args.name.as_str()) {
        return Err(NewError::Reserved(args.name.clone()));
    }
    if !is_publisher_name(&args.publisher) {
        return Err(NewError::Publisher(args.publisher.clone()));
    }
    let sdk = match &args.sdk {
        Some(path) => {
            let is_sdk = std::fs::read_to_string(path.join("Cargo.toml"))
                .is_ok_and(|text| text.contains("name = \"omnify-sdk\""));
            if !is_sdk {
                return Err(NewError::NotSdk(path.display().to_string()));
            }
            Some(path.canonicalize().map_err(|source| NewError::Write {
                path: path.display().to_string(),
                source,
            })?)
        }
        None => default_sdk(),
    };
    Ok(Scaffold {
        name: args.name.clone(),
        agent: args.agent,
        publisher: args.publisher.clone(),
        sdk,
    })
}

/// Run the command.
pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let scaffold = scaffold(&args)?;
    let dir = args.dir.join(&args.name);
    scaffold.write(&dir)?;
    let kind = if scaffold.agent { "agent" } else { "connector" };
    println!("created the {kind} `{}` in {}", scaffold.name, dir.display());
    match &scaffold.sdk {
        Some(sdk) => println!("it depends on the SDK at {}", sdk.display()),
        None => eprintln!(
            "note: no Omnify checkout was found, so Cargo.toml says `omnify-sdk = \"0.1\"`; \
             point it at the SDK with `omnify-sdk = {{ version = \"0.1\", path = \"<checkout>/sdk\" }}` \
             (or run `omnify plugin new` again with `--sdk <checkout>/sdk`)"
        ),
    }
    println!(
        "next: cd {} && cargo test && omnify plugin run . spec",
        dir.display()
    );
    println!("      (its README.md says how to run, pack, sign and publish it)");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector() -> Scaffold {
        Scaffold {
            name: "acme-ads".into(),
            agent: false,
            publisher: "acme".into(),
            sdk: Some(PathBuf::from("/opt/omnify/sdk")),
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_the_manifest_is_publishable() {
        for scaffold in [
            connector(),
            Scaffold {
                agent: true,
                ..connector()
            },
        ] {
            let files = scaffold.files();
            for (path, content) in &files {
                assert!(!content.contains("{{"), "{path} keeps a placeholder");
            }
            let manifest = &files
                .iter()
                .find(|(path, _)| *path == "plugin.toml")
                .expect("a manifest")
                .1;
            let parsed = omnify_registry::Manifest::parse_publishable(manifest).expect("publishable");
            assert_eq!(parsed.plugin.name, "acme-ads");
            assert_eq!(parsed.plugin.contract, CONTRACT_VERSION);
            assert_eq!(parsed.plugin.publisher, "acme");
            let lib = &files
                .iter()
                .find(|(path, _)| *path == "src/lib.rs")
                .expect("lib")
                .1;
            assert!(lib.contains("pub struct AcmeAds;"), "{lib}");
        }
    }

    #[test]
    fn the_sdk_line_names_the_path_or_the_registry() {
        assert_eq!(
            connector().sdk_dependency(),
            "omnify-sdk = { version = \"0.1\", path = \"/opt/omnify/sdk\" }"
        );
        let registry = Scaffold {
            sdk: None,
            ..connector()
        };
        assert_eq!(registry.sdk_dependency(), "omnify-sdk = \"0.1\"");
        let cargo_toml = registry.files()[0].1.clone();
        assert!(cargo_toml.contains("\nomnify-sdk = \"0.1\"\n"), "{cargo_toml}");
    }

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("acme-ads"), "AcmeAds");
        assert_eq!(type_name("x2"), "X2");
        assert_eq!(type_name("a--b"), "AB");
    }
}
