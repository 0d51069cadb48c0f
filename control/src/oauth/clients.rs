//! The OAuth clients the host signs tenants in with: per provider, the
//! host's own (set by the admin for every tenant) or a tenant's own app,
//! which takes precedence for that tenant. The client secret is sealed and
//! never shown. The endpoints are the host's: a provider the host knows
//! defaults to its published ones, and only the admin can point one
//! elsewhere (a loopback sandbox), so no manifest can direct a client
//! secret to a server of its publisher's choosing.

use super::dialect::known_endpoints;
use crate::audit::{self, Event, SYSTEM_CHAIN};
use crate::control::{ControlError, ControlPlane};
use crate::store::storage::{ReadTx, Table, get_json, key, put_json, scan_json};
use crate::tenant::{self, Principal};
use serde::{Deserialize, Serialize};

/// The body of `PUT /v1/oauth/clients/{provider}` (or the tenant's own).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientRequest {
    /// The client (app) id the platform gave.
    pub client_id: String,
    /// Its secret; sealed, never shown again.
    pub client_secret: String,
    /// The authorization endpoint; the provider's published one when absent
    /// (required for a provider the host does not know).
    pub authorize_url: Option<String>,
    /// The token endpoint; likewise.
    pub token_url: Option<String>,
}

/// An OAuth client as shown: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthClient {
    /// The provider.
    pub provider: String,
    /// The tenant whose own app it is; none for the host's.
    pub tenant: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The authorization endpoint.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// When it was set.
    pub updated_at: String,
}

/// A client as stored: with its sealed secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredClient {
    pub client: OAuthClient,
    pub sealed_secret: Vec<u8>,
}

/// The longest client id or secret accepted.
const MAX_CREDENTIAL_LEN: usize = 512;

/// The longest endpoint accepted.
const MAX_ENDPOINT_LEN: usize = 2048;

fn client_key(tenant: Option<&str>, provider: &str) -> Vec<u8> {
    key(&[tenant.unwrap_or_default().as_bytes(), provider.as_bytes()])
}

/// The vault slot of a client's secret.
pub(super) fn secret_slot(tenant: Option<&str>, provider: &str) -> Vec<u8> {
    key(&[
        b"oauth-client",
        tenant.unwrap_or_default().as_bytes(),
        provider.as_bytes(),
    ])
}

/// The client `tenant` signs in to `provider` with: its own, else the host's.
pub(super) fn client_for(
    tx: &dyn ReadTx,
    tenant: &str,
    provider: &str,
) -> Result<Option<StoredClient>, ControlError> {
    if let Some(own) = get_json(tx, Table::OAuthClients, &client_key(Some(tenant), provider))? {
        return Ok(Some(own));
    }
    Ok(get_json(tx, Table::OAuthClients, &client_key(None, provider))?)
}

/// Check an endpoint the admin names: absolute `https`, or `http` on a
/// loopback address (a sandbox on this machine); no credentials or fragment.
fn check_endpoint(field: &str, url: &str) -> Result<(), ControlError> {
    let invalid = |problem: &str| ControlError::Invalid(format!("`{field}` is `{url}`: {problem}"));
    if url.len() > MAX_ENDPOINT_LEN {
        return Err(ControlError::Invalid(format!(
            "`{field}` is longer than {MAX_ENDPOINT_LEN} characters"
        )));
    }
    let parsed =
        url::Url::parse(&url.replace("{shop}", "shop.myshopify.com")).map_err(|_| invalid("not a URL"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(domain)) => domain == "localhost",
        None => return Err(invalid("it has no host")),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid("it must be https (or http on a loopback address)")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err(invalid("it must hold no credentials and no fragment"));
    }
    Ok(())
}

impl ControlPlane {
    /// Set the host's client for `provider`, or `tenant`'s own.
    pub async fn set_oauth_client(
        &self,
        principal: &Principal,
        tenant: Option<&str>,
        provider: &str,
        request: OAuthClientRequest,
    ) -> Result<OAuthClient, ControlError> {
        principal.require_admin()?;
        if !omnify_registry::manifest::is_plugin_name(provider) {
            return Err(ControlError::Invalid(format!(
                "provider `{provider}`: 1 to 64 lower-case letters, digits or `-`, starting with a letter"
            )));
        }
        for (field, value) in [
            ("client_id", &request.client_id),
            ("client_secret", &request.client_secret),
        ] {
            if value.is_empty() || value.len() > MAX_CREDENTIAL_LEN || value.chars().any(char::is_control) {
                return Err(ControlError::Invalid(format!(
                    "`{field}` must be 1 to {MAX_CREDENTIAL_LEN} characters without control characters"
                )));
            }
        }
        let known = known_endpoints(provider);
        let endpoint = |field: &str, given: Option<String>, default: Option<&str>| {
            let url = given.or(default.map(str::to_string)).ok_or_else(|| {
                ControlError::Invalid(format!(
                    "`{field}` is required: the host does not know provider `{provider}`'s endpoints"
                ))
            })?;
            check_endpoint(field, &url)?;
            Ok::<_, ControlError>(url)
        };
        let authorize_url = endpoint("authorize_url", request.authorize_url, known.map(|k| k.0))?;
        let token_url = endpoint("token_url", request.token_url, known.map(|k| k.1))?;
        let client = OAuthClient {
            provider: provider.to_string(),
            tenant: tenant.map(str::to_string),
            client_id: request.client_id,
            authorize_url,
            token_url,
            updated_at: audit::now(),
        };
        let sealed_secret = self
            .vault
            .seal(&secret_slot(tenant, provider), request.client_secret.as_bytes())?;
        let actor = principal.actor();
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let tenant = client.tenant.clone();
            if let Some(tenant) = &tenant {
                tenant::require_existing(&*tx, tenant)?;
            }
            let stored = StoredClient {
                client: client.clone(),
                sealed_secret,
            };
            put_json(
                &mut *tx,
                Table::OAuthClients,
                &client_key(tenant.as_deref(), &client.provider),
                &stored,
            )?;
            let details = serde_json::json!({
                "client_id": client.client_id,
                "authorize_url": client.authorize_url,
                "token_url": client.token_url,
            });
            let event = Event {
                actor: &actor,
                action: "oauth-client.set",
                target: &client.provider,
                outcome: "ok",
                details,
            };
            audit::append(&mut *tx, tenant.as_deref().unwrap_or(SYSTEM_CHAIN), event)?;
            tx.commit()?;
            Ok(client)
        })
        .await
    }

    /// The host's clients and every tenant's own, or only `tenant`'s.
    pub async fn oauth_clients(
        &self,
        principal: &Principal,
        tenant: Option<&str>,
    ) -> Result<Vec<OAuthClient>, ControlError> {
        principal.require_admin()?;
        let prefix = tenant.map(|t| key(&[t.as_bytes()]));
        self.blocking(move |store| {
            let tx = store.read()?;
            let rows: Vec<(Vec<u8>, StoredClient)> = scan_json(
                &*tx,
                Table::OAuthClients,
                prefix.as_deref().unwrap_or_default(),
                None,
                usize::MAX,
            )?;
            Ok(rows.into_iter().map(|(_, stored)| stored.client).collect())
        })
        .await
    }

    /// Remove the host's client for `provider`, or `tenant`'s own.
    pub async fn delete_oauth_client(
        &self,
        principal: &Principal,
        tenant: Option<&str>,
        provider: &str,
    ) -> Result<(), ControlError> {
        principal.require_admin()?;
        let (actor, tenant, provider) = (
            principal.actor(),
            tenant.map(str::to_string),
            provider.to_string(),
        );
        self.blocking(move |store| {
            let mut tx = store.write()?;
            let slot = client_key(tenant.as_deref(), &provider);
            if tx.get(Table::OAuthClients, &slot)?.is_none() {
                return Err(ControlError::NotFound(format!(
                    "no OAuth client for provider `{provider}`"
                )));
            }
            tx.delete(Table::OAuthClients, &slot)?;
            let event = Event {
                actor: &actor,
                action: "oauth-client.delete",
                target: &provider,
                outcome: "ok",
                details: serde_json::json!({}),
            };
            audit::append(&mut *tx, tenant.as_deref().unwrap_or(SYSTEM_CHAIN), event)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_are_https_or_a_loopback_sandbox() {
        for good in [
            "https://oauth2.googleapis.com/token",
            "https://{shop}/admin/oauth/authorize",
            "http://127.0.0.1:8081/token",
            "http://localhost:9/token",
        ] {
            assert!(check_endpoint("token_url", good).is_ok(), "{good}");
        }
        for bad in [
            "http://oauth2.googleapis.com/token",
            "https://user:pw@oauth2.googleapis.com/token",
            "https://oauth2.googleapis.com/token#f",
            "ftp://127.0.0.1/token",
            "token",
        ] {
            assert!(check_endpoint("token_url", bad).is_err(), "{bad}");
        }
    }
}
