//! The egress guard played from the hostile side: names that resolve to
//! loopback, rebinding, IP literals, public-suffix wildcards, ports, the
//! errors a plugin sees, and what redirects carry to another origin.

use omnify_registry::Manifest;
use omnify_runtime::capability::egress::{EgressConfig, ResolverOverride};
use omnify_runtime::engine::EngineConfig;
use omnify_runtime::invoke::{HostPattern, InvocationContext, InvokeErrorKind, PluginError};
use omnify_runtime::{InvokeError, LoadedPlugin, Runtime, RuntimeConfig};
use omnify_tests::host::{HOSTILE_MANIFEST, TestHost};
use omnify_tests::server::TestServer;
use omnify_tests::{act, act_result, context, guests, load, runtime_with};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A runtime whose resolver answers `names`, letting `private` hosts reach
/// private addresses.
fn runtime_resolving(names: &[(&str, &str)], private: &[&str]) -> Runtime {
    let map: HashMap<String, Vec<IpAddr>> = names
        .iter()
        .map(|(name, ip)| (name.to_string(), vec![ip.parse().expect("an address")]))
        .collect();
    runtime_with_egress(EgressConfig {
        private_hosts: patterns(private),
        resolver: Some(ResolverOverride::from_map(map)),
    })
}

fn runtime_with_egress(egress: EgressConfig) -> Runtime {
    runtime_with(RuntimeConfig {
        engine: EngineConfig {
            max_instances: 8,
            ..EngineConfig::default()
        },
        egress,
        ..RuntimeConfig::default()
    })
    .0
}

fn patterns(hosts: &[&str]) -> Vec<HostPattern> {
    hosts
        .iter()
        .map(|h| HostPattern::parse(h).expect("a valid pattern"))
        .collect()
}

/// The hostile plugin's context with exactly these HTTP grants.
fn granted(hosts: &[&str]) -> InvocationContext {
    let mut ctx = context("tenant-a", "hostile");
    ctx.grants.http_hosts = patterns(hosts);
    ctx
}

async fn get(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    ctx: &InvocationContext,
    url: &str,
) -> Result<Value, InvokeError> {
    act(runtime, plugin, ctx, "http-get", json!({ "url": url }))
        .await
        .map(|output| act_result(&output))
}

/// The error a plugin sees when the host does not connect to `target`,
/// whatever the reason.
fn cannot_connect(target: &str) -> InvokeErrorKind {
    InvokeErrorKind::Plugin(PluginError::Transient {
        message: format!("HTTP transport error: cannot connect to `{target}`"),
    })
}

fn not_on_allowlist(target: &str) -> InvokeErrorKind {
    InvokeErrorKind::Plugin(PluginError::Config {
        message: format!(
            "host `{target}` is not in this plugin's grant: it must be in the manifest's `capabilities.http_hosts` and in the enablement's `grants.http_hosts`"
        ),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_name_that_resolves_to_loopback_is_refused() {
    let server = TestServer::start().await;
    let runtime = runtime_resolving(&[("allowed.test", "127.0.0.1")], &[]);
    let plugin = load(&runtime, guests::HOSTILE);
    let target = format!("allowed.test:{}", server.port);
    let ctx = granted(&[&target]);

    let error = get(&runtime, &plugin, &ctx, &format!("http://{target}/landing"))
        .await
        .expect_err("loopback is not reachable");
    assert_eq!(error.kind, cannot_connect(&target));
    assert_eq!(error.usage.denied_calls, 1, "the refusal is counted");
    assert_eq!(server.hits("/landing"), 0, "the loopback server saw nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_operator_made_grantable_may_reach_loopback() {
    let server = TestServer::start().await;
    let names = [("allowed.test", "127.0.0.1"), ("other.test", "127.0.0.1")];
    let runtime = runtime_resolving(&names, &["allowed.test:*"]);
    let plugin = load(&runtime, guests::HOSTILE);
    let allowed = format!("allowed.test:{}", server.port);
    let other = format!("other.test:{}", server.port);
    let ctx = granted(&[&allowed, &other]);

    let reply = get(&runtime, &plugin, &ctx, &format!("http://{allowed}/landing"))
        .await
        .expect("the operator allowed this host");
    assert_eq!(reply, json!({"status": 200, "body": "landed"}));
    let error = get(&runtime, &plugin, &ctx, &format!("http://{other}/landing"))
        .await
        .expect_err("only the operator's hosts may reach loopback");
    assert_eq!(error.kind, cannot_connect(&other));
    assert_eq!(server.hits("/landing"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebinding_name_cannot_switch_the_checked_address() {
    // The first answer is public, every later one is loopback: a host that
    // checked with one lookup and connected with another would reach the
    // loopback server.
    let server = TestServer::start().await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = lookups.clone();
    let resolver = ResolverOverride::from_fn(move |name| {
        (name == "rebind.test").then(|| {
            let answer = if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                "1.1.1.1"
            } else {
                "127.0.0.1"
            };
            vec![answer.parse().expect("an address")]
        })
    });
    let runtime = runtime_with_egress(EgressConfig {
        private_hosts: Vec::new(),
        resolver: Some(resolver),
    });
    let plugin = load(&runtime, guests::HOSTILE);
    let target = format!("rebind.test:{}", server.port);
    let mut ctx = granted(&[&target]);
    ctx.limits.http_timeout = Duration::from_millis(500);

    let result = get(&runtime, &plugin, &ctx, &format!("http://{target}/landing")).await;
    assert!(result.is_err(), "the public address does not answer: {result:?}");
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        1,
        "one lookup, and it decided the address"
    );
    assert_eq!(server.hits("/landing"), 0, "the loopback server saw nothing");

    // The next connection resolves again, and its loopback answer is refused.
    let error = get(&runtime, &plugin, &ctx, &format!("http://{target}/landing"))
        .await
        .expect_err("loopback is refused");
    assert_eq!(error.kind, cannot_connect(&target));
    assert_eq!(server.hits("/landing"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_literals_of_private_ranges_are_refused_before_any_request() {
    let server = TestServer::start().await;
    let runtime = runtime_resolving(&[], &[]);
    let plugin = load(&runtime, guests::HOSTILE);
    let port = server.port;
    let targets = [
        "169.254.169.254:80".to_string(),
        "10.0.0.1:80".to_string(),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("[::ffff:7f00:1]:{port}"),
    ];
    let grants: Vec<&str> = targets.iter().map(String::as_str).collect();
    let ctx = granted(&grants);
    for (target, url) in targets.iter().zip([
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
        server.url("/landing"),
        format!("http://[::1]:{port}/landing"),
        format!("http://[::ffff:127.0.0.1]:{port}/landing"),
    ]) {
        let error = get(&runtime, &plugin, &ctx, &url).await.expect_err(&url);
        assert_eq!(error.kind, cannot_connect(target), "{url}");
        assert_eq!(error.usage.http_requests, 0, "{url}: nothing was sent");
        assert_eq!(error.usage.denied_calls, 1, "{url}");
    }
    assert_eq!(server.hits("/landing"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_without_a_port_allows_only_the_default_port() {
    let server = TestServer::start().await;
    let runtime = runtime_resolving(&[], &["127.0.0.1:*"]);
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = granted(&["127.0.0.1"]);
    for port in [8080, server.port] {
        let url = format!("http://127.0.0.1:{port}/landing");
        let error = get(&runtime, &plugin, &ctx, &url).await.expect_err(&url);
        assert_eq!(error.kind, not_on_allowlist(&format!("127.0.0.1:{port}")));
        assert_eq!(error.usage.http_requests, 0);
    }
    assert_eq!(server.hits("/landing"), 0);
    let explicit = granted(&[&server.host()]);
    let reply = get(&runtime, &plugin, &explicit, &server.url("/landing"))
        .await
        .expect("the port is granted");
    assert_eq!(reply["body"], "landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_and_a_refused_address_look_the_same_to_the_plugin() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let open = TestServer::start().await;
    let names = [("probe.test", "127.0.0.1")];
    // The operator allows `probe.test`: a closed port is a failed connect.
    let allowed = runtime_resolving(&names, &["probe.test:*"]);
    // Nobody allows it: the guard refuses the address.
    let guarded = runtime_resolving(&names, &[]);

    let mut errors = Vec::new();
    for (runtime, port) in [(&allowed, closed), (&guarded, closed), (&guarded, open.port)] {
        let plugin = load(runtime, guests::HOSTILE);
        let ctx = granted(&["probe.test:*"]);
        let url = format!("http://probe.test:{port}/landing");
        let error = get(runtime, &plugin, &ctx, &url).await.expect_err(&url);
        errors.push(error.kind.to_string().replace(&port.to_string(), "PORT"));
    }
    assert_eq!(errors[0], errors[1], "closed port and refused address");
    assert_eq!(errors[1], errors[2], "refused address, open port or not");
    assert!(
        errors[0].contains("cannot connect to `probe.test:PORT`"),
        "{}",
        errors[0]
    );
    assert_eq!(open.hits("/landing"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_carries_no_token_and_no_body() {
    let origin = TestServer::start().await;
    let elsewhere = TestServer::start().await;
    let runtime = runtime_resolving(&[], &["127.0.0.1:*"]);
    let plugin = load(&runtime, guests::HOSTILE);
    let ctx = granted(&[&origin.host(), &elsewhere.host()]);
    let tokens = json!({
        "X-Shopify-Access-Token": "shpat_secret",
        "Access-Token": "tiktok-secret",
        "developer-token": "google-secret",
        "Authorization": "Bearer secret",
        "Cookie": "session=secret",
        "Accept": "application/json",
        "Content-Type": "application/json",
    });
    let send = |url: String| json!({"method": "POST", "url": url, "headers": tokens.clone(), "body": "{\"card\": \"4242\"}"});

    // 302 after a POST: the host follows with a GET, without the body or
    // any header but the safe ones.
    let away = origin.redirect_url(302, &elsewhere.url("/echo"));
    let output = act(&runtime, &plugin, &ctx, "http-send", send(away))
        .await
        .expect("followed");
    assert_eq!(act_result(&output)["body"], "echoed");
    let received = elsewhere.received();
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.method, "GET");
    assert_eq!(got.body, "");
    for name in [
        "x-shopify-access-token",
        "access-token",
        "developer-token",
        "authorization",
        "cookie",
        "content-type",
    ] {
        assert!(
            !got.headers.contains_key(name),
            "`{name}` reached another origin: {got:?}"
        );
    }
    assert_eq!(
        got.headers.get("accept").map(String::as_str),
        Some("application/json")
    );

    // 307 and 308 would resend the body: refused, nothing is sent.
    for status in [307, 308] {
        let away = origin.redirect_url(status, &elsewhere.url("/echo"));
        let error = act(&runtime, &plugin, &ctx, "http-send", send(away))
            .await
            .expect_err("a body is not resent to another origin");
        assert!(
            error.kind.to_string().contains("resend the body"),
            "{}",
            error.kind
        );
    }
    assert_eq!(elsewhere.received().len(), 1, "the 307/308 targets saw nothing");

    // The same origin keeps the method, the body and the headers.
    let home = origin.redirect_url(307, &origin.url("/echo"));
    act(&runtime, &plugin, &ctx, "http-send", send(home))
        .await
        .expect("followed");
    let received = origin.received();
    let got = received.last().expect("a request");
    assert_eq!(
        (got.method.as_str(), got.body.as_str()),
        ("POST", "{\"card\": \"4242\"}")
    );
    assert_eq!(
        got.headers.get("x-shopify-access-token").map(String::as_str),
        Some("shpat_secret")
    );
}

#[test]
fn public_suffix_and_address_wildcards_are_refused_in_manifests() {
    for wildcard in ["*.com", "*.co.uk", "*.254", "*.169.254"] {
        let manifest = HOSTILE_MANIFEST.replace("\"127.0.0.1:*\"", &format!("\"{wildcard}\""));
        let error = Manifest::parse(&manifest).expect_err(wildcard).to_string();
        assert!(error.contains("capabilities.http_hosts"), "{wildcard}: {error}");
    }
    let fine = HOSTILE_MANIFEST.replace("\"127.0.0.1:*\"", "\"*.myshopify.com\"");
    Manifest::parse(&fine).expect("a wildcard below a public suffix is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_suffix_wildcards_cannot_be_granted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = TestHost::start(dir.path(), &[]).await;
    let admin = admin.expect("admin token");
    let published = host.upload(&admin, HOSTILE_MANIFEST, guests::HOSTILE).await;
    assert_eq!(published.status, 201, "{}", published.text);
    assert_eq!(host.create_tenant(&admin, "acme").await.status, 201);
    for wildcard in ["*.com", "*.co.uk", "*.254"] {
        let enable = json!({"grants": {"http_hosts": [wildcard]}});
        let reply = host.enable(&admin, "acme", "hostile", &enable).await;
        assert_eq!(reply.status, 422, "{wildcard}: {}", reply.text);
        assert!(
            reply.text.contains("not a host pattern"),
            "{wildcard}: {}",
            reply.text
        );
    }
    host.stop().await;
}
