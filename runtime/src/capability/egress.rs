//! The egress guard: which addresses the `http` capability may connect to.
//!
//! The host resolves every name itself, drops every address that is not
//! public (loopback, private, link-local, multicast, reserved, and the IPv6
//! forms that embed such an IPv4 address) and hands reqwest only what is
//! left, so the connection goes to an address that was checked and a second
//! lookup (DNS rebinding) cannot switch it. Only a granted host covered by a
//! host the operator made grantable (`serve --grantable-host`) may reach
//! private addresses; it is sent through a second client whose resolver
//! keeps every address.

use crate::invoke::HostPattern;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// How the host reaches the network for plugins.
#[derive(Debug, Clone, Default)]
pub struct EgressConfig {
    /// Hosts that may connect to private addresses: the hosts the operator
    /// made grantable. A request may reach a private address only when a
    /// grant that matches it is covered by one of these.
    pub private_hosts: Vec<HostPattern>,
    /// Answers used instead of the system resolver (for tests); the
    /// addresses still go through the same checks.
    pub resolver: Option<ResolverOverride>,
}

/// A lookup of a name's addresses; `None` when it does not know the name.
type Lookup = dyn Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync;

/// A name → addresses lookup that replaces the system resolver. A name it
/// does not know fails to resolve.
#[derive(Clone)]
pub struct ResolverOverride(Arc<Lookup>);

impl ResolverOverride {
    /// A fixed map from lower-case names to their addresses.
    pub fn from_map(map: HashMap<String, Vec<IpAddr>>) -> Self {
        Self(Arc::new(move |name: &str| map.get(name).cloned()))
    }

    /// Answers computed on every lookup (for example, ones that change).
    pub fn from_fn(lookup: impl Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        (self.0)(name)
    }
}

impl fmt::Debug for ResolverOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResolverOverride(..)")
    }
}

/// Why the guard refused a connection; only the host's log sees it.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// Every address of the name is in a range plugins may not reach.
    #[error(
        "`{name}` resolves only to addresses plugins may not reach ({reasons}); only a host the operator \
         made grantable (`omnify serve --grantable-host {name}:<port>`, or `{name}:*` for any port) and \
         the tenant granted (the enablement's `grants.http_hosts`) may reach private and loopback addresses"
    )]
    Blocked {
        /// The name looked up.
        name: String,
        /// The range of each refused address.
        reasons: String,
    },
    /// The name did not resolve.
    #[error("cannot resolve `{name}`: {reason}")]
    Unresolved {
        /// The name looked up.
        name: String,
        /// What the resolver said.
        reason: String,
    },
}

/// The clients the `http` capability sends with: one that connects only to
/// public addresses and one, for hosts the operator allowed, to any.
pub struct Egress {
    public: reqwest::Client,
    private: reqwest::Client,
    private_hosts: Vec<HostPattern>,
}

impl fmt::Debug for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Egress")
            .field("private_hosts", &self.private_hosts)
            .finish_non_exhaustive()
    }
}

impl Egress {
    /// Build both clients. They follow no redirects (the capability follows
    /// them after checking each) and ignore proxy variables.
    pub fn new(config: &EgressConfig) -> reqwest::Result<Self> {
        let client = |allow_private| {
            let resolver = GuardedResolver {
                allow_private,
                lookup: config.resolver.clone(),
            };
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .dns_resolver(Arc::new(resolver))
                .user_agent(concat!("omnify/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Self {
            public: client(false)?,
            private: client(true)?,
            private_hosts: config.private_hosts.clone(),
        })
    }

    /// Whether requests matched by `grant` may reach private addresses.
    pub fn allows_private(&self, grant: &HostPattern) -> bool {
        self.private_hosts.iter().any(|allowed| allowed.covers(grant))
    }

    /// The client for a request that may (or may not) reach private
    /// addresses.
    pub fn client(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private {
            &self.private
        } else {
            &self.public
        }
    }
}

/// Resolves names itself and returns only the addresses that may be used.
struct GuardedResolver {
    allow_private: bool,
    lookup: Option<ResolverOverride>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let name = name.as_str().to_ascii_lowercase();
        let allow_private = self.allow_private;
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let found: Vec<IpAddr> = match lookup {
                Some(lookup) => lookup.lookup(&name).unwrap_or_default(),
                // getaddrinfo runs on tokio's blocking pool.
                None => tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .map_err(|e| EgressError::Unresolved {
                        name: name.clone(),
                        reason: e.to_string(),
                    })?
                    .map(|addr| addr.ip())
                    .collect(),
            };
            if found.is_empty() {
                return Err(EgressError::Unresolved {
                    name,
                    reason: "no addresses".into(),
                }
                .into());
            }
            let (allowed, refused): (Vec<IpAddr>, Vec<IpAddr>) = found
                .into_iter()
                .partition(|ip| allow_private || blocked_range(*ip).is_none());
            if allowed.is_empty() {
                let reasons = refused
                    .iter()
                    .map(|ip| format!("{ip}: {}", blocked_range(*ip).unwrap_or("public")))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(EgressError::Blocked { name, reasons }.into());
            }
            if !refused.is_empty() {
                tracing::warn!(%name, ?refused, "egress: dropped non-public addresses of a name");
            }
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Whether a plugin may connect to `ip` without the operator's leave.
pub fn is_public(ip: IpAddr) -> bool {
    blocked_range(ip).is_none()
}

/// The special-purpose range `ip` is in, or `None` for a public address.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

/// IPv4 special-purpose ranges (IANA registry) as (network, prefix, name).
const V4_RANGES: [(u32, u8, &str); 15] = [
    (0x0000_0000, 8, "this network / unspecified"),
    (0x0A00_0000, 8, "private (RFC 1918)"),
    (0x6440_0000, 10, "shared address space (100.64/10)"),
    (0x7F00_0000, 8, "loopback"),
    (0xA9FE_0000, 16, "link-local"),
    (0xAC10_0000, 12, "private (RFC 1918)"),
    (0xC000_0000, 24, "IETF protocol assignments"),
    (0xC000_0200, 24, "documentation (TEST-NET-1)"),
    (0xC058_6300, 24, "6to4 relay anycast"),
    (0xC0A8_0000, 16, "private (RFC 1918)"),
    (0xC612_0000, 15, "benchmarking"),
    (0xC633_6400, 24, "documentation (TEST-NET-2)"),
    (0xCB00_7100, 24, "documentation (TEST-NET-3)"),
    (0xE000_0000, 4, "multicast"),
    (0xF000_0000, 4, "reserved"),
];

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    // The broadcast address is also in 240/4; name it precisely.
    if ip == Ipv4Addr::BROADCAST {
        return Some("broadcast");
    }
    V4_RANGES
        .iter()
        .find(|(network, prefix, _)| bits >> (32 - prefix) == network >> (32 - prefix))
        .map(|(_, _, name)| *name)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let segments = ip.segments();
    let embedded = |v4: u32| blocked_v4(Ipv4Addr::from(v4));
    let in_range = |network: u128, prefix: u32| bits >> (128 - prefix) == network >> (128 - prefix);
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Forms that carry an IPv4 address: judged by that address.
    if in_range(0xffff_0000_0000, 96) {
        return embedded(bits as u32).map(|_| "IPv4-mapped non-public address");
    }
    if in_range(0xffff_0000_0000_0000, 96) {
        return embedded(bits as u32).map(|_| "IPv4-translated non-public address");
    }
    if in_range(0x0064_ff9b_u128 << 96, 96) {
        return embedded(bits as u32).map(|_| "NAT64 of a non-public address");
    }
    if segments[0] == 0x2002 {
        let v4 = (u32::from(segments[1]) << 16) | u32::from(segments[2]);
        return embedded(v4).map(|_| "6to4 of a non-public address");
    }
    let ranges: [(u128, u32, &'static str); 10] = [
        (0, 96, "IPv4-compatible (deprecated)"),
        (0x0064_ff9b_0001_u128 << 80, 48, "local-use NAT64"),
        (0x0100_u128 << 112, 64, "discard-only"),
        (0x2001_u128 << 112, 32, "Teredo"),
        (0x2001_0db8_u128 << 96, 32, "documentation"),
        (0x2001_u128 << 112, 23, "IETF protocol assignments"),
        (0x3fff_u128 << 112, 20, "documentation"),
        (0xfc00_u128 << 112, 7, "unique local (fc00::/7)"),
        (0xfe80_u128 << 112, 10, "link-local"),
        (0xff00_u128 << 112, 8, "multicast"),
    ];
    if let Some((_, _, name)) = ranges
        .iter()
        .find(|(network, prefix, _)| in_range(*network, *prefix))
    {
        return Some(name);
    }
    // Only 2000::/3 is global unicast; everything else is reserved
    // (including the deprecated site-local fec0::/10).
    if segments[0] >> 13 != 0b001 {
        return Some("reserved");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Option<&'static str> {
        blocked_range(text.parse().expect("an address"))
    }

    #[test]
    fn every_non_public_ipv4_range_is_blocked() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "RFC 1918"),
            ("10.255.255.255", "RFC 1918"),
            ("100.64.0.1", "shared"),
            ("100.127.255.254", "shared"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.1", "RFC 1918"),
            ("172.31.255.255", "RFC 1918"),
            ("192.0.0.170", "IETF"),
            ("192.0.2.10", "TEST-NET-1"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.1.1", "RFC 1918"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "TEST-NET-2"),
            ("203.0.113.9", "TEST-NET-3"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ];
        assert_blocked(&cases);
    }

    /// Each address is refused, and the refusal names its range.
    fn assert_blocked(cases: &[(&str, &str)]) {
        for (ip, expected) in cases {
            let found = range(ip).unwrap_or_else(|| panic!("{ip} must be blocked"));
            assert!(
                found.contains(expected),
                "{ip}: `{found}` should say `{expected}`"
            );
        }
    }

    #[test]
    fn public_ipv4_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.0.1",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(range(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_blocked() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "IPv4-mapped"),
            ("::ffff:0:10.0.0.1", "IPv4-translated"),
            ("64:ff9b::7f00:1", "NAT64"),
            ("64:ff9b::a9fe:a9fe", "NAT64"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("2002:7f00:1::", "6to4"),
            ("2002:c0a8:101::1", "6to4"),
            ("::7f00:1", "IPv4-compatible"),
            ("100::1", "discard-only"),
            ("2001::1", "Teredo"),
            ("2001:db8::1", "documentation"),
            ("2001:10::1", "IETF"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "reserved"),
            ("ff02::1", "multicast"),
            ("4000::1", "reserved"),
            ("1000::1", "reserved"),
        ];
        assert_blocked(&cases);
    }

    #[test]
    fn public_ipv6_addresses_and_embedded_public_ipv4_pass() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:200::1",
        ] {
            assert_eq!(range(ip), None, "{ip} is public");
        }
    }

    #[tokio::test]
    async fn the_resolver_returns_only_allowed_addresses() {
        let lookup = ResolverOverride::from_map(HashMap::from([
            (
                "mixed.test".to_string(),
                vec!["127.0.0.1".parse().expect("ip"), "8.8.8.8".parse().expect("ip")],
            ),
            ("inside.test".to_string(), vec!["10.0.0.1".parse().expect("ip")]),
        ]));
        let public = GuardedResolver {
            allow_private: false,
            lookup: Some(lookup.clone()),
        };
        let name = |n: &str| n.parse::<Name>().expect("a name");
        let addrs: Vec<_> = public
            .resolve(name("mixed.test"))
            .await
            .expect("resolves")
            .collect();
        assert_eq!(addrs, vec!["8.8.8.8:0".parse::<SocketAddr>().expect("addr")]);
        let error = public.resolve(name("inside.test")).await.err().expect("blocked");
        assert!(error.to_string().contains("RFC 1918"), "{error}");
        assert!(
            error
                .to_string()
                .contains("`omnify serve --grantable-host inside.test:<port>`"),
            "the operator's log says how to allow it: {error}"
        );
        assert!(public.resolve(name("unknown.test")).await.is_err());

        let private = GuardedResolver {
            allow_private: true,
            lookup: Some(lookup),
        };
        let addrs: Vec<_> = private
            .resolve(name("inside.test"))
            .await
            .expect("resolves")
            .collect();
        assert_eq!(addrs, vec!["10.0.0.1:0".parse::<SocketAddr>().expect("addr")]);
    }
}
