//! Build every guest component the tests load, once per change of their
//! sources, into `target/wasm` (a directory of its own, so this nested cargo
//! never waits on the lock of the cargo running this script).

use omnify_registry::Builder;
use std::path::Path;

/// The components the tests use: the partner example and the test guests.
const GUESTS: [&str; 6] = [
    "hello-connector",
    "hostile",
    "data-agent",
    "wrong-major",
    "foreign-import",
    "paged-source",
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace");
    for watched in [
        "sdk",
        "wit",
        "examples/hello-connector",
        "tests/guests",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let built = Builder::new(root.join("target").join("wasm"))
        .build_packages(&root.join("Cargo.toml"), &GUESTS)
        .unwrap_or_else(|error| panic!("cannot build the test guests: {error}"));
    for component in built {
        let name = component.package.to_uppercase().replace('-', "_");
        println!("cargo:rustc-env=OMNIFY_GUEST_{name}={}", component.path.display());
    }
}
