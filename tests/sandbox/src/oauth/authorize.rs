//! The authorize endpoint every dialect shares: the sandbox is the signed-in
//! user who clicks "Allow", so a valid request is answered at once with
//! `302 Found` to `redirect_uri` carrying the code and the `state`. A
//! request that names no valid client or redirect is refused with 400 and
//! no redirect, as a platform shows an error page instead of redirecting to
//! a URI it cannot trust.

use super::{Dialect, Grant, Issuer, shopify};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// A refused authorize request: 400 with an OAuth error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refused {
    error: &'static str,
    description: String,
}

impl Refused {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    fn missing(name: &str) -> Self {
        Self::new("invalid_request", format!("Missing required parameter: {name}"))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// The query of an authorize request.
pub(super) struct Query(pub(super) Vec<(String, String)>);

impl Query {
    /// The first non-empty value of `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// `GET {authorize_path}`: record the query, then redirect with a code or
/// refuse.
pub(super) async fn authorize(State(issuer): State<Arc<Issuer>>, RawQuery(query): RawQuery) -> Response {
    let params: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    issuer.record_authorization(params.clone());
    match approve(&issuer, &Query(params)) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// The `Location` of the redirect that approves `query`.
fn approve(issuer: &Issuer, query: &Query) -> Result<HeaderValue, Refused> {
    let dialect = issuer.dialect;
    // TikTok names its client `app_id`.
    let client_param = if dialect == Dialect::TikTok {
        "app_id"
    } else {
        "client_id"
    };
    match query.get(client_param) {
        None => return Err(Refused::missing(client_param)),
        Some(id) if id != issuer.client_id() => {
            return Err(Refused::new(
                "invalid_client",
                format!("The OAuth client was not found: {client_param} `{id}`"),
            ));
        }
        Some(_) => {}
    }
    let redirect_uri = query
        .get("redirect_uri")
        .ok_or_else(|| Refused::missing("redirect_uri"))?;
    check_redirect_uri(redirect_uri)?;
    check_response_type(dialect, query.get("response_type"))?;
    let challenge = challenge(query)?;
    if dialect == Dialect::Google && challenge.is_none() {
        return Err(Refused::new(
            "invalid_request",
            "Missing required parameter: code_challenge (this client must use PKCE)",
        ));
    }
    let scope = scope(dialect, query.get("scope"))?;
    let shop = match dialect {
        Dialect::Shopify => {
            Some(shopify::shop(query.get("shop")).map_err(|e| Refused::new("invalid_request", e))?)
        }
        _ => None,
    };
    let offline = dialect == Dialect::Google
        && query.get("access_type") == Some("offline")
        && query
            .get("prompt")
            .is_some_and(|prompt| prompt.split(' ').any(|p| p == "consent"));
    let code = issuer.issue_code(Grant {
        client_id: issuer.client_id().to_string(),
        redirect_uri: redirect_uri.to_string(),
        challenge,
        scope: scope.clone(),
        offline,
    });
    let state = query.get("state");
    let mut pairs: Vec<(String, String)> = Vec::new();
    match (dialect, shop) {
        (Dialect::Shopify, Some(shop)) => {
            pairs = shopify::redirect_params(issuer.client_secret(), &shop, code, state)
        }
        (Dialect::TikTok, _) => {
            pairs.push(("auth_code".into(), code.clone()));
            pairs.push(("code".into(), code));
        }
        _ => pairs.push(("code".into(), code)),
    }
    if dialect != Dialect::Shopify {
        if let Some(state) = state {
            pairs.push(("state".into(), state.to_string()));
        }
        // Google and Stripe tell the client which scopes were granted.
        if matches!(dialect, Dialect::Google | Dialect::Stripe) {
            pairs.push(("scope".into(), scope));
        }
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = match redirect_uri.chars().last() {
        Some('?' | '&') => "",
        _ if redirect_uri.contains('?') => "&",
        _ => "?",
    };
    HeaderValue::from_str(&format!("{redirect_uri}{separator}{query}"))
        .map_err(|_| Refused::new("invalid_request", "redirect_uri is not a valid URL"))
}

/// `redirect_uri` must be an absolute `http` or `https` URL without a
/// fragment.
fn check_redirect_uri(redirect_uri: &str) -> Result<(), Refused> {
    let invalid = || {
        Refused::new(
            "invalid_request",
            format!("redirect_uri must be an absolute http or https URL: `{redirect_uri}`"),
        )
    };
    if redirect_uri.contains('#') {
        return Err(invalid());
    }
    let uri: Uri = redirect_uri.parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|host| !host.is_empty());
    if scheme_ok && host_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// `response_type=code` where the dialect takes one; Meta defaults to it.
fn check_response_type(dialect: Dialect, response_type: Option<&str>) -> Result<(), Refused> {
    match (dialect, response_type) {
        (Dialect::TikTok | Dialect::Shopify, _) | (_, Some("code")) | (Dialect::Meta, None) => Ok(()),
        (_, None) => Err(Refused::missing("response_type")),
        (_, Some(other)) => Err(Refused::new(
            "unsupported_response_type",
            format!("Unsupported response_type `{other}`: this client may only ask for `code`"),
        )),
    }
}

/// The PKCE challenge, if one was sent: S256 only, in RFC 7636's alphabet.
fn challenge(query: &Query) -> Result<Option<String>, Refused> {
    let method = query.get("code_challenge_method");
    let Some(challenge) = query.get("code_challenge") else {
        return match method {
            Some(_) => Err(Refused::missing("code_challenge")),
            None => Ok(None),
        };
    };
    if method != Some("S256") {
        return Err(Refused::new(
            "invalid_request",
            format!(
                "code_challenge_method must be S256, not `{}`",
                method.unwrap_or("plain")
            ),
        ));
    }
    let alphabet_ok = challenge
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !(43..=128).contains(&challenge.len()) || !alphabet_ok {
        return Err(Refused::new(
            "invalid_request",
            "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]",
        ));
    }
    Ok(Some(challenge.to_string()))
}

/// The scopes the code grants, as the dialect writes them.
fn scope(dialect: Dialect, scope: Option<&str>) -> Result<String, Refused> {
    match (dialect, scope) {
        (Dialect::Google | Dialect::LinkedIn | Dialect::GoHighLevel | Dialect::Shopify, None) => {
            Err(Refused::missing("scope"))
        }
        // Stripe grants `read_only` unless asked for `read_write`.
        (Dialect::Stripe, None) => Ok("read_only".into()),
        (Dialect::Stripe, Some(scope @ ("read_only" | "read_write"))) => Ok(scope.into()),
        (Dialect::Stripe, Some(other)) => Err(Refused::new(
            "invalid_scope",
            format!("Invalid scope `{other}`: use read_only or read_write"),
        )),
        // LinkedIn answers the granted scopes comma-separated.
        (Dialect::LinkedIn, Some(scope)) => Ok(scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",")),
        (_, scope) => Ok(scope.unwrap_or_default().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_absolute_http() {
        assert!(check_redirect_uri("https://app.example.com/oauth/callback").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8080/cb?x=1").is_ok());
        for bad in [
            "/oauth/callback",
            "ftp://example.com/cb",
            "https://example.com/cb#frag",
            "not a url",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn challenges_are_s256_in_the_rfc_alphabet() {
        let query = |pairs: &[(&str, &str)]| {
            Query(
                pairs
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            )
        };
        let good = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            challenge(&query(&[
                ("code_challenge", good),
                ("code_challenge_method", "S256")
            ])),
            Ok(Some(good.to_string()))
        );
        assert!(challenge(&query(&[("code_challenge", good)])).is_err());
        assert!(
            challenge(&query(&[
                ("code_challenge", good),
                ("code_challenge_method", "plain")
            ]))
            .is_err()
        );
        assert!(
            challenge(&query(&[
                ("code_challenge", "short"),
                ("code_challenge_method", "S256")
            ]))
            .is_err()
        );
        assert!(challenge(&query(&[("code_challenge_method", "S256")])).is_err());
        assert_eq!(challenge(&query(&[])), Ok(None));
    }

    #[test]
    fn linkedin_scopes_are_answered_comma_separated() {
        assert_eq!(
            scope(Dialect::LinkedIn, Some("r_ads r_ads_reporting")),
            Ok("r_ads,r_ads_reporting".to_string())
        );
        assert_eq!(scope(Dialect::Stripe, None), Ok("read_only".to_string()));
        assert!(scope(Dialect::Stripe, Some("admin")).is_err());
        assert!(scope(Dialect::Google, None).is_err());
        assert_eq!(scope(Dialect::Meta, None), Ok(String::new()));
    }
}
