//! Who a call runs for and what it may use: the tenant, the plugin, the
//! tenant's configuration and secrets, the capabilities granted, the limits.

use super::limits::Limits;
use omnify_registry::manifest::{PatternPort, parse_host_pattern};
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

impl From<&InvocationContext> for std::sync::Arc<InvocationContext> {
    fn from(ctx: &InvocationContext) -> Self {
        Self::new(ctx.clone())
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
/// only, never an IP address), an IPv4 or `[IPv6]` address, with `:port`,
/// `:*` (any port) or nothing (the scheme's default port: 80 or 443).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    wildcard: bool,
    port: PatternPort,
}

/// A host pattern that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a host pattern: use `host`, `*.domain` (below a public suffix) or an IP address, \
     optionally with `:port` or `:*`"
)]
pub struct InvalidHostPattern(String);

impl HostPattern {
    /// Parse a pattern; the rules are those of
    /// [`omnify_registry::manifest::is_host_pattern`].
    pub fn parse(pattern: &str) -> Result<Self, InvalidHostPattern> {
        let parts = parse_host_pattern(pattern).ok_or_else(|| InvalidHostPattern(pattern.to_string()))?;
        Ok(Self {
            host: parts.host,
            wildcard: parts.wildcard,
            port: parts.port,
        })
    }

    /// Whether every host and port `other` matches is also matched by this
    /// pattern.
    pub fn covers(&self, other: &HostPattern) -> bool {
        if other.wildcard && !self.wildcard {
            return false;
        }
        let host_covered = if self.wildcard {
            other.host == self.host && other.wildcard || is_subdomain(&other.host, &self.host)
        } else {
            other.host == self.host
        };
        let port_covered = match self.port {
            PatternPort::Any => true,
            port => other.port == port,
        };
        host_covered && port_covered
    }

    /// Whether a URL's host and port match: `host` as the URL spells it
    /// (`[::1]` for IPv6), `port` the one it connects to, `default_port`
    /// its scheme's (80 or 443).
    pub fn matches(&self, host: &str, port: u16, default_port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let is_ip = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
        let host_matches = if self.wildcard {
            !is_ip && is_subdomain(&host, &self.host)
        } else {
            host == self.host || same_ipv6(&host, &self.host)
        };
        let port_matches = match self.port {
            PatternPort::Default => port == default_port,
            PatternPort::Any => true,
            PatternPort::Exact(allowed) => port == allowed,
        };
        host_matches && port_matches
    }
}

/// Whether both are the same `[IPv6]` address, however each is written.
fn same_ipv6(a: &str, b: &str) -> bool {
    let parse = |text: &str| {
        text.strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
    };
    parse(a).is_some_and(|a| parse(b) == Some(a))
}

/// Whether `host` is a proper subdomain of `domain`.
fn is_subdomain(host: &str, domain: &str) -> bool {
    host.strip_suffix(domain)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        match self.port {
            PatternPort::Default => Ok(()),
            PatternPort::Any => f.write_str(":*"),
            PatternPort::Exact(port) => write!(f, ":{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_exactly_or_by_subdomain() {
        let exact = HostPattern::parse("api.example.com").expect("pattern");
        assert!(exact.matches("API.example.com", 443, 443));
        assert!(!exact.matches("evil-api.example.com", 443, 443));
        assert!(!exact.matches("api.example.com.evil.net", 443, 443));

        let wildcard = HostPattern::parse("*.example.com").expect("pattern");
        assert!(wildcard.matches("shop.example.com", 443, 443));
        assert!(!wildcard.matches("example.com", 443, 443));
        assert!(!wildcard.matches("badexample.com", 443, 443));

        let with_port = HostPattern::parse("127.0.0.1:8080").expect("pattern");
        assert!(with_port.matches("127.0.0.1", 8080, 80));
        assert!(!with_port.matches("127.0.0.1", 8081, 80));

        let v6 = HostPattern::parse("[::1]:9000").expect("pattern");
        assert!(v6.matches("[::1]", 9000, 80) && !v6.matches("[::2]", 9000, 80));
        assert_eq!(v6.to_string(), "[::1]:9000");
        let mapped = HostPattern::parse("[::ffff:127.0.0.1]").expect("pattern");
        assert!(mapped.matches("[::ffff:7f00:1]", 80, 80), "as a URL writes it");

        assert!(HostPattern::parse("https://example.com").is_err());
        assert!(HostPattern::parse("").is_err());
    }

    #[test]
    fn a_pattern_without_a_port_allows_only_the_default_port() {
        let plain = HostPattern::parse("api.example.com").expect("pattern");
        assert!(plain.matches("api.example.com", 443, 443));
        assert!(plain.matches("api.example.com", 80, 80));
        assert!(!plain.matches("api.example.com", 8080, 443));
        assert!(
            !plain.matches("api.example.com", 443, 80),
            "443 is not http's port"
        );
        assert!(
            !HostPattern::parse("127.0.0.1")
                .expect("pattern")
                .matches("127.0.0.1", 8080, 80)
        );

        let any = HostPattern::parse("127.0.0.1:*").expect("pattern");
        assert!(any.matches("127.0.0.1", 8080, 80) && any.matches("127.0.0.1", 80, 80));
        assert_eq!(any.to_string(), "127.0.0.1:*");
    }

    #[test]
    fn wildcards_cover_no_public_suffix_and_no_address() {
        for bad in ["*.com", "*.co.uk", "*.254", "*.169.254", "*.0.0.1"] {
            assert!(HostPattern::parse(bad).is_err(), "`{bad}` must be refused");
        }
        let wildcard = HostPattern::parse("*.shop.example").expect("pattern");
        assert!(!wildcard.matches("169.254.169.254", 80, 80));
        assert!(!wildcard.matches("[::1]", 80, 80));
    }

    #[test]
    fn coverage_respects_hosts_and_ports() {
        let exact = HostPattern::parse("api.example.com").expect("pattern");
        let wildcard = HostPattern::parse("*.example.com").expect("pattern");
        let any_port = HostPattern::parse("127.0.0.1:*").expect("pattern");
        let loopback = HostPattern::parse("127.0.0.1").expect("pattern");
        let sandbox = HostPattern::parse("127.0.0.1:9101").expect("pattern");
        assert!(any_port.covers(&sandbox) && any_port.covers(&loopback));
        assert!(!loopback.covers(&sandbox), "no port means the default port only");
        assert!(!sandbox.covers(&loopback) && !sandbox.covers(&any_port));
        assert!(wildcard.covers(&exact) && wildcard.covers(&wildcard) && !exact.covers(&wildcard));
        assert!(!loopback.covers(&exact));
        assert!(!wildcard.covers(&HostPattern::parse("api.example.com:8443").expect("pattern")));
    }

    #[test]
    fn secrets_never_print_their_value() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
