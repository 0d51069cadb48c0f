//! The token endpoint of the dialects that follow RFC 6749 closely: Google,
//! LinkedIn, GoHighLevel and Stripe Connect. Requests are form-encoded with
//! `grant_type` `authorization_code` or `refresh_token`; answers are JSON,
//! errors `{"error","error_description"}` (401 for `invalid_client`).
//!
//! How the client authenticates differs: Google takes HTTP Basic or
//! `client_id` + `client_secret` in the body; LinkedIn and GoHighLevel only
//! the body (Basic is refused as `invalid_client`); Stripe the platform's
//! secret key as `client_secret` or as the Basic user name. A request that
//! uses two methods at once is refused (RFC 6749 §2.3).

use super::{
    ClientAuth, CodeError, Dialect, GOHIGHLEVEL_LOCATION_ID, Issued, Issuer, RefreshError, TokenRequest,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// How long a LinkedIn refresh token lives from its chain's first grant.
const LINKEDIN_REFRESH_TTL_SECS: u64 = 31_536_000;
/// The GoHighLevel agency (company) the location belongs to.
const GOHIGHLEVEL_COMPANY_ID: &str = "5DP4iH6HLkQsiKESj6rh";
/// The GoHighLevel user who installed the app.
const GOHIGHLEVEL_USER_ID: &str = "CzqT6L5Kx7bRd0Yv1Nw2";
/// The connected Stripe account.
const STRIPE_USER_ID: &str = "acct_1OmnifySandbox42";
/// The connected account's publishable key.
const STRIPE_PUBLISHABLE_KEY: &str = "pk_test_51OmnifySandbox42ConnectedAccountPublishableKey";
/// LinkedIn's one message for every failed code exchange.
const LINKEDIN_CODE_MESSAGE: &str = "Unable to retrieve access token: appid/redirect uri/code verifier does not \
     match authorization code. Or authorization code expired. Or external member binding exists";

/// LinkedIn's answer to an expired access token (401).
pub fn linkedin_expired_token() -> Response {
    let body = json!({
        "status": 401,
        "serviceErrorCode": 65601,
        "code": "EXPIRED_ACCESS_TOKEN",
        "message": "The token used in the request has expired",
    });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// GoHighLevel's answer to an expired access token (401).
pub fn gohighlevel_expired_token() -> Response {
    let body = json!({ "statusCode": 401, "message": "Invalid JWT" });
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// Why a token request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    InvalidRequest(String),
    InvalidClient,
    InvalidGrant(String),
    UnsupportedGrantType(String),
}

impl Refusal {
    fn missing(name: &str) -> Self {
        Self::InvalidRequest(format!("Missing required parameter: {name}"))
    }

    fn error(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn body(&self, dialect: Dialect) -> Value {
        let description = match self {
            Self::InvalidRequest(d) | Self::InvalidGrant(d) | Self::UnsupportedGrantType(d) => d.as_str(),
            Self::InvalidClient => match dialect {
                Dialect::Google => "Unauthorized",
                Dialect::Stripe => "No valid API key provided.",
                _ => "Client authentication failed",
            },
        };
        json!({ "error": self.error(), "error_description": description })
    }
}

/// The pairs of a form body.
struct Form(Vec<(String, String)>);

impl Form {
    /// The first non-empty value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The `Authorization: Basic` credentials of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Basic {
    Absent,
    Malformed,
    Credentials(String, String),
}

impl Basic {
    fn of(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Self::Absent;
        };
        let decoded = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((id, secret)) => Self::Credentials(id.to_string(), secret.to_string()),
            None => Self::Malformed,
        }
    }

    /// Whether these are `id` and `secret`, as sent or form-decoded (RFC
    /// 6749 §2.3.1 has clients form-encode both; many do not).
    fn matches(&self, id: &str, secret: &str) -> bool {
        match self {
            Self::Credentials(sent_id, sent_secret) => {
                (sent_id == id && sent_secret == secret)
                    || (form_decode(sent_id) == id && form_decode(sent_secret) == secret)
            }
            Self::Absent | Self::Malformed => false,
        }
    }
}

/// `text` with `+` and `%XX` decoded, as `application/x-www-form-urlencoded`.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST {token_path}`.
pub(super) async fn token(State(issuer): State<Arc<Issuer>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form(form_urlencoded::parse(&body).into_owned().collect());
    let basic = Basic::of(&headers);
    let client_auth = match (&basic, form.get("client_secret")) {
        (Basic::Absent, Some(_)) => ClientAuth::Body,
        (Basic::Absent, None) => ClientAuth::None,
        _ => ClientAuth::Basic,
    };
    let mut request = TokenRequest {
        grant_type: form.get("grant_type").unwrap_or_default().to_string(),
        client_auth,
        params: form.0.iter().map(|(name, _)| name.clone()).collect(),
        refresh_token: form.get("refresh_token").map(str::to_string),
        status: 200,
        error: None,
    };
    let outcome = check_content_type(&headers).and_then(|()| grant(&issuer, &basic, &form));
    let (status, body) = match outcome {
        Ok(body) => (StatusCode::OK, body),
        Err(refusal) => {
            request.error = Some(refusal.error().to_string());
            (refusal.status(), refusal.body(issuer.dialect))
        }
    };
    request.status = status.as_u16();
    issuer.record(request);
    super::token_response(status, body)
}

/// A body that says what it is must say it is a form.
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get(header::CONTENT_TYPE).map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok(value)) if value.starts_with("application/x-www-form-urlencoded") => Ok(()),
        Some(_) => Err(Refusal::InvalidRequest(
            "The request body must be application/x-www-form-urlencoded".into(),
        )),
    }
}

fn grant(issuer: &Issuer, basic: &Basic, form: &Form) -> Result<Value, Refusal> {
    let dialect = issuer.dialect;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| Refusal::missing("grant_type"))?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(Refusal::UnsupportedGrantType(format!(
            "Invalid grant_type: {grant_type}"
        )));
    }
    authenticate(issuer, basic, form)?;
    if dialect == Dialect::GoHighLevel {
        match form.get("user_type") {
            Some("Location") => {}
            None => return Err(Refusal::missing("user_type")),
            Some(other) => {
                return Err(Refusal::InvalidRequest(format!(
                    "user_type must be Location (the app installs on a sub-account), not `{other}`"
                )));
            }
        }
    }
    if grant_type == "authorization_code" {
        exchange(issuer, form)
    } else {
        refresh(issuer, form)
    }
}

/// Check the client's credentials the way the dialect takes them.
fn authenticate(issuer: &Issuer, basic: &Basic, form: &Form) -> Result<(), Refusal> {
    let in_body = form.get("client_secret");
    if *basic != Basic::Absent && in_body.is_some() {
        return Err(Refusal::InvalidRequest(
            "The client authenticated twice (HTTP Basic and client_secret): use one method".into(),
        ));
    }
    let body_matches = || {
        form.get("client_id")
            .zip(in_body)
            .is_some_and(|(id, secret)| issuer.is_client(id, secret))
    };
    let ok = match issuer.dialect {
        Dialect::Google => basic.matches(issuer.client_id(), issuer.client_secret()) || body_matches(),
        // Stripe takes its secret key as `-u sk_...:`; a client_id sent must
        // be the platform's.
        Dialect::Stripe => {
            let key_ok = match (basic, in_body) {
                (Basic::Credentials(..), _) => basic.matches(issuer.client_secret(), ""),
                (_, Some(secret)) => secret == issuer.client_secret(),
                _ => false,
            };
            key_ok && form.get("client_id").is_none_or(|id| id == issuer.client_id())
        }
        _ => *basic == Basic::Absent && body_matches(),
    };
    if ok { Ok(()) } else { Err(Refusal::InvalidClient) }
}

/// `grant_type=authorization_code`.
fn exchange(issuer: &Issuer, form: &Form) -> Result<Value, Refusal> {
    let dialect = issuer.dialect;
    let code = form.get("code").ok_or_else(|| Refusal::missing("code"))?;
    let redirect_uri = match dialect {
        // Stripe's exchange names no redirect.
        Dialect::Stripe => None,
        Dialect::Google | Dialect::LinkedIn => Some(
            form.get("redirect_uri")
                .ok_or_else(|| Refusal::missing("redirect_uri"))?,
        ),
        _ => form.get("redirect_uri"),
    };
    let grant = issuer
        .redeem(
            code,
            issuer.client_id(),
            redirect_uri,
            form.get("code_verifier"),
            Instant::now(),
        )
        .map_err(|error| code_refusal(dialect, code, &error))?;
    let access = issuer.issue_access(dialect.access_ttl());
    // Google answers a refresh token only to an offline request that
    // showed the consent screen.
    let refresh = (dialect != Dialect::Google || grant.offline).then(|| issuer.issue_refresh(&grant.scope));
    Ok(answer(
        issuer,
        &access,
        refresh.as_deref(),
        &grant.scope,
        LINKEDIN_REFRESH_TTL_SECS,
    ))
}

/// `grant_type=refresh_token`.
fn refresh(issuer: &Issuer, form: &Form) -> Result<Value, Refusal> {
    let dialect = issuer.dialect;
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| Refusal::missing("refresh_token"))?;
    let refreshed = issuer
        .refresh(presented)
        .map_err(|error| refresh_refusal(dialect, presented, &error))?;
    // Stripe answers the same refresh token; Google none.
    let refresh = match dialect {
        Dialect::Stripe => Some(presented.to_string()),
        _ => refreshed.rotated.clone(),
    };
    let remaining = LINKEDIN_REFRESH_TTL_SECS.saturating_sub(refreshed.born.elapsed().as_secs());
    Ok(answer(
        issuer,
        &refreshed.access,
        refresh.as_deref(),
        &refreshed.scope,
        remaining,
    ))
}

/// The dialect's token answer.
fn answer(
    issuer: &Issuer,
    access: &Issued,
    refresh: Option<&str>,
    scope: &str,
    refresh_expires_in: u64,
) -> Value {
    let mut body = match issuer.dialect {
        Dialect::LinkedIn => json!({
            "access_token": access.token,
            "expires_in": access.expires_in(),
            "refresh_token_expires_in": refresh_expires_in,
            "scope": scope,
        }),
        Dialect::GoHighLevel => json!({
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": access.expires_in(),
            "scope": scope,
            "userType": "Location",
            "locationId": issuer.account.as_deref().unwrap_or(GOHIGHLEVEL_LOCATION_ID),
            "companyId": GOHIGHLEVEL_COMPANY_ID,
            "userId": GOHIGHLEVEL_USER_ID,
        }),
        Dialect::Stripe => json!({
            "access_token": access.token,
            "token_type": "bearer",
            "stripe_user_id": STRIPE_USER_ID,
            "scope": scope,
            "livemode": false,
            "stripe_publishable_key": STRIPE_PUBLISHABLE_KEY,
        }),
        _ => json!({
            "access_token": access.token,
            "expires_in": access.expires_in(),
            "token_type": "Bearer",
            "scope": scope,
        }),
    };
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    body
}

/// A refused code exchange, in the dialect's words.
fn code_refusal(dialect: Dialect, code: &str, error: &CodeError) -> Refusal {
    let description = match (dialect, error) {
        (Dialect::Google, CodeError::MissingVerifier) => "Missing code verifier.".to_string(),
        (Dialect::Google, CodeError::VerifierMismatch) => "Invalid code verifier.".to_string(),
        (Dialect::Google, _) => "Bad Request".to_string(),
        (Dialect::LinkedIn, _) => LINKEDIN_CODE_MESSAGE.to_string(),
        (Dialect::Stripe, CodeError::Unknown) => format!("Authorization code does not exist: {code}"),
        (Dialect::Stripe, CodeError::Used) => format!("Authorization code has already been used: {code}"),
        (Dialect::Stripe, CodeError::Expired) => format!("Authorization code expired: {code}"),
        (_, error) => format!("Invalid grant: {error}"),
    };
    Refusal::InvalidGrant(description)
}

/// A refused refresh, in the dialect's words.
fn refresh_refusal(dialect: Dialect, token: &str, error: &RefreshError) -> Refusal {
    let description = match (dialect, error) {
        (Dialect::Google, _) => "Token has been expired or revoked.".to_string(),
        (Dialect::LinkedIn, _) => {
            "The provided authorization grant or refresh token is invalid, expired or revoked".to_string()
        }
        (Dialect::Stripe, RefreshError::Revoked) => format!(
            "This application is not connected to stripe account {STRIPE_USER_ID}, or that account does not exist."
        ),
        (Dialect::Stripe, _) => format!("Refresh token does not exist: {token}"),
        (_, error) => format!("Invalid grant: {error}"),
    };
    Refusal::InvalidGrant(description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn basic_credentials_decode_with_or_without_form_encoding() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20id:s+cr%3Dt");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header"),
        );
        let basic = Basic::of(&headers);
        assert!(basic.matches("my id", "s cr=t"));
        assert!(basic.matches("my%20id", "s+cr%3Dt"));
        assert!(!basic.matches("my id", "other"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(Basic::of(&headers), Basic::Malformed);
        assert_eq!(Basic::of(&HeaderMap::new()), Basic::Absent);
    }

    #[test]
    fn refusals_speak_each_dialect() {
        assert_eq!(
            Refusal::InvalidClient.body(Dialect::Google),
            json!({"error": "invalid_client", "error_description": "Unauthorized"})
        );
        assert_eq!(Refusal::InvalidClient.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            code_refusal(Dialect::Google, "c", &CodeError::Used).body(Dialect::Google),
            json!({"error": "invalid_grant", "error_description": "Bad Request"})
        );
        let stripe = code_refusal(Dialect::Stripe, "ac_1", &CodeError::Used);
        assert_eq!(
            stripe,
            Refusal::InvalidGrant("Authorization code has already been used: ac_1".into())
        );
    }
}
