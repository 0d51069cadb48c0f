//! The `plugin.toml` manifest: what a plugin is, which contract it targets,
//! the capabilities it asks for and the limits it needs.

mod oauth;

pub use oauth::{ClientAuth, OAuthRequest};
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

/// A parsed and checked `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Who the plugin is.
    pub plugin: PluginInfo,
    /// What it may use; the tenant grants a subset.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// The limits it asks for; the host caps them.
    #[serde(default)]
    pub limits: RequestedLimits,
    /// How a tenant signs in to the platform, for a connector whose
    /// platform uses OAuth 2.0 (contract 1.1 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthRequest>,
}

/// The `[plugin]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginInfo {
    /// Lower-case letters, digits and `-`, starting with a letter.
    pub name: String,
    /// The plugin's own semver version.
    pub version: semver::Version,
    /// Which world the component targets.
    pub kind: PluginKind,
    /// The `omnify:plugin` contract version the component targets.
    pub contract: semver::Version,
    /// One line about what it does.
    #[serde(default)]
    pub description: String,
    /// Who publishes it.
    #[serde(default)]
    pub publisher: String,
}

/// The two worlds of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Reads from and writes to a platform.
    Connector,
    /// Reads synced records and proposes actions.
    Agent,
}

impl PluginKind {
    /// The world's name in the contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connector => "connector",
            Self::Agent => "agent",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[capabilities]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Hosts the plugin may call: `api.example.com`, `*.example.com`, an IP
    /// address, each with `:port`, `:*` (any port) or nothing (the scheme's
    /// default port); see [`is_host_pattern`].
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Names of the secrets it reads.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Whether it uses its key-value store.
    #[serde(default)]
    pub kv: bool,
    /// Streams it reads through `data`, as `connector/stream` (agents only).
    #[serde(default)]
    pub data_streams: Vec<String>,
    /// Actions it may propose, as `connector:action`, where `connector` may
    /// be `*` for any connector (agents only). The host refuses any other
    /// proposal.
    #[serde(default)]
    pub proposes: Vec<String>,
    /// Whether it may set the confidence thresholds the tenant's autonomy
    /// policy has learned (agents only).
    #[serde(default)]
    pub learns_thresholds: bool,
}

/// Whether `pattern` (`connector:action` or `*:action`) covers the
/// proposal of `action` on `connector`.
pub fn proposal_pattern_covers(pattern: &str, connector: &str, action: &str) -> bool {
    match pattern.split_once(':') {
        Some((c, a)) => (c == "*" || c == connector) && a == action,
        None => false,
    }
}

/// Whether `pattern` is `connector:action` or `*:action` with valid names.
pub fn is_proposal_pattern(pattern: &str) -> bool {
    pattern
        .split_once(':')
        .is_some_and(|(c, a)| (c == "*" || is_plugin_name(c)) && is_plugin_name(a))
}

/// The `[limits]` table: what one call needs at most.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    /// Fuel (roughly, WebAssembly instructions) per call.
    pub fuel_per_call: Option<u64>,
    /// Linear memory, in MiB.
    pub memory_mb: Option<u32>,
    /// Wall-clock time per call, in milliseconds.
    pub timeout_ms: Option<u64>,
}

/// Why a manifest was refused.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The manifest's path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown or missing fields.
    #[error("plugin.toml: {0}")]
    Toml(#[from] toml::de::Error),
    /// A field has a value that is not allowed.
    #[error("plugin.toml: `{field}` {problem}")]
    Invalid {
        /// The field, for example `plugin.name`.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A field publishing needs is missing or empty.
    #[error("plugin.toml: `plugin.{field}` is missing; {why}. Add this line under `[plugin]`:\n    {line}")]
    Missing {
        /// The field, within `[plugin]`.
        field: &'static str,
        /// Why publishing needs it.
        why: &'static str,
        /// The line to add, with an example value.
        line: &'static str,
    },
}

/// The `[plugin]` fields a published package must have: the field, why it
/// is needed, and an example line.
const PUBLISHED_FIELDS: [(&str, &str, &str); 5] = [
    (
        "name",
        "the catalog lists the plugin under it",
        "name = \"my-plugin\"",
    ),
    (
        "version",
        "each published version is immutable",
        "version = \"0.1.0\"",
    ),
    (
        "kind",
        "the host checks the component is that world",
        "kind = \"connector\"   # or \"agent\"",
    ),
    (
        "contract",
        "the host checks the component targets it",
        "contract = \"1.1.0\"",
    ),
    (
        "publisher",
        "the package must be signed by a key of that publisher \
         (`omnify plugin keygen --publisher <publisher>`), and the publisher owns the name",
        "publisher = \"your-company\"",
    ),
];

impl Manifest {
    /// Parse and check a manifest from TOML text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Parse and check a manifest that is to be packaged and published:
    /// besides what [`Manifest::parse`] checks, every field publishing
    /// needs is present (each refusal names the line to add).
    pub fn parse_publishable(text: &str) -> Result<Self, ManifestError> {
        let table: toml::Table = toml::from_str(text)?;
        let plugin = table.get("plugin").and_then(toml::Value::as_table);
        for (field, why, line) in PUBLISHED_FIELDS {
            let value = plugin.and_then(|p| p.get(field));
            let blank = value
                .and_then(toml::Value::as_str)
                .is_some_and(|v| v.trim().is_empty());
            if value.is_none() || blank {
                return Err(ManifestError::Missing { field, why, line });
            }
        }
        let manifest = Self::parse(text)?;
        if !is_publisher_name(&manifest.plugin.publisher) {
            return Err(ManifestError::Invalid {
                field: "plugin.publisher",
                problem: "must be 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit"
                    .into(),
            });
        }
        Ok(manifest)
    }

    /// Read, parse and check a `plugin.toml`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    fn check(&self) -> Result<(), ManifestError> {
        let invalid = |field, problem: &str| ManifestError::Invalid {
            field,
            problem: problem.to_string(),
        };
        if !is_plugin_name(&self.plugin.name) {
            return Err(invalid(
                "plugin.name",
                "must be 1 to 64 lower-case letters, digits or `-`, starting with a letter",
            ));
        }
        if RESERVED_NAMES.contains(&self.plugin.name.as_str()) {
            return Err(invalid(
                "plugin.name",
                "is reserved: the host publishes its own records (such as `omnify/proposals`) under it",
            ));
        }
        if let Some(host) = self.capabilities.http_hosts.iter().find(|h| !is_host_pattern(h)) {
            return Err(ManifestError::Invalid {
                field: "capabilities.http_hosts",
                problem: format!(
                    "has `{host}`, which is not a host name, IP address, `*.domain` (below a public suffix) or `host:port`"
                ),
            });
        }
        if let Some(name) = self.capabilities.secrets.iter().find(|s| !is_secret_name(s)) {
            return Err(ManifestError::Invalid {
                field: "capabilities.secrets",
                problem: format!("has `{name}`; names are letters, digits, `_` and `-`"),
            });
        }
        if self.plugin.kind == PluginKind::Connector && !self.capabilities.data_streams.is_empty() {
            return Err(invalid("capabilities.data_streams", "is only for agents"));
        }
        if self.plugin.kind == PluginKind::Connector
            && (!self.capabilities.proposes.is_empty() || self.capabilities.learns_thresholds)
        {
            return Err(invalid(
                "capabilities.proposes",
                "and `learns_thresholds` are only for agents",
            ));
        }
        if let Some(pattern) = self
            .capabilities
            .proposes
            .iter()
            .find(|p| !is_proposal_pattern(p))
        {
            return Err(ManifestError::Invalid {
                field: "capabilities.proposes",
                problem: format!("has `{pattern}`, which is not `connector:action` or `*:action`"),
            });
        }
        if let Some(stream) = self.capabilities.data_streams.iter().find(|s| {
            s.split_once('/')
                .is_none_or(|(c, s)| c.is_empty() || s.is_empty())
        }) {
            return Err(ManifestError::Invalid {
                field: "capabilities.data_streams",
                problem: format!("has `{stream}`, which is not `connector/stream`"),
            });
        }
        if let Some(oauth) = &self.oauth {
            oauth.check(&self.plugin, &self.capabilities.secrets)?;
        }
        if self.limits.fuel_per_call == Some(0)
            || self.limits.memory_mb == Some(0)
            || self.limits.timeout_ms == Some(0)
        {
            return Err(invalid("limits", "must be greater than zero"));
        }
        Ok(())
    }
}

/// Plugin names the host keeps for itself.
pub const RESERVED_NAMES: [&str; 1] = ["omnify"];

/// Whether `name` can name a plugin: 1 to 64 lower-case letters, digits or
/// `-`, starting with a letter.
pub fn is_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `name` can name a publisher: 1 to 64 ASCII letters, digits,
/// `-`, `_` or `.`, starting with a letter or digit (it names key files).
pub fn is_publisher_name(name: &str) -> bool {
    name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The port part of a host pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternPort {
    /// No port: the scheme's default port only (80 for http, 443 for https).
    Default,
    /// `:*`: any port, named explicitly.
    Any,
    /// `:port`: that port only.
    Exact(u16),
}

/// A checked host pattern: the lower-case host (an IPv6 address in
/// brackets), whether it is `*.domain`, and its port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPatternParts {
    /// The host, or the domain after `*.`.
    pub host: String,
    /// Whether it matches subdomains of `host` (and never `host` itself).
    pub wildcard: bool,
    /// Which ports it matches.
    pub port: PatternPort,
}

/// Whether `pattern` is a host name, `*.domain`, an IPv4 address or an
/// `[IPv6]` address, each optionally with `:port` or `:*` (any port).
/// A wildcard must cover a registrable domain: at least two labels after
/// `*.`, not an ICANN public suffix (`*.co.uk`), and not numeric (`*.254`).
pub fn is_host_pattern(pattern: &str) -> bool {
    parse_host_pattern(pattern).is_some()
}

/// Split and check a host pattern (see [`is_host_pattern`]).
pub fn parse_host_pattern(pattern: &str) -> Option<HostPatternParts> {
    let (host, port) = if let Some(rest) = pattern.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip: std::net::Ipv6Addr = inside.parse().ok()?;
        let port = match after {
            "" => None,
            other => Some(other.strip_prefix(':')?),
        };
        (format!("[{ip}]"), port)
    } else {
        let (host, port) = match pattern.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (pattern, None),
        };
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => PatternPort::Default,
        Some("*") => PatternPort::Any,
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => PatternPort::Exact(port.parse().ok()?),
        Some(_) => return None,
    };
    if host.starts_with('[') {
        return Some(HostPatternParts {
            host,
            wildcard: false,
            port,
        });
    }
    let (domain, wildcard) = match host.strip_prefix("*.") {
        Some(domain) => (domain, true),
        None => (host.as_str(), false),
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let valid_labels = !domain.is_empty()
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !valid_labels {
        return None;
    }
    // A host whose last label is numeric is an IPv4 address to a URL parser:
    // it must be written as one, and a wildcard never covers addresses.
    let numeric = labels
        .last()
        .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
    if numeric && (wildcard || domain.parse::<std::net::Ipv4Addr>().is_err()) {
        return None;
    }
    if wildcard && (labels.len() < 2 || is_public_suffix(domain)) {
        return None;
    }
    Some(HostPatternParts {
        host: domain.to_string(),
        wildcard,
        port,
    })
}

/// Whether `domain` is itself a public suffix in the ICANN section of the
/// Public Suffix List (`com`, `co.uk`, `github.io` is not: it is in the
/// private section, like `myshopify.com`, whose subdomains one operator
/// serves).
fn is_public_suffix(domain: &str) -> bool {
    psl::suffix(domain.as_bytes()).is_some_and(|suffix| {
        suffix.is_known() && suffix.typ() == Some(psl::Type::Icann) && suffix.as_bytes() == domain.as_bytes()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [plugin]
        name = "stripe"
        version = "1.2.0"
        kind = "connector"
        contract = "1.0.0"
        description = "Stripe charges and refunds"
        publisher = "omnify"

        [capabilities]
        http_hosts = ["api.stripe.com", "127.0.0.1:8080", "*.myshopify.com"]
        secrets = ["api_key"]
        kv = true

        [limits]
        fuel_per_call = 1000000
        memory_mb = 32
        timeout_ms = 5000
    "#;

    #[test]
    fn parses_a_complete_manifest() {
        let manifest = Manifest::parse(GOOD).expect("valid manifest");
        assert_eq!(manifest.plugin.name, "stripe");
        assert_eq!(manifest.plugin.kind, PluginKind::Connector);
        assert_eq!(manifest.capabilities.http_hosts.len(), 3);
        assert_eq!(manifest.limits.memory_mb, Some(32));
    }

    #[test]
    fn refuses_bad_fields_with_their_names() {
        let cases = [
            (GOOD.replace("\"stripe\"", "\"Stripe!\""), "plugin.name"),
            (GOOD.replace("\"1.2.0\"", "\"one\""), "version"),
            (GOOD.replace("\"connector\"", "\"robot\""), "kind"),
            (
                GOOD.replace("\"api.stripe.com\"", "\"https://api.stripe.com\""),
                "http_hosts",
            ),
            (GOOD.replace("\"*.myshopify.com\"", "\"*.com\""), "http_hosts"),
            (GOOD.replace("\"*.myshopify.com\"", "\"*.co.uk\""), "http_hosts"),
            (GOOD.replace("\"api_key\"", "\"api key\""), "capabilities.secrets"),
            (
                GOOD.replace("kv = true", "kv = true\ndata_streams = [\"a/b\"]"),
                "only for agents",
            ),
            (
                GOOD.replace("memory_mb = 32", "memory_mb = 0"),
                "greater than zero",
            ),
            (GOOD.replace("kv = true", "kv = true\nsockets = true"), "sockets"),
            (
                GOOD.replace("kv = true", "kv = true\nproposes = [\"*:refund\"]"),
                "only for agents",
            ),
        ];
        for (text, expected) in cases {
            let error = Manifest::parse(&text).expect_err(expected).to_string();
            assert!(error.contains(expected), "`{error}` should mention `{expected}`");
        }
        let agent = GOOD.replace("\"connector\"", "\"agent\"");
        for bad in ["refund", "*:", "meta ads:pause", "*:*", ":pause"] {
            let text = agent.replace("kv = true", &format!("kv = true\nproposes = [\"{bad}\"]"));
            let error = Manifest::parse(&text).expect_err(bad).to_string();
            assert!(error.contains("capabilities.proposes"), "`{error}` for `{bad}`");
        }
    }

    #[test]
    fn a_publishable_manifest_names_every_field_publishing_needs() {
        assert!(Manifest::parse_publishable(GOOD).is_ok());
        let without_publisher = GOOD.replace("publisher = \"omnify\"", "");
        assert!(
            Manifest::parse(&without_publisher).is_ok(),
            "running it needs no publisher"
        );
        let error = Manifest::parse_publishable(&without_publisher)
            .expect_err("no publisher")
            .to_string();
        assert!(error.contains("`plugin.publisher` is missing"), "{error}");
        assert!(error.contains("publisher = \"your-company\""), "{error}");
        assert!(error.contains("omnify plugin keygen --publisher"), "{error}");
        let blank = GOOD.replace("publisher = \"omnify\"", "publisher = \" \"");
        assert!(matches!(
            Manifest::parse_publishable(&blank),
            Err(ManifestError::Missing {
                field: "publisher",
                ..
            })
        ));
        for (field, line) in [
            ("version", "version = \"1.2.0\""),
            ("contract", "contract = \"1.0.0\""),
        ] {
            let error = Manifest::parse_publishable(&GOOD.replace(line, ""))
                .expect_err(field)
                .to_string();
            assert!(error.contains(&format!("`plugin.{field}` is missing")), "{error}");
            assert!(error.contains(&format!("{field} = \"")), "{error}");
        }
        let error = Manifest::parse_publishable(&GOOD.replace("\"omnify\"", "\"../keys\""))
            .expect_err("a path is no publisher")
            .to_string();
        assert!(error.contains("plugin.publisher"), "{error}");
    }

    #[test]
    fn host_patterns_refuse_public_suffix_wildcards_and_bad_ports() {
        for good in [
            "api.stripe.com",
            "*.myshopify.com",
            "*.example.co.uk",
            "*.sandbox.test",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.0.0.1:*",
            "[::1]",
            "[::1]:9000",
            "[2001:db8::1]:*",
            "API.Example.COM:443",
        ] {
            assert!(is_host_pattern(good), "`{good}` is a host pattern");
        }
        for bad in [
            "*.com",
            "*.co.uk",
            "*.uk",
            "*.254",
            "*.169.254",
            "*.0.0.127",
            "*",
            "*.",
            "1.2.3",
            "127.000.0.1",
            "999.0.0.1",
            "example.com:",
            "example.com:+80",
            "example.com:70000",
            "example.com:**",
            "::1",
            "[::1",
            "[::1]x",
            "[not-ip]:80",
            "https://example.com",
            "",
        ] {
            assert!(!is_host_pattern(bad), "`{bad}` is not a host pattern");
        }
        let parts = parse_host_pattern("*.Shop.Example.com:*").expect("a pattern");
        assert_eq!(
            parts,
            HostPatternParts {
                host: "shop.example.com".into(),
                wildcard: true,
                port: PatternPort::Any
            }
        );
        assert_eq!(
            parse_host_pattern("[0:0::1]").map(|p| p.host),
            Some("[::1]".to_string())
        );
        assert_eq!(
            parse_host_pattern("example.com").map(|p| p.port),
            Some(PatternPort::Default)
        );
    }

    #[test]
    fn proposal_patterns_match_connector_and_action() {
        assert!(proposal_pattern_covers(
            "meta-ads:pause-ad",
            "meta-ads",
            "pause-ad"
        ));
        assert!(proposal_pattern_covers("*:pause-ad", "tiktok-ads", "pause-ad"));
        assert!(!proposal_pattern_covers(
            "*:pause-ad",
            "tiktok-ads",
            "pause-campaign"
        ));
        assert!(!proposal_pattern_covers(
            "meta-ads:pause-ad",
            "stripe",
            "pause-ad"
        ));
    }
}
