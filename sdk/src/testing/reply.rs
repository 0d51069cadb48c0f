//! Scripted HTTP replies and the requests a plugin made.

use crate::host::{Header, HttpError, Response};

/// A scripted answer to one HTTP request: a response, or a failure to get
/// one. Build it with [`Reply::json`], [`Reply::text`], [`Reply::status`],
/// [`Reply::timeout`] or [`Reply::transport_error`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Timeout,
    Transport(String),
}

impl Reply {
    /// A response with `value` as its JSON body and
    /// `content-type: application/json`.
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self::response(status, value.to_string().into_bytes()).header("content-type", "application/json")
    }

    /// A response with `body` as its text body and a `text/plain` content type.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::response(status, body.into().into_bytes()).header("content-type", "text/plain; charset=utf-8")
    }

    /// A response with `body` as its raw body and no content type.
    pub fn bytes(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::response(status, body.into())
    }

    /// A response with status `code` and an empty body.
    pub fn status(code: u16) -> Self {
        Self::response(code, Vec::new())
    }

    /// No response: the exchange took longer than its time limit, as the
    /// host reports it.
    pub fn timeout() -> Self {
        Self {
            outcome: Outcome::Timeout,
        }
    }

    /// No response: a connection, TLS or protocol failure, as the host
    /// reports it.
    pub fn transport_error(message: impl Into<String>) -> Self {
        Self {
            outcome: Outcome::Transport(message.into()),
        }
    }

    /// Add a response header. It does nothing on a timeout or transport
    /// error, which have no headers.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        if let Outcome::Response { headers, .. } = &mut self.outcome {
            headers.push((name.to_string(), value.into()));
        }
        self
    }

    fn response(status: u16, body: Vec<u8>) -> Self {
        Self {
            outcome: Outcome::Response {
                status,
                headers: Vec::new(),
                body,
            },
        }
    }

    /// What the plugin receives from `http::send`.
    pub(crate) fn to_host(&self) -> Result<Response, HttpError> {
        match &self.outcome {
            Outcome::Response {
                status,
                headers,
                body,
            } => Ok(Response {
                status: *status,
                headers: headers
                    .iter()
                    .map(|(name, value)| Header {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                body: body.clone(),
            }),
            Outcome::Timeout => Err(HttpError::Timeout),
            Outcome::Transport(message) => Err(HttpError::Transport(message.clone())),
        }
    }
}

/// A request the plugin sent, as the host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method in upper case, for example `GET`.
    pub method: String,
    /// The full URL, query string included.
    pub url: String,
    /// The headers as the plugin set them.
    pub headers: Vec<(String, String)>,
    /// The body, if the request had one.
    pub body: Option<Vec<u8>>,
    /// Whether a scripted reply answered it; `false` for a request that got
    /// the harness's "no reply scripted" transport error.
    pub answered: bool,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if there is one and it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.body.as_deref()?).ok()
    }
}
