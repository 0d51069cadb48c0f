//! Build every component the tests load, once per change of their sources,
//! into `target/wasm` (a directory of its own, so this nested cargo never
//! waits on the lock of the cargo running this script).
//!
//! The test guests must build. Each first-party plugin is built on its own:
//! one that does not build fails only the tests that load it, with the
//! compiler's message as a build warning.

use omnify_registry::Builder;
use std::path::Path;

/// The partner example and the test guests.
const GUESTS: [&str; 10] = [
    "hello-connector",
    "hostile",
    "data-agent",
    "wrong-major",
    "foreign-import",
    "paged-source",
    "v1-0-connector",
    "v1-0-agent",
    "versioned",
    "versioned-next",
];

/// The first-party plugins in `plugins/`.
const PLUGINS: &[&str] = &[
    "meta-ads",
    "google-ads",
    "tiktok-ads",
    "linkedin-ads",
    "shopify",
    "stripe",
    "gohighlevel",
    "analytics",
    "creative",
    "client-learning",
];

fn env_name(package: &str) -> String {
    package.to_uppercase().replace('-', "_")
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace");
    for watched in [
        "sdk",
        "wit",
        "examples/hello-connector",
        "tests/guests",
        "plugins",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let builder = Builder::new(root.join("target").join("wasm"));
    let manifest = root.join("Cargo.toml");
    let built = builder
        .build_packages(&manifest, &GUESTS)
        .unwrap_or_else(|error| panic!("cannot build the test guests: {error}"));
    for component in built {
        let name = env_name(&component.package);
        println!("cargo:rustc-env=OMNIFY_GUEST_{name}={}", component.path.display());
    }
    for &plugin in PLUGINS {
        let path = match builder.build_packages(&manifest, &[plugin]) {
            Ok(built) => built
                .into_iter()
                .next()
                .map(|c| c.path.display().to_string())
                .unwrap_or_default(),
            Err(error) => {
                for line in error.to_string().lines() {
                    println!("cargo:warning={plugin}: {line}");
                }
                String::new()
            }
        };
        println!("cargo:rustc-env=OMNIFY_PLUGIN_{}={path}", env_name(plugin));
    }
}
