//! Secrets the tenant set for this plugin. Only names declared in the
//! manifest can be read. Never log a secret's value.

use crate::Error;
use crate::host::{self, SecretError};

/// The value of the secret `name`.
pub fn get(name: &str) -> Result<String, Error> {
    host::secret(name).map_err(|error| match error {
        SecretError::NotDeclared(m) | SecretError::NotSet(m) => Error::Config(m),
    })
}
