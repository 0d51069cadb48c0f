//! Secrets at rest: ChaCha20-Poly1305 with a master key kept in a file of
//! its own (mode 0600) next to the store. Each value is sealed with a fresh
//! random nonce and bound to its (tenant, plugin, name), so a ciphertext
//! copied to another slot does not decrypt. A missing key is made anew only
//! while no secret is sealed: otherwise the host refuses to start.

use crate::store::{Storage, Table};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use omnify_registry::signing::write_private;
use sha2::Sha256;
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
    /// The key file is gone while the store holds values only it opens.
    #[error(
        "the master key {path} is missing, but the store holds {sealed} sealed secret(s) that only \
         that key can open; restore the key file from a backup (a new key would make every stored \
         secret unreadable). Refusing to start"
    )]
    MissingKey {
        /// The file.
        path: String,
        /// How many sealed secrets the store holds.
        sealed: u64,
    },
    /// The store could not be read to count its sealed secrets.
    #[error("cannot count the sealed secrets: {0}")]
    Store(String),
}

/// A 32-byte key derived from the master key for one purpose (such as
/// authenticating the precompiled cache), or made at random. Its `Debug`
/// never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DerivedKey([u8; KEY_LEN]);

impl DerivedKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Result<Self, VaultError> {
        let mut bytes = [0u8; KEY_LEN];
        random_bytes(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(..)")
    }
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
    key: [u8; KEY_LEN],
}

/// How many sealed secrets `store` holds.
pub fn sealed_secrets(store: &dyn Storage) -> Result<u64, VaultError> {
    let tx = store.read().map_err(|e| VaultError::Store(e.to_string()))?;
    let sealed = tx
        .scan(Table::Secrets, b"", None, usize::MAX)
        .map_err(|e| VaultError::Store(e.to_string()))?;
    Ok(sealed.len() as u64)
}

impl Vault {
    /// Use the key in `path` for the secrets sealed in `store`. A missing
    /// key is created (mode 0600) only while `store` holds no sealed
    /// secret; otherwise this refuses, since a new key opens none of them.
    pub fn open_for_store(path: &Path, store: &dyn Storage) -> Result<Self, VaultError> {
        if !path.exists() {
            let sealed = sealed_secrets(store)?;
            if sealed > 0 {
                tracing::error!(path = %path.display(), sealed, "the master key is missing");
                return Err(VaultError::MissingKey {
                    path: path.display().to_string(),
                    sealed,
                });
            }
            tracing::info!(path = %path.display(), "creating the master key");
        }
        Self::open_or_create(path)
    }

    /// Use the key in `path`, creating it (mode 0600) if it does not exist.
    /// The host opens its vault with [`Vault::open_for_store`] instead.
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
        let mut raw = [0u8; KEY_LEN];
        raw.copy_from_slice(key.as_slice());
        Ok(Self {
            cipher: ChaCha20Poly1305::new(&key),
            key: raw,
        })
    }

    /// A key for `purpose` derived from the master key (HMAC-SHA256 of the
    /// purpose under the master key): the same for as long as the master
    /// key is, and telling nothing about it.
    pub fn derive_key(&self, purpose: &str) -> DerivedKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(b"omnify-derived-key-v1\0");
        mac.update(purpose.as_bytes());
        DerivedKey(mac.finalize().into_bytes().into())
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

    #[test]
    fn a_missing_key_is_made_again_only_while_no_secret_is_sealed() {
        use crate::store::{RedbStore, Storage};
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(&dir.path().join("data")).expect("store");
        let path = dir.path().join(MASTER_KEY_FILE);
        let vault = Vault::open_for_store(&path, &store).expect("a new key for an empty store");
        let mut tx = store.write().expect("write");
        let sealed = vault.seal(b"acme/stripe/api_key", b"sk").expect("seal");
        tx.put(Table::Secrets, b"acme\0stripe\0api_key", &sealed)
            .expect("put");
        tx.commit().expect("commit");
        assert!(Vault::open_for_store(&path, &store).is_ok(), "the key is there");

        std::fs::remove_file(&path).expect("lose the key");
        let error = Vault::open_for_store(&path, &store)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            error.contains("is missing") && error.contains("1 sealed secret"),
            "{error}"
        );
        assert!(!path.exists(), "no new key was made");
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_never_show() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open_or_create(&dir.path().join(MASTER_KEY_FILE)).expect("vault");
        assert_eq!(vault.derive_key("a"), vault.derive_key("a"));
        assert_ne!(vault.derive_key("a"), vault.derive_key("b"));
        assert_eq!(format!("{:?}", vault.derive_key("a")), "DerivedKey(..)");
    }
}
