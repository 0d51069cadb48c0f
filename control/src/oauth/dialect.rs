//! What differs between the platforms' OAuth servers: the parameters of the
//! authorization URL, how the code and refresh tokens are exchanged, and how
//! the answers are read. Each provider a connector names is one of these
//! dialects; an unknown provider speaks plain RFC 6749 with PKCE.

use omnify_registry::ClientAuth;
use serde_json::{Value, json};
use url::Url;

/// A provider's wire dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// RFC 6749 with PKCE (LinkedIn, and any provider not listed).
    Standard,
    /// Google: offline access and `prompt=consent`, or no refresh token.
    Google,
    /// Meta: the code gives a short-lived token, exchanged at once for a
    /// long-lived one; no refresh tokens.
    Meta,
    /// TikTok for Business: its own parameter names, a JSON envelope, and
    /// tokens that do not expire.
    TikTok,
    /// Shopify: per-shop endpoints and HMAC-signed callback parameters.
    Shopify,
    /// Stripe Connect: the platform's secret key is the client secret.
    Stripe,
    /// GoHighLevel: location-scoped tokens (`user_type=Location`).
    GoHighLevel,
}

/// The well-known endpoints of a provider: (authorization, token). Shopify's
/// hold `{shop}`, the shop's own domain.
pub(crate) fn known_endpoints(provider: &str) -> Option<(&'static str, &'static str)> {
    Some(match provider {
        "google" => (
            "https://accounts.google.com/o/oauth2/v2/auth",
            "https://oauth2.googleapis.com/token",
        ),
        "meta" => (
            "https://www.facebook.com/v21.0/dialog/oauth",
            "https://graph.facebook.com/v21.0/oauth/access_token",
        ),
        "tiktok" => (
            "https://business-api.tiktok.com/portal/auth",
            "https://business-api.tiktok.com/open_api/v1.3/oauth2/access_token/",
        ),
        "shopify" => (
            "https://{shop}/admin/oauth/authorize",
            "https://{shop}/admin/oauth/access_token",
        ),
        "stripe" => (
            "https://connect.stripe.com/oauth/authorize",
            "https://connect.stripe.com/oauth/token",
        ),
        "linkedin" => (
            "https://www.linkedin.com/oauth/v2/authorization",
            "https://www.linkedin.com/oauth/v2/accessToken",
        ),
        "gohighlevel" => (
            "https://marketplace.gohighlevel.com/oauth/chooselocation",
            "https://services.leadconnectorhq.com/oauth/token",
        ),
        _ => return None,
    })
}

/// The client of one provider, as the host is configured with it.
#[derive(Debug, Clone)]
pub(crate) struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub authorize_url: &'a str,
    pub token_url: &'a str,
    pub auth: ClientAuth,
}

/// What a sign-in asks for.
#[derive(Debug, Clone)]
pub(crate) struct Authorization<'a> {
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub state: &'a str,
    /// The PKCE challenge (S256), for dialects that take one.
    pub challenge: &'a str,
    /// The shop, for Shopify.
    pub shop: Option<&'a str>,
}

/// A request to a token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TokenRequest {
    /// `GET` with the parameters in the query, or `POST`.
    pub get: bool,
    pub url: String,
    /// Form parameters (a `POST` body, or the query of a `GET`).
    pub form: Vec<(&'static str, String)>,
    /// A JSON body instead of a form.
    pub json: Option<Value>,
    /// HTTP Basic credentials.
    pub basic: Option<(String, String)>,
}

/// What a token endpoint granted.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Seconds the access token lives; `None`: until revoked.
    pub expires_in: Option<u64>,
    pub scopes: Vec<String>,
    /// The account the token is for, when the answer names it (a
    /// GoHighLevel location, a Stripe account, TikTok advertisers).
    pub account: Option<String>,
}

/// Why a token endpoint's answer gave no tokens.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum TokenError {
    /// The platform refused the grant (`invalid_grant`, a used code, a
    /// revoked app): the tenant has to sign in again.
    #[error("the platform refused: {0}")]
    Refused(String),
    /// The platform could not be reached or answered nonsense: worth
    /// trying again later.
    #[error("the platform's token endpoint failed: {0}")]
    Unavailable(String),
}

impl Dialect {
    /// The dialect of `provider`.
    pub(crate) fn of(provider: &str) -> Self {
        match provider {
            "google" => Self::Google,
            "meta" => Self::Meta,
            "tiktok" => Self::TikTok,
            "shopify" => Self::Shopify,
            "stripe" => Self::Stripe,
            "gohighlevel" => Self::GoHighLevel,
            _ => Self::Standard,
        }
    }

    /// Whether the authorization request carries a PKCE challenge.
    fn uses_pkce(self) -> bool {
        matches!(
            self,
            Self::Standard | Self::Google | Self::Meta | Self::GoHighLevel
        )
    }

    /// Whether the dialect signs in per shop.
    pub(crate) fn per_shop(self) -> bool {
        self == Self::Shopify
    }

    /// Where to send the tenant to sign in.
    pub(crate) fn authorization_url(
        self,
        client: &Client<'_>,
        sign_in: &Authorization<'_>,
    ) -> Result<String, String> {
        let mut url = endpoint(client.authorize_url, sign_in.shop)?;
        {
            let mut query = url.query_pairs_mut();
            let separator = if matches!(self, Self::Meta | Self::Shopify) {
                ","
            } else {
                " "
            };
            match self {
                Self::TikTok => {
                    query.append_pair("app_id", client.id);
                }
                _ => {
                    query.append_pair("client_id", client.id);
                    query.append_pair("scope", &sign_in.scopes.join(separator));
                }
            }
            if !matches!(self, Self::TikTok | Self::Shopify) {
                query.append_pair("response_type", "code");
            }
            query.append_pair("redirect_uri", sign_in.redirect_uri);
            query.append_pair("state", sign_in.state);
            if self.uses_pkce() {
                query.append_pair("code_challenge", sign_in.challenge);
                query.append_pair("code_challenge_method", "S256");
            }
            if self == Self::Google {
                // Without both, Google gives a refresh token only at the
                // first consent, and a reconnect would get none.
                query.append_pair("access_type", "offline");
                query.append_pair("prompt", "consent");
                query.append_pair("include_granted_scopes", "true");
            }
            if let (Self::Shopify, Some(shop)) = (self, sign_in.shop) {
                query.append_pair("shop", shop);
            }
        }
        Ok(url.into())
    }

    /// The request that exchanges an authorization code.
    pub(crate) fn code_request(
        self,
        client: &Client<'_>,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        shop: Option<&str>,
    ) -> Result<TokenRequest, String> {
        let url = endpoint(client.token_url, shop)?.to_string();
        let mut request = match self {
            Self::TikTok => TokenRequest::json(
                url,
                json!({"app_id": client.id, "secret": client.secret, "auth_code": code}),
            ),
            Self::Shopify => TokenRequest::json(
                url,
                json!({"client_id": client.id, "client_secret": client.secret, "code": code}),
            ),
            Self::Meta => TokenRequest {
                get: true,
                form: vec![
                    ("client_id", client.id.into()),
                    ("client_secret", client.secret.into()),
                    ("redirect_uri", redirect_uri.into()),
                    ("code", code.into()),
                    ("code_verifier", verifier.into()),
                ],
                ..TokenRequest::form(url)
            },
            _ => {
                let mut request = TokenRequest::form(url);
                request.form.extend([
                    ("grant_type", "authorization_code".into()),
                    ("code", code.into()),
                    ("redirect_uri", redirect_uri.into()),
                ]);
                if self.uses_pkce() {
                    request.form.push(("code_verifier", verifier.into()));
                }
                self.authenticate(&mut request, client);
                request
            }
        };
        if self == Self::GoHighLevel {
            request.form.push(("user_type", "Location".into()));
        }
        Ok(request)
    }

    /// The request that follows a successful code exchange, if the dialect
    /// has one: Meta's exchange of the short-lived token for a long-lived one.
    pub(crate) fn follow_up(self, client: &Client<'_>, tokens: &Tokens) -> Option<TokenRequest> {
        (self == Self::Meta).then(|| TokenRequest {
            get: true,
            form: vec![
                ("grant_type", "fb_exchange_token".into()),
                ("client_id", client.id.into()),
                ("client_secret", client.secret.into()),
                ("fb_exchange_token", tokens.access_token.clone()),
            ],
            ..TokenRequest::form(client.token_url.to_string())
        })
    }

    /// The request that spends `refresh_token`, or `None` when the dialect
    /// has no refresh (its tokens live until revoked, or until the tenant
    /// signs in again).
    pub(crate) fn refresh_request(self, client: &Client<'_>, refresh_token: &str) -> Option<TokenRequest> {
        if matches!(self, Self::Meta | Self::TikTok | Self::Shopify) {
            return None;
        }
        let mut request = TokenRequest::form(client.token_url.to_string());
        request.form.extend([
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh_token.into()),
        ]);
        self.authenticate(&mut request, client);
        if self == Self::GoHighLevel {
            request.form.push(("user_type", "Location".into()));
        }
        Some(request)
    }

    /// Add the client's credentials the way the connector declared (Stripe
    /// always takes its secret key in the body).
    fn authenticate(self, request: &mut TokenRequest, client: &Client<'_>) {
        match (self, client.auth) {
            (Self::Stripe, _) => request.form.push(("client_secret", client.secret.into())),
            (_, ClientAuth::Basic) => request.basic = Some((client.id.into(), client.secret.into())),
            (_, ClientAuth::Body) => request.form.extend([
                ("client_id", client.id.into()),
                ("client_secret", client.secret.into()),
            ]),
        }
    }

    /// Read a token endpoint's answer.
    pub(crate) fn parse(self, status: u16, body: &[u8]) -> Result<Tokens, TokenError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| TokenError::Unavailable(format!("HTTP {status} with a body that is not JSON")))?;
        if self == Self::TikTok {
            return parse_tiktok(status, &value);
        }
        if !(200..300).contains(&status) {
            return Err(refusal(status, &value));
        }
        let text = |field: &str| {
            value[field]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let access_token = text("access_token")
            .ok_or_else(|| TokenError::Unavailable("the answer holds no access_token".into()))?;
        let separator = if matches!(self, Self::Meta | Self::Shopify) {
            ','
        } else {
            ' '
        };
        Ok(Tokens {
            access_token,
            refresh_token: text("refresh_token"),
            expires_in: value["expires_in"].as_u64(),
            scopes: text("scope")
                .map(|s| {
                    s.split(separator)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            account: text("locationId").or_else(|| text("stripe_user_id")),
        })
    }
}

impl TokenRequest {
    fn form(url: String) -> Self {
        Self {
            get: false,
            url,
            form: Vec::new(),
            json: None,
            basic: None,
        }
    }

    fn json(url: String, body: Value) -> Self {
        Self {
            json: Some(body),
            ..Self::form(url)
        }
    }
}

/// An endpoint with `{shop}` filled in.
fn endpoint(template: &str, shop: Option<&str>) -> Result<Url, String> {
    let text = match shop {
        Some(shop) => template.replace("{shop}", shop),
        None if template.contains("{shop}") => return Err(format!("`{template}` needs a shop")),
        None => template.to_string(),
    };
    Url::parse(&text).map_err(|e| format!("`{text}` is not a URL: {e}"))
}

/// An RFC 6749 §5.2 error (or Meta's Graph error) as a [`TokenError`]:
/// a 4xx is the platform's refusal, anything else a failure to retry.
fn refusal(status: u16, value: &Value) -> TokenError {
    let error = &value["error"];
    let message = match error {
        Value::String(code) => match value["error_description"].as_str() {
            Some(description) => format!("{code}: {description}"),
            None => code.clone(),
        },
        Value::Object(graph) => graph
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("refused")
            .to_string(),
        _ => format!("HTTP {status}"),
    };
    if (400..500).contains(&status) && status != 429 {
        TokenError::Refused(message)
    } else {
        TokenError::Unavailable(format!("HTTP {status}: {message}"))
    }
}

/// TikTok answers HTTP 200 with `code` 0 and the tokens in `data`, or a
/// non-zero `code` and a message.
fn parse_tiktok(status: u16, value: &Value) -> Result<Tokens, TokenError> {
    if !(200..300).contains(&status) {
        return Err(TokenError::Unavailable(format!("HTTP {status}")));
    }
    match value["code"].as_i64() {
        Some(0) => {}
        Some(code) => {
            let message = value["message"].as_str().unwrap_or("refused");
            return Err(TokenError::Refused(format!("{code}: {message}")));
        }
        None => return Err(TokenError::Unavailable("the answer holds no code".into())),
    }
    let data = &value["data"];
    let access_token = data["access_token"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TokenError::Unavailable("the answer holds no access_token".into()))?;
    let list = |field: &str| -> Vec<String> {
        data[field]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let advertisers = list("advertiser_ids");
    Ok(Tokens {
        access_token: access_token.to_string(),
        refresh_token: None,
        expires_in: None,
        scopes: list("scope"),
        account: (!advertisers.is_empty()).then(|| advertisers.join(",")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(authorize_url: &'static str, token_url: &'static str, auth: ClientAuth) -> Client<'static> {
        Client {
            id: "client-1",
            secret: "s3cret",
            authorize_url,
            token_url,
            auth,
        }
    }

    fn sign_in<'a>(scopes: &'a [String], shop: Option<&'a str>) -> Authorization<'a> {
        Authorization {
            redirect_uri: "https://omnify.example/v1/oauth/callback",
            scopes,
            state: "st",
            challenge: "ch",
            shop,
        }
    }

    fn query(url: &str) -> Vec<(String, String)> {
        Url::parse(url).expect("url").query_pairs().into_owned().collect()
    }

    fn has(pairs: &[(String, String)], key: &str, value: &str) -> bool {
        pairs.iter().any(|(k, v)| k == key && v == value)
    }

    #[test]
    fn google_asks_for_offline_access_with_pkce() {
        let scopes = vec!["https://www.googleapis.com/auth/adwords".to_string()];
        let (authorize, token) = known_endpoints("google").expect("known");
        let google = client(authorize, token, ClientAuth::Basic);
        let url = Dialect::Google
            .authorization_url(&google, &sign_in(&scopes, None))
            .expect("url");
        let pairs = query(&url);
        for (key, value) in [
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("code_challenge", "ch"),
            ("code_challenge_method", "S256"),
            ("response_type", "code"),
            ("state", "st"),
            ("scope", "https://www.googleapis.com/auth/adwords"),
        ] {
            assert!(has(&pairs, key, value), "{key} in {url}");
        }
        let request = Dialect::Google
            .code_request(&google, "c0de", "https://r", "v3r", None)
            .expect("request");
        assert_eq!(request.basic, Some(("client-1".into(), "s3cret".into())));
        assert!(request.form.contains(&("code_verifier", "v3r".into())));
        assert!(!request.form.iter().any(|(k, _)| *k == "client_secret"));
    }

    #[test]
    fn shopify_signs_in_per_shop_and_tiktok_with_its_own_names() {
        let scopes = vec!["read_orders".to_string(), "read_products".to_string()];
        let (authorize, token) = known_endpoints("shopify").expect("known");
        let shopify = client(authorize, token, ClientAuth::Body);
        let url = Dialect::Shopify
            .authorization_url(&shopify, &sign_in(&scopes, Some("acme.myshopify.com")))
            .expect("url");
        assert!(
            url.starts_with("https://acme.myshopify.com/admin/oauth/authorize?"),
            "{url}"
        );
        assert!(has(&query(&url), "scope", "read_orders,read_products"));
        assert!(
            Dialect::Shopify
                .authorization_url(&shopify, &sign_in(&scopes, None))
                .is_err()
        );
        let request = Dialect::Shopify
            .code_request(&shopify, "c", "r", "v", Some("acme.myshopify.com"))
            .expect("request");
        assert_eq!(request.url, "https://acme.myshopify.com/admin/oauth/access_token");

        let (authorize, token) = known_endpoints("tiktok").expect("known");
        let tiktok = client(authorize, token, ClientAuth::Body);
        let pairs = query(
            &Dialect::TikTok
                .authorization_url(&tiktok, &sign_in(&scopes, None))
                .expect("url"),
        );
        assert!(has(&pairs, "app_id", "client-1"));
        assert!(
            !pairs
                .iter()
                .any(|(k, _)| k == "client_id" || k == "code_challenge")
        );
        let request = Dialect::TikTok
            .code_request(&tiktok, "c", "r", "v", None)
            .expect("request");
        assert_eq!(
            request.json,
            Some(json!({"app_id": "client-1", "secret": "s3cret", "auth_code": "c"}))
        );
        assert_eq!(Dialect::TikTok.refresh_request(&tiktok, "r"), None);
    }

    #[test]
    fn answers_are_read_and_refusals_told_from_failures() {
        let ok = br#"{"access_token":"a","refresh_token":"r","expires_in":3599,"scope":"x y","token_type":"Bearer"}"#;
        let tokens = Dialect::Standard.parse(200, ok).expect("tokens");
        assert_eq!(tokens.refresh_token.as_deref(), Some("r"));
        assert_eq!(tokens.expires_in, Some(3599));
        assert_eq!(tokens.scopes, ["x", "y"]);
        let refused = br#"{"error":"invalid_grant","error_description":"Token has been revoked."}"#;
        assert_eq!(
            Dialect::Standard.parse(400, refused),
            Err(TokenError::Refused(
                "invalid_grant: Token has been revoked.".into()
            ))
        );
        assert!(matches!(
            Dialect::Standard.parse(503, refused),
            Err(TokenError::Unavailable(_))
        ));
        assert!(matches!(
            Dialect::Standard.parse(200, b"<html>"),
            Err(TokenError::Unavailable(_))
        ));
        assert!(matches!(
            Dialect::Standard.parse(200, br#"{"token_type":"Bearer"}"#),
            Err(TokenError::Unavailable(_))
        ));
        let graph = br#"{"error":{"message":"This authorization code has been used.","type":"OAuthException","code":100}}"#;
        assert_eq!(
            Dialect::Meta.parse(400, graph),
            Err(TokenError::Refused(
                "This authorization code has been used.".into()
            ))
        );
        let tiktok = br#"{"code":0,"message":"OK","data":{"access_token":"t","advertiser_ids":["7001",7002],"scope":[4,5]}}"#;
        let tokens = Dialect::TikTok.parse(200, tiktok).expect("tokens");
        assert_eq!(tokens.account.as_deref(), Some("7001,7002"));
        assert_eq!(tokens.expires_in, None);
        assert!(matches!(
            Dialect::TikTok.parse(200, br#"{"code":40002,"message":"auth_code is invalid"}"#),
            Err(TokenError::Refused(_))
        ));
    }
}
