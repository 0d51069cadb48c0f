//! Stripe Connect: the platform's secret key authenticates the exchange,
//! the access token is a secret key of the connected account, and a
//! refresh keeps the refresh token.

use super::*;
use crate::stripe::{API_KEY, API_VERSION};

fn site() -> Site {
    Site::new(Dialect::Stripe, crate::stripe::routes)
}

/// Connect with `scope=read_write` (and a PKCE challenge): the redirect.
async fn connect(site: &Site) -> Vec<(String, String)> {
    let client = site.oauth().client_id().to_string();
    site.approve(&[
        ("response_type", "code"),
        ("client_id", &client),
        ("scope", "read_write"),
        ("state", "st-3"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .await
}

async fn exchange(site: &Site, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Reply {
    site.post_form(site.oauth().token_path(), headers, form).await
}

/// `GET /v1/charges` with `key`.
async fn charges(site: &Site, key: &str) -> Reply {
    let bearer = format!("Bearer {key}");
    site.get(
        "/v1/charges?limit=1",
        &[("authorization", &bearer), ("stripe-version", API_VERSION)],
    )
    .await
}

#[tokio::test]
async fn the_whole_flow_connects_calls_the_api_and_refreshes() {
    let site = site();
    let oauth = site.oauth().clone();
    let redirect = connect(&site).await;
    let code = param(&redirect, "code");
    assert!(code.starts_with("ac_"));
    assert_eq!(
        (param(&redirect, "scope"), param(&redirect, "state")),
        ("read_write", "st-3")
    );
    // `curl -u sk_...:` sends the key as the Basic user name.
    let auth = basic(API_KEY, "");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
    ];
    let reply = exchange(&site, &[("authorization", &auth)], &form).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let answer = reply.json();
    let access = text(&answer, "access_token").to_string();
    let refresh_token = text(&answer, "refresh_token").to_string();
    assert!(access.starts_with("sk_test_"));
    assert!(refresh_token.starts_with("rt_"));
    assert_eq!(answer["token_type"], "bearer");
    assert_eq!(answer["scope"], "read_write");
    assert_eq!(answer["livemode"], false);
    assert!(text(&answer, "stripe_user_id").starts_with("acct_"));
    assert!(text(&answer, "stripe_publishable_key").starts_with("pk_test_"));
    assert_eq!(oauth.check(&access), TokenCheck::Live);
    assert_eq!(charges(&site, &access).await.status, StatusCode::OK);

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
        ("client_secret", API_KEY),
    ];
    let refreshed = exchange(&site, &[], &form).await.json();
    assert_eq!(
        text(&refreshed, "refresh_token"),
        refresh_token,
        "Stripe keeps the refresh token"
    );
    let second = text(&refreshed, "access_token");
    assert_ne!(second, access);
    assert_eq!(charges(&site, second).await.status, StatusCode::OK);
    assert_eq!(
        charges(&site, &access).await.status,
        StatusCode::OK,
        "the old token still works"
    );
    assert_eq!(oauth.refreshes(), 1);
    let auths: Vec<ClientAuth> = oauth.token_requests().iter().map(|r| r.client_auth).collect();
    assert_eq!(auths, [ClientAuth::Basic, ClientAuth::Body]);
}

#[tokio::test]
async fn bad_exchanges_are_refused() {
    let site = site();
    let redirect = connect(&site).await;
    let code = param(&redirect, "code");
    let form = |secret| {
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("client_secret", secret),
        ]
    };
    let reply = exchange(&site, &[], &form("sk_test_not_the_platform")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "invalid_client");
    assert_eq!(exchange(&site, &[], &form(API_KEY)).await.status, StatusCode::OK);
    let reply = exchange(&site, &[], &form(API_KEY)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_grant");
    assert!(text(&reply.json(), "error_description").starts_with("Authorization code has already been used"));

    let redirect = connect(&site).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", param(&redirect, "code")),
        ("code_verifier", WRONG_VERIFIER),
        ("client_secret", API_KEY),
    ];
    let reply = exchange(&site, &[], &form).await;
    assert_eq!(reply.json()["error"], "invalid_grant", "PKCE mismatch");

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "rt_never"),
        ("client_secret", API_KEY),
    ];
    assert_eq!(exchange(&site, &[], &form).await.json()["error"], "invalid_grant");
    let client = site.oauth().client_id().to_string();
    let body = site
        .refuse(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("scope", "admin"),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn expired_tokens_get_api_key_expired_and_revoked_apps_cannot_refresh() {
    let site = site();
    let redirect = connect(&site).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", param(&redirect, "code")),
        ("code_verifier", VERIFIER),
        ("client_secret", API_KEY),
    ];
    let answer = exchange(&site, &[], &form).await.json();
    site.oauth().expire_access_tokens();
    let reply = charges(&site, text(&answer, "access_token")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "api_key_expired");
    assert!(
        text(error, "message").starts_with("Expired API Key provided: sk_test_"),
        "{error}"
    );
    assert_eq!(
        charges(&site, API_KEY).await.status,
        StatusCode::OK,
        "the platform's key"
    );

    site.oauth().refuse_refresh(true);
    let refresh_token = text(&answer, "refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_secret", API_KEY),
    ];
    let reply = exchange(&site, &[], &form).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_grant");
    assert_eq!(site.oauth().refreshes(), 0);
}
