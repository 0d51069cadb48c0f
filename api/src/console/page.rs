//! Rendering pages: the frame every page shares ([`Chrome`]), façade errors
//! as readable messages with the status the API would answer, and a plain
//! message page.

use super::Console;
use super::access::{self, LIST_TENANTS};
use super::session::Notice;
use super::visitor::Visitor;
use crate::error::ApiError;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use omnify_control::control::ControlError;

/// A notice as a page shows it.
#[derive(Debug, Clone)]
pub struct NoticeView {
    /// `done` or `refused` (a CSS class).
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

impl From<Notice> for NoticeView {
    fn from(notice: Notice) -> Self {
        match notice {
            Notice::Done(text) => Self { kind: "done", text },
            Notice::Refused(text) => Self {
                kind: "refused",
                text,
            },
        }
    }
}

/// What the frame of every signed-in page shows.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// Who is signed in, as the audit log names them.
    pub actor: String,
    /// Their role.
    pub role: &'static str,
    /// The tenant the page is about.
    pub tenant: Option<String>,
    /// The session's form token, for the forms of the page.
    pub csrf: String,
    /// The page, to mark it in the navigation.
    pub active: &'static str,
    /// Whether the visitor may pick another tenant (the admin).
    pub picks_tenants: bool,
    /// The notice left by the last action, or this request's refusal.
    pub notice: Option<NoticeView>,
}

impl Chrome {
    /// The frame of page `active` about `tenant` for `visitor`, with the
    /// notice left for the session (taken: it shows once).
    pub fn new(console: &Console, visitor: &Visitor, tenant: Option<&str>, active: &'static str) -> Self {
        let principal = &visitor.session.principal;
        Self {
            actor: principal.actor(),
            role: principal.role.as_str(),
            tenant: tenant.map(str::to_string),
            csrf: visitor.session.csrf.as_str().to_string(),
            active,
            picks_tenants: access::allow(principal, LIST_TENANTS, None).is_ok(),
            notice: console
                .sessions
                .take_notice(&visitor.session)
                .map(NoticeView::from),
        }
    }

    /// The same frame showing `notice` instead, when there is one.
    pub fn with_notice(mut self, notice: Option<Notice>) -> Self {
        if let Some(notice) = notice {
            self.notice = Some(notice.into());
        }
        self
    }
}

/// The status and message the API would answer `error` with.
pub fn refusal(error: ControlError) -> (StatusCode, String) {
    let api = ApiError::from(error);
    (api.status, api.message)
}

/// Render `template` with `status`; a template that fails to render is a
/// readable 500.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "a console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Omnify console</title><p>This page could not be shown; the host's log says why.</p>".to_string()),
            )
                .into_response()
        }
    }
}

/// A page with one message.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
    request_id: &'a str,
}

/// A page saying `title` and `text`, with `status`.
pub fn message(status: StatusCode, title: &str, text: &str, request_id: &str) -> Response {
    render(
        status,
        &MessagePage {
            title,
            text,
            request_id,
        },
    )
}

/// A number for people: at most two decimals, no trailing zeros.
pub fn number(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.into() }
}

/// A change for people: [`number`] with its sign.
pub fn signed(value: f64) -> String {
    let text = number(value);
    if value > 0.0 && text != "0" {
        format!("+{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(100.0), "100");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(-0.001), "0");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(signed(10.0), "+10");
        assert_eq!(signed(-2.5), "-2.5");
    }

    #[test]
    fn errors_keep_the_apis_status() {
        let (status, text) = refusal(ControlError::Forbidden("needs an expert".into()));
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(text, "needs an expert");
        let (status, _) = refusal(ControlError::Conflict("stale".into()));
        assert_eq!(status, StatusCode::CONFLICT);
    }
}
