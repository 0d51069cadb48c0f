//! What a tenant grants a plugin: a subset of what its manifest asks for,
//! checked when it is given and compared again when a new version asks for
//! more.

use crate::control::ControlError;
use crate::invoke::HostPattern;
use omnify_registry::Manifest;
use omnify_registry::manifest::proposal_pattern_covers;
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
            if !grantable.iter().any(|allowed| allowed.covers(&pattern)) {
                return Err(outside("HTTP host", host));
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
