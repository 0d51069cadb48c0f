//! Facebook Login's token endpoint, `GET /{version}/oauth/access_token`,
//! every parameter in the query:
//!
//! - the code exchange (`client_id`, `redirect_uri`, `client_secret`,
//!   `code`) answers a short-lived user token (`expires_in` 5400);
//! - `grant_type=fb_exchange_token` with a live token answers a long-lived
//!   one (60 days).
//!
//! Meta has no refresh tokens. Errors are 400 Graph API errors of type
//! `OAuthException`: code 100 for a missing or wrong parameter or code
//! (subcodes 36007 expired, 36008 redirect mismatch, 36009 used), 190 for a
//! bad token (subcode 463 expired).

use super::authorize::Query;
use super::{ClientAuth, CodeError, Dialect, Issuer, TokenCheck, TokenRequest};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a long-lived user token lives (60 days).
pub(super) const LONG_LIVED: Duration = Duration::from_secs(5_184_000);

/// A Facebook Login error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MetaError {
    code: u32,
    subcode: Option<u32>,
    message: String,
}

impl MetaError {
    /// Code 100: a missing or wrong parameter.
    fn param(message: impl Into<String>) -> Self {
        Self {
            code: 100,
            subcode: None,
            message: message.into(),
        }
    }

    fn missing(name: &str) -> Self {
        Self::param(format!("Missing {name} parameter."))
    }

    /// Code 190 subcode 463: the token presented expired.
    fn expired() -> Self {
        Self {
            code: 190,
            subcode: Some(463),
            message: expired_message(),
        }
    }

    fn body(&self) -> Value {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut error = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": format!("AoAu{:012x}", NEXT.fetch_add(1, Ordering::Relaxed)),
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        json!({ "error": error })
    }
}

/// Meta's message for an expired session, as the Graph API also answers it.
pub(crate) fn expired_message() -> String {
    format!(
        "Error validating access token: Session has expired. The current time is {}.",
        chrono::Utc::now().format("%A, %d-%b-%y %H:%M:%S UTC")
    )
}

/// `GET /{version}/oauth/access_token`.
pub(super) async fn access_token(State(issuer): State<Arc<Issuer>>, RawQuery(query): RawQuery) -> Response {
    let query = Query(
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
    );
    let mut request = TokenRequest {
        grant_type: query
            .get("grant_type")
            .unwrap_or("authorization_code")
            .to_string(),
        client_auth: if query.get("client_secret").is_some() {
            ClientAuth::Query
        } else {
            ClientAuth::None
        },
        params: query.0.iter().map(|(name, _)| name.clone()).collect(),
        refresh_token: None,
        status: 200,
        error: None,
    };
    let (status, body) = match answer(&issuer, &query) {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => {
            request.error = Some(error.code.to_string());
            (StatusCode::BAD_REQUEST, error.body())
        }
    };
    request.status = status.as_u16();
    issuer.record(request);
    super::token_response(status, body)
}

fn answer(issuer: &Issuer, query: &Query) -> Result<Value, MetaError> {
    let client_id = query
        .get("client_id")
        .ok_or_else(|| MetaError::missing("client_id"))?;
    if client_id != issuer.client_id() {
        return Err(MetaError::param(
            "Error validating application. Invalid application ID.",
        ));
    }
    let secret = query
        .get("client_secret")
        .ok_or_else(|| MetaError::missing("client_secret"))?;
    if secret != issuer.client_secret() {
        return Err(MetaError::param("Error validating client secret."));
    }
    match query.get("grant_type") {
        None | Some("authorization_code") => exchange(issuer, query),
        Some("fb_exchange_token") => long_lived(issuer, query),
        Some(other) => Err(MetaError::param(format!("Unsupported grant_type: {other}"))),
    }
}

/// The code exchange: a short-lived user token.
fn exchange(issuer: &Issuer, query: &Query) -> Result<Value, MetaError> {
    let redirect_uri = query
        .get("redirect_uri")
        .ok_or_else(|| MetaError::missing("redirect_uri"))?;
    let code = query.get("code").ok_or_else(|| MetaError::missing("code"))?;
    issuer
        .redeem(
            code,
            issuer.client_id(),
            Some(redirect_uri),
            query.get("code_verifier"),
            Instant::now(),
        )
        .map_err(|error| code_error(&error))?;
    let access = issuer.issue_access(Dialect::Meta.access_ttl());
    Ok(json!({ "access_token": access.token, "token_type": "bearer", "expires_in": access.expires_in() }))
}

/// `grant_type=fb_exchange_token`: a long-lived token for a live one.
fn long_lived(issuer: &Issuer, query: &Query) -> Result<Value, MetaError> {
    let token = query
        .get("fb_exchange_token")
        .ok_or_else(|| MetaError::missing("fb_exchange_token"))?;
    match issuer.check(token) {
        TokenCheck::Live => {}
        TokenCheck::Expired => return Err(MetaError::expired()),
        TokenCheck::Unknown => {
            return Err(MetaError {
                code: 190,
                subcode: None,
                message: "Invalid OAuth access token - Cannot parse access token".into(),
            });
        }
    }
    let access = issuer.issue_access(Some(LONG_LIVED));
    Ok(json!({ "access_token": access.token, "token_type": "bearer", "expires_in": access.expires_in() }))
}

/// A refused code, in Meta's words.
fn code_error(error: &CodeError) -> MetaError {
    let (subcode, message) = match error {
        CodeError::Unknown => (None, "Invalid verification code format.".to_string()),
        CodeError::Used => (Some(36009), "This authorization code has been used.".to_string()),
        CodeError::Expired => (Some(36007), "This authorization code has expired.".to_string()),
        CodeError::RedirectMismatch => (
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is identical to the one \
             you used in the OAuth dialog request"
                .to_string(),
        ),
        other => (None, format!("Invalid code verifier: {other}")),
    };
    MetaError {
        subcode,
        message,
        ..MetaError::param("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_the_graph_shape() {
        let body = code_error(&CodeError::Used).body();
        assert_eq!(body["error"]["type"], "OAuthException");
        assert_eq!(body["error"]["code"], 100);
        assert_eq!(body["error"]["error_subcode"], 36009);
        assert!(
            body["error"]["fbtrace_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        let expired = MetaError::expired().body();
        assert_eq!(expired["error"]["code"], 190);
        assert_eq!(expired["error"]["error_subcode"], 463);
        assert!(
            expired["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Error validating access token: Session has expired"))
        );
    }

    #[test]
    fn the_paths_name_the_served_graph_version() {
        let version = crate::meta::API_VERSION;
        assert_eq!(Dialect::Meta.authorize_path(), format!("/{version}/dialog/oauth"));
        assert_eq!(
            Dialect::Meta.token_path(),
            format!("/{version}/oauth/access_token")
        );
    }
}
