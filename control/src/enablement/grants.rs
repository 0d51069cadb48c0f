//! What a tenant grants a plugin: a subset of what its manifest asks for,
//! checked when it is given and compared again when a new version asks for
//! more.

use crate::control::ControlError;
use omnify_registry::Manifest;
use omnify_registry::manifest::proposal_pattern_covers;
use omnify_runtime::invoke::HostPattern;
use serde::{Deserialize, Serialize};

/// The capabilities a tenant grants a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Hosts it may call; each must be in its manifest or among the hosts
    /// the operator made grantable.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Secret names it may read; each must be in its manifest.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Whether it may use its key-value store.
    #[serde(default)]
    pub kv: bool,
    /// `connector/stream` pairs an agent may read.
    #[serde(default)]
    pub data_streams: Vec<String>,
    /// `connector:action` pairs (or `*:action`) an agent may propose.
    #[serde(default)]
    pub proposes: Vec<String>,
    /// Whether an agent may set the tenant's learned confidence thresholds.
    #[serde(default)]
    pub learns_thresholds: bool,
}

impl GrantSpec {
    pub(super) fn everything_in(manifest: &Manifest) -> Self {
        let capabilities = &manifest.capabilities;
        Self {
            http_hosts: capabilities.http_hosts.clone(),
            secrets: capabilities.secrets.clone(),
            kv: capabilities.kv,
            data_streams: capabilities.data_streams.clone(),
            proposes: capabilities.proposes.clone(),
            learns_thresholds: capabilities.learns_thresholds,
        }
    }

    /// What `self` (a version's manifest, as grants) asks for that neither
    /// `granted` nor `before` (the running version's manifest) has: what an
    /// upgrade to that version would newly ask the tenant for.
    pub(super) fn beyond(&self, granted: &Self, before: &Self) -> Vec<String> {
        let mut more = Vec::new();
        let lists = [
            (
                "HTTP host",
                &self.http_hosts,
                &granted.http_hosts,
                &before.http_hosts,
            ),
            ("secret", &self.secrets, &granted.secrets, &before.secrets),
            (
                "data stream",
                &self.data_streams,
                &granted.data_streams,
                &before.data_streams,
            ),
            ("proposal", &self.proposes, &granted.proposes, &before.proposes),
        ];
        for (what, asked, granted, before) in lists {
            for item in asked {
                if !granted.contains(item) && !before.contains(item) {
                    more.push(format!("{what} `{item}`"));
                }
            }
        }
        if self.kv && !granted.kv && !before.kv {
            more.push("kv".into());
        }
        if self.learns_thresholds && !granted.learns_thresholds && !before.learns_thresholds {
            more.push("learns_thresholds".into());
        }
        more
    }

    /// The refusal of an HTTP host neither the manifest nor the operator
    /// allows, saying what each of them would change.
    fn ungrantable_host(&self, host: &str, manifest: &Manifest, grantable: &[HostPattern]) -> ControlError {
        let grantable = if grantable.is_empty() {
            "none".to_string()
        } else {
            grantable
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let any_port = match host.rsplit_once(':') {
            Some((name, port)) if port == "*" || port.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{name}:*")
            }
            _ => format!("{host}:*"),
        };
        let body = serde_json::json!({"grants": {
            "http_hosts": self.http_hosts, "secrets": self.secrets, "kv": self.kv,
        }});
        ControlError::Invalid(format!(
            "grants: HTTP host `{host}` is not in the plugin's manifest (`capabilities.http_hosts`: {:?}) \
             and not among the hosts the operator made grantable ({grantable}). To allow it, the operator \
             starts the host with `omnify serve --grantable-host {host}` (or `{any_port}` for any port); \
             that is also the only way a plugin reaches a private or loopback address. The tenant's grant \
             is the `grants` field of the enablement request, for example {body}; given, it replaces \
             the manifest's defaults, so it names the secrets and kv to keep too. Ports matter: a host \
             without a port means the scheme's default port (443 for https, 80 for http), `host:port` \
             only that port, `host:*` any port.",
            manifest.capabilities.http_hosts
        ))
    }

    /// Whether these grants let an agent propose `action` on `connector`.
    pub fn allows_proposal(&self, connector: &str, action: &str) -> bool {
        self.proposes
            .iter()
            .any(|pattern| proposal_pattern_covers(pattern, connector, action))
    }

    /// Check that every grant is requested by the manifest, or (for HTTP
    /// hosts) covered by a host the operator made grantable.
    pub(super) fn check_within(
        &self,
        manifest: &Manifest,
        grantable: &[HostPattern],
    ) -> Result<(), ControlError> {
        let capabilities = &manifest.capabilities;
        let outside = |what: &str, item: &str| {
            ControlError::Invalid(format!(
                "grants: {what} `{item}` is not requested by the plugin's manifest, so it cannot be granted"
            ))
        };
        for host in &self.http_hosts {
            if capabilities.http_hosts.contains(host) {
                continue;
            }
            let pattern =
                HostPattern::parse(host).map_err(|e| ControlError::Invalid(format!("grants: {e}")))?;
            // A grant may narrow a manifest's pattern (`127.0.0.1:8081`
            // where it asks for `127.0.0.1:*`).
            let asked = capabilities
                .http_hosts
                .iter()
                .filter_map(|asked| HostPattern::parse(asked).ok())
                .any(|asked| asked.covers(&pattern));
            if !asked && !grantable.iter().any(|allowed| allowed.covers(&pattern)) {
                return Err(self.ungrantable_host(host, manifest, grantable));
            }
        }
        if let Some(name) = self.secrets.iter().find(|s| !capabilities.secrets.contains(s)) {
            return Err(outside("secret", name));
        }
        if let Some(stream) = self
            .data_streams
            .iter()
            .find(|s| !capabilities.data_streams.contains(s))
        {
            return Err(outside("data stream", stream));
        }
        if self.kv && !capabilities.kv {
            return Err(outside("capability", "kv"));
        }
        // A grant may name one connector where the manifest says `*`.
        if let Some(pattern) = self.proposes.iter().find(|grant| {
            !capabilities
                .proposes
                .iter()
                .any(|asked| match grant.split_once(':') {
                    Some(("*", action)) => *asked == format!("*:{action}"),
                    Some((connector, action)) => proposal_pattern_covers(asked, connector, action),
                    None => false,
                })
        }) {
            return Err(outside("proposal", pattern));
        }
        if self.learns_thresholds && !capabilities.learns_thresholds {
            return Err(outside("capability", "learns_thresholds"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(http_hosts: &str) -> Manifest {
        Manifest::parse(&format!(
            "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\nkind = \"connector\"\ncontract = \"1.1.0\"\n\
             description = \"d\"\npublisher = \"t\"\n\n[capabilities]\nhttp_hosts = {http_hosts}\n"
        ))
        .expect("a valid manifest")
    }

    fn hosts(list: &[&str]) -> GrantSpec {
        GrantSpec {
            http_hosts: list.iter().map(|h| h.to_string()).collect(),
            ..GrantSpec::default()
        }
    }

    #[test]
    fn a_grant_may_narrow_the_manifests_pattern() {
        let manifest = manifest("[\"127.0.0.1:*\", \"*.example.com\"]");
        assert!(
            hosts(&["127.0.0.1:8081", "api.example.com"])
                .check_within(&manifest, &[])
                .is_ok()
        );
        let error = hosts(&["10.0.0.1:8081"])
            .check_within(&manifest, &[])
            .expect_err("not asked");
        assert!(
            error.to_string().contains("--grantable-host 10.0.0.1:8081"),
            "{error}"
        );
    }

    #[test]
    fn a_grantable_host_must_cover_the_port() {
        let manifest = manifest("[\"quotes.example.com\"]");
        let default_port = [HostPattern::parse("127.0.0.1").expect("pattern")];
        let error = hosts(&["127.0.0.1:8081"])
            .check_within(&manifest, &default_port)
            .expect_err("another port");
        let message = error.to_string();
        assert!(message.contains("grantable (`127.0.0.1`)"), "{message}");
        assert!(message.contains("`127.0.0.1:*` for any port"), "{message}");
        assert!(message.contains("default port"), "{message}");
        let any_port = [HostPattern::parse("127.0.0.1:*").expect("pattern")];
        assert!(
            hosts(&["127.0.0.1:8081"])
                .check_within(&manifest, &any_port)
                .is_ok()
        );
    }
}
