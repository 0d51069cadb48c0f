//! The authorization-code flow: [`ControlPlane::connect`] stores a pending
//! sign-in under a random `state` (with its PKCE verifier sealed) and
//! answers the platform's authorization URL; the platform sends the
//! tenant's browser back to `/v1/oauth/callback`, where
//! [`ControlPlane::finish_connect`] takes the pending sign-in once, checks
//! what the platform signed, exchanges the code at the host's token
//! endpoint, and seals the tokens in one transaction with the audit entry.

use super::clients::{StoredClient, client_for, secret_slot};
use super::dialect::{Authorization, Client, Dialect, Tokens};
use super::{Connection, ConnectionStatus, StoredConnection, connection_key, refresh_slot};
use crate::audit::{self, Event};
use crate::catalog::exact_version;
use crate::control::{ControlError, ControlPlane};
use crate::enablement::{self, Enablement};
use crate::store::storage::{ReadTx, Table, get_json, put_json};
use crate::tenant::{Principal, Role};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use omnify_registry::OAuthRequest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a started sign-in can be finished.
const PENDING_SECS: u64 = 600;

/// The path the platforms send the tenant back to.
pub const CALLBACK_PATH: &str = "/v1/oauth/callback";

/// The optional body of `POST /v1/tenants/{t}/plugins/{p}/connect`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// The shop to sign in to, for Shopify: `name.myshopify.com`.
    pub shop: Option<String>,
}

/// A started sign-in: where to send the person.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectStart {
    /// The provider.
    pub provider: String,
    /// Open this in the browser of the person who signs in.
    pub authorization_url: String,
    /// Until when the sign-in can be finished, RFC 3339.
    pub expires_at: String,
}

/// A started sign-in, as stored under the hash of its `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    tenant: String,
    plugin: String,
    provider: String,
    /// Who started it: the audit log names them for the connection.
    actor: String,
    redirect_uri: String,
    shop: Option<String>,
    expires_unix: u64,
    sealed_verifier: Vec<u8>,
}

/// What a sign-in of an enablement works with, read in one snapshot.
struct SignIn {
    enablement: Enablement,
    oauth: OAuthRequest,
    client: StoredClient,
}

/// 32 random bytes, base64url: a `state` or a PKCE verifier (43 characters).
fn random_token() -> Result<String, ControlError> {
    let mut bytes = [0u8; 32];
    crate::vault::random_bytes(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The store key of a pending sign-in: the hash of its `state`, so the
/// store holds nothing a browser could present.
fn pending_key(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// Whether `shop` is a shop's own domain.
fn is_shop_domain(shop: &str) -> bool {
    shop.strip_suffix(".myshopify.com").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 60
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.starts_with('-')
    })
}

/// The host part of an endpoint (with `{shop}` left as it is).
fn host_of(url: &str) -> Option<String> {
    url::Url::parse(&url.replace("{shop}", "shop.myshopify.com"))
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .map(|host| host.replace("shop.myshopify.com", "{shop}"))
}

/// Refuse a client whose endpoints are on other hosts than the ones the
/// connector was written for; a loopback sandbox the admin set is allowed.
fn check_matches(oauth: &OAuthRequest, client: &StoredClient) -> Result<(), ControlError> {
    for (what, declared, configured) in [
        (
            "authorization",
            &oauth.authorize_url,
            &client.client.authorize_url,
        ),
        ("token", &oauth.token_url, &client.client.token_url),
    ] {
        let configured_host = host_of(configured);
        let loopback = configured_host.as_deref().is_some_and(|h| {
            h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()) || h == "[::1]"
        });
        if !loopback && configured_host != host_of(declared) {
            return Err(ControlError::Conflict(format!(
                "the connector expects provider `{}`'s {what} endpoint at `{declared}`, but the host's client \
                 uses `{configured}`; the admin should check the client's endpoints",
                oauth.provider
            )));
        }
    }
    Ok(())
}

impl SignIn {
    /// Read the enablement, its version's `[oauth]` and the provider's client.
    fn read(tx: &dyn ReadTx, tenant: &str, plugin: &str) -> Result<Self, ControlError> {
        let enablement = enablement::require_enablement(tx, tenant, plugin)?;
        let pinned = exact_version(tx, plugin, &enablement.version)?;
        let oauth = pinned.manifest.oauth.ok_or_else(|| {
            ControlError::Invalid(format!(
                "`{plugin}` {} does not sign in with OAuth; set its secrets with the enable request instead",
                enablement.version
            ))
        })?;
        let client = client_for(tx, tenant, &oauth.provider)?.ok_or_else(|| {
            ControlError::Conflict(format!(
                "the host has no OAuth client for provider `{0}`; the admin sets one with \
                 PUT /v1/oauth/clients/{0}",
                oauth.provider
            ))
        })?;
        Ok(Self {
            enablement,
            oauth,
            client,
        })
    }

    /// The client with its secret opened.
    fn open_secret(&self, vault: &crate::vault::Vault) -> Result<String, ControlError> {
        let slot = secret_slot(self.client.client.tenant.as_deref(), &self.client.client.provider);
        let secret = vault.open(&slot, &self.client.sealed_secret)?;
        Ok(String::from_utf8_lossy(&secret).into_owned())
    }

    fn client<'a>(&'a self, secret: &'a str) -> Client<'a> {
        Client {
            id: &self.client.client.client_id,
            secret,
            authorize_url: &self.client.client.authorize_url,
            token_url: &self.client.client.token_url,
            auth: self.oauth.client_auth,
        }
    }
}

impl ControlPlane {
    /// Start signing `tenant`'s `plugin` in to its platform: the URL to send
    /// the person to. Nothing changes but a pending sign-in that expires.
    pub async fn connect(
        &self,
        principal: &Principal,
        tenant: &str,
        plugin: &str,
        request: ConnectRequest,
    ) -> Result<ConnectStart, ControlError> {
        principal.require(Role::Operator)?;
        principal.require_tenant(tenant)?;
        let base = self.notifier.public_url();
        if base.is_empty() {
            return Err(ControlError::Conflict(
                "the host does not know its public URL, which the platform sends the person back to; \
                 start it with --public-url"
                    .into(),
            ));
        }
        let (lookup_tenant, lookup_plugin) = (tenant.to_string(), plugin.to_string());
        let sign_in = self
            .read_store(move |tx| SignIn::read(tx, &lookup_tenant, &lookup_plugin))
            .await?;
        let dialect = Dialect::of(&sign_in.oauth.provider);
        check_matches(&sign_in.oauth, &sign_in.client)?;
        if !sign_in
            .enablement
            .grants
            .secrets
            .contains(&sign_in.oauth.access_token_secret)
        {
            return Err(ControlError::Conflict(format!(
                "the enablement does not grant the secret `{}` the access token goes into; grant it first",
                sign_in.oauth.access_token_secret
            )));
        }
        let shop = match (dialect.per_shop(), request.shop) {
            (true, Some(shop)) if is_shop_domain(&shop) => Some(shop.to_ascii_lowercase()),
            (true, Some(shop)) => {
                return Err(ControlError::Invalid(format!(
                    "`shop` is `{shop}`; it must be the shop's own domain, `name.myshopify.com`"
                )));
            }
            (true, None) => {
                return Err(ControlError::Invalid(
                    "`shop` is required: the shop to sign in to".into(),
                ));
            }
            (false, Some(_)) => {
                return Err(ControlError::Invalid(format!(
                    "`shop` is only for Shopify, not provider `{}`",
                    sign_in.oauth.provider
                )));
            }
            (false, None) => None,
        };
        let (state, verifier) = (random_token()?, random_token()?);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let redirect_uri = format!("{base}{CALLBACK_PATH}");
        let secret = sign_in.open_secret(&self.vault)?;
        let authorization_url = dialect
            .authorization_url(
                &sign_in.client(&secret),
                &Authorization {
                    redirect_uri: &redirect_uri,
                    scopes: &sign_in.oauth.scopes,
                    state: &state,
                    challenge: &challenge,
                    shop: shop.as_deref(),
                },
            )
            .map_err(ControlError::Invalid)?;
        let key = pending_key(&state);
        let now = audit::unix_seconds(std::time::SystemTime::now());
        let pending = Pending {
            tenant: tenant.to_string(),
            plugin: plugin.to_string(),
            provider: sign_in.oauth.provider.clone(),
            actor: principal.actor(),
            redirect_uri,
            shop,
            expires_unix: now + PENDING_SECS,
            sealed_verifier: self.vault.seal(&key, verifier.as_bytes())?,
        };
        let started = ConnectStart {
            provider: pending.provider.clone(),
            authorization_url,
            expires_at: audit::rfc3339_at(pending.expires_unix),
        };
        self.blocking(move |store| {
            let mut tx = store.write()?;
            // Sign-ins nobody finished are dropped here, so the table holds
            // at most the last ten minutes' worth.
            let expired: Vec<Vec<u8>> = crate::store::storage::scan_json::<Pending>(
                &*tx,
                Table::OAuthPending,
                b"",
                None,
                usize::MAX,
            )?
            .into_iter()
            .filter(|(_, p)| p.expires_unix <= now)
            .map(|(key, _)| key)
            .collect();
            for stale in expired {
                tx.delete(Table::OAuthPending, &stale)?;
            }
            put_json(&mut *tx, Table::OAuthPending, &key, &pending)?;
            let event = Event {
                actor: &pending.actor,
                action: "plugin.connect-start",
                target: &pending.plugin,
                outcome: "ok",
                details: serde_json::json!({"provider": pending.provider, "shop": pending.shop}),
            };
            audit::append(&mut *tx, &pending.tenant, event)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
        Ok(started)
    }

    /// Finish a sign-in with the parameters the platform sent the browser
    /// back with. An unknown, used or expired `state` changes nothing.
    pub async fn finish_connect(&self, params: Vec<(String, String)>) -> Result<Connection, ControlError> {
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let state =
            param("state").ok_or_else(|| ControlError::Invalid("the callback has no `state`".into()))?;
        let key = pending_key(&state);
        let now = audit::unix_seconds(std::time::SystemTime::now());
        let taken_key = key.clone();
        let pending: Pending = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                let pending: Pending = get_json(&*tx, Table::OAuthPending, &taken_key)?.ok_or_else(|| {
                    ControlError::Invalid(
                        "unknown or already used sign-in `state`; start the sign-in again".into(),
                    )
                })?;
                tx.delete(Table::OAuthPending, &taken_key)?;
                tx.commit()?;
                if pending.expires_unix <= now {
                    return Err(ControlError::Invalid(
                        "the sign-in expired before it was finished; start it again".into(),
                    ));
                }
                Ok(pending)
            })
            .await?;
        let result = self.exchange(&pending, &key, &params, now).await;
        if let Err(error) = &result {
            self.audit_failed_connect(&pending, error).await;
        }
        result
    }

    /// Check the callback, exchange its code and save the tokens.
    async fn exchange(
        &self,
        pending: &Pending,
        key: &[u8],
        params: &[(String, String)],
        now: u64,
    ) -> Result<Connection, ControlError> {
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let (tenant, plugin) = (pending.tenant.clone(), pending.plugin.clone());
        let sign_in = self
            .read_store(move |tx| SignIn::read(tx, &tenant, &plugin))
            .await?;
        if sign_in.oauth.provider != pending.provider {
            return Err(ControlError::Conflict(
                "the connector's provider changed while the person signed in; start again".into(),
            ));
        }
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            return Err(ControlError::Conflict(format!(
                "the platform did not grant access: {error} {description}"
            )));
        }
        let dialect = Dialect::of(&pending.provider);
        let secret = sign_in.open_secret(&self.vault)?;
        if dialect.per_shop() {
            verify_shop_callback(params, &secret, pending.shop.as_deref())?;
        }
        // TikTok names the code `auth_code`.
        let code = param("code")
            .or_else(|| param("auth_code"))
            .ok_or_else(|| ControlError::Invalid("the callback has no `code`".into()))?;
        let verifier = String::from_utf8_lossy(&self.vault.open(key, &pending.sealed_verifier)?).into_owned();
        let client = sign_in.client(&secret);
        let request = dialect
            .code_request(
                &client,
                code,
                &pending.redirect_uri,
                &verifier,
                pending.shop.as_deref(),
            )
            .map_err(ControlError::Invalid)?;
        let mut tokens = self.oauth.tokens.send(dialect, &request).await.map_err(|e| {
            ControlError::Conflict(format!("the platform did not exchange the sign-in's code: {e}"))
        })?;
        if let Some(follow_up) = dialect.follow_up(&client, &tokens) {
            let long_lived = self.oauth.tokens.send(dialect, &follow_up).await.map_err(|e| {
                ControlError::Conflict(format!("the platform did not give a long-lived token: {e}"))
            })?;
            tokens = Tokens {
                scopes: tokens.scopes,
                ..long_lived
            };
        }
        if tokens.account.is_none() {
            tokens.account = pending.shop.clone();
        }
        if tokens.scopes.is_empty() {
            tokens.scopes = sign_in.oauth.scopes.clone();
        }
        self.save_connection(pending, &sign_in.oauth, tokens, now).await
    }

    /// Seal the tokens, record the connection and audit it, in one commit.
    async fn save_connection(
        &self,
        pending: &Pending,
        oauth: &OAuthRequest,
        tokens: Tokens,
        now: u64,
    ) -> Result<Connection, ControlError> {
        let (tenant, plugin) = (&pending.tenant, &pending.plugin);
        let expires_unix = tokens.expires_in.map(|secs| now + secs);
        let sealed_refresh_token = tokens
            .refresh_token
            .as_ref()
            .map(|token| self.vault.seal(&refresh_slot(tenant, plugin), token.as_bytes()))
            .transpose()?;
        let sealed_access = enablement::seal_secret(
            &self.vault,
            tenant,
            plugin,
            &oauth.access_token_secret,
            &tokens.access_token,
        )?;
        let connection = Connection {
            tenant: tenant.clone(),
            plugin: plugin.clone(),
            provider: Some(pending.provider.clone()),
            status: ConnectionStatus::Connected,
            problem: None,
            account: tokens.account,
            scopes: tokens.scopes,
            expires_at: expires_unix.map(audit::rfc3339_at),
            refreshable: sealed_refresh_token.is_some(),
            connected_at: Some(audit::now()),
            connected_by: Some(pending.actor.clone()),
            refreshed_at: None,
        };
        let secret_name = oauth.access_token_secret.clone();
        let actor = pending.actor.clone();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let generation = super::stored_connection(&*tx, &connection.tenant, &connection.plugin)?
                .map_or(0, |stored| stored.generation + 1);
            enablement::put_sealed_secret(
                &mut *tx,
                &connection.tenant,
                &connection.plugin,
                &secret_name,
                sealed_access,
            )?;
            let stored = StoredConnection {
                connection: connection.clone(),
                expires_unix,
                sealed_refresh_token,
                generation,
            };
            put_json(
                &mut *tx,
                Table::Connections,
                &connection_key(&connection.tenant, &connection.plugin),
                &stored,
            )?;
            let details = serde_json::json!({
                "provider": connection.provider,
                "account": connection.account,
                "scopes": connection.scopes,
                "expires_at": connection.expires_at,
                "refreshable": connection.refreshable,
                "secret": secret_name,
            });
            let event = Event {
                actor: &actor,
                action: "plugin.connect",
                target: &connection.plugin,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, &connection.tenant, event)?;
            tx.commit()?;
            Ok(connection)
        })
        .await
    }

    /// Audit a sign-in that came back but could not be finished.
    async fn audit_failed_connect(&self, pending: &Pending, error: &ControlError) {
        let (pending, message) = (pending.clone(), error.to_string());
        let written = self
            .blocking(move |store| {
                let mut tx = store.write()?;
                let event = Event {
                    actor: &pending.actor,
                    action: "plugin.connect",
                    target: &pending.plugin,
                    outcome: "error",
                    details: serde_json::json!({"provider": pending.provider, "error": message}),
                };
                audit::append(&mut *tx, &pending.tenant, event)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(%error, "a failed sign-in could not be audited");
        }
    }
}

/// Check Shopify's signature of the callback (HMAC-SHA256 with the client
/// secret over the other parameters, sorted) and that it is for the shop
/// the sign-in was started for.
fn verify_shop_callback(
    params: &[(String, String)],
    secret: &str,
    shop: Option<&str>,
) -> Result<(), ControlError> {
    let refused = |why: &str| ControlError::Invalid(format!("the shop's callback is refused: {why}"));
    let signature = params
        .iter()
        .find(|(k, _)| k == "hmac")
        .map(|(_, v)| v)
        .ok_or_else(|| refused("it is not signed (`hmac`)"))?;
    let signature = hex::decode(signature).map_err(|_| refused("its `hmac` is not hex"))?;
    let mut signed: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "hmac" && k != "signature")
        .collect();
    signed.sort();
    let message = signed
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| refused("no key"))?;
    mac.update(message.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| refused("its `hmac` does not match"))?;
    let sent = params.iter().find(|(k, _)| k == "shop").map(|(_, v)| v.as_str());
    if sent != shop {
        return Err(refused("it is for another shop than the sign-in was started for"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        owned.sort();
        let message = owned
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(message.as_bytes());
        owned.push(("hmac".into(), hex::encode(mac.finalize().into_bytes())));
        owned
    }

    #[test]
    fn a_shop_callback_must_be_signed_for_its_shop() {
        let params = signed(
            "s",
            &[
                ("code", "c"),
                ("shop", "acme.myshopify.com"),
                ("state", "x"),
                ("timestamp", "1"),
            ],
        );
        assert!(verify_shop_callback(&params, "s", Some("acme.myshopify.com")).is_ok());
        assert!(verify_shop_callback(&params, "other", Some("acme.myshopify.com")).is_err());
        assert!(verify_shop_callback(&params, "s", Some("evil.myshopify.com")).is_err());
        let mut altered = params.clone();
        altered[0].1 = "another-code".into();
        assert!(verify_shop_callback(&altered, "s", Some("acme.myshopify.com")).is_err());
        let unsigned: Vec<_> = params.into_iter().filter(|(k, _)| k != "hmac").collect();
        assert!(verify_shop_callback(&unsigned, "s", Some("acme.myshopify.com")).is_err());
    }

    #[test]
    fn shop_domains_are_checked() {
        assert!(is_shop_domain("acme-store.myshopify.com"));
        for bad in [
            "acme.example.com",
            ".myshopify.com",
            "a/b.myshopify.com",
            "-a.myshopify.com",
            "evil.com?.myshopify.com",
        ] {
            assert!(!is_shop_domain(bad), "{bad}");
        }
    }

    #[test]
    fn states_are_random_and_url_safe() {
        let (a, b) = (random_token().expect("a"), random_token().expect("b"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
