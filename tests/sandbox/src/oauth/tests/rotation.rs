//! LinkedIn and GoHighLevel: client credentials in the body only, and
//! refresh tokens that rotate with one grace use of the replaced token.

use super::*;
use serde_json::json;

fn site(dialect: Dialect) -> Site {
    Site::new(dialect, |_| Router::new())
}

/// What a dialect's token requests carry beyond the RFC's parameters.
fn extra(dialect: Dialect) -> &'static [(&'static str, &'static str)] {
    match dialect {
        Dialect::GoHighLevel => &[("user_type", "Location")],
        _ => &[],
    }
}

/// Sign in (with a PKCE challenge) and exchange the code with `verifier`.
async fn exchange(site: &Site, verifier: &str) -> Reply {
    let oauth = site.oauth().clone();
    let redirect = site
        .approve(&[
            ("response_type", "code"),
            ("client_id", oauth.client_id()),
            ("redirect_uri", REDIRECT),
            ("scope", "r_ads r_ads_reporting"),
            ("state", "st-9"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .await;
    assert_eq!(param(&redirect, "state"), "st-9");
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", param(&redirect, "code")),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", oauth.client_id()),
        ("client_secret", oauth.client_secret()),
    ];
    form.extend_from_slice(extra(oauth.dialect()));
    site.post_form(oauth.token_path(), &[], &form).await
}

async fn sign_in(site: &Site) -> Value {
    let reply = exchange(site, VERIFIER).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    reply.json()
}

async fn refresh(site: &Site, token: &str) -> Reply {
    let oauth = site.oauth().clone();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", oauth.client_id()),
        ("client_secret", oauth.client_secret()),
    ];
    form.extend_from_slice(extra(oauth.dialect()));
    site.post_form(oauth.token_path(), &[], &form).await
}

/// The refresh token a successful refresh answered.
async fn rotate(site: &Site, token: &str) -> String {
    let reply = refresh(site, token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let body = reply.json();
    assert_eq!(site.oauth().check(text(&body, "access_token")), TokenCheck::Live);
    text(&body, "refresh_token").to_string()
}

/// R → R2; R once more (grace) → R3; R a third time is refused; R2 and R3
/// both stay valid.
async fn rotates_with_one_grace_use(dialect: Dialect) {
    let site = site(dialect);
    let first = text(&sign_in(&site).await, "refresh_token").to_string();
    let second = rotate(&site, &first).await;
    assert_ne!(second, first);
    let third = rotate(&site, &first).await;
    assert_ne!(third, second);
    let reply = refresh(&site, &first).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "invalid_grant");
    let fourth = rotate(&site, &second).await;
    rotate(&site, &third).await;
    rotate(&site, &fourth).await;
    let oauth = site.oauth();
    assert_eq!(oauth.refreshes(), 5);
    assert_eq!(oauth.issued_refresh_tokens().len(), 6);
    let presented: Vec<Option<String>> = oauth
        .token_requests()
        .iter()
        .skip(1)
        .map(|r| r.refresh_token.clone())
        .collect();
    assert_eq!(
        presented[..3],
        [Some(first.clone()), Some(first.clone()), Some(first)]
    );
    let statuses: Vec<u16> = oauth.token_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 400, 200, 200, 200]);
}

#[tokio::test]
async fn linkedin_rotates_with_one_grace_use() {
    rotates_with_one_grace_use(Dialect::LinkedIn).await;
}

#[tokio::test]
async fn gohighlevel_rotates_with_one_grace_use() {
    rotates_with_one_grace_use(Dialect::GoHighLevel).await;
}

#[tokio::test]
async fn linkedin_answers_its_token_shape() {
    let site = site(Dialect::LinkedIn);
    let answer = sign_in(&site).await;
    assert!(text(&answer, "access_token").starts_with("AQV"));
    assert!(text(&answer, "refresh_token").starts_with("AQW"));
    assert_eq!(answer["expires_in"], 5_184_000);
    assert_eq!(answer["refresh_token_expires_in"], 31_536_000);
    assert_eq!(answer["scope"], "r_ads,r_ads_reporting");
    assert_eq!(
        site.oauth().check(text(&answer, "access_token")),
        TokenCheck::Live
    );
    let refreshed = refresh(&site, text(&answer, "refresh_token")).await.json();
    assert!(
        refreshed["refresh_token_expires_in"]
            .as_u64()
            .is_some_and(|s| s <= 31_536_000)
    );
    assert_eq!(site.oauth().token_requests()[0].client_auth, ClientAuth::Body);
}

#[tokio::test]
async fn linkedin_refuses_basic_and_wrong_secrets_and_reused_codes() {
    let site = site(Dialect::LinkedIn);
    let oauth = site.oauth().clone();
    let redirect = site
        .approve(&[
            ("response_type", "code"),
            ("client_id", oauth.client_id()),
            ("redirect_uri", REDIRECT),
            ("scope", "r_ads"),
        ])
        .await;
    let code = param(&redirect, "code");
    let auth = basic(oauth.client_id(), oauth.client_secret());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    let reply = site
        .post_form(oauth.token_path(), &[("authorization", &auth)], &form)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "Basic is refused");
    assert_eq!(reply.json()["error"], "invalid_client");
    assert_eq!(oauth.token_requests()[0].client_auth, ClientAuth::Basic);
    let mut with_secret = form.to_vec();
    with_secret.extend([("client_id", oauth.client_id()), ("client_secret", "wrong")]);
    assert_eq!(
        site.post_form(oauth.token_path(), &[], &with_secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    with_secret[4] = ("client_secret", oauth.client_secret());
    assert_eq!(
        site.post_form(oauth.token_path(), &[], &with_secret).await.status,
        StatusCode::OK
    );
    let reply = site.post_form(oauth.token_path(), &[], &with_secret).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "a code is single use");
    assert_eq!(reply.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn a_pkce_mismatch_is_refused() {
    for dialect in [Dialect::LinkedIn, Dialect::GoHighLevel] {
        let site = site(dialect);
        let reply = exchange(&site, WRONG_VERIFIER).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{dialect:?}");
        assert_eq!(reply.json()["error"], "invalid_grant");
        assert!(site.oauth().issued_access_tokens().is_empty());
    }
}

#[tokio::test]
async fn a_revoked_app_cannot_refresh() {
    for dialect in [Dialect::LinkedIn, Dialect::GoHighLevel] {
        let site = site(dialect);
        let token = text(&sign_in(&site).await, "refresh_token").to_string();
        site.oauth().refuse_refresh(true);
        let reply = refresh(&site, &token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"], "invalid_grant");
        assert_eq!(site.oauth().refreshes(), 0);
        site.oauth().refuse_refresh(false);
        rotate(&site, &token).await;
    }
}

#[tokio::test]
async fn gohighlevel_answers_the_location_and_needs_user_type() {
    let site = site(Dialect::GoHighLevel);
    let answer = sign_in(&site).await;
    let access = text(&answer, "access_token");
    assert!(
        access.starts_with("eyJ") && access.split('.').count() == 3,
        "{access}"
    );
    assert!(text(&answer, "refresh_token").starts_with("eyJ"));
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 86_399);
    assert_eq!(answer["userType"], "Location");
    assert_eq!(answer["locationId"], GOHIGHLEVEL_LOCATION_ID);
    assert!(answer["companyId"].is_string() && answer["userId"].is_string());

    let oauth = site.oauth().clone();
    let token = text(&answer, "refresh_token");
    for user_type in [None, Some("Company")] {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", oauth.client_id()),
            ("client_secret", oauth.client_secret()),
        ];
        form.extend(user_type.map(|t| ("user_type", t)));
        let reply = site.post_form(oauth.token_path(), &[], &form).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{user_type:?}");
        assert_eq!(reply.json()["error"], "invalid_request");
    }
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", oauth.client_id()),
        ("client_secret", "wrong"),
        ("user_type", "Location"),
    ];
    assert_eq!(
        site.post_form(oauth.token_path(), &[], &form).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(oauth.refreshes(), 0);
}

#[tokio::test]
async fn the_expired_token_answers_are_the_platforms() {
    let linkedin = linkedin_expired_token();
    assert_eq!(linkedin.status(), StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(linkedin.into_body(), usize::MAX)
        .await
        .expect("a body");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"status": 401, "serviceErrorCode": 65601, "code": "EXPIRED_ACCESS_TOKEN",
               "message": "The token used in the request has expired"})
    );
    let ghl = gohighlevel_expired_token();
    assert_eq!(ghl.status(), StatusCode::UNAUTHORIZED);
    let body = axum::body::to_bytes(ghl.into_body(), usize::MAX)
        .await
        .expect("a body");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"statusCode": 401, "message": "Invalid JWT"})
    );
}
