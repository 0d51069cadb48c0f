//! Who is looking: the [`Visitor`] extractor finds the session of the
//! request's cookie and authenticates its credential again, or answers with
//! the sign-in page; [`ConsoleForm`] reads a form and checks its CSRF token
//! before a handler can act on it.

use super::Console;
use super::cookie;
use super::csrf::CSRF_FIELD;
use super::page::{self, message};
use super::session::{Current, SESSION_COOKIE, SessionError};
use super::signin;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;
use tower_http::request_id::RequestId;

/// A signed-in visitor whose credential is still valid.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The session, with the principal its credential authenticates now.
    pub session: Current,
    /// Whether the request came over TLS (for the cookies written back).
    pub secure: bool,
    /// The request's id, shown with errors.
    pub request_id: String,
}

/// The id tower-http gave the request.
pub fn request_id(parts: &Parts) -> String {
    parts
        .extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_string()
}

impl FromRequestParts<Console> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Self::Rejection> {
        let secure = cookie::over_tls(&parts.headers, console.config.secure_cookies);
        let found = match cookie::read(&parts.headers, SESSION_COOKIE).filter(|token| !token.is_empty()) {
            Some(token) => Some(console.sessions.current(&console.control, token).await),
            None => None,
        };
        match found {
            Some(Ok(session)) => Ok(Self {
                session,
                secure,
                request_id: request_id(parts),
            }),
            None => Err(signin::form(secure, StatusCode::UNAUTHORIZED, None, false)),
            Some(Err(error)) => {
                if let SessionError::Internal(reason) = &error {
                    tracing::error!(%reason, "a console session could not be used");
                }
                Err(signin::form(
                    secure,
                    StatusCode::UNAUTHORIZED,
                    Some(error.to_string()),
                    true,
                ))
            }
        }
    }
}

/// A form with its CSRF token; a form without the session's token is
/// refused with 403 before the handler runs.
pub trait CsrfForm {
    /// The form's CSRF field.
    fn csrf(&self) -> Option<&str>;
}

/// A form body of a signed-in visitor, whose CSRF token was checked.
pub struct ConsoleForm<T>(pub Visitor, pub T);

impl<T: DeserializeOwned + CsrfForm + Send> FromRequest<Console> for ConsoleForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Console) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, console).await?;
        let request = Request::from_parts(parts, body);
        let form = match Form::<T>::from_request(request, console).await {
            Ok(Form(form)) => form,
            Err(rejection) => {
                return Err(message(
                    rejection.status(),
                    "This form could not be read",
                    &rejection.body_text(),
                    &visitor.request_id,
                ));
            }
        };
        if !visitor.session.csrf.matches(form.csrf()) {
            tracing::warn!(request_id = %visitor.request_id, "a console form without the session's CSRF token was refused");
            return Err(message(
                StatusCode::FORBIDDEN,
                "Refused: this form did not come from your console session",
                &format!(
                    "The form's `{CSRF_FIELD}` token is missing or wrong, so nothing was changed. \
                     Go back, reload the page and try again."
                ),
                &visitor.request_id,
            ));
        }
        Ok(Self(visitor, form))
    }
}

/// Shortcut for handlers: a page-rendering error as a response.
pub type PageResult = Result<Response, Response>;

/// The response of a façade error on a page that has nothing else to show.
pub fn refused(visitor: &Visitor, error: omnify_control::control::ControlError) -> Response {
    let (status, text) = page::refusal(error);
    message(status, "Refused", &text, &visitor.request_id)
}
