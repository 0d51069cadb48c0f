//! Omnify plugin packages: the `plugin.toml` manifest and building a plugin
//! crate into a WebAssembly component. Signing, verification and semver
//! resolution of published packages belong here too.

pub mod build;
pub mod manifest;

pub use build::{BuildError, Builder, BuiltComponent};
pub use manifest::{Capabilities, Manifest, ManifestError, PluginInfo, PluginKind, RequestedLimits};
