//! A sign-in refreshed by two hosts at once: both hosts' calls find the
//! access token about to expire, and the platform sees one refresh.

use super::TwoHosts;
use omnify_sandbox::{Sandbox, SandboxConfig};
use omnify_tests::platforms::{plugin_component, plugin_manifest};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_refresh_a_sign_in_once() {
    let Some(hosts) = TwoHosts::start("two_hosts_refresh_a_sign_in_once").await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default())
        .await
        .expect("the sandbox starts");
    let (a, b, admin) = (&hosts.a, &hosts.b, hosts.admin.as_str());
    a.control.notifier().set_public_url(&a.url);
    let published = a
        .upload(
            admin,
            &plugin_manifest("google-ads"),
            plugin_component("google-ads"),
        )
        .await;
    assert_eq!(published.status, 201, "{}", published.text);
    assert_eq!(a.create_tenant(admin, "acme").await.status, 201);
    let mut body = sandbox
        .enablements()
        .into_iter()
        .find(|(name, _)| *name == "google-ads")
        .map(|(_, body)| body)
        .expect("google-ads");
    body["secrets"]
        .as_object_mut()
        .expect("secrets")
        .remove("access_token");
    assert_eq!(a.enable(admin, "acme", "google-ads", &body).await.status, 200);
    let issuer = sandbox.google.oauth().clone();
    let client = json!({
        "client_id": issuer.client_id(),
        "client_secret": issuer.client_secret(),
        "authorize_url": format!("{}{}", sandbox.google.url, issuer.authorize_path()),
        "token_url": format!("{}{}", sandbox.google.url, issuer.token_path()),
    });
    let set = a
        .call(
            Method::PUT,
            "/v1/oauth/clients/google",
            Some(admin),
            Some(&client),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    // Within the five minutes the hosts refresh ahead.
    issuer.set_access_token_ttl(Duration::from_secs(120));
    let started = a
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/google-ads/connect",
            Some(admin),
            None,
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let callback =
        omnify_tests::oauth::consent(started.json["authorization_url"].as_str().expect("url")).await;
    let finished = a.send(omnify_tests::oauth::browser().get(&callback)).await;
    assert_eq!(finished.status, 200, "{}", finished.text);

    let check = json!({"export": "check"});
    let path = "/v1/tenants/acme/plugins/google-ads/invoke";
    let (on_a, on_b) = tokio::join!(
        a.call(Method::POST, path, Some(admin), Some(&check)),
        b.call(Method::POST, path, Some(admin), Some(&check)),
    );
    assert_eq!(
        (on_a.status, on_b.status),
        (200, 200),
        "{} / {}",
        on_a.text,
        on_b.text
    );
    assert_eq!(issuer.refreshes(), 1, "the hosts spend the refresh token once");
    hosts.stop().await;
}
