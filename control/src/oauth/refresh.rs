//! Keeping an access token fresh. A call refreshes it when it is about to
//! expire, or once when the connector answered `auth` with it. Refreshes of
//! one enablement wait for each other, and a refresh that finds the tokens
//! saved again since its caller read them (another call refreshed first)
//! spends nothing. A rotated refresh token is saved in the same transaction
//! as the access token it came with. A refresh the platform refuses marks
//! the connection `needs-reconnect`, which stops its calls and scheduled
//! syncs and tells the tenant's endpoints.

use super::clients::{client_for, secret_slot};
use super::dialect::{Client, Dialect, TokenError, Tokens};
use super::{
    ConnectionStatus, StoredConnection, connection_key, needs_reconnect, refresh_slot, stored_connection,
};
use crate::audit::{self, Event};
use crate::catalog::exact_version;
use crate::control::{ControlError, ControlPlane};
use crate::enablement;
use crate::hosts::lease::Resource;
use crate::store::storage::{Table, put_json};
use std::time::{Duration, Instant};

/// How long a refresh waits for another host's refresh of the same sign-in.
const WAIT_FOR_OTHER_HOST: Duration = Duration::from_secs(10);

fn refresh_resource(tenant: &str, plugin: &str) -> Resource {
    Resource::Refresh {
        tenant: tenant.to_string(),
        plugin: plugin.to_string(),
    }
}

/// What a refresh works with, read in one snapshot.
struct Refreshing {
    stored: StoredConnection,
    provider: String,
    client_id: String,
    secret_slot: Vec<u8>,
    sealed_secret: Vec<u8>,
    token_url: String,
    auth: omnify_registry::ClientAuth,
    access_token_secret: String,
    rotating: bool,
}

impl ControlPlane {
    /// Refresh the access token of `tenant`'s `plugin` unless its tokens
    /// were saved again since `seen_generation`. Fails when the connection
    /// must be renewed by a person, or the platform could not be reached.
    pub(crate) async fn refresh_connection(
        &self,
        tenant: &str,
        plugin: &str,
        seen_generation: u64,
    ) -> Result<(), ControlError> {
        let lock = self.oauth.lock_of(tenant, plugin);
        let _held = lock.lock().await;
        let (lookup_tenant, lookup_plugin) = (tenant.to_string(), plugin.to_string());
        let Some(refreshing) = self
            .read_store(move |tx| {
                let Some(stored) = stored_connection(tx, &lookup_tenant, &lookup_plugin)? else {
                    return Ok(None);
                };
                let enablement = enablement::require_enablement(tx, &lookup_tenant, &lookup_plugin)?;
                let oauth = exact_version(tx, &lookup_plugin, &enablement.version)?
                    .manifest
                    .oauth
                    .ok_or_else(|| {
                        ControlError::Conflict(format!(
                            "`{lookup_plugin}` {} no longer signs in with OAuth",
                            enablement.version
                        ))
                    })?;
                let client = client_for(tx, &lookup_tenant, &oauth.provider)?.ok_or_else(|| {
                    ControlError::Conflict(format!(
                        "the host has no OAuth client for provider `{}`",
                        oauth.provider
                    ))
                })?;
                Ok(Some(Refreshing {
                    stored,
                    provider: oauth.provider.clone(),
                    secret_slot: secret_slot(client.client.tenant.as_deref(), &oauth.provider),
                    sealed_secret: client.sealed_secret,
                    client_id: client.client.client_id,
                    token_url: client.client.token_url,
                    auth: oauth.client_auth,
                    access_token_secret: oauth.access_token_secret,
                    rotating: oauth.rotating_refresh_tokens,
                }))
            })
            .await?
        else {
            return Ok(());
        };
        let stored = &refreshing.stored;
        if stored.generation != seen_generation {
            return Ok(());
        }
        if stored.connection.status == ConnectionStatus::NeedsReconnect {
            let problem = stored.connection.problem.clone().unwrap_or_default();
            return Err(needs_reconnect(tenant, plugin, &problem));
        }
        if !self.claim_refresh(tenant, plugin, seen_generation).await? {
            return Ok(());
        }
        let refreshed = self.refresh_claimed(tenant, plugin, &refreshing).await;
        if refreshed.is_err() {
            self.release_refresh(refresh_resource(tenant, plugin)).await;
        }
        refreshed
    }

    /// Spend the refresh token of the claimed `refreshing` and save what
    /// the platform answers; the save releases the claim.
    async fn refresh_claimed(
        &self,
        tenant: &str,
        plugin: &str,
        refreshing: &Refreshing,
    ) -> Result<(), ControlError> {
        let (stored, seen_generation) = (&refreshing.stored, refreshing.stored.generation);
        let dialect = Dialect::of(&refreshing.provider);
        let secret = self
            .vault
            .open(&refreshing.secret_slot, &refreshing.sealed_secret)?;
        let secret = String::from_utf8_lossy(&secret);
        let client = Client {
            id: &refreshing.client_id,
            secret: &secret,
            authorize_url: "",
            token_url: &refreshing.token_url,
            auth: refreshing.auth,
        };
        let refresh_token = stored
            .sealed_refresh_token
            .as_ref()
            .map(|sealed| self.vault.open(&refresh_slot(tenant, plugin), sealed))
            .transpose()?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        let request = refresh_token
            .as_deref()
            .and_then(|token| dialect.refresh_request(&client, token));
        let Some(request) = request else {
            let problem = "the access token expired and the platform gives no refresh token; sign in again";
            self.mark_needs_reconnect(tenant, plugin, seen_generation, problem)
                .await?;
            return Err(needs_reconnect(tenant, plugin, problem));
        };
        match self.oauth.tokens.send(dialect, &request).await {
            Ok(tokens) => self.save_refreshed(refreshing, tokens).await,
            Err(TokenError::Refused(problem)) => {
                self.mark_needs_reconnect(tenant, plugin, seen_generation, &problem)
                    .await?;
                Err(needs_reconnect(tenant, plugin, &problem))
            }
            Err(error @ TokenError::Unavailable(_)) => Err(ControlError::Internal(format!(
                "the sign-in of `{plugin}` could not be refreshed: {error}"
            ))),
        }
    }

    /// Save refreshed tokens (and a rotated refresh token) in one commit
    /// with their audit entry.
    async fn save_refreshed(&self, refreshing: &Refreshing, tokens: Tokens) -> Result<(), ControlError> {
        let connection = &refreshing.stored.connection;
        let (tenant, plugin) = (connection.tenant.clone(), connection.plugin.clone());
        let now = audit::unix_seconds(std::time::SystemTime::now());
        let rotated = tokens.refresh_token.is_some();
        if refreshing.rotating && !rotated {
            tracing::warn!(%tenant, %plugin, "a refresh of rotating tokens came without a new refresh token");
        }
        let sealed_access = enablement::seal_secret(
            &self.vault,
            &tenant,
            &plugin,
            &refreshing.access_token_secret,
            &tokens.access_token,
        )?;
        let sealed_refresh = tokens
            .refresh_token
            .as_ref()
            .map(|token| self.vault.seal(&refresh_slot(&tenant, &plugin), token.as_bytes()))
            .transpose()?;
        let mut updated = refreshing.stored.clone();
        updated.generation += 1;
        updated.expires_unix = tokens.expires_in.map(|secs| now + secs);
        updated.connection.expires_at = updated.expires_unix.map(audit::rfc3339_at);
        updated.connection.refreshed_at = Some(audit::now());
        if let Some(sealed) = sealed_refresh {
            updated.sealed_refresh_token = Some(sealed);
        }
        let (secret_name, provider) = (
            refreshing.access_token_secret.clone(),
            refreshing.provider.clone(),
        );
        let seen = refreshing.stored.generation;
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            // Another host may have saved first; its tokens stand.
            if stored_connection(&*tx, &tenant, &plugin)?.is_none_or(|now| now.generation != seen) {
                return Ok(());
            }
            enablement::put_sealed_secret(&mut *tx, &tenant, &plugin, &secret_name, sealed_access)?;
            put_json(
                &mut *tx,
                Table::Connections,
                &connection_key(&tenant, &plugin),
                &updated,
            )?;
            hosts.release(&mut *tx, &refresh_resource(&tenant, &plugin))?;
            let event = Event {
                actor: "host",
                action: "plugin.token-refresh",
                target: &plugin,
                outcome: "ok",
                details: serde_json::json!({
                    "provider": provider,
                    "expires_at": updated.connection.expires_at,
                    "refresh_token_rotated": rotated,
                }),
            };
            audit::append(&mut *tx, &tenant, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Record that the platform refused to refresh the sign-in.
    async fn mark_needs_reconnect(
        &self,
        tenant: &str,
        plugin: &str,
        seen_generation: u64,
        problem: &str,
    ) -> Result<(), ControlError> {
        let (tenant, plugin, problem) = (tenant.to_string(), plugin.to_string(), problem.to_string());
        let hosts = self.hosts.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let Some(mut stored) = stored_connection(&*tx, &tenant, &plugin)? else {
                return Ok(());
            };
            if stored.generation != seen_generation {
                return Ok(());
            }
            stored.connection.status = ConnectionStatus::NeedsReconnect;
            stored.connection.problem = Some(problem.clone());
            stored.generation += 1;
            put_json(
                &mut *tx,
                Table::Connections,
                &connection_key(&tenant, &plugin),
                &stored,
            )?;
            hosts.release(&mut *tx, &refresh_resource(&tenant, &plugin))?;
            let event = Event {
                actor: "host",
                action: "plugin.needs-reconnect",
                target: &plugin,
                outcome: "error",
                details: serde_json::json!({"provider": stored.connection.provider, "problem": problem}),
            };
            audit::append(&mut *tx, &tenant, event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Claim the refresh among the hosts of the store: whether this host
    /// refreshes. A host waits (boundedly) while another refreshes; once
    /// the tokens were saved again since `seen_generation` there is nothing
    /// left to do.
    async fn claim_refresh(
        &self,
        tenant: &str,
        plugin: &str,
        seen_generation: u64,
    ) -> Result<bool, ControlError> {
        let deadline = Instant::now() + WAIT_FOR_OTHER_HOST;
        loop {
            let (hosts, tenant, plugin) = (self.hosts.clone(), tenant.to_string(), plugin.to_string());
            let claimed = self
                .blocking(move |store| {
                    let mut tx = store.write()?;
                    if stored_connection(&*tx, &tenant, &plugin)?
                        .is_none_or(|s| s.generation != seen_generation)
                    {
                        return Ok(Some(false));
                    }
                    if !hosts.claim(&mut *tx, &refresh_resource(&tenant, &plugin))? {
                        return Ok(None);
                    }
                    tx.commit()?;
                    Ok(Some(true))
                })
                .await?;
            match claimed {
                Some(claimed) => return Ok(claimed),
                None if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                None => {
                    return Err(ControlError::Conflict(
                        "another host is refreshing this sign-in; try again".into(),
                    ));
                }
            }
        }
    }

    /// Give the claim up after a refresh that saved nothing.
    async fn release_refresh(&self, resource: Resource) {
        let hosts = self.hosts.clone();
        let released = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                hosts.release(&mut *tx, &resource)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, "a refresh claim could not be released; it lapses with its lease");
        }
    }
}
