//! The tenant's configuration of this plugin, already validated by the host
//! against the plugin's `spec`.
//!
//! ```no_run
//! # fn main() -> omnify_sdk::Result<()> {
//! #[derive(serde::Deserialize)]
//! struct Config { account_id: String, base_url: Option<String> }
//! let config: Config = omnify_sdk::config::get()?;
//! # Ok(()) }
//! ```

use crate::Error;
use crate::host;
use serde::de::DeserializeOwned;

/// The whole configuration, deserialized into `T`.
pub fn get<T: DeserializeOwned>() -> Result<T, Error> {
    serde_json::from_str(&host::config_get_all()).map_err(|e| Error::Config(format!("configuration: {e}")))
}

/// The whole configuration as the JSON text the host holds, a JSON object.
pub fn get_raw() -> String {
    host::config_get_all()
}

/// The whole configuration as a JSON value.
pub fn get_value() -> serde_json::Value {
    serde_json::from_str(&host::config_get_all()).unwrap_or(serde_json::Value::Null)
}

/// One top-level setting, deserialized into `T`; `None` when it is absent.
pub fn setting<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    match host::config_get(key) {
        Some(json) => serde_json::from_str::<T>(&json)
            .map(Some)
            .map_err(|e| Error::Config(format!("setting `{key}`: {e}"))),
        None => Ok(None),
    }
}
