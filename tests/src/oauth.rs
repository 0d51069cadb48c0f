//! Signing connectors in with OAuth in tests: a host whose connectors are
//! enabled without their access tokens and whose OAuth clients point at the
//! platforms' sandboxed authorization servers, and the browser's part of a
//! sign-in (consent, then the callback).

use crate::host::Reply;
use crate::platforms::{PlatformHost, TENANT};
use omnify_sandbox::oauth::Issuer;
use omnify_sandbox::server::PlatformServer;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// The secret a connector's access token goes into.
pub fn token_secret(connector: &str) -> &'static str {
    match connector {
        "stripe" => "api_key",
        _ => "access_token",
    }
}

/// The sandbox server of `connector`.
pub fn server_of<'a>(env: &'a PlatformHost, connector: &str) -> &'a PlatformServer {
    env.sandbox
        .server_of(connector)
        .unwrap_or_else(|| panic!("no sandbox server for {connector}"))
}

/// The authorization server of `connector`'s platform.
pub fn issuer_of(env: &PlatformHost, connector: &str) -> Arc<Issuer> {
    server_of(env, connector).oauth().clone()
}

/// A host with `connectors` enabled against the sandbox without their
/// access tokens (they come from the sign-in), the host's public URL set,
/// and the host's OAuth client of each provider pointed at its sandbox.
pub async fn signed_out(connectors: &[&str]) -> PlatformHost {
    let env = PlatformHost::start(&[]).await;
    env.host.control.notifier().set_public_url(&env.host.url);
    for connector in connectors {
        let published = env
            .host
            .upload(
                &env.admin,
                &crate::platforms::plugin_manifest(connector),
                crate::platforms::plugin_component(connector),
            )
            .await;
        assert_eq!(published.status, 201, "publish {connector}: {}", published.text);
        let mut body = env.enablement(connector);
        let secrets = body["secrets"].as_object_mut().expect("secrets");
        secrets.remove(token_secret(connector));
        let reply = env.enable(connector, &body).await;
        assert_eq!(reply.status, 200, "enable {connector}: {}", reply.text);
        let reply = set_client(&env, connector).await;
        assert_eq!(reply.status, 200, "the client of {connector}: {}", reply.text);
    }
    env
}

/// Point the host's client of `connector`'s provider at its sandbox.
pub async fn set_client(env: &PlatformHost, connector: &str) -> Reply {
    let server = server_of(env, connector);
    let issuer = server.oauth();
    let body = json!({
        "client_id": issuer.client_id(),
        "client_secret": issuer.client_secret(),
        "authorize_url": format!("{}{}", server.url, issuer.authorize_path()),
        "token_url": format!("{}{}", server.url, issuer.token_path()),
    });
    let path = format!("/v1/oauth/clients/{}", issuer.dialect().provider());
    env.host
        .call(Method::PUT, &path, Some(&env.admin), Some(&body))
        .await
}

/// `POST .../connect` for `connector` as `token`.
pub async fn start_connect(env: &PlatformHost, token: &str, connector: &str, body: Option<Value>) -> Reply {
    let path = format!("/v1/tenants/{TENANT}/plugins/{connector}/connect");
    env.host
        .call(Method::POST, &path, Some(token), body.as_ref())
        .await
}

/// A client that does not follow redirects, as a test of where they point.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Follow an authorization URL as the person who clicks "Allow": the
/// callback URL the platform sends their browser back to.
pub async fn consent(authorization_url: &str) -> String {
    let answer = browser()
        .get(authorization_url)
        .send()
        .await
        .expect("the platform answers");
    assert_eq!(answer.status(), 302, "the platform sends the browser back");
    answer
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .expect("a Location")
        .to_string()
}

/// Start the sign-in of `connector`, consent, and land on the callback:
/// the start, the callback URL and the callback's answer.
pub async fn sign_in(env: &PlatformHost, connector: &str, body: Option<Value>) -> (Reply, String, Reply) {
    let started = start_connect(env, &env.admin, connector, body).await;
    assert_eq!(started.status, 200, "connect {connector}: {}", started.text);
    let url = started.json["authorization_url"]
        .as_str()
        .expect("authorization_url");
    let callback = consent(url).await;
    assert!(
        callback.starts_with(&format!("{}/v1/oauth/callback?", env.host.url)),
        "{callback}"
    );
    let finished = env.host.send(browser().get(&callback)).await;
    (started, callback, finished)
}

/// The body of `connector`'s sign-in start (Shopify names its shop).
pub fn connect_body(connector: &str) -> Option<Value> {
    (connector == "shopify").then(|| json!({"shop": omnify_sandbox::shopify::SHOP_DOMAIN}))
}

/// The connection of `connector`.
pub async fn connection(env: &PlatformHost, connector: &str) -> Reply {
    env.get(&format!("/v1/tenants/{TENANT}/plugins/{connector}/connection"))
        .await
}

/// The audit entries of `action` on `connector`.
pub async fn entries(env: &PlatformHost, action: &str, connector: &str) -> Vec<Value> {
    env.audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == action && e["target"] == connector)
        .collect()
}
