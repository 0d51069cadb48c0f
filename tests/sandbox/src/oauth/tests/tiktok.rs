//! TikTok for Business: `auth_code` in the redirect, a JSON exchange
//! answered in the `{code, message, data}` envelope (HTTP 200 even for
//! errors), and tokens that live until expired on demand.

use super::*;
use crate::tiktok::ACCESS_TOKEN;
use serde_json::json;

fn site() -> Site {
    Site::new(Dialect::TikTok, crate::tiktok::routes)
}

/// Authorize (with `extra` parameters): the auth code.
async fn authorize(site: &Site, extra: &[(&str, &str)]) -> String {
    let app = site.oauth().client_id().to_string();
    let mut query = vec![
        ("app_id", app.as_str()),
        ("state", "st-4"),
        ("redirect_uri", REDIRECT),
    ];
    query.extend_from_slice(extra);
    let redirect = site.approve(&query).await;
    assert_eq!(param(&redirect, "state"), "st-4");
    assert_eq!(param(&redirect, "auth_code"), param(&redirect, "code"));
    param(&redirect, "auth_code").to_string()
}

async fn exchange(site: &Site, body: &Value) -> Value {
    let reply = site.post_json(site.oauth().token_path(), &[], body).await;
    assert_eq!(reply.status, StatusCode::OK, "TikTok answers 200");
    reply.json()
}

fn body(issuer: &Issuer, secret: &str, auth_code: &str) -> Value {
    json!({ "app_id": issuer.client_id(), "secret": secret, "auth_code": auth_code })
}

/// `advertiser/info/` with `token`: the envelope.
async fn advertiser_info(site: &Site, token: &str) -> Value {
    let id = site
        .platform
        .world()
        .account(world::Platform::Tiktok)
        .account_id
        .clone();
    let uri = with_query(
        "/open_api/v1.3/advertiser/info/",
        &[("advertiser_ids", &format!("[\"{id}\"]"))],
    );
    site.get(&uri, &[("access-token", token)]).await.json()
}

#[tokio::test]
async fn the_whole_flow_authorizes_exchanges_and_calls_the_api() {
    let site = site();
    let oauth = site.oauth().clone();
    let code = authorize(&site, &[]).await;
    let answer = exchange(&site, &body(&oauth, oauth.client_secret(), &code)).await;
    assert_eq!(
        (answer["code"].as_u64(), answer["message"].as_str()),
        (Some(0), Some("OK")),
        "{answer}"
    );
    assert!(answer["request_id"].is_string());
    let data = &answer["data"];
    let token = text(data, "access_token");
    assert_eq!(token.len(), 40);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let advertiser = site
        .platform
        .world()
        .account(world::Platform::Tiktok)
        .account_id
        .clone();
    assert_eq!(data["advertiser_ids"], json!([advertiser]));
    assert!(data["scope"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(oauth.check(token), TokenCheck::Live);
    let info = advertiser_info(&site, token).await;
    assert_eq!(info["code"], 0, "{info}");
    assert_eq!(info["data"]["list"][0]["advertiser_id"], json!(advertiser));

    let request = &oauth.token_requests()[0];
    assert_eq!(request.client_auth, ClientAuth::Json);
    assert_eq!(request.grant_type, "authorization_code");
    assert_eq!((request.status, request.error.as_deref()), (200, None));
    let mut params = request.params.clone();
    params.sort();
    assert_eq!(params, ["app_id", "auth_code", "secret"]);
}

#[tokio::test]
async fn bad_exchanges_get_tiktok_codes() {
    let site = site();
    let oauth = site.oauth().clone();
    let code = authorize(&site, &[]).await;
    let wrong = exchange(&site, &body(&oauth, "0000", &code)).await;
    assert_eq!(wrong["code"], 40001);
    assert!(text(&wrong, "message").contains("app_id or secret"));
    assert_eq!(wrong["data"], json!({}));
    assert_eq!(oauth.token_requests()[0].error.as_deref(), Some("40001"));

    let code = authorize(&site, &[]).await;
    assert_eq!(
        exchange(&site, &body(&oauth, oauth.client_secret(), &code)).await["code"],
        0
    );
    let reused = exchange(&site, &body(&oauth, oauth.client_secret(), &code)).await;
    assert_eq!(reused["code"], 40002);

    let code = authorize(
        &site,
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "S256")],
    )
    .await;
    let mut mismatch = body(&oauth, oauth.client_secret(), &code);
    mismatch["code_verifier"] = json!(WRONG_VERIFIER);
    assert_eq!(exchange(&site, &mismatch).await["code"], 40002, "PKCE mismatch");

    let missing = exchange(&site, &json!({ "app_id": oauth.client_id() })).await;
    assert_eq!(missing["code"], 40002);
    let app = oauth.client_id().to_string();
    site.refuse(&[("app_id", "123"), ("redirect_uri", REDIRECT)])
        .await;
    site.refuse(&[("app_id", &app), ("redirect_uri", "ftp://x.test/cb")])
        .await;
}

#[tokio::test]
async fn tokens_live_until_expired_then_get_40105() {
    let site = site();
    let oauth = site.oauth().clone();
    let code = authorize(&site, &[]).await;
    let answer = exchange(&site, &body(&oauth, oauth.client_secret(), &code)).await;
    let token = text(&answer["data"], "access_token").to_string();
    assert_eq!(oauth.check(&token), TokenCheck::Live);
    oauth.expire_access_tokens();
    assert_eq!(oauth.check(&token), TokenCheck::Expired);
    let info = advertiser_info(&site, &token).await;
    assert_eq!(info["code"], 40105);
    assert_eq!(info["message"], "The access token is invalid or has expired");
    assert_eq!(
        advertiser_info(&site, ACCESS_TOKEN).await["code"],
        0,
        "the fixed token"
    );
}
