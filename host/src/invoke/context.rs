//! Who a call runs for and what it may use: the tenant, the plugin, the
//! tenant's configuration and secrets, the capabilities granted, the limits.

use super::limits::Limits;
use omnify_registry::manifest::is_host_pattern;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Everything the host knows about one call before it starts.
#[derive(Debug, Clone)]
pub struct InvocationContext {
    /// The tenant the call runs for; scopes KV, records and logs.
    pub tenant: String,
    /// The plugin's name; scopes KV and logs.
    pub plugin: String,
    /// Correlates the call with the request that caused it.
    pub request_id: String,
    /// The tenant's configuration of the plugin (a JSON object).
    pub config: Map<String, Value>,
    /// Secret values the tenant set, by name.
    pub secrets: BTreeMap<String, Secret>,
    /// What the plugin may use.
    pub grants: Grants,
    /// The limits of this call.
    pub limits: Limits,
}

impl InvocationContext {
    /// A context with no configuration, no secrets, no grants and default
    /// limits.
    pub fn new(tenant: impl Into<String>, plugin: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            plugin: plugin.into(),
            request_id: String::new(),
            config: Map::new(),
            secrets: BTreeMap::new(),
            grants: Grants::default(),
            limits: Limits::default(),
        }
    }
}

/// A secret value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself; only for handing it to the plugin.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The capabilities a tenant granted to a plugin: a subset of what the
/// plugin's manifest asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Hosts the plugin may send HTTP requests to.
    pub http_hosts: Vec<HostPattern>,
    /// Secret names the plugin may read (declared in its manifest).
    pub secrets: BTreeSet<String>,
    /// Whether the plugin may use its key-value store.
    pub kv: bool,
    /// `(connector, stream)` pairs an agent may read.
    pub data_streams: BTreeSet<(String, String)>,
}

/// A host the plugin may reach: `example.com`, `*.example.com` (subdomains
/// only), optionally with `:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

/// A host pattern that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a host pattern: use `host`, `*.domain` or `host:port`")]
pub struct InvalidHostPattern(String);

impl HostPattern {
    /// Parse `host`, `*.domain`, or either with `:port`.
    pub fn parse(pattern: &str) -> Result<Self, InvalidHostPattern> {
        if !is_host_pattern(pattern) {
            return Err(InvalidHostPattern(pattern.to_string()));
        }
        let (host, port) = match pattern.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()),
            None => (pattern, None),
        };
        let (host, wildcard) = match host.strip_prefix("*.") {
            Some(domain) => (domain, true),
            None => (host, false),
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            wildcard,
            port,
        })
    }

    /// Whether every host `other` matches is also matched by this pattern.
    pub fn covers(&self, other: &HostPattern) -> bool {
        if other.wildcard && !self.wildcard {
            return false;
        }
        let host_covered = if self.wildcard {
            other.host == self.host && other.wildcard
                || other
                    .host
                    .strip_suffix(&self.host)
                    .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        } else {
            other.host == self.host
        };
        host_covered && self.port.is_none_or(|p| other.port == Some(p))
    }

    /// Whether a URL's host and port match.
    pub fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        let host_matches = if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        } else {
            host == self.host
        };
        host_matches && self.port.is_none_or(|p| Some(p) == port)
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_exactly_or_by_subdomain() {
        let exact = HostPattern::parse("api.example.com").expect("pattern");
        assert!(exact.matches("API.example.com", Some(443)));
        assert!(!exact.matches("evil-api.example.com", Some(443)));
        assert!(!exact.matches("api.example.com.evil.net", Some(443)));

        let wildcard = HostPattern::parse("*.example.com").expect("pattern");
        assert!(wildcard.matches("shop.example.com", Some(443)));
        assert!(!wildcard.matches("example.com", Some(443)));
        assert!(!wildcard.matches("badexample.com", Some(443)));

        let with_port = HostPattern::parse("127.0.0.1:8080").expect("pattern");
        assert!(with_port.matches("127.0.0.1", Some(8080)));
        assert!(!with_port.matches("127.0.0.1", Some(8081)));

        let loopback = HostPattern::parse("127.0.0.1").expect("pattern");
        let sandbox = HostPattern::parse("127.0.0.1:9101").expect("pattern");
        assert!(loopback.covers(&sandbox) && !sandbox.covers(&loopback));
        assert!(wildcard.covers(&exact) && wildcard.covers(&wildcard) && !exact.covers(&wildcard));
        assert!(!loopback.covers(&exact));

        assert!(HostPattern::parse("https://example.com").is_err());
        assert!(HostPattern::parse("").is_err());
    }

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
