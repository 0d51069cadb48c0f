//! The authorization servers end to end: each test builds a platform's
//! router with its issuer merged in (as [`server::app`] serves it), runs the
//! flow through it, and calls the platform's API with the token issued. The
//! issuer's own rules (codes, rotation, expiry) are tested here directly.

mod google;
mod meta;
mod rotation;
mod shopify;
mod stripe;
mod tiktok;

use super::*;
use crate::server::{self, Platform};
use crate::world::Scenario;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request};
use serde_json::Value;
use tower::ServiceExt;

/// The host's callback in every test.
const REDIRECT: &str = "https://app.omnify.test/oauth/callback";
/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// A verifier that is not [`VERIFIER`].
const WRONG_VERIFIER: &str = "wrong-verifier-wrong-verifier-wrong-verifier-0";

/// A platform's router, with the platform state behind it.
struct Site {
    platform: Arc<Platform>,
    app: Router,
}

/// An answer, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }
}

impl Site {
    /// The platform `routes` (none for LinkedIn and GoHighLevel, whose APIs
    /// other modules serve) with the `dialect`'s authorization server.
    fn new(dialect: Dialect, routes: fn(Arc<Platform>) -> Router) -> Self {
        let last_day = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).expect("a date");
        let world = Arc::new(Mutex::new(World::generate(42, Scenario::Planted, last_day)));
        let platform = Arc::new(Platform::new(world, dialect));
        let app = server::app(&platform, routes);
        Self { platform, app }
    }

    fn oauth(&self) -> &Arc<Issuer> {
        self.platform.oauth()
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn request(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: Body) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(body).expect("a valid request")).await
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", uri, headers, Body::empty()).await
    }

    async fn post_form(&self, uri: &str, headers: &[(&str, &str)], form: &[(&str, &str)]) -> Reply {
        let mut headers = headers.to_vec();
        headers.push(("content-type", "application/x-www-form-urlencoded"));
        self.request("POST", uri, &headers, Body::from(encode(form)))
            .await
    }

    async fn post_json(&self, uri: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let mut headers = headers.to_vec();
        headers.push(("content-type", "application/json"));
        self.request("POST", uri, &headers, Body::from(body.to_string()))
            .await
    }

    /// `GET {authorize_path}?{query}`.
    async fn authorize(&self, query: &[(&str, &str)]) -> Reply {
        self.get(&with_query(self.oauth().authorize_path(), query), &[])
            .await
    }

    /// An authorize request that must be approved: the redirect's query.
    async fn approve(&self, query: &[(&str, &str)]) -> Vec<(String, String)> {
        let reply = self.authorize(query).await;
        assert_eq!(
            reply.status,
            StatusCode::FOUND,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let location = reply.location().expect("a Location");
        let (target, query) = location.split_once('?').expect("a query");
        assert_eq!(target, REDIRECT);
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    /// An authorize request that must be refused: 400 and no redirect.
    async fn refuse(&self, query: &[(&str, &str)]) -> Value {
        let reply = self.authorize(query).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query:?}");
        assert!(reply.location().is_none(), "{query:?}");
        reply.json()
    }
}

/// `pairs` form-encoded.
fn encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    format!("{path}?{}", encode(pairs))
}

/// The value of `name` in a redirect's query.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no `{name}` in {pairs:?}"))
}

/// An `Authorization: Basic` value.
fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A string member of a JSON answer.
fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no `{name}` in {body}"))
}

fn grant(issuer: &Issuer, challenge: Option<&str>) -> Grant {
    Grant {
        client_id: issuer.client_id().to_string(),
        redirect_uri: REDIRECT.to_string(),
        challenge: challenge.map(str::to_string),
        scope: "read".into(),
        offline: false,
    }
}

#[test]
fn the_s256_challenge_is_rfc_7636s() {
    assert_eq!(pkce_challenge(VERIFIER), CHALLENGE);
}

#[test]
fn codes_are_single_use_bound_and_short_lived() {
    let issuer = Issuer::new(Dialect::Google);
    let now = Instant::now();
    let code = issuer.issue_code(grant(&issuer, Some(CHALLENGE)));
    let redeem =
        |code: &str, verifier, at| issuer.redeem(code, issuer.client_id(), Some(REDIRECT), verifier, at);
    assert_eq!(
        redeem(&code, Some(VERIFIER), now + CODE_TTL + Duration::from_secs(1)),
        Err(CodeError::Expired)
    );
    assert_eq!(redeem(&code, Some(VERIFIER), now), Err(CodeError::Used));
    assert_eq!(redeem("4/0Anever", Some(VERIFIER), now), Err(CodeError::Unknown));
    let code = issuer.issue_code(grant(&issuer, Some(CHALLENGE)));
    assert_eq!(redeem(&code, None, now), Err(CodeError::MissingVerifier));
    let code = issuer.issue_code(grant(&issuer, None));
    assert_eq!(
        issuer.redeem(&code, "someone-else", Some(REDIRECT), None, now),
        Err(CodeError::ClientMismatch)
    );
    let code = issuer.issue_code(grant(&issuer, None));
    assert_eq!(
        issuer.redeem(&code, issuer.client_id(), Some("https://evil.test/cb"), None, now),
        Err(CodeError::RedirectMismatch)
    );
    let code = issuer.issue_code(grant(&issuer, Some(CHALLENGE)));
    assert!(redeem(&code, Some(VERIFIER), Instant::now()).is_ok());
}

#[test]
fn rotation_allows_one_grace_use_of_a_replaced_token() {
    let issuer = Issuer::new(Dialect::LinkedIn);
    let first = issuer.issue_refresh("r_ads");
    let second = issuer.refresh(&first).expect("current").rotated.expect("rotated");
    let third = issuer.refresh(&first).expect("grace").rotated.expect("rotated");
    assert_eq!(issuer.refresh(&first).err(), Some(RefreshError::Spent));
    assert_ne!(second, third);
    assert!(issuer.refresh(&second).is_ok());
    assert!(issuer.refresh(&third).is_ok());
    assert_eq!(issuer.refresh("AQWnever").err(), Some(RefreshError::Unknown));
    assert_eq!(issuer.refreshes(), 4);
    issuer.refuse_refresh(true);
    assert_eq!(issuer.refresh(&third).err(), Some(RefreshError::Revoked));
    assert_eq!(issuer.refreshes(), 4);
}

#[test]
fn google_and_stripe_keep_their_refresh_token() {
    for dialect in [Dialect::Google, Dialect::Stripe] {
        let issuer = Issuer::new(dialect);
        let token = issuer.issue_refresh("read");
        for _ in 0..3 {
            let refreshed = issuer.refresh(&token).expect("not rotated");
            assert_eq!(refreshed.rotated, None);
            assert_eq!(issuer.check(&refreshed.access.token), TokenCheck::Live);
        }
    }
}

#[test]
fn tokens_are_distinct_and_recognisable() {
    let cases = [
        (Dialect::Google, "ya29."),
        (Dialect::Meta, "EAA"),
        (Dialect::Shopify, "shpat_"),
        (Dialect::Stripe, "sk_test_"),
        (Dialect::LinkedIn, "AQV"),
        (Dialect::GoHighLevel, "eyJ"),
    ];
    for (dialect, prefix) in cases {
        let (a, b) = (dialect.access_token(), dialect.access_token());
        assert!(a.starts_with(prefix), "{a}");
        assert_ne!(a, b);
    }
    let tiktok = Dialect::TikTok.access_token();
    assert_eq!(tiktok.len(), 40);
    assert!(tiktok.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(Dialect::GoHighLevel.access_token().split('.').count(), 3);
}

#[test]
fn access_tokens_expire_by_ttl_or_on_demand() {
    let issuer = Issuer::new(Dialect::TikTok);
    let forever = issuer.issue_access(Dialect::TikTok.access_ttl());
    assert_eq!(forever.ttl, None);
    issuer.set_access_token_ttl(Duration::ZERO);
    let short = issuer.issue_access(Dialect::TikTok.access_ttl());
    assert_eq!(issuer.check(&forever.token), TokenCheck::Live);
    assert_eq!(issuer.check(&short.token), TokenCheck::Expired);
    assert_eq!(issuer.check("never-issued"), TokenCheck::Unknown);
    issuer.expire_access_tokens();
    assert_eq!(issuer.check(&forever.token), TokenCheck::Expired);
    assert_eq!(issuer.check_or_fixed("fixed", "fixed"), TokenCheck::Live);
    assert_eq!(issuer.issued_access_tokens(), [forever.token, short.token]);
}
