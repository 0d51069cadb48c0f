//! Omnify plugin packages: the `plugin.toml` manifest, building a plugin
//! crate into a WebAssembly component, the package file, publisher keys and
//! signatures, and semver resolution.

pub mod build;
pub mod manifest;
pub mod package;
pub mod resolve;
pub mod signing;

pub use build::{BuildError, Builder, BuiltComponent};
pub use manifest::{
    Capabilities, ClientAuth, Manifest, ManifestError, OAuthRequest, PluginInfo, PluginKind, RequestedLimits,
};
pub use package::{Package, PackageError};
pub use resolve::{Candidate, resolve};
pub use signing::{PackageSignature, PublisherKey, SignatureError};
