//! The `config` capability: the tenant's non-secret settings.

use super::HostState;
use crate::plugin::contract::imports::config::Host;

impl Host for HostState {
    async fn get_all(&mut self) -> wasmtime::Result<String> {
        self.count_host_call()?;
        Ok(serde_json::Value::Object(self.ctx.config.clone()).to_string())
    }

    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.count_host_call()?;
        Ok(self.ctx.config.get(&key).map(|value| value.to_string()))
    }
}
