//! The package file: one tar archive holding `plugin.toml`, the component
//! (`component.wasm`) and, once signed, `signature.json`, so that a plugin
//! is copied and published as a unit.

use crate::manifest::{Manifest, ManifestError};
use crate::signing::{PackageSignature, PublisherKey, SignatureError};
use sha2::{Digest, Sha256};
use std::io::Read;
use thiserror::Error;

const MANIFEST_ENTRY: &str = "plugin.toml";
const COMPONENT_ENTRY: &str = "component.wasm";
const SIGNATURE_ENTRY: &str = "signature.json";

/// The largest file inside a package.
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;

/// Why a package could not be built or read.
#[derive(Debug, Error)]
pub enum PackageError {
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The archive is malformed.
    #[error("the package is not a valid archive: {0}")]
    Archive(String),
    /// A required file is missing.
    #[error("the package has no `{0}`")]
    Missing(&'static str),
    /// The archive holds something it should not.
    #[error("the package holds an unexpected entry `{0}`")]
    Unexpected(String),
    /// The package carries no signature.
    #[error("the package is not signed")]
    Unsigned,
    /// The signature does not hold.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// A plugin package in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    manifest_text: String,
    manifest: Manifest,
    component: Vec<u8>,
    signature: Option<PackageSignature>,
}

impl Package {
    /// A package of `manifest_text` and `component`, unsigned.
    pub fn new(manifest_text: &str, component: Vec<u8>) -> Result<Self, PackageError> {
        Ok(Self {
            manifest: Manifest::parse(manifest_text)?,
            manifest_text: manifest_text.to_string(),
            component,
            signature: None,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest as written.
    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// The component's bytes.
    pub fn component(&self) -> &[u8] {
        &self.component
    }

    /// The sha256 of the component, hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(&self.component))
    }

    /// The signature, if the package is signed.
    pub fn signature(&self) -> Option<&PackageSignature> {
        self.signature.as_ref()
    }

    /// `name-version.omnify`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}.omnify",
            self.manifest.plugin.name, self.manifest.plugin.version
        )
    }

    /// Sign (or re-sign) the package with `key`.
    pub fn sign(&mut self, key: &PublisherKey) {
        self.signature = Some(key.sign(self.manifest_text.as_bytes(), &self.component));
    }

    /// Check that the package is signed and that the signature matches its
    /// files; returns the signature so the caller can check who signed.
    pub fn verify(&self) -> Result<&PackageSignature, PackageError> {
        let signature = self.signature.as_ref().ok_or(PackageError::Unsigned)?;
        signature.verify(self.manifest_text.as_bytes(), &self.component)?;
        Ok(signature)
    }

    /// The package as a tar archive.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackageError> {
        let archive_error = |e: std::io::Error| PackageError::Archive(e.to_string());
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |name: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, bytes)
        };
        add(MANIFEST_ENTRY, self.manifest_text.as_bytes()).map_err(archive_error)?;
        add(COMPONENT_ENTRY, &self.component).map_err(archive_error)?;
        if let Some(signature) = &self.signature {
            let json =
                serde_json::to_vec_pretty(signature).map_err(|e| PackageError::Archive(e.to_string()))?;
            add(SIGNATURE_ENTRY, &json).map_err(archive_error)?;
        }
        builder.into_inner().map_err(archive_error)
    }

    /// Read a package written by [`Package::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackageError> {
        let archive_error = |e: std::io::Error| PackageError::Archive(e.to_string());
        let (mut manifest, mut component, mut signature) = (None, None, None);
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().map_err(archive_error)? {
            let mut entry = entry.map_err(archive_error)?;
            let name = entry
                .path()
                .map_err(archive_error)?
                .to_string_lossy()
                .into_owned();
            if entry.header().size().map_err(archive_error)? > MAX_ENTRY_BYTES {
                return Err(PackageError::Archive(format!(
                    "`{name}` is larger than {MAX_ENTRY_BYTES} bytes"
                )));
            }
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(archive_error)?;
            let slot = match name.as_str() {
                MANIFEST_ENTRY => &mut manifest,
                COMPONENT_ENTRY => &mut component,
                SIGNATURE_ENTRY => &mut signature,
                _ => return Err(PackageError::Unexpected(name)),
            };
            if slot.replace(content).is_some() {
                return Err(PackageError::Archive(format!("`{name}` appears twice")));
            }
        }
        let manifest_text = String::from_utf8(manifest.ok_or(PackageError::Missing(MANIFEST_ENTRY))?)
            .map_err(|_| PackageError::Archive("plugin.toml is not UTF-8".into()))?;
        let mut package = Self::new(
            &manifest_text,
            component.ok_or(PackageError::Missing(COMPONENT_ENTRY))?,
        )?;
        package.signature = signature
            .map(|json| serde_json::from_slice(&json))
            .transpose()
            .map_err(|e| PackageError::Archive(format!("signature.json: {e}")))?;
        Ok(package)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
        [plugin]
        name = "stripe"
        version = "1.2.0"
        kind = "connector"
        contract = "1.0.0"
    "#;

    #[test]
    fn a_signed_package_round_trips_and_verifies() {
        let key = PublisherKey::generate("omnify").expect("key");
        let mut package = Package::new(MANIFEST, b"\0asm component".to_vec()).expect("package");
        assert!(matches!(package.verify(), Err(PackageError::Unsigned)));
        package.sign(&key);
        let read = Package::from_bytes(&package.to_bytes().expect("archive")).expect("read");
        assert_eq!(read, package);
        assert_eq!(read.verify().expect("valid").publisher, "omnify");
        assert_eq!(read.file_name(), "stripe-1.2.0.omnify");
    }

    #[test]
    fn tampering_with_either_file_breaks_the_signature() {
        let key = PublisherKey::generate("omnify").expect("key");
        let mut package = Package::new(MANIFEST, b"\0asm component".to_vec()).expect("package");
        package.sign(&key);
        let mut tampered_component = package.clone();
        tampered_component.component.push(0);
        assert!(matches!(
            tampered_component.verify(),
            Err(PackageError::Signature(SignatureError::Mismatch))
        ));
        let mut tampered_manifest = package.clone();
        tampered_manifest.manifest_text = MANIFEST.replace("1.2.0", "1.2.1");
        assert!(matches!(
            tampered_manifest.verify(),
            Err(PackageError::Signature(SignatureError::Mismatch))
        ));
    }

    #[test]
    fn malformed_archives_are_refused() {
        assert!(matches!(
            Package::from_bytes(b"not a tar file at all"),
            Err(PackageError::Archive(_)) | Err(PackageError::Missing(_))
        ));
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_cksum();
        builder
            .append_data(&mut header, "extra.sh", &b"hi"[..])
            .expect("append");
        let bytes = builder.into_inner().expect("archive");
        assert!(
            matches!(Package::from_bytes(&bytes), Err(PackageError::Unexpected(name)) if name == "extra.sh")
        );
    }
}
