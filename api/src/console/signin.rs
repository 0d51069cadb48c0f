//! Signing in with an API key or the admin token, and signing out. The key
//! is authenticated exactly as the API authenticates a bearer token, then
//! exchanged for a session cookie; the key itself is never put in a cookie
//! or a page.

use super::Console;
use super::cookie;
use super::csrf::{CsrfToken, SIGN_IN_COOKIE, sign_in_matches};
use super::page::{message, render};
use super::session::SESSION_COOKIE;
use super::visitor::{ConsoleForm, CsrfForm, request_id};
use askama::Template;
use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use omnify_control::control::ControlError;
use serde::Deserialize;
use std::time::Duration;

/// How long the sign-in form's token lasts.
const SIGN_IN_TTL: Duration = Duration::from_secs(30 * 60);

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    csrf: String,
    problem: Option<String>,
}

/// A `303 See Other` to `to`, setting `cookies`.
pub fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(LOCATION, location);
    }
    for value in cookies {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(SET_COOKIE, value);
        }
    }
    response
}

/// The sign-in form with `status` and `problem` shown above it, with a
/// fresh form token in its cookie; `clear_session` also removes a session
/// cookie that no longer works.
pub fn form(secure: bool, status: StatusCode, problem: Option<String>, clear_session: bool) -> Response {
    let token = match CsrfToken::random() {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "no randomness for the sign-in form");
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The console cannot sign anyone in",
                "The host has no randomness for a form token; its log says why.",
                "",
            );
        }
    };
    let mut response = render(
        status,
        &SignInPage {
            csrf: token.as_str().to_string(),
            problem,
        },
    );
    let mut cookies = vec![cookie::set(SIGN_IN_COOKIE, token.as_str(), SIGN_IN_TTL, secure)];
    if clear_session {
        cookies.push(cookie::clear(SESSION_COOKIE, secure));
    }
    for value in cookies {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// `GET /console/sign-in`: the form, or the console for a visitor already
/// signed in.
pub async fn show(State(console): State<Console>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    match super::visitor::Visitor::from_request_parts(&mut parts, &console).await {
        Ok(_) => redirect("/console", &[]),
        Err(_) => {
            let secure = cookie::over_tls(&parts.headers, console.config.secure_cookies);
            let stale = cookie::read(&parts.headers, SESSION_COOKIE).is_some();
            form(secure, StatusCode::OK, None, stale)
        }
    }
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    key: Option<String>,
    csrf: Option<String>,
}

/// `POST /console/sign-in`: exchange a key for a session cookie.
pub async fn submit(State(console): State<Console>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let secure = cookie::over_tls(&parts.headers, console.config.secure_cookies);
    let expected = cookie::read(&parts.headers, SIGN_IN_COOKIE).map(str::to_string);
    let id = request_id(&parts);
    let Form(fields) = match Form::<SignIn>::from_request(Request::from_parts(parts, body), &console).await {
        Ok(fields) => fields,
        Err(rejection) => {
            return message(
                rejection.status(),
                "The sign-in form could not be read",
                &rejection.body_text(),
                &id,
            );
        }
    };
    if !sign_in_matches(expected.as_deref(), fields.csrf.as_deref()) {
        let problem = "This sign-in form is out of date or did not come from this console; try again.";
        return form(secure, StatusCode::FORBIDDEN, Some(problem.into()), false);
    }
    let key = fields.key.as_deref().map(str::trim).unwrap_or_default();
    if key.is_empty() {
        let problem = "Paste an API key (omk_…) or the admin token (oma_…).";
        return form(
            secure,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(problem.into()),
            false,
        );
    }
    match console.control.authenticate(key).await {
        Ok(principal) => {
            // A session nobody could account for is never opened.
            if let Err(error) = console
                .control
                .audit_session(&principal, "console.sign-in", id.clone())
                .await
            {
                let (status, text) = super::page::refusal(error);
                return message(status, "Cannot sign in", &text, &id);
            }
            let token = match console.sessions.open(key) {
                Ok(token) => token,
                Err(error) => {
                    tracing::error!(%error, "cannot open a console session");
                    return message(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Cannot sign in",
                        &error.to_string(),
                        &id,
                    );
                }
            };
            tracing::info!(actor = %principal.actor(), request_id = %id, "signed in to the console");
            let cookies = [
                cookie::set(SESSION_COOKIE, &token, console.sessions.ttl(), secure),
                cookie::clear(SIGN_IN_COOKIE, secure),
            ];
            redirect("/console", &cookies)
        }
        Err(ControlError::Unauthenticated(_)) => {
            let problem = "That key is not valid: it is unknown or was revoked. Check that you pasted \
                           the whole key (omk_… or oma_…).";
            form(secure, StatusCode::UNAUTHORIZED, Some(problem.into()), false)
        }
        Err(error) => {
            let (status, text) = super::page::refusal(error);
            message(status, "Cannot sign in", &text, &id)
        }
    }
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Plain {
    csrf: Option<String>,
}

impl CsrfForm for Plain {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /console/sign-out`: end the session.
pub async fn sign_out(
    State(console): State<Console>,
    ConsoleForm(visitor, _): ConsoleForm<Plain>,
) -> Response {
    console.sessions.close(&visitor.session);
    let principal = &visitor.session.principal;
    if let Err(error) = console
        .control
        .audit_session(principal, "console.sign-out", visitor.request_id.clone())
        .await
    {
        // The session is closed either way; only its record is missing.
        tracing::error!(%error, "cannot record a console sign-out");
    }
    tracing::info!(actor = %principal.actor(), "signed out of the console");
    redirect(
        "/console/sign-in",
        &[cookie::clear(SESSION_COOKIE, visitor.secure)],
    )
}
