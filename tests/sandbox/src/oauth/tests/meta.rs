//! Facebook Login: the code exchange in the query, the long-lived exchange,
//! and the Graph API's code 190 for an expired session.

use super::*;
use crate::meta::ACCESS_TOKEN;

fn site() -> Site {
    Site::new(Dialect::Meta, crate::meta::routes)
}

/// Log in (with `extra` authorize parameters): the code.
async fn log_in(site: &Site, extra: &[(&str, &str)]) -> String {
    let client = site.oauth().client_id().to_string();
    let mut query = vec![
        ("client_id", client.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "st-2"),
        ("scope", "ads_read,ads_management"),
        ("response_type", "code"),
    ];
    query.extend_from_slice(extra);
    let redirect = site.approve(&query).await;
    assert_eq!(param(&redirect, "state"), "st-2");
    param(&redirect, "code").to_string()
}

/// `GET /v23.0/oauth/access_token?{query}`.
async fn token(site: &Site, query: &[(&str, &str)]) -> Reply {
    site.get(&with_query(site.oauth().token_path(), query), &[]).await
}

async fn exchange(site: &Site, code: &str, secret: &str, extra: &[(&str, &str)]) -> Reply {
    let oauth = site.oauth().clone();
    let mut query = vec![
        ("client_id", oauth.client_id()),
        ("redirect_uri", REDIRECT),
        ("client_secret", secret),
        ("code", code),
    ];
    query.extend_from_slice(extra);
    token(site, &query).await
}

async fn long_lived(site: &Site, short: &str) -> Reply {
    let oauth = site.oauth().clone();
    token(
        site,
        &[
            ("grant_type", "fb_exchange_token"),
            ("client_id", oauth.client_id()),
            ("client_secret", oauth.client_secret()),
            ("fb_exchange_token", short),
        ],
    )
    .await
}

/// `GET /v23.0/act_{id}` with `token` as the `access_token` parameter.
async fn account(site: &Site, token: &str) -> Reply {
    let id = site
        .platform
        .world()
        .account(world::Platform::Meta)
        .account_id
        .clone();
    site.get(
        &with_query(&format!("/v23.0/act_{id}"), &[("access_token", token)]),
        &[],
    )
    .await
}

#[tokio::test]
async fn the_whole_flow_logs_in_exchanges_and_calls_the_graph_api() {
    let site = site();
    let oauth = site.oauth().clone();
    let code = log_in(&site, &[]).await;
    let reply = exchange(&site, &code, oauth.client_secret(), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    let short = reply.json();
    let short_token = text(&short, "access_token").to_string();
    assert!(short_token.starts_with("EAA"));
    assert_eq!(
        (short["token_type"].as_str(), short["expires_in"].as_u64()),
        (Some("bearer"), Some(5400))
    );
    assert_eq!(oauth.check(&short_token), TokenCheck::Live);
    assert_eq!(account(&site, &short_token).await.status, StatusCode::OK);

    let long = long_lived(&site, &short_token).await.json();
    let long_token = text(&long, "access_token");
    assert!(long_token.starts_with("EAA") && long_token != short_token);
    assert_eq!(long["expires_in"], 5_184_000);
    let id = site
        .platform
        .world()
        .account(world::Platform::Meta)
        .account_id
        .clone();
    let bearer = format!("Bearer {long_token}");
    let reply = site
        .get(
            &format!("/v23.0/act_{id}/campaigns"),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());

    let requests = oauth.token_requests();
    let grants: Vec<&str> = requests.iter().map(|r| r.grant_type.as_str()).collect();
    assert_eq!(grants, ["authorization_code", "fb_exchange_token"]);
    assert!(
        requests
            .iter()
            .all(|r| r.client_auth == ClientAuth::Query && r.status == 200)
    );
    assert_eq!(
        requests[0].params,
        ["client_id", "redirect_uri", "client_secret", "code"]
    );
    assert_eq!(oauth.refreshes(), 0);
}

#[tokio::test]
async fn bad_exchanges_get_oauth_exceptions() {
    let site = site();
    let oauth = site.oauth().clone();
    let code = log_in(&site, &[]).await;
    let reply = exchange(&site, &code, "not-the-secret", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = &reply.json()["error"];
    assert_eq!(
        (error["type"].as_str(), error["code"].as_u64()),
        (Some("OAuthException"), Some(100))
    );
    assert!(error["fbtrace_id"].is_string());

    let code = log_in(&site, &[]).await;
    assert_eq!(
        exchange(&site, &code, oauth.client_secret(), &[]).await.status,
        StatusCode::OK
    );
    let reused = exchange(&site, &code, oauth.client_secret(), &[]).await.json();
    assert_eq!(
        (
            reused["error"]["code"].as_u64(),
            reused["error"]["error_subcode"].as_u64()
        ),
        (Some(100), Some(36009))
    );

    let code = log_in(&site, &[]).await;
    let query = [
        ("client_id", oauth.client_id()),
        ("redirect_uri", "https://app.omnify.test/elsewhere"),
        ("client_secret", oauth.client_secret()),
        ("code", code.as_str()),
    ];
    assert_eq!(token(&site, &query).await.json()["error"]["error_subcode"], 36008);

    let pkce = [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")];
    let code = log_in(&site, &pkce).await;
    let reply = exchange(
        &site,
        &code,
        oauth.client_secret(),
        &[("code_verifier", WRONG_VERIFIER)],
    )
    .await;
    assert_eq!(reply.json()["error"]["code"], 100, "PKCE mismatch");
    let code = log_in(&site, &pkce).await;
    let reply = exchange(
        &site,
        &code,
        oauth.client_secret(),
        &[("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    assert_eq!(long_lived(&site, "EAAnever").await.json()["error"]["code"], 190);
    let client = oauth.client_id().to_string();
    site.refuse(&[
        ("client_id", &client),
        ("redirect_uri", REDIRECT),
        ("response_type", "token"),
    ])
    .await;
    site.approve(&[("client_id", &client), ("redirect_uri", REDIRECT)])
        .await;
}

#[tokio::test]
async fn expired_sessions_get_code_190_subcode_463() {
    let site = site();
    let oauth = site.oauth().clone();
    let code = log_in(&site, &[]).await;
    let short = exchange(&site, &code, oauth.client_secret(), &[]).await.json();
    let short_token = text(&short, "access_token").to_string();
    oauth.expire_access_tokens();
    let reply = account(&site, &short_token).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = &reply.json()["error"];
    assert_eq!(
        (error["code"].as_u64(), error["error_subcode"].as_u64()),
        (Some(190), Some(463))
    );
    assert_eq!(error["type"], "OAuthException");
    assert!(text(error, "message").starts_with("Error validating access token: Session has expired"));
    let exchanged = long_lived(&site, &short_token).await.json();
    assert_eq!(
        exchanged["error"]["error_subcode"], 463,
        "an expired token cannot be exchanged"
    );
    assert_eq!(
        account(&site, ACCESS_TOKEN).await.status,
        StatusCode::OK,
        "the fixed token"
    );
}
