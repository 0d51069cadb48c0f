//! Sending a request to a provider's token endpoint. The client follows no
//! redirects (a token endpoint that redirects could carry the client secret
//! elsewhere), gives up after a timeout, and reads at most a small answer.

use super::dialect::{Dialect, TokenError, TokenRequest, Tokens};
use std::time::Duration;

/// How long a token endpoint may take to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The largest answer read from a token endpoint.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The HTTP client of the token endpoints.
#[derive(Debug, Clone)]
pub(crate) struct TokenClient {
    http: reqwest::Client,
}

impl TokenClient {
    /// A client with the host's TLS roots, no redirects and a timeout.
    pub(crate) fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .user_agent(concat!("omnify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { http })
    }

    /// Send `request` and read the answer as `dialect` speaks it.
    pub(crate) async fn send(&self, dialect: Dialect, request: &TokenRequest) -> Result<Tokens, TokenError> {
        let mut builder = if request.get {
            self.http.get(&request.url).query(&request.form)
        } else if let Some(body) = &request.json {
            self.http
                .post(&request.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string())
        } else {
            self.http.post(&request.url).form(&request.form)
        };
        if let Some((user, password)) = &request.basic {
            builder = builder.basic_auth(user, Some(password));
        }
        let mut response = builder
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(without_url(&e)))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TokenError::Unavailable(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(TokenError::Unavailable(format!(
                    "the answer is larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        dialect.parse(status, &body)
    }
}

/// A client error without its URL: a `GET` token request (Meta's) holds the
/// client secret in its query, which must not reach a log or an answer.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "answered with a redirect"
    } else {
        "failed"
    };
    let mut message = kind.to_string();
    if let Some(status) = error.status() {
        message.push_str(&format!(" (HTTP {status})"));
    }
    message
}
