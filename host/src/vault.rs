//! Secrets at rest: ChaCha20-Poly1305 with a master key kept in a file of
//! its own (mode 0600) next to the store. Each value is sealed with a fresh
//! random nonce and bound to its (tenant, plugin, name), so a ciphertext
//! copied to another slot does not decrypt.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use omnify_registry::signing::write_private;
use std::path::Path;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// The name of the master key file in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key file could not be read or created.
    #[error("master key {path}: {message}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// A ciphertext did not decrypt (wrong key, wrong slot, or tampered).
    #[error("a stored secret could not be decrypted; the master key may have changed")]
    Decrypt,
}

/// Fill `buffer` with random bytes from the operating system.
pub fn random_bytes(buffer: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(buffer).map_err(|e| VaultError::Random(e.to_string()))
}

/// `bytes` random bytes from the operating system, as hex: ids and tokens.
pub fn random_hex(bytes: usize) -> Result<String, VaultError> {
    let mut buffer = vec![0u8; bytes];
    random_bytes(&mut buffer)?;
    Ok(hex::encode(buffer))
}

/// Seals and opens secret values.
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl Vault {
    /// Use the key in `path`, creating it (mode 0600) if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, VaultError> {
        let key_error = |message: String| VaultError::KeyFile {
            path: path.display().to_string(),
            message,
        };
        if !path.exists() {
            let mut key = [0u8; KEY_LEN];
            random_bytes(&mut key)?;
            write_private(path, &key).map_err(|e| key_error(e.to_string()))?;
        }
        let bytes = std::fs::read(path).map_err(|e| key_error(e.to_string()))?;
        let key = Key::try_from(bytes.as_slice())
            .map_err(|_| key_error(format!("must be exactly {KEY_LEN} bytes, found {}", bytes.len())))?;
        Ok(Self {
            cipher: ChaCha20Poly1305::new(&key),
        })
    }

    /// Encrypt `value` for the slot `context`.
    pub fn seal(&self, context: &[u8], value: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value,
                    aad: context,
                },
            )
            .map_err(|_| VaultError::Decrypt)?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Decrypt what [`Vault::seal`] produced for the same slot.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| VaultError::Decrypt)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| VaultError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_slot_and_the_key_file_is_private() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(MASTER_KEY_FILE);
        let vault = Vault::open_or_create(&path).expect("vault");
        let sealed = vault.seal(b"acme/stripe/api_key", b"sk_live_123").expect("seal");
        assert!(
            !sealed.windows(11).any(|w| w == b"sk_live_123"),
            "the value is not stored in clear"
        );
        assert_eq!(
            vault.open(b"acme/stripe/api_key", &sealed).expect("open"),
            b"sk_live_123"
        );
        assert!(
            vault.open(b"rival/stripe/api_key", &sealed).is_err(),
            "bound to its slot"
        );

        let reopened = Vault::open_or_create(&path).expect("same key");
        assert_eq!(
            reopened.open(b"acme/stripe/api_key", &sealed).expect("open"),
            b"sk_live_123"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
