//! The GoHighLevel sandbox answering requests in process.

use super::*;
use crate::oauth::Dialect;
use crate::server::app;
use crate::world::{Scenario, World};
use axum::body::Body;
use axum::http::Request as HttpRequest;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use tower::ServiceExt;

fn server() -> (Arc<Platform>, Router) {
    let world = World::generate(42, Scenario::Planted, "2026-06-30".parse().expect("a date"));
    let platform = Arc::new(Platform::new(Arc::new(Mutex::new(world)), Dialect::GoHighLevel));
    let router = app(&platform, routes);
    (platform, router)
}

/// `method path` with `body`, the token `token` and the `Version`
/// `version`; the status, headers and JSON body of the answer.
async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    version: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = HttpRequest::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(version) = version {
        request = request.header("version", version);
    }
    let body = match body {
        Some(body) => Body::from(body.to_string()),
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(
            request
                .header("content-type", "application/json")
                .body(body)
                .expect("a request"),
        )
        .await
        .expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), 1 << 24).await.expect("a body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn api(router: &Router, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let version = if path.starts_with("/calendars") {
        CALENDARS_API_VERSION
    } else {
        API_VERSION
    };
    let (status, _, body) = call(router, method, path, Some(ACCESS_TOKEN), Some(version), body).await;
    (status, body)
}

#[tokio::test]
async fn the_gate_checks_token_version_and_reports_rate_limits() {
    let (platform, router) = server();
    let path = format!(
        "/opportunities/pipelines?locationId={}",
        crate::world::LOCATION_ID
    );
    let (status, _, body) = call(&router, "GET", &path, None, Some(API_VERSION), None).await;
    assert_eq!(
        (status, &body["message"]),
        (StatusCode::UNAUTHORIZED, &json!(INVALID_TOKEN_MESSAGE))
    );
    let (status, _, body) = call(&router, "GET", &path, Some(ACCESS_TOKEN), None, None).await;
    assert_eq!(
        (status, &body["message"]),
        (StatusCode::BAD_REQUEST, &json!("Version header was not found"))
    );
    let calendars = format!("/calendars/?locationId={}", crate::world::LOCATION_ID);
    let (status, _, _) = call(
        &router,
        "GET",
        &calendars,
        Some(ACCESS_TOKEN),
        Some(API_VERSION),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "calendars take their own version"
    );
    let (status, headers, body) =
        call(&router, "GET", &path, Some(ACCESS_TOKEN), Some(API_VERSION), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pipelines"].as_array().map(Vec::len), Some(2));
    assert_eq!(headers["x-ratelimit-max"], "100");
    assert_eq!(headers["x-ratelimit-remaining"], "96", "four calls in the window");
    platform.rate_limit_after(0);
    let (status, headers, _) = call(&router, "GET", &path, Some(ACCESS_TOKEN), Some(API_VERSION), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (&headers["retry-after"], &headers["x-ratelimit-remaining"]),
        (&HeaderValue::from(1), &HeaderValue::from(0))
    );
    let other = "/opportunities/pipelines?locationId=elsewhere";
    assert_eq!(api(&router, "GET", other, None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn search_after_pages_through_every_contact_once_in_order() {
    let (platform, router) = server();
    let mut seen = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body = json!({"locationId": crate::world::LOCATION_ID, "pageLimit": 37,
            "sort": [{"field": "dateUpdated", "direction": "asc"}]});
        if let Some(after) = &after {
            body["searchAfter"] = after.clone();
        }
        let (status, page) = api(&router, "POST", "/contacts/search", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let contacts = page["contacts"].as_array().cloned().unwrap_or_default();
        seen.extend(
            contacts
                .iter()
                .map(|c| c["id"].as_str().unwrap_or_default().to_string()),
        );
        match contacts.last() {
            Some(last) if contacts.len() == 37 => after = Some(last["searchAfter"].clone()),
            _ => break,
        }
    }
    let mut want = platform.world().crm.contacts.clone();
    want.sort_by_key(|c| (c.date_updated, c.id.clone()));
    assert_eq!(seen, want.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
    let bad = json!({"locationId": crate::world::LOCATION_ID, "filters": [{"field": "dateUpdated", "operator": "eq", "value": 1}]});
    assert_eq!(
        api(&router, "POST", "/contacts/search", Some(bad)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_stage_of_another_pipeline_is_refused_and_logged() {
    let (platform, router) = server();
    let (deal, foreign, own) = {
        let world = platform.world();
        let deal = world.crm.opportunities[0].clone();
        let foreign = world.crm.pipelines[1].stages[0].id.clone();
        let own = world.crm.pipelines[0].stages[2].id.clone();
        (deal, foreign, own)
    };
    let path = format!("/opportunities/{}", deal.id);
    let (status, body) = api(&router, "PUT", &path, Some(json!({"pipelineStageId": foreign}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(platform.world().crm.opportunities[0], deal, "nothing changed");
    let (status, body) = api(
        &router,
        "PUT",
        &path,
        Some(json!({"pipelineId": deal.pipeline_id, "pipelineStageId": own})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["opportunity"]["pipelineStageId"], own.as_str());
    let writes = platform.writes();
    assert_eq!(
        writes.iter().map(|w| w.applied).collect::<Vec<_>>(),
        [false, true]
    );
    assert!(platform.world().crm.opportunities[0].updated_at > deal.updated_at);
}

#[tokio::test]
async fn a_token_from_the_sign_in_is_accepted_until_it_expires() {
    let (platform, router) = server();
    let issuer = platform.oauth().clone();
    let authorize = format!(
        "{}?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fhost.example%2Fv1%2Foauth%2Fcallback&state=s1&scope=contacts.readonly",
        issuer.authorize_path(),
        issuer.client_id()
    );
    let response = router
        .clone()
        .oneshot(
            HttpRequest::get(authorize)
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("an answer");
    let location = response.headers()[header::LOCATION]
        .to_str()
        .expect("a redirect")
        .to_string();
    let code = location
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("a code")
        .to_string();
    let form = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", issuer.client_id()),
            ("client_secret", issuer.client_secret()),
            ("redirect_uri", "https://host.example/v1/oauth/callback"),
            ("user_type", "Location"),
        ])
        .finish();
    let response = router
        .clone()
        .oneshot(
            HttpRequest::post(issuer.token_path())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .expect("a request"),
        )
        .await
        .expect("an answer");
    let bytes = to_bytes(response.into_body(), 1 << 20).await.expect("a body");
    let tokens: Value = serde_json::from_slice(&bytes).expect("JSON");
    let token = tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_string();
    let path = format!(
        "/opportunities/pipelines?locationId={}",
        crate::world::LOCATION_ID
    );
    let (status, _, _) = call(&router, "GET", &path, Some(&token), Some(API_VERSION), None).await;
    assert_eq!(status, StatusCode::OK);
    issuer.expire_access_tokens();
    let (status, _, body) = call(&router, "GET", &path, Some(&token), Some(API_VERSION), None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"statusCode": 401, "message": "Invalid JWT", "error": "Unauthorized"})
        )
    );
    let (status, _, _) = call(&router, "GET", &path, Some(ACCESS_TOKEN), Some(API_VERSION), None).await;
    assert_eq!(status, StatusCode::OK, "the fixed token stays live");
}

#[test]
fn deliveries_are_signed_with_both_keys() {
    let body = event("ContactTagUpdate", json!({"id": "c1", "tags": ["vip"]})).to_string();
    let headers = signed_webhook(body.as_bytes());
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| decoded(v))
            .expect("the header")
    };
    let key = VerifyingKey::<Sha256>::new(
        rsa::PublicKey::from_public_key_pem(RSA_PUBLIC_KEY_PEM).expect("the public key"),
    );
    let signature = Signature::try_from(value("X-WH-Signature").as_slice()).expect("a signature");
    assert!(key.verify(body.as_bytes(), &signature).is_ok());
    assert!(key.verify(b"{}", &signature).is_err());
    let ed = ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED).verifying_key();
    let signature = ed25519_dalek::Signature::from_slice(&value("X-GHL-Signature")).expect("a signature");
    assert!(ed.verify_strict(body.as_bytes(), &signature).is_ok());
    assert!(ed25519_public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
    let parsed: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (&parsed["type"], &parsed["locationId"]),
        (&json!("ContactTagUpdate"), &json!(crate::world::LOCATION_ID))
    );
}

fn decoded(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}
