//! Shopify: a signed install redirect naming the shop, an offline token
//! exchanged as JSON or a form, and the Admin API's 401 once it is revoked.

use super::*;
use crate::shopify::{API_VERSION, INVALID_TOKEN_MESSAGE, SHOP_DOMAIN};
use serde_json::json;

fn site() -> Site {
    Site::new(Dialect::Shopify, crate::shopify::routes)
}

/// Install (on `shop` when given): the redirect's query.
async fn install(site: &Site, shop: Option<&str>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let client = site.oauth().client_id().to_string();
    let mut query = vec![
        ("client_id", client.as_str()),
        ("scope", "read_orders,read_products"),
        ("redirect_uri", REDIRECT),
        ("state", "nonce-5"),
    ];
    query.extend(shop.map(|shop| ("shop", shop)));
    query.extend_from_slice(extra);
    site.approve(&query).await
}

fn body(issuer: &Issuer, secret: &str, code: &str) -> Value {
    json!({ "client_id": issuer.client_id(), "client_secret": secret, "code": code })
}

/// `GET shop.json` with `token`.
async fn shop_json(site: &Site, token: &str) -> Reply {
    site.get(
        &format!("/admin/api/{API_VERSION}/shop.json"),
        &[("x-shopify-access-token", token)],
    )
    .await
}

#[tokio::test]
async fn the_whole_flow_installs_exchanges_and_calls_the_admin_api() {
    let site = site();
    let oauth = site.oauth().clone();
    let redirect = install(&site, Some("other-store.myshopify.com"), &[]).await;
    let names: Vec<&str> = redirect.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["code", "hmac", "host", "shop", "state", "timestamp"]);
    assert_eq!(param(&redirect, "shop"), "other-store.myshopify.com");
    assert_eq!(param(&redirect, "state"), "nonce-5");
    assert_eq!(
        param(&redirect, "hmac"),
        shopify_hmac(oauth.client_secret(), &redirect)
    );
    assert_ne!(
        param(&redirect, "hmac"),
        shopify_hmac("another-secret", &redirect)
    );
    let host = base64::engine::general_purpose::STANDARD
        .decode(param(&redirect, "host"))
        .expect("base64");
    assert_eq!(host, b"other-store.myshopify.com/admin");
    assert!(param(&redirect, "timestamp").parse::<i64>().is_ok());

    let reply = site
        .post_json(
            oauth.token_path(),
            &[],
            &body(&oauth, oauth.client_secret(), param(&redirect, "code")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let answer = reply.json();
    let token = text(&answer, "access_token");
    assert!(token.starts_with("shpat_"));
    assert_eq!(answer["scope"], "read_orders,read_products");
    assert!(answer.get("refresh_token").is_none() && answer.get("expires_in").is_none());
    assert_eq!(oauth.check(token), TokenCheck::Live);
    assert_eq!(shop_json(&site, token).await.status, StatusCode::OK);

    // Without `shop` the sandbox's own shop installs; a form works too.
    let redirect = install(&site, None, &[]).await;
    assert_eq!(param(&redirect, "shop"), SHOP_DOMAIN);
    let form = [
        ("client_id", oauth.client_id()),
        ("client_secret", oauth.client_secret()),
        ("code", param(&redirect, "code")),
    ];
    let reply = site.post_form(oauth.token_path(), &[], &form).await;
    assert_eq!(reply.status, StatusCode::OK);
    let auths: Vec<ClientAuth> = oauth.token_requests().iter().map(|r| r.client_auth).collect();
    assert_eq!(auths, [ClientAuth::Json, ClientAuth::Body]);
}

#[tokio::test]
async fn bad_installs_and_exchanges_are_refused() {
    let site = site();
    let oauth = site.oauth().clone();
    let client = oauth.client_id().to_string();
    for shop in ["evil.example.com", "-x.myshopify.com"] {
        site.refuse(&[
            ("client_id", &client),
            ("scope", "read_orders"),
            ("redirect_uri", REDIRECT),
            ("shop", shop),
        ])
        .await;
    }
    site.refuse(&[("client_id", &client), ("redirect_uri", REDIRECT)])
        .await;

    let redirect = install(&site, None, &[]).await;
    let code = param(&redirect, "code");
    let reply = site
        .post_json(oauth.token_path(), &[], &body(&oauth, "wrong", code))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_request");
    assert_eq!(
        site.post_json(
            oauth.token_path(),
            &[],
            &body(&oauth, oauth.client_secret(), code)
        )
        .await
        .status,
        StatusCode::OK
    );
    let reply = site
        .post_json(
            oauth.token_path(),
            &[],
            &body(&oauth, oauth.client_secret(), code),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": "invalid_request", "error_description": "The authorization code was not found or was already used"})
    );

    let redirect = install(
        &site,
        None,
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")],
    )
    .await;
    let mut mismatch = body(&oauth, oauth.client_secret(), param(&redirect, "code"));
    mismatch["code_verifier"] = json!(WRONG_VERIFIER);
    assert_eq!(
        site.post_json(oauth.token_path(), &[], &mismatch).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn revoked_tokens_get_the_admin_apis_401() {
    let site = site();
    let oauth = site.oauth().clone();
    let redirect = install(&site, None, &[]).await;
    let answer = site
        .post_json(
            oauth.token_path(),
            &[],
            &body(&oauth, oauth.client_secret(), param(&redirect, "code")),
        )
        .await
        .json();
    let token = text(&answer, "access_token");
    oauth.expire_access_tokens();
    let reply = shop_json(&site, token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json(), json!({ "errors": INVALID_TOKEN_MESSAGE }));
    assert_eq!(
        shop_json(&site, crate::shopify::ACCESS_TOKEN).await.status,
        StatusCode::OK
    );
}
