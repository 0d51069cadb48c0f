//! OAuth 2.0 authorization servers, one per platform server: the platform's
//! authorize endpoint (the sandbox plays the signed-in user who clicks
//! "Allow") and its token endpoint, in the platform's own wire dialect.
//!
//! An [`Issuer`] issues single-use authorization codes (60 s, bound to the
//! client, the `redirect_uri` and the PKCE challenge), access tokens that
//! expire like the platform's, and refresh tokens where the platform has
//! them: Google and Stripe keep one, LinkedIn and GoHighLevel rotate it on
//! every refresh, with one grace use of the replaced token. The platform's
//! API accepts a live issued token beside its fixed one
//! ([`Issuer::check_or_fixed`]) and refuses an expired one with the
//! platform's own expired-token error. Everything the token endpoint
//! received is recorded for tests ([`Issuer::token_requests`]).
//!
//! The wire dialects: `standard` (Google, LinkedIn, GoHighLevel, Stripe:
//! form-encoded RFC 6749 token requests), `meta`, `tiktok` and `shopify`;
//! the authorize endpoint they share is in `authorize`.

mod authorize;
mod dialect;
mod meta;
mod shopify;
mod standard;
#[cfg(test)]
mod tests;
mod tiktok;

pub use dialect::Dialect;
pub(crate) use meta::expired_message as meta_expired_message;
pub use shopify::shopify_hmac;
pub use standard::{gohighlevel_expired_token, linkedin_expired_token};

use crate::world::{self, World};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an authorization code may be exchanged.
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// The GoHighLevel location the signed-in user chooses (the GoHighLevel
/// world may name its own).
pub const GOHIGHLEVEL_LOCATION_ID: &str = "ve9EPM428h8vShlRW1KT";

/// What [`Issuer::check`] found a token to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// Issued here and not expired.
    Live,
    /// Issued here, and expired.
    Expired,
    /// Never issued here.
    Unknown,
}

/// How a client authenticated at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic`.
    Basic,
    /// `client_secret` in a form body.
    Body,
    /// `client_secret` in the query string (Meta).
    Query,
    /// The secret in a JSON body (TikTok, Shopify).
    Json,
    /// No client credentials at all.
    None,
}

/// One request the token endpoint received, for tests to assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The grant asked for: the `grant_type` sent, or the one the dialect
    /// implies (a Meta, TikTok or Shopify code exchange is
    /// `authorization_code`); empty when neither tells.
    pub grant_type: String,
    /// How the client authenticated.
    pub client_auth: ClientAuth,
    /// The names of the parameters sent (body, query or JSON), in order.
    pub params: Vec<String>,
    /// The refresh token presented, if any.
    pub refresh_token: Option<String>,
    /// The answer's HTTP status (TikTok answers errors with 200).
    pub status: u16,
    /// The answer's error: `invalid_grant`, a Meta or TikTok code, ...
    pub error: Option<String>,
}

/// The query of one authorize request, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// The query's parameters, in order.
    pub params: Vec<(String, String)>,
}

impl AuthorizeRequest {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What an authorization code grants, fixed at the authorize request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    /// The S256 PKCE challenge, when one was sent.
    challenge: Option<String>,
    /// The scopes, as the dialect writes them.
    scope: String,
    /// Google: `access_type=offline` and `prompt=consent`, so the exchange
    /// answers a refresh token.
    offline: bool,
}

#[derive(Debug)]
struct Code {
    grant: Grant,
    issued: Instant,
    used: bool,
}

#[derive(Debug)]
struct Access {
    expires: Option<Instant>,
    expired: bool,
}

/// Where a refresh token is in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotation {
    /// The newest of its chain.
    Current,
    /// Replaced, but accepted once more (a host killed before it saved the
    /// replacement retries with it).
    Grace,
    /// Replaced and its grace use spent.
    Spent,
}

#[derive(Debug)]
struct Refresh {
    rotation: Rotation,
    scope: String,
    /// When the chain's first token was issued (LinkedIn counts a refresh
    /// token's life from there).
    born: Instant,
}

/// Why a code exchange was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CodeError {
    #[error("the authorization code was not issued by this server")]
    Unknown,
    #[error("the authorization code was already used")]
    Used,
    #[error("the authorization code expired")]
    Expired,
    #[error("the client is not the one the code was issued to")]
    ClientMismatch,
    #[error("redirect_uri differs from the authorization request's")]
    RedirectMismatch,
    #[error("code_verifier is missing, and the authorization request sent a code_challenge")]
    MissingVerifier,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
}

/// Why a refresh was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RefreshError {
    #[error("the user revoked the app")]
    Revoked,
    #[error("the refresh token was not issued by this server")]
    Unknown,
    #[error("the refresh token was replaced and its one grace use is spent")]
    Spent,
}

/// An access token just issued, and how long it lives.
#[derive(Debug)]
struct Issued {
    token: String,
    ttl: Option<Duration>,
}

impl Issued {
    /// `expires_in`, in seconds; `0` for a token that does not expire.
    fn expires_in(&self) -> u64 {
        self.ttl.map_or(0, |ttl| ttl.as_secs())
    }
}

/// What a refresh issued.
#[derive(Debug)]
struct Refreshed {
    access: Issued,
    /// The replacement refresh token, for dialects that rotate.
    rotated: Option<String>,
    scope: String,
    born: Instant,
}

#[derive(Debug, Default)]
struct State {
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    ttl: Option<Duration>,
    refuse_refresh: bool,
    refreshes: u32,
    token_requests: Vec<TokenRequest>,
    authorizations: Vec<AuthorizeRequest>,
    issued_access: Vec<String>,
    issued_refresh: Vec<String>,
}

/// One platform's authorization server: its codes, tokens and logs.
#[derive(Debug)]
pub struct Issuer {
    dialect: Dialect,
    /// The account the signed-in user grants (TikTok's advertiser id).
    account: Option<String>,
    state: Mutex<State>,
}

impl Issuer {
    /// An authorization server speaking `dialect`, with no account to grant.
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            account: None,
            state: Mutex::default(),
        }
    }

    /// An authorization server for `world`: TikTok's grants the world's
    /// advertiser, GoHighLevel's its location.
    pub fn for_world(dialect: Dialect, world: &World) -> Self {
        let account = match dialect {
            Dialect::TikTok => Some(world.account(world::Platform::Tiktok).account_id.clone()),
            Dialect::GoHighLevel => Some(GOHIGHLEVEL_LOCATION_ID.to_string()),
            _ => None,
        };
        Self {
            account,
            ..Self::new(dialect)
        }
    }

    /// The authorize and token routes of the dialect (state `Arc<Issuer>`).
    pub fn routes(self: &Arc<Self>) -> Router {
        let (authorize_route, token_route) = self.dialect.route_patterns();
        let token = match self.dialect {
            Dialect::Meta => get(meta::access_token),
            Dialect::TikTok => post(tiktok::access_token),
            Dialect::Shopify => post(shopify::access_token),
            Dialect::Google | Dialect::Stripe | Dialect::LinkedIn | Dialect::GoHighLevel => {
                post(standard::token)
            }
        };
        Router::new()
            .route(authorize_route, get(authorize::authorize))
            .route(token_route, token)
            .with_state(self.clone())
    }

    /// The dialect spoken.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The registered client's id (TikTok's `app_id`).
    pub fn client_id(&self) -> &str {
        self.dialect.client().0
    }

    /// The registered client's secret.
    pub fn client_secret(&self) -> &str {
        self.dialect.client().1
    }

    /// The authorize endpoint, relative to the server's URL.
    pub fn authorize_path(&self) -> &'static str {
        self.dialect.authorize_path()
    }

    /// The token endpoint, relative to the server's URL.
    pub fn token_path(&self) -> &'static str {
        self.dialect.token_path()
    }

    /// Whether `presented` is a live, expired or unknown access token.
    pub fn check(&self, presented: &str) -> TokenCheck {
        let now = Instant::now();
        match self.lock().access.get(presented) {
            None => TokenCheck::Unknown,
            Some(access) if access.expired || access.expires.is_some_and(|at| now >= at) => {
                TokenCheck::Expired
            }
            Some(_) => TokenCheck::Live,
        }
    }

    /// [`Issuer::check`], with the platform's fixed token (the one the
    /// enablements and the demo paste) always live.
    pub fn check_or_fixed(&self, fixed: &str, presented: &str) -> TokenCheck {
        if presented == fixed {
            TokenCheck::Live
        } else {
            self.check(presented)
        }
    }

    /// Make access tokens issued from now on live for `ttl` (also on the
    /// platforms whose tokens do not expire); `expires_in` reports it.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.lock().ttl = Some(ttl);
    }

    /// Expire every access token issued so far.
    pub fn expire_access_tokens(&self) {
        for access in self.lock().access.values_mut() {
            access.expired = true;
        }
    }

    /// Answer every refresh grant with `invalid_grant`, as after the user
    /// revoked the app.
    pub fn refuse_refresh(&self, refuse: bool) {
        self.lock().refuse_refresh = refuse;
    }

    /// How many refresh grants issued tokens.
    pub fn refreshes(&self) -> u32 {
        self.lock().refreshes
    }

    /// Every request the token endpoint received, in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.lock().token_requests.clone()
    }

    /// Every access token issued, in order.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.lock().issued_access.clone()
    }

    /// Every refresh token issued, in order.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.lock().issued_refresh.clone()
    }

    /// The query of every authorize request, refused ones included.
    pub fn authorizations(&self) -> Vec<AuthorizeRequest> {
        self.lock().authorizations.clone()
    }

    /// The state, locked; a test that panicked holding it must not stop
    /// the server.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `id` and `secret` are the registered client's.
    fn is_client(&self, id: &str, secret: &str) -> bool {
        (id, secret) == self.dialect.client()
    }

    fn record_authorization(&self, params: Vec<(String, String)>) {
        self.lock().authorizations.push(AuthorizeRequest { params });
    }

    fn record(&self, request: TokenRequest) {
        self.lock().token_requests.push(request);
    }

    /// A fresh code for `grant`.
    fn issue_code(&self, grant: Grant) -> String {
        let code = self.dialect.code();
        let issued = Instant::now();
        self.lock().codes.insert(
            code.clone(),
            Code {
                grant,
                issued,
                used: false,
            },
        );
        code
    }

    /// Exchange `code` at `now`. A code dies with its first exchange,
    /// refused or not, so that a guessed verifier cannot be retried.
    fn redeem(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now: Instant,
    ) -> Result<Grant, CodeError> {
        let mut state = self.lock();
        let entry = state.codes.get_mut(code).ok_or(CodeError::Unknown)?;
        if entry.used {
            return Err(CodeError::Used);
        }
        entry.used = true;
        if now.duration_since(entry.issued) >= CODE_TTL {
            return Err(CodeError::Expired);
        }
        let grant = &entry.grant;
        if grant.client_id != client_id {
            return Err(CodeError::ClientMismatch);
        }
        if redirect_uri.is_some_and(|uri| uri != grant.redirect_uri) {
            return Err(CodeError::RedirectMismatch);
        }
        if let Some(challenge) = &grant.challenge {
            match verifier {
                None => return Err(CodeError::MissingVerifier),
                Some(verifier) if pkce_challenge(verifier) != *challenge => {
                    return Err(CodeError::VerifierMismatch);
                }
                Some(_) => {}
            }
        }
        Ok(grant.clone())
    }

    /// A fresh access token living the dialect's `default_ttl`, or the one
    /// a test set.
    fn issue_access(&self, default_ttl: Option<Duration>) -> Issued {
        let token = self.dialect.access_token();
        let mut state = self.lock();
        let ttl = state.ttl.or(default_ttl);
        let expires = ttl.map(|ttl| Instant::now() + ttl);
        state.access.insert(
            token.clone(),
            Access {
                expires,
                expired: false,
            },
        );
        state.issued_access.push(token.clone());
        Issued { token, ttl }
    }

    /// A fresh refresh token, the first of its chain.
    fn issue_refresh(&self, scope: &str) -> String {
        self.issue_refresh_in(scope, Instant::now())
    }

    fn issue_refresh_in(&self, scope: &str, born: Instant) -> String {
        let token = self.dialect.refresh_token();
        let mut state = self.lock();
        state.refresh.insert(
            token.clone(),
            Refresh {
                rotation: Rotation::Current,
                scope: scope.to_string(),
                born,
            },
        );
        state.issued_refresh.push(token.clone());
        token
    }

    /// A refresh grant with `presented`: a new access token and, where the
    /// dialect rotates, a new refresh token that replaces `presented`.
    fn refresh(&self, presented: &str) -> Result<Refreshed, RefreshError> {
        let (scope, born) = {
            let mut state = self.lock();
            if state.refuse_refresh {
                return Err(RefreshError::Revoked);
            }
            let rotates = self.dialect.rotates();
            let entry = state.refresh.get_mut(presented).ok_or(RefreshError::Unknown)?;
            entry.rotation = match (entry.rotation, rotates) {
                (Rotation::Spent, _) => return Err(RefreshError::Spent),
                (rotation, false) => rotation,
                (Rotation::Current, true) => Rotation::Grace,
                (Rotation::Grace, true) => Rotation::Spent,
            };
            let chain = (entry.scope.clone(), entry.born);
            state.refreshes += 1;
            chain
        };
        let access = self.issue_access(self.dialect.access_ttl());
        let rotated = self
            .dialect
            .rotates()
            .then(|| self.issue_refresh_in(&scope, born));
        Ok(Refreshed {
            access,
            rotated,
            scope,
            born,
        })
    }
}

/// A token endpoint's JSON answer, never cached (RFC 6749 §5.1).
fn token_response(status: StatusCode, body: serde_json::Value) -> Response {
    let headers = [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")];
    (status, headers, axum::Json(body)).into_response()
}

/// The S256 PKCE challenge of `verifier`: base64url (no padding) of its
/// SHA-256, as a client computes it.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
