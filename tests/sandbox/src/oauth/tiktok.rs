//! TikTok for Business's token endpoint,
//! `POST /open_api/v1.3/oauth2/access_token/` with a JSON body
//! `{"app_id","secret","auth_code"}`. Like the rest of the Marketing API it
//! answers HTTP 200 with the `{code, message, request_id, data}` envelope:
//! `data` holds the access token, the advertisers it may operate and the
//! granted permission scopes. Marketing API tokens do not expire and have
//! no refresh token.

use super::{ClientAuth, CodeError, Dialect, Issuer, TokenRequest};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The permission scopes the app was approved for, as TikTok numbers them.
const SCOPES: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// A refusal: a non-zero `code` and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: u32,
    message: String,
}

impl Refusal {
    /// Code 40002: a parameter is missing or wrong (the auth code included).
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: 40002,
            message: message.into(),
        }
    }
}

/// `POST /open_api/v1.3/oauth2/access_token/`.
pub(super) async fn access_token(State(issuer): State<Arc<Issuer>>, body: Bytes) -> Response {
    let fields = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|value| match value {
            Value::Object(fields) => Some(fields),
            _ => None,
        });
    let mut request = TokenRequest {
        grant_type: text(fields.as_ref(), "grant_type")
            .unwrap_or("authorization_code")
            .to_string(),
        client_auth: if text(fields.as_ref(), "secret").is_some() {
            ClientAuth::Json
        } else {
            ClientAuth::None
        },
        params: fields.iter().flat_map(|f| f.keys().cloned()).collect(),
        refresh_token: None,
        status: 200,
        error: None,
    };
    let outcome = match &fields {
        Some(fields) => answer(&issuer, fields),
        None => Err(Refusal::invalid("The request body must be a JSON object.")),
    };
    let envelope = match outcome {
        Ok(data) => json!({ "code": 0, "message": "OK", "request_id": request_id(), "data": data }),
        Err(refusal) => {
            request.error = Some(refusal.code.to_string());
            json!({ "code": refusal.code, "message": refusal.message, "request_id": request_id(), "data": {} })
        }
    };
    issuer.record(request);
    // TikTok answers errors with HTTP 200 too; only `code` tells.
    super::token_response(StatusCode::OK, envelope)
}

/// A string field (ids may come as numbers).
fn text<'a>(fields: Option<&'a Map<String, Value>>, name: &str) -> Option<&'a str> {
    fields?.get(name)?.as_str().filter(|v| !v.is_empty())
}

fn answer(issuer: &Issuer, fields: &Map<String, Value>) -> Result<Value, Refusal> {
    let field = |name: &str| -> Result<String, Refusal> {
        match fields.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(Value::Number(number)) => Ok(number.to_string()),
            _ => Err(Refusal::invalid(format!(
                "{name}: Missing data for required field."
            ))),
        }
    };
    let (app_id, secret, auth_code) = (field("app_id")?, field("secret")?, field("auth_code")?);
    if !issuer.is_client(&app_id, &secret) {
        return Err(Refusal {
            code: 40001,
            message: "Authentication failed: the app_id or secret is invalid.".into(),
        });
    }
    let verifier = fields.get("code_verifier").and_then(Value::as_str);
    issuer
        .redeem(&auth_code, &app_id, None, verifier, Instant::now())
        .map_err(|error| {
            Refusal::invalid(match error {
                CodeError::Used => "auth_code: The auth_code has been used.".to_string(),
                CodeError::Unknown | CodeError::Expired => {
                    "auth_code: The auth_code is invalid or has expired.".to_string()
                }
                other => format!("auth_code: {other}."),
            })
        })?;
    let access = issuer.issue_access(Dialect::TikTok.access_ttl());
    Ok(json!({
        "access_token": access.token,
        "advertiser_ids": issuer.account.iter().collect::<Vec<_>>(),
        "scope": SCOPES,
    }))
}

/// A request id in TikTok's style: a timestamp then hex digits.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{n:016X}", chrono::Utc::now().format("%Y%m%d%H%M%S"))
}
