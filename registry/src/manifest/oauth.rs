//! The `[oauth]` table: how a connector's tenant signs in to the platform.
//!
//! A connector declares its provider's authorization and token endpoints,
//! the scopes it needs, how the client authenticates at the token endpoint,
//! whether refresh tokens rotate, and which of its secrets receives the
//! access token. The host runs the flow; the guest only ever reads that
//! secret. The refresh token stays with the host (sealed
//! beside the connection), so a plugin can never carry a long-lived
//! credential out of its sandbox. The client id and secret are the host's,
//! and go only to the token endpoint the host's configuration of the
//! provider names, never to one a publisher wrote here.

use super::{ManifestError, PluginInfo, PluginKind, is_plugin_name};
use serde::{Deserialize, Serialize};

/// The `[oauth]` table of a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthRequest {
    /// The provider's name (`google`, `meta`, `linkedin`, ...): the host's
    /// configuration of its client is found under it.
    pub provider: String,
    /// Where the tenant is sent to sign in and consent (`https://`).
    pub authorize_url: String,
    /// Where the code and refresh tokens are exchanged (`https://`).
    pub token_url: String,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Whether each refresh answers with a new refresh token that replaces
    /// the old one (LinkedIn, GoHighLevel); the host saves it in the same
    /// transaction as the new access token.
    #[serde(default)]
    pub rotating_refresh_tokens: bool,
    /// The secret the access token is sealed into: the only token the
    /// guest can read.
    pub access_token_secret: String,
}

/// How the client proves itself at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

/// The most scopes a connector may ask for.
const MAX_SCOPES: usize = 32;

/// The longest scope accepted, in bytes.
const MAX_SCOPE_LEN: usize = 256;

impl OAuthRequest {
    /// Check the table against the plugin it is in and the secrets that
    /// plugin declares.
    pub(super) fn check(&self, plugin: &PluginInfo, secrets: &[String]) -> Result<(), ManifestError> {
        let invalid = |field, problem: String| ManifestError::Invalid { field, problem };
        if plugin.kind != PluginKind::Connector {
            return Err(invalid("oauth", "is only for connectors".into()));
        }
        if plugin.contract < semver::Version::new(1, 1, 0) {
            return Err(invalid("oauth", "needs contract 1.1.0 or later".into()));
        }
        if !is_plugin_name(&self.provider) {
            return Err(invalid(
                "oauth.provider",
                "must be 1 to 64 lower-case letters, digits or `-`, starting with a letter".into(),
            ));
        }
        for (field, url) in [
            ("oauth.authorize_url", &self.authorize_url),
            ("oauth.token_url", &self.token_url),
        ] {
            if let Err(problem) = check_endpoint(url) {
                return Err(invalid(field, format!("is `{url}`, {problem}")));
            }
        }
        if self.scopes.is_empty() || self.scopes.len() > MAX_SCOPES {
            return Err(invalid(
                "oauth.scopes",
                format!("must name 1 to {MAX_SCOPES} scopes"),
            ));
        }
        if let Some(scope) = self.scopes.iter().find(|s| !is_scope(s)) {
            return Err(invalid(
                "oauth.scopes",
                format!(
                    "has `{scope}`; a scope is 1 to {MAX_SCOPE_LEN} printable characters without spaces, quotes or backslashes"
                ),
            ));
        }
        if let Some(scope) = self
            .scopes
            .iter()
            .enumerate()
            .find_map(|(i, s)| self.scopes[..i].contains(s).then_some(s))
        {
            return Err(invalid("oauth.scopes", format!("names `{scope}` twice")));
        }
        if !secrets.contains(&self.access_token_secret) {
            return Err(invalid(
                "oauth.access_token_secret",
                format!(
                    "is `{}`, which `capabilities.secrets` does not declare",
                    self.access_token_secret
                ),
            ));
        }
        Ok(())
    }
}

/// Why `url` cannot be an OAuth endpoint: it must be an absolute `https`
/// URL with a host (or `{shop}`) and no credentials or fragment. (A host's own
/// configuration may point a provider at a loopback `http` sandbox; a
/// published manifest may not.)
fn check_endpoint(url: &str) -> Result<(), &'static str> {
    // A per-shop provider (Shopify) names the shop's own domain `{shop}`.
    let parsed = url::Url::parse(&url.replace("{shop}", "shop.example")).map_err(|_| "which is not a URL")?;
    if parsed.scheme() != "https" {
        return Err("which is not `https://`");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("which has no host");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("which holds credentials");
    }
    if parsed.fragment().is_some() {
        return Err("which has a fragment");
    }
    Ok(())
}

/// Whether `scope` is a scope token (RFC 6749 §3.3), at most
/// [`MAX_SCOPE_LEN`] bytes.
fn is_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_LEN
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::super::Manifest;
    use super::*;

    const LINKEDIN: &str = r#"
[plugin]
name = "linkedin-ads"
version = "1.0.0"
kind = "connector"
contract = "1.1.0"

[capabilities]
http_hosts = ["api.linkedin.com"]
secrets = ["access_token"]

[oauth]
provider = "linkedin"
authorize_url = "https://www.linkedin.com/oauth/v2/authorization"
token_url = "https://www.linkedin.com/oauth/v2/accessToken"
scopes = ["r_ads", "r_ads_reporting", "rw_ads"]
client_auth = "body"
rotating_refresh_tokens = true
access_token_secret = "access_token"
"#;

    #[test]
    fn a_connector_declares_its_sign_in() {
        let manifest = Manifest::parse(LINKEDIN).expect("valid");
        let oauth = manifest.oauth.expect("an [oauth] table");
        assert_eq!(oauth.provider, "linkedin");
        assert_eq!(oauth.client_auth, ClientAuth::Body);
        assert!(oauth.rotating_refresh_tokens);
        assert_eq!(oauth.scopes, ["r_ads", "r_ads_reporting", "rw_ads"]);
    }

    #[test]
    fn the_defaults_are_basic_auth_and_no_rotation() {
        let text = LINKEDIN
            .replace("client_auth = \"body\"\n", "")
            .replace("rotating_refresh_tokens = true\n", "");
        let oauth = Manifest::parse(&text).expect("valid").oauth.expect("oauth");
        assert_eq!(oauth.client_auth, ClientAuth::Basic);
        assert!(!oauth.rotating_refresh_tokens);
    }

    /// Each change of the valid manifest, and the field its refusal names.
    const REFUSED: &[(&str, &str, &str)] = &[
        (
            "provider = \"linkedin\"",
            "provider = \"LinkedIn\"",
            "oauth.provider",
        ),
        (
            "https://www.linkedin.com/oauth/v2/authorization",
            "http://www.linkedin.com/oauth/v2/authorization",
            "oauth.authorize_url",
        ),
        (
            "https://www.linkedin.com/oauth/v2/accessToken",
            "https://user:pass@www.linkedin.com/oauth/v2/accessToken",
            "oauth.token_url",
        ),
        (
            "https://www.linkedin.com/oauth/v2/accessToken",
            "https://www.linkedin.com/token#x",
            "oauth.token_url",
        ),
        (
            "https://www.linkedin.com/oauth/v2/accessToken",
            "not a url",
            "oauth.token_url",
        ),
        (
            "[\"r_ads\", \"r_ads_reporting\", \"rw_ads\"]",
            "[]",
            "oauth.scopes",
        ),
        ("\"rw_ads\"]", "\"rw ads\"]", "oauth.scopes"),
        ("\"rw_ads\"]", "\"r_ads\"]", "oauth.scopes"),
        (
            "access_token_secret = \"access_token\"",
            "access_token_secret = \"token\"",
            "oauth.access_token_secret",
        ),
        ("kind = \"connector\"", "kind = \"agent\"", "oauth"),
        ("contract = \"1.1.0\"", "contract = \"1.0.0\"", "oauth"),
    ];

    #[test]
    fn a_wrong_sign_in_is_refused_naming_its_field() {
        for (from, to, field) in REFUSED {
            assert!(LINKEDIN.contains(from), "{from}");
            let text = LINKEDIN.replacen(from, to, 1);
            match Manifest::parse(&text) {
                Err(ManifestError::Invalid {
                    field: refused,
                    problem,
                }) => {
                    assert_eq!(refused, *field, "{from} -> {to}: {problem}")
                }
                other => panic!("{from} -> {to}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let text = LINKEDIN.replace("[oauth]\n", "[oauth]\nrefresh_token_secret = \"access_token\"\n");
        assert!(matches!(Manifest::parse(&text), Err(ManifestError::Toml(_))));
    }

    #[test]
    fn a_per_shop_endpoint_names_the_shop() {
        assert_eq!(check_endpoint("https://{shop}/admin/oauth/authorize"), Ok(()));
        assert!(check_endpoint("http://{shop}/admin/oauth/authorize").is_err());
    }

    #[test]
    fn scopes_are_scope_tokens() {
        assert!(is_scope("https://www.googleapis.com/auth/adwords"));
        assert!(is_scope("ads_management"));
        for bad in ["", "a b", "a\"b", "a\\b", "é", &"s".repeat(MAX_SCOPE_LEN + 1)] {
            assert!(!is_scope(bad), "{bad:?}");
        }
    }
}
