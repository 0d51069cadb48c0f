//! Shopify's authorization-code grant for offline access tokens.
//!
//! The authorize redirect carries `code`, `hmac`, `host`, `shop`, `state`
//! and `timestamp`; `hmac` is the hex HMAC-SHA256, keyed with the client
//! secret, of the other parameters sorted by name and joined as `k=v&k=v`
//! ([`shopify_hmac`]), so that the app can check the redirect came from
//! Shopify. `POST /admin/oauth/access_token` takes `client_id`,
//! `client_secret` and `code` as JSON or a form and answers
//! `{"access_token":"shpat_...","scope"}`: offline tokens do not expire and
//! have no refresh token. Errors are 400
//! `{"error":"invalid_request","error_description"}`.

use super::{ClientAuth, Issuer, TokenRequest};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// The hex HMAC-SHA256 Shopify signs a redirect with: keyed with `secret`,
/// over `params` other than `hmac` and `signature`, sorted by name and
/// joined as `k=v&k=v` (values as they are, not URL-encoded).
pub fn shopify_hmac(secret: &str, params: &[(String, String)]) -> String {
    let mut signed: Vec<&(String, String)> = params
        .iter()
        .filter(|(name, _)| name != "hmac" && name != "signature")
        .collect();
    signed.sort();
    let message = signed
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    // HMAC takes keys of any length, so building it cannot fail.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The shop the user installs on: the query's `shop` (a
/// `{name}.myshopify.com` domain) or the sandbox's.
pub(super) fn shop(requested: Option<&str>) -> Result<String, String> {
    let Some(shop) = requested else {
        return Ok(crate::shopify::SHOP_DOMAIN.to_string());
    };
    let name = shop.strip_suffix(".myshopify.com").unwrap_or_default();
    let valid = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(shop.to_string())
    } else {
        Err(format!(
            "shop must be a {{name}}.myshopify.com domain, not `{shop}`"
        ))
    }
}

/// The query of the redirect that approves an install on `shop`, signed.
pub(super) fn redirect_params(
    secret: &str,
    shop: &str,
    code: String,
    state: Option<&str>,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("code".to_string(), code),
        ("host".to_string(), STANDARD.encode(format!("{shop}/admin"))),
        ("shop".to_string(), shop.to_string()),
    ];
    if let Some(state) = state {
        params.push(("state".into(), state.to_string()));
    }
    params.push(("timestamp".into(), chrono::Utc::now().timestamp().to_string()));
    let hmac = shopify_hmac(secret, &params);
    params.insert(1, ("hmac".into(), hmac));
    params
}

/// `POST /admin/oauth/access_token`.
pub(super) async fn access_token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let fields: Option<Vec<(String, String)>> = if is_json {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(object)) => Some(
                object
                    .into_iter()
                    .map(|(name, value)| match value {
                        Value::String(text) => (name, text),
                        other => (name, other.to_string()),
                    })
                    .collect(),
            ),
            _ => None,
        }
    } else {
        Some(form_urlencoded::parse(&body).into_owned().collect())
    };
    let fields = fields.unwrap_or_default();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let mut request = TokenRequest {
        grant_type: get("grant_type").unwrap_or("authorization_code").to_string(),
        client_auth: match (get("client_secret"), is_json) {
            (None, _) => ClientAuth::None,
            (Some(_), true) => ClientAuth::Json,
            (Some(_), false) => ClientAuth::Body,
        },
        params: fields.iter().map(|(name, _)| name.clone()).collect(),
        refresh_token: None,
        status: 200,
        error: None,
    };
    let (status, body) = match answer(&issuer, get) {
        Ok(body) => (StatusCode::OK, body),
        Err(description) => {
            request.error = Some("invalid_request".into());
            let body = json!({ "error": "invalid_request", "error_description": description });
            (StatusCode::BAD_REQUEST, body)
        }
    };
    request.status = status.as_u16();
    issuer.record(request);
    super::token_response(status, body)
}

fn answer<'a>(issuer: &Issuer, get: impl Fn(&str) -> Option<&'a str>) -> Result<Value, String> {
    let missing = |name: &str| format!("Missing required parameter: {name}");
    let client_id = get("client_id").ok_or_else(|| missing("client_id"))?;
    let secret = get("client_secret").ok_or_else(|| missing("client_secret"))?;
    let code = get("code").ok_or_else(|| missing("code"))?;
    if !issuer.is_client(client_id, secret) {
        return Err("Oauth error invalid_request: The client_id or client_secret is invalid".into());
    }
    let grant = issuer
        .redeem(code, client_id, None, get("code_verifier"), Instant::now())
        .map_err(|error| match error {
            super::CodeError::Unknown | super::CodeError::Used | super::CodeError::Expired => {
                "The authorization code was not found or was already used".to_string()
            }
            other => format!("Oauth error invalid_request: {other}"),
        })?;
    let access = issuer.issue_access(super::Dialect::Shopify.access_ttl());
    Ok(json!({ "access_token": access.token, "scope": grant.scope }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_hmac_is_over_the_sorted_other_parameters() {
        // Shopify's documented example: the message is
        // `code=0907a61c0c8d55e99db179b68161bc00&shop={shop}.myshopify.com&state=0.6784241404160823&timestamp=1337178173`.
        let params = pairs(&[
            ("timestamp", "1337178173"),
            ("shop", "some-shop.myshopify.com"),
            ("code", "0907a61c0c8d55e99db179b68161bc00"),
            ("hmac", "ignored"),
            ("state", "0.6784241404160823"),
        ]);
        let message = "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173";
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"hush").expect("any key length");
        mac.update(message.as_bytes());
        assert_eq!(
            shopify_hmac("hush", &params),
            hex::encode(mac.finalize().into_bytes())
        );
        assert_ne!(shopify_hmac("other", &params), shopify_hmac("hush", &params));
    }

    #[test]
    fn shops_are_myshopify_domains() {
        assert_eq!(shop(None), Ok(crate::shopify::SHOP_DOMAIN.to_string()));
        assert_eq!(
            shop(Some("my-store2.myshopify.com")),
            Ok("my-store2.myshopify.com".to_string())
        );
        for bad in [
            "-store.myshopify.com",
            ".myshopify.com",
            "store.example.com",
            "st_ore.myshopify.com",
            "evil.com/x.myshopify.com",
        ] {
            assert!(shop(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects_are_signed_and_name_the_admin_host() {
        let params = redirect_params("hush", "a-shop.myshopify.com", "c0de".into(), Some("s1"));
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["code", "hmac", "host", "shop", "state", "timestamp"]);
        assert_eq!(params[1].1, shopify_hmac("hush", &params));
        let host = STANDARD.decode(&params[2].1).expect("base64");
        assert_eq!(host, b"a-shop.myshopify.com/admin");
    }
}
