//! The plugin's private key-value store within the current tenant.
//!
//! ```no_run
//! # fn main() -> omnify_sdk::Result<()> {
//! use omnify_sdk::kv;
//! kv::set_json("last-run", &serde_json::json!({"at": "2026-01-01"}))?;
//! let last: Option<serde_json::Value> = kv::get_json("last-run")?;
//! # Ok(()) }
//! ```

use crate::Error;
use crate::host::{self, KvError};
use serde::Serialize;
use serde::de::DeserializeOwned;

impl From<KvError> for Error {
    fn from(error: KvError) -> Self {
        match error {
            KvError::NotGranted => Error::Config("key-value storage is not granted to this plugin".into()),
            KvError::InvalidKey(max) => Error::InvalidInput(format!("key must be 1 to {max} bytes")),
            KvError::ValueTooLarge(max) => Error::InvalidInput(format!("value is larger than {max} bytes")),
            KvError::QuotaExceeded(total) => {
                Error::Internal(format!("key-value storage is full ({total} bytes)"))
            }
            KvError::Unavailable(m) => Error::Transient(format!("key-value storage: {m}")),
        }
    }
}

/// The bytes stored under `key`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(host::kv_get(key)?)
}

/// Store `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
    Ok(host::kv_set(key, value)?)
}

/// Remove `key`; returns whether it existed.
pub fn delete(key: &str) -> Result<bool, Error> {
    Ok(host::kv_delete(key)?)
}

/// Up to `limit` keys starting with `prefix`, after `after` if given.
pub fn list_keys(prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, Error> {
    Ok(host::kv_list_keys(prefix, after, limit)?)
}

/// The JSON value stored under `key`, deserialized.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match get(key)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}

/// Store `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    set(key, &serde_json::to_vec(value)?)
}
