//! Publisher keys and package signatures (ed25519).
//!
//! A signature covers the package's *statement*: a fixed label, the sha256
//! of the manifest text and the sha256 of the component. Changing either
//! file, or presenting a signature made for another package, fails
//! verification.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use thiserror::Error;

/// What is signed, before the two digests.
const STATEMENT_LABEL: &str = "omnify-plugin-package-v1";

/// Why a key could not be made, read or used.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// The key file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The key text is not a key.
    #[error("not an ed25519 key: {0}")]
    Malformed(String),
}

/// A publisher's secret signing key, as kept in a key file.
#[derive(Serialize, Deserialize)]
pub struct PublisherKeyFile {
    /// Who publishes with it.
    pub publisher: String,
    /// The public half, hex.
    pub public_key: String,
    /// The secret half, hex. Keep the file private.
    pub secret_key: String,
}

/// A publisher's signing key.
pub struct PublisherKey {
    publisher: String,
    key: SigningKey,
}

/// The public key of a publisher, hex-encoded.
pub fn key_id(public_key_hex: &str) -> String {
    hex::encode(&Sha256::digest(public_key_hex.as_bytes())[..8])
}

impl PublisherKey {
    /// A new random key for `publisher`.
    pub fn generate(publisher: &str) -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self {
            publisher: publisher.to_string(),
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// Who publishes with this key.
    pub fn publisher(&self) -> &str {
        &self.publisher
    }

    /// The public key, hex.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Sign the statement of a package.
    pub fn sign(&self, manifest: &[u8], component: &[u8]) -> PackageSignature {
        let signature = self.key.sign(&statement(manifest, component));
        PackageSignature {
            publisher: self.publisher.clone(),
            public_key: self.public_key_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Write the key to `path`, readable only by its owner.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let file = PublisherKeyFile {
            publisher: self.publisher.clone(),
            public_key: self.public_key_hex(),
            secret_key: hex::encode(self.key.to_bytes()),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| KeyError::Malformed(e.to_string()))?;
        write_private(path, text.as_bytes()).map_err(|e| KeyError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Read a key written by [`PublisherKey::save`].
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let file: PublisherKeyFile =
            serde_json::from_str(&text).map_err(|e| KeyError::Malformed(e.to_string()))?;
        let secret: [u8; 32] = hex::decode(&file.secret_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| KeyError::Malformed("the secret key must be 32 bytes of hex".into()))?;
        let key = SigningKey::from_bytes(&secret);
        if hex::encode(key.verifying_key().as_bytes()) != file.public_key {
            return Err(KeyError::Malformed(
                "the public key does not match the secret key".into(),
            ));
        }
        Ok(Self {
            publisher: file.publisher,
            key,
        })
    }
}

/// A publisher's signature over a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSignature {
    /// Who signed.
    pub publisher: String,
    /// The signer's public key, hex.
    pub public_key: String,
    /// The ed25519 signature of the statement, hex.
    pub signature: String,
}

/// Why a signature does not hold.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The public key or signature is not well-formed.
    #[error("the signature is malformed: {0}")]
    Malformed(String),
    /// The signature does not match the manifest and component.
    #[error(
        "the signature does not match the package: the manifest or the component was changed, or it was signed with another key"
    )]
    Mismatch,
}

/// Parse a hex ed25519 public key, refusing anything that is not one.
pub fn parse_public_key(public_key_hex: &str) -> Result<VerifyingKey, SignatureError> {
    let public: [u8; 32] = hex::decode(public_key_hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| SignatureError::Malformed("the public key must be 32 bytes of hex".into()))?;
    VerifyingKey::from_bytes(&public).map_err(|e| SignatureError::Malformed(e.to_string()))
}

impl PackageSignature {
    /// Check the signature against the package's files.
    pub fn verify(&self, manifest: &[u8], component: &[u8]) -> Result<(), SignatureError> {
        let key = parse_public_key(&self.public_key)?;
        let signature: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| SignatureError::Malformed("the signature must be 64 bytes of hex".into()))?;
        key.verify_strict(
            &statement(manifest, component),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| SignatureError::Mismatch)
    }

    /// The short id of the signing key.
    pub fn key_id(&self) -> String {
        key_id(&self.public_key)
    }
}

fn statement(manifest: &[u8], component: &[u8]) -> Vec<u8> {
    format!(
        "{STATEMENT_LABEL}\nmanifest sha256 {}\ncomponent sha256 {}\n",
        hex::encode(Sha256::digest(manifest)),
        hex::encode(Sha256::digest(component))
    )
    .into_bytes()
}

/// Create `path` with `bytes`, readable only by its owner (mode 0600); an
/// existing file is never overwritten.
#[cfg(unix)]
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Create `path` with `bytes` (no permission bits off Unix).
#[cfg(not(unix))]
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_only_for_the_files_and_key_it_was_made_with() {
        let key = PublisherKey::generate("acme").expect("key");
        let signature = key.sign(b"manifest", b"component");
        assert_eq!(signature.verify(b"manifest", b"component"), Ok(()));
        assert_eq!(
            signature.verify(b"manifest!", b"component"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            signature.verify(b"manifest", b"component!"),
            Err(SignatureError::Mismatch)
        );

        let other = PublisherKey::generate("mallory").expect("key");
        let forged = PackageSignature {
            public_key: other.public_key_hex(),
            ..signature.clone()
        };
        assert_eq!(
            forged.verify(b"manifest", b"component"),
            Err(SignatureError::Mismatch)
        );
        let garbled = PackageSignature {
            signature: "00".into(),
            ..signature
        };
        assert!(matches!(
            garbled.verify(b"manifest", b"component"),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn keys_survive_a_round_trip_through_a_private_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("acme.key");
        let key = PublisherKey::generate("acme").expect("key");
        key.save(&path).expect("save");
        let loaded = PublisherKey::load(&path).expect("load");
        assert_eq!(loaded.public_key_hex(), key.public_key_hex());
        assert_eq!(loaded.publisher(), "acme");
        assert!(
            key.save(&path).is_err(),
            "an existing key file is never overwritten"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
