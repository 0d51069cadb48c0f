//! The wire dialects: each platform's registered client, endpoint paths,
//! token lifetimes, whether refresh tokens rotate, and the formats of its
//! codes and tokens (random, with the platform's recognisable prefix).

use super::GOHIGHLEVEL_LOCATION_ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt;
use std::time::Duration;

/// Characters of URL-safe tokens.
const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Characters of alphanumeric tokens.
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Characters of hex tokens.
const HEX: &[u8] = b"0123456789abcdef";

/// A platform's OAuth wire dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Google OAuth 2.0 (`accounts.google.com`, `oauth2.googleapis.com`).
    Google,
    /// Facebook Login (`/dialog/oauth`, `/oauth/access_token`).
    Meta,
    /// TikTok for Business (`/portal/auth`, `oauth2/access_token/`).
    TikTok,
    /// Shopify's authorization-code grant for offline tokens.
    Shopify,
    /// Stripe Connect OAuth.
    Stripe,
    /// LinkedIn's 3-legged OAuth.
    LinkedIn,
    /// GoHighLevel's marketplace OAuth (API v2).
    GoHighLevel,
}

impl Dialect {
    /// The provider's name, as connectors' manifests and the host's OAuth
    /// clients name it.
    pub fn provider(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Meta => "meta",
            Self::TikTok => "tiktok",
            Self::Shopify => "shopify",
            Self::Stripe => "stripe",
            Self::LinkedIn => "linkedin",
            Self::GoHighLevel => "gohighlevel",
        }
    }
}

impl Dialect {
    /// The one registered client: its id and secret. Meta signs webhooks,
    /// and Shopify apps sign theirs, with the app's client secret; Stripe's
    /// client secret is the platform's secret key.
    pub(super) fn client(self) -> (&'static str, &'static str) {
        match self {
            Self::Google => (
                "1042-omnifysandbox.apps.googleusercontent.com",
                "GOCSPX-omnifySandboxClientSecret42",
            ),
            Self::Meta => ("1234567890123456", crate::meta::APP_SECRET),
            Self::TikTok => ("7301234567890123456", "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a"),
            Self::Shopify => ("a1b2c3d4e5f60718293a4b5c6d7e8f90", crate::shopify::WEBHOOK_SECRET),
            Self::Stripe => ("ca_OmnifySandboxPlatform0042", crate::stripe::API_KEY),
            Self::LinkedIn => ("86omnifysandbox", "WPL_AP1.omnifySandboxSecret.42=="),
            Self::GoHighLevel => (
                "66a0c0ffee1234567890abcd-lz0omnify",
                "9f8e7d6c-5b4a-3210-fedc-ba9876543210",
            ),
        }
    }

    /// The authorize endpoint's path; Meta's names the Graph API version.
    pub(super) fn authorize_path(self) -> &'static str {
        match self {
            Self::Google => "/o/oauth2/v2/auth",
            Self::Meta => "/v23.0/dialog/oauth",
            Self::TikTok => "/portal/auth",
            Self::Shopify => "/admin/oauth/authorize",
            Self::Stripe => "/oauth/authorize",
            Self::LinkedIn => "/oauth/v2/authorization",
            Self::GoHighLevel => "/oauth/chooselocation",
        }
    }

    /// The token endpoint's path.
    pub(super) fn token_path(self) -> &'static str {
        match self {
            Self::Google => "/token",
            Self::Meta => "/v23.0/oauth/access_token",
            Self::TikTok => "/open_api/v1.3/oauth2/access_token/",
            Self::Shopify => "/admin/oauth/access_token",
            Self::Stripe => "/oauth/token",
            Self::LinkedIn => "/oauth/v2/accessToken",
            Self::GoHighLevel => "/oauth/token",
        }
    }

    /// The route patterns of the two endpoints: Meta serves every Graph
    /// API version.
    pub(super) fn route_patterns(self) -> (&'static str, &'static str) {
        match self {
            Self::Meta => ("/{version}/dialog/oauth", "/{version}/oauth/access_token"),
            other => (other.authorize_path(), other.token_path()),
        }
    }

    /// How long an access token lives: `None` for tokens that do not expire
    /// (TikTok, Shopify offline tokens, Stripe). Meta's is the short-lived
    /// token's; the long-lived one lives `meta::LONG_LIVED`.
    pub(super) fn access_ttl(self) -> Option<Duration> {
        match self {
            Self::Google => Some(Duration::from_secs(3599)),
            Self::Meta => Some(Duration::from_secs(5400)),
            Self::LinkedIn => Some(Duration::from_secs(5_184_000)),
            Self::GoHighLevel => Some(Duration::from_secs(86_399)),
            Self::TikTok | Self::Shopify | Self::Stripe => None,
        }
    }

    /// Whether every refresh answers a new refresh token.
    pub(super) fn rotates(self) -> bool {
        matches!(self, Self::LinkedIn | Self::GoHighLevel)
    }

    /// A fresh access token, in the platform's recognisable format.
    pub(super) fn access_token(self) -> String {
        match self {
            Self::Google => format!("ya29.a0{}", random(URL_SAFE, 120)),
            Self::Meta => format!("EAA{}", random(ALPHANUMERIC, 180)),
            Self::TikTok => random(HEX, 40),
            Self::Shopify => format!("shpat_{}", random(HEX, 32)),
            Self::Stripe => format!("sk_test_{}", random(ALPHANUMERIC, 99)),
            Self::LinkedIn => format!("AQV{}", random(URL_SAFE, 160)),
            Self::GoHighLevel => jwt_like(self.client().0),
        }
    }

    /// A fresh refresh token.
    pub(super) fn refresh_token(self) -> String {
        match self {
            Self::Google => format!("1//0{}", random(URL_SAFE, 100)),
            Self::Stripe => format!("rt_{}", random(ALPHANUMERIC, 60)),
            Self::LinkedIn => format!("AQW{}", random(URL_SAFE, 160)),
            Self::GoHighLevel => jwt_like(self.client().0),
            // Meta, TikTok and Shopify issue no refresh tokens: only the
            // standard dialects ask for one.
            Self::Meta | Self::TikTok | Self::Shopify => random(URL_SAFE, 64),
        }
    }

    /// A fresh authorization code.
    pub(super) fn code(self) -> String {
        match self {
            Self::Google => format!("4/0A{}", random(URL_SAFE, 70)),
            Self::Meta => format!("AQ{}", random(URL_SAFE, 200)),
            Self::Stripe => format!("ac_{}", random(ALPHANUMERIC, 32)),
            Self::LinkedIn => format!("AQT{}", random(URL_SAFE, 120)),
            Self::TikTok | Self::GoHighLevel => random(HEX, 40),
            Self::Shopify => random(HEX, 32),
        }
    }
}

/// `len` characters drawn from `charset`.
fn random(charset: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(charset[rng.random_range(0..charset.len())]))
        .collect()
}

/// A token shaped like GoHighLevel's: a JWT (`eyJ...`) naming the location
/// and the client, with a random id and a random signature.
fn jwt_like(client_id: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "authClass": "Location",
        "authClassId": GOHIGHLEVEL_LOCATION_ID,
        "sourceId": client_id,
        "channel": "OAUTH",
        "jti": random(HEX, 24),
        "iat": chrono::Utc::now().timestamp(),
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.{}", random(URL_SAFE, 43))
}
