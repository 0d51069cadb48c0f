//! The `secrets` capability: only names declared in the manifest.

use super::HostState;
use crate::plugin::contract::imports::secrets::{Host, SecretError};

impl Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, SecretError>> {
        self.count_host_call()?;
        if !self.ctx.grants.secrets.contains(&name) {
            self.deny(&format!("secret `{name}` is not declared"));
            return Ok(Err(SecretError::NotDeclared(format!(
                "secret `{name}` is not declared in the plugin's manifest"
            ))));
        }
        Ok(match self.ctx.secrets.get(&name) {
            Some(secret) => Ok(secret.expose().to_string()),
            None => Err(SecretError::NotSet(format!(
                "secret `{name}` is declared but the tenant has not set it"
            ))),
        })
    }
}
