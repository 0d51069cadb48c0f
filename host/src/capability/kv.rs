//! The `kv` capability: a key-value store per (tenant, plugin), with caps
//! on key length, value size and the total size of the plugin's entries.

use super::HostState;
use crate::plugin::contract::imports::kv::{Host, KvError};
use crate::store::StoreError;

/// The most keys one `list-keys` returns.
const MAX_LIST: u32 = 1000;

impl HostState {
    fn kv_allowed(&mut self, key: &str) -> Result<(), KvError> {
        if !self.ctx.grants.kv {
            self.deny("kv is not granted");
            return Err(KvError::NotGranted);
        }
        if key.is_empty() || key.len() > self.limits.kv_key_bytes as usize {
            return Err(KvError::InvalidKey(self.limits.kv_key_bytes));
        }
        Ok(())
    }
}

fn store_error(error: StoreError) -> KvError {
    match error {
        StoreError::QuotaExceeded { limit } => KvError::QuotaExceeded(limit),
        other => KvError::Unavailable(other.to_string()),
    }
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        self.count_host_call()?;
        if let Err(error) = self.kv_allowed(&key) {
            return Ok(Err(error));
        }
        Ok(self.services.kv.get(&self.scope, &key).map_err(store_error))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        self.count_host_call()?;
        if let Err(error) = self.kv_allowed(&key) {
            return Ok(Err(error));
        }
        if value.len() > self.limits.kv_value_bytes as usize {
            return Ok(Err(KvError::ValueTooLarge(self.limits.kv_value_bytes)));
        }
        let result = self
            .services
            .kv
            .set(&self.scope, &key, &value, self.limits.kv_total_bytes)
            .map_err(store_error);
        if let Err(KvError::QuotaExceeded(limit)) = &result {
            self.deny(&format!("kv quota of {limit} bytes reached"));
        }
        Ok(result)
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        self.count_host_call()?;
        if let Err(error) = self.kv_allowed(&key) {
            return Ok(Err(error));
        }
        Ok(self.services.kv.delete(&self.scope, &key).map_err(store_error))
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        self.count_host_call()?;
        if !self.ctx.grants.kv {
            self.deny("kv is not granted");
            return Ok(Err(KvError::NotGranted));
        }
        let limit = limit.min(MAX_LIST) as usize;
        Ok(self
            .services
            .kv
            .list_keys(&self.scope, &prefix, after.as_deref(), limit)
            .map_err(store_error))
    }
}
