//! Google: PKCE required, refresh tokens only for offline + consent, no
//! rotation, and the Ads API's `UNAUTHENTICATED` for an expired token.

use super::*;
use crate::google::{ACCESS_TOKEN, DEVELOPER_TOKEN};
use serde_json::json;

fn site() -> Site {
    Site::new(Dialect::Google, crate::google::routes)
}

/// Sign in (with `access_type` and `prompt` as given) and exchange the code
/// with HTTP Basic: the token answer.
async fn sign_in(site: &Site, access_type: &str, prompt: &str) -> Value {
    let oauth = site.oauth().clone();
    let redirect = site
        .approve(&[
            ("response_type", "code"),
            ("client_id", oauth.client_id()),
            ("redirect_uri", REDIRECT),
            ("scope", "https://www.googleapis.com/auth/adwords openid"),
            ("state", "st-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("access_type", access_type),
            ("prompt", prompt),
        ])
        .await;
    assert_eq!(param(&redirect, "state"), "st-1");
    let auth = basic(oauth.client_id(), oauth.client_secret());
    let reply = site
        .post_form(
            oauth.token_path(),
            &[("authorization", &auth)],
            &[
                ("grant_type", "authorization_code"),
                ("code", param(&redirect, "code")),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    reply.json()
}

/// `googleAds:search` with `token`.
async fn search(site: &Site, token: &str) -> Reply {
    let customer = site
        .platform
        .world()
        .account(world::Platform::Google)
        .account_id
        .clone();
    let bearer = format!("Bearer {token}");
    site.post_json(
        &format!("/v21/customers/{customer}/googleAds:search"),
        &[("authorization", &bearer), ("developer-token", DEVELOPER_TOKEN)],
        &json!({ "query": "SELECT campaign.id FROM campaign" }),
    )
    .await
}

async fn refresh(site: &Site, token: &str) -> Reply {
    let oauth = site.oauth().clone();
    site.post_form(
        oauth.token_path(),
        &[],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", oauth.client_id()),
            ("client_secret", oauth.client_secret()),
        ],
    )
    .await
}

#[tokio::test]
async fn the_whole_flow_signs_in_calls_the_ads_api_and_refreshes() {
    let site = site();
    let oauth = site.oauth().clone();
    let answer = sign_in(&site, "offline", "consent").await;
    let access = text(&answer, "access_token").to_string();
    let refresh_token = text(&answer, "refresh_token").to_string();
    assert!(access.starts_with("ya29."), "{access}");
    assert!(refresh_token.starts_with("1//"), "{refresh_token}");
    assert_eq!(answer["expires_in"], 3599);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["scope"], "https://www.googleapis.com/auth/adwords openid");
    assert_eq!(oauth.check(&access), TokenCheck::Live);
    assert_eq!(search(&site, &access).await.status, StatusCode::OK);

    let reply = refresh(&site, &refresh_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let refreshed = reply.json();
    let second = text(&refreshed, "access_token");
    assert_ne!(second, access);
    assert!(
        refreshed.get("refresh_token").is_none(),
        "Google does not rotate: {refreshed}"
    );
    assert_eq!(oauth.refreshes(), 1);
    assert_eq!(search(&site, second).await.status, StatusCode::OK);
    assert_eq!(oauth.issued_access_tokens(), [access.clone(), second.to_string()]);
    assert_eq!(
        oauth.issued_refresh_tokens(),
        std::slice::from_ref(&refresh_token)
    );

    let requests = oauth.token_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].grant_type, "authorization_code");
    assert_eq!(requests[0].client_auth, ClientAuth::Basic);
    assert_eq!(
        requests[0].params,
        ["grant_type", "code", "redirect_uri", "code_verifier"]
    );
    assert_eq!((requests[0].status, requests[0].error.as_deref()), (200, None));
    assert_eq!(requests[1].grant_type, "refresh_token");
    assert_eq!(requests[1].client_auth, ClientAuth::Body);
    assert_eq!(requests[1].refresh_token.as_deref(), Some(refresh_token.as_str()));
    let authorizations = oauth.authorizations();
    assert_eq!(authorizations.len(), 1);
    assert_eq!(authorizations[0].get("access_type"), Some("offline"));
}

#[tokio::test]
async fn a_refresh_token_needs_offline_access_and_consent() {
    let site = site();
    for (access_type, prompt) in [("offline", "select_account"), ("online", "consent"), ("", "")] {
        let answer = sign_in(&site, access_type, prompt).await;
        assert!(
            answer.get("refresh_token").is_none(),
            "{access_type} {prompt}: {answer}"
        );
    }
    let answer = sign_in(&site, "offline", "select_account consent").await;
    assert!(answer.get("refresh_token").is_some());
}

#[tokio::test]
async fn bad_authorize_requests_are_refused_without_a_redirect() {
    let site = site();
    let client = site.oauth().client_id().to_string();
    let base = [
        ("response_type", "code"),
        ("client_id", client.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "https://www.googleapis.com/auth/adwords"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let with = |name: &str, value: &'static str| -> Vec<(&str, &str)> {
        base.iter()
            .map(|&(n, v)| if n == name { (n, value) } else { (n, v) })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    };
    assert_eq!(
        site.refuse(&with("code_challenge", "")).await["error"],
        "invalid_request"
    );
    assert_eq!(
        site.refuse(&with("client_id", "someone-else")).await["error"],
        "invalid_client"
    );
    site.refuse(&with("redirect_uri", "/oauth/callback")).await;
    site.refuse(&with("redirect_uri", "")).await;
    assert_eq!(
        site.refuse(&with("response_type", "token")).await["error"],
        "unsupported_response_type"
    );
    site.refuse(&with("code_challenge_method", "plain")).await;
    site.refuse(&with("scope", "")).await;
    assert_eq!(site.oauth().authorizations().len(), 7);
    site.approve(&base).await;
}

/// A fresh code with the PKCE challenge.
async fn code(site: &Site) -> String {
    let client = site.oauth().client_id().to_string();
    let redirect = site
        .approve(&[
            ("response_type", "code"),
            ("client_id", &client),
            ("redirect_uri", REDIRECT),
            ("scope", "https://www.googleapis.com/auth/adwords"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .await;
    param(&redirect, "code").to_string()
}

/// Exchange `code` with the client's id and `secret` in the body.
async fn exchange(
    site: &Site,
    code: &str,
    secret: &str,
    verifier: &str,
    redirect: &str,
) -> (StatusCode, Value) {
    let oauth = site.oauth();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
        ("client_id", oauth.client_id()),
        ("client_secret", secret),
    ];
    let reply = site.post_form(oauth.token_path(), &[], &form).await;
    (reply.status, reply.json())
}

#[tokio::test]
async fn bad_token_requests_are_refused_in_googles_words() {
    let site = site();
    let oauth = site.oauth().clone();
    let secret = oauth.client_secret();

    let (status, body) = exchange(&site, &code(&site).await, "not-the-secret", VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "invalid_client", "error_description": "Unauthorized"})
    );

    let (status, body) = exchange(&site, &code(&site).await, secret, WRONG_VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Invalid code verifier."})
    );

    let other = "https://app.omnify.test/other";
    let (_, body) = exchange(&site, &code(&site).await, secret, VERIFIER, other).await;
    assert_eq!(body["error"], "invalid_grant");

    let good = code(&site).await;
    assert_eq!(
        exchange(&site, &good, secret, VERIFIER, REDIRECT).await.0,
        StatusCode::OK
    );
    let (status, body) = exchange(&site, &good, secret, VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a code is single use");
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Bad Request"})
    );

    let reply = site
        .post_form(
            oauth.token_path(),
            &[],
            &[("grant_type", "password"), ("client_id", oauth.client_id())],
        )
        .await;
    assert_eq!(reply.json()["error"], "unsupported_grant_type");
    let auth = basic(oauth.client_id(), secret);
    let reply = site
        .post_form(
            oauth.token_path(),
            &[("authorization", &auth)],
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_secret", secret),
            ],
        )
        .await;
    assert_eq!(
        reply.json()["error"],
        "invalid_request",
        "two client authentications"
    );
    let errors: Vec<Option<String>> = oauth.token_requests().into_iter().map(|r| r.error).collect();
    assert_eq!(errors.iter().filter(|e| e.is_none()).count(), 1, "{errors:?}");
}

#[tokio::test]
async fn expired_tokens_get_the_ads_apis_unauthenticated() {
    let site = site();
    let oauth = site.oauth().clone();
    let answer = sign_in(&site, "offline", "consent").await;
    let access = text(&answer, "access_token").to_string();
    oauth.expire_access_tokens();
    assert_eq!(oauth.check(&access), TokenCheck::Expired);
    let reply = search(&site, &access).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let error = &reply.json()["error"];
    assert_eq!(error["status"], "UNAUTHENTICATED");
    assert!(
        error["message"].as_str().is_some_and(|m| m
            .starts_with("Request had invalid authentication credentials. Expected OAuth 2 access token")),
        "{error}"
    );
    assert_eq!(
        error["details"][0]["errors"][0]["errorCode"]["authenticationError"],
        "OAUTH_TOKEN_EXPIRED"
    );
    let unknown = search(&site, "ya29.never-issued").await.json();
    assert_eq!(
        unknown["error"]["details"][0]["errors"][0]["errorCode"]["authenticationError"],
        "OAUTH_TOKEN_INVALID"
    );
    assert_eq!(
        search(&site, ACCESS_TOKEN).await.status,
        StatusCode::OK,
        "the fixed token"
    );

    // A refresh mints a live token again.
    let refreshed = refresh(&site, text(&answer, "refresh_token")).await.json();
    assert_eq!(
        search(&site, text(&refreshed, "access_token")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_app_cannot_refresh() {
    let site = site();
    let oauth = site.oauth().clone();
    let answer = sign_in(&site, "offline", "consent").await;
    let refresh_token = text(&answer, "refresh_token").to_string();
    oauth.refuse_refresh(true);
    let reply = refresh(&site, &refresh_token).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
    assert_eq!(oauth.refreshes(), 0);
    oauth.refuse_refresh(false);
    assert_eq!(refresh(&site, &refresh_token).await.status, StatusCode::OK);
    assert_eq!(oauth.refreshes(), 1);
}

#[tokio::test]
async fn a_test_can_shorten_the_access_tokens_life() {
    let site = site();
    site.oauth().set_access_token_ttl(Duration::ZERO);
    let answer = sign_in(&site, "online", "").await;
    assert_eq!(answer["expires_in"], 0);
    assert_eq!(
        site.oauth().check(text(&answer, "access_token")),
        TokenCheck::Expired
    );
}
