//! Signing a tenant in to a platform with OAuth 2.0, run by the host.
//!
//! A connector declares its provider in its manifest (`[oauth]`); the host
//! holds the provider's client ([`clients`]), runs the authorization-code
//! flow with PKCE and `state` ([`connect`]), seals the access token into the
//! enablement's secret the connector reads and keeps the refresh token to
//! itself, and refreshes the access token before it expires or when a call
//! fails with `auth` ([`refresh`]). What differs between platforms is in
//! [`dialect`]; the token endpoints are reached by [`token`].

mod clients;
mod connect;
mod dialect;
mod refresh;
mod token;

pub use clients::{OAuthClient, OAuthClientRequest};
pub use connect::{ConnectRequest, ConnectStart};

use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, get_json, key};
use crate::tenant::Principal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Whether an enablement's sign-in works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionStatus {
    /// Enabled, but not signed in (or the connector does not sign in with
    /// OAuth).
    NotConnected,
    /// Signed in; the host keeps the access token fresh.
    Connected,
    /// The platform refused to refresh the sign-in (the tenant revoked the
    /// app, or the refresh token expired): calls and scheduled syncs stop
    /// until someone connects the account again.
    NeedsReconnect,
}

/// An enablement's OAuth connection, as shown: never a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    /// The tenant.
    pub tenant: String,
    /// The connector.
    pub plugin: String,
    /// The provider it signs in to; none when the connector does not sign
    /// in with OAuth.
    pub provider: Option<String>,
    /// Whether it works.
    pub status: ConnectionStatus,
    /// Why it needs reconnecting, in the platform's words.
    pub problem: Option<String>,
    /// The account the platform named (a shop, a location, an account id).
    pub account: Option<String>,
    /// The scopes the platform granted (as it reported them).
    pub scopes: Vec<String>,
    /// When the access token expires, RFC 3339; none: until revoked.
    pub expires_at: Option<String>,
    /// Whether the host holds a refresh token.
    pub refreshable: bool,
    /// When the account was connected.
    pub connected_at: Option<String>,
    /// Who connected it.
    pub connected_by: Option<String>,
    /// When the access token was last refreshed.
    pub refreshed_at: Option<String>,
}

/// A connection as stored: with its sealed refresh token and the count of
/// token saves that lets concurrent refreshes see each other.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredConnection {
    pub connection: Connection,
    /// When the access token expires, Unix seconds.
    pub expires_unix: Option<u64>,
    pub sealed_refresh_token: Option<Vec<u8>>,
    /// Bumped by every save of new tokens.
    pub generation: u64,
}

/// What a call needs to know of its enablement's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionState {
    pub generation: u64,
    pub expires_unix: Option<u64>,
    pub needs_reconnect: bool,
}

/// How long before its expiry an access token is refreshed.
pub(crate) const REFRESH_AHEAD_SECS: u64 = 300;

impl ConnectionState {
    /// Whether the token expires within [`REFRESH_AHEAD_SECS`] of `now`.
    pub(crate) fn expires_soon(&self, now_unix: u64) -> bool {
        self.expires_unix
            .is_some_and(|at| at <= now_unix.saturating_add(REFRESH_AHEAD_SECS))
    }
}

/// The store key of an enablement's connection.
pub(crate) fn connection_key(tenant: &str, plugin: &str) -> Vec<u8> {
    key(&[tenant.as_bytes(), plugin.as_bytes()])
}

/// The vault slot of an enablement's refresh token.
fn refresh_slot(tenant: &str, plugin: &str) -> Vec<u8> {
    key(&[b"oauth-refresh", tenant.as_bytes(), plugin.as_bytes()])
}

/// The stored connection of `tenant`'s `plugin`, if it signed in.
pub(crate) fn stored_connection(
    tx: &dyn ReadTx,
    tenant: &str,
    plugin: &str,
) -> Result<Option<StoredConnection>, ControlError> {
    Ok(get_json(tx, Table::Connections, &connection_key(tenant, plugin))?)
}

/// The state a call checks, if `tenant`'s `plugin` signed in.
pub(crate) fn connection_state(
    tx: &dyn ReadTx,
    tenant: &str,
    plugin: &str,
) -> Result<Option<ConnectionState>, ControlError> {
    Ok(
        stored_connection(tx, tenant, plugin)?.map(|stored| ConnectionState {
            generation: stored.generation,
            expires_unix: stored.expires_unix,
            needs_reconnect: stored.connection.status == ConnectionStatus::NeedsReconnect,
        }),
    )
}

/// The refusal of a call whose sign-in must be renewed by a person.
pub(crate) fn needs_reconnect(tenant: &str, plugin: &str, problem: &str) -> ControlError {
    ControlError::Conflict(format!(
        "`{plugin}` of tenant `{tenant}` must be connected again ({problem}); start with \
         POST /v1/tenants/{tenant}/plugins/{plugin}/connect"
    ))
}

/// One lock per enablement (tenant, plugin), held while it refreshes.
type RefreshLocks = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// The host's OAuth machinery: the token endpoints' client and one lock per
/// enablement, so that concurrent calls spend a refresh token once.
#[derive(Debug)]
pub(crate) struct OAuth {
    tokens: token::TokenClient,
    refreshing: Mutex<RefreshLocks>,
}

impl OAuth {
    /// The machinery, with a fresh HTTP client.
    pub(crate) fn new() -> Result<Self, String> {
        Ok(Self {
            tokens: token::TokenClient::new()?,
            refreshing: Mutex::default(),
        })
    }

    /// The refresh lock of `tenant`'s `plugin`.
    fn lock_of(&self, tenant: &str, plugin: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .entry((tenant.to_string(), plugin.to_string()))
            .or_default()
            .clone()
    }
}

impl ControlPlane {
    /// The connection of `tenant`'s `plugin`: `not-connected` until it
    /// signed in.
    pub async fn connection(
        &self,
        principal: &Principal,
        tenant: &str,
        plugin: &str,
    ) -> Result<Connection, ControlError> {
        principal.require_tenant(tenant)?;
        let (tenant, plugin) = (tenant.to_string(), plugin.to_string());
        self.read_store(move |tx| {
            let enablement = crate::enablement::require_enablement(tx, &tenant, &plugin)?;
            if let Some(stored) = stored_connection(tx, &tenant, &plugin)? {
                return Ok(stored.connection);
            }
            let provider = crate::catalog::exact_version(tx, &plugin, &enablement.version)?
                .manifest
                .oauth
                .map(|oauth| oauth.provider);
            Ok(Connection {
                tenant,
                plugin,
                provider,
                status: ConnectionStatus::NotConnected,
                problem: None,
                account: None,
                scopes: Vec::new(),
                expires_at: None,
                refreshable: false,
                connected_at: None,
                connected_by: None,
                refreshed_at: None,
            })
        })
        .await
    }
}
