//! The `http` capability: outbound requests through the host's `reqwest`
//! client, checked against the plugin's allowlist on every request and every
//! redirect, with caps on body sizes, time and the number of requests.

use super::HostState;
use crate::plugin::contract::imports::http::{Header, Host, HttpError, Method, Request, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, Instant};
use url::Url;

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Headers the host sets itself; a guest may not.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// Headers that must not follow a redirect to another host.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// The client the capability sends with. It follows no redirects itself (the
/// capability follows them after checking each against the allowlist) and
/// ignores proxy variables from the environment.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("omnify/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Host for HostState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.count_host_call()?;
        Ok(self.send_http(request).await)
    }
}

fn invalid(message: impl Into<String>) -> HttpError {
    HttpError::InvalidRequest(message.into())
}

fn parse_url(text: &str) -> Result<Url, HttpError> {
    let url = Url::parse(text).map_err(|e| invalid(format!("`{text}` is not a URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(invalid(format!(
                "scheme `{other}` is not allowed; use http or https"
            )));
        }
    }
    if url.host_str().is_none() {
        return Err(invalid(format!("`{text}` has no host")));
    }
    Ok(url)
}

fn header_map(headers: &[Header]) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| invalid(format!("`{}` is not a valid header name", header.name)))?;
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(invalid(format!("header `{name}` is set by the host")));
        }
        let value = HeaderValue::from_str(&header.value)
            .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
        map.append(name, value);
    }
    Ok(map)
}

fn method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn transport(error: reqwest::Error) -> HttpError {
    if error.is_timeout() {
        return HttpError::Timeout;
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    HttpError::Transport(message)
}

fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

impl HostState {
    fn check_allowed(&mut self, url: &Url) -> Result<(), HttpError> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default();
        if self.ctx.grants.http_hosts.iter().any(|p| p.matches(host, port)) {
            return Ok(());
        }
        let target = host_and_port(url);
        self.deny(&format!("HTTP to `{target}` is not on the allowlist"));
        Err(HttpError::HostNotAllowed(target))
    }

    async fn send_http(&mut self, request: Request) -> Result<Response, HttpError> {
        let mut url = parse_url(&request.url)?;
        let mut method = method(request.method);
        let mut headers = header_map(&request.headers)?;
        let mut body = request.body;
        let max_body = self.limits.http_body_bytes;
        if body.as_ref().is_some_and(|b| b.len() as u64 > max_body) {
            return Err(invalid(format!(
                "the request body is larger than {max_body} bytes"
            )));
        }
        let asked = request
            .timeout_ms
            .map_or(Duration::MAX, |ms| Duration::from_millis(ms.into()));
        let left_in_call = self.deadline.saturating_duration_since(Instant::now());
        let deadline = Instant::now() + asked.min(self.limits.http_timeout).min(left_in_call);

        for _ in 0..=MAX_REDIRECTS {
            self.check_allowed(&url)?;
            if self.usage.http_requests >= self.limits.http_requests {
                return Err(HttpError::TooManyRequests(self.limits.http_requests));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(HttpError::Timeout);
            }
            self.usage.http_requests += 1;
            let mut outgoing = self
                .services
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .timeout(remaining);
            if let Some(body) = &body {
                self.usage.http_bytes_sent += body.len() as u64;
                outgoing = outgoing.body(body.clone());
            }
            let mut response = outgoing.send().await.map_err(transport)?;
            let status = response.status();

            if status.is_redirection()
                && let Some(location) = response.headers().get(reqwest::header::LOCATION)
            {
                let location = location
                    .to_str()
                    .map_err(|_| HttpError::Transport("redirect with a non-text Location".into()))?;
                let next = url.join(location).map_err(|e| {
                    HttpError::Transport(format!("redirect to an invalid URL `{location}`: {e}"))
                })?;
                parse_url(next.as_str())?;
                if status == reqwest::StatusCode::SEE_OTHER
                    || (method == reqwest::Method::POST && matches!(status.as_u16(), 301 | 302))
                {
                    method = reqwest::Method::GET;
                    body = None;
                }
                if next.host_str() != url.host_str() {
                    for name in CREDENTIAL_HEADERS {
                        headers.remove(name);
                    }
                }
                url = next;
                continue;
            }

            let response_headers = response
                .headers()
                .iter()
                .map(|(name, value)| Header {
                    name: name.as_str().to_string(),
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                })
                .collect();
            if response.content_length().is_some_and(|len| len > max_body) {
                return Err(HttpError::ResponseTooLarge(max_body));
            }
            let mut received = Vec::new();
            loop {
                let chunk = tokio::time::timeout_at(deadline.into(), response.chunk())
                    .await
                    .map_err(|_| HttpError::Timeout)?
                    .map_err(transport)?;
                let Some(chunk) = chunk else { break };
                if (received.len() + chunk.len()) as u64 > max_body {
                    return Err(HttpError::ResponseTooLarge(max_body));
                }
                received.extend_from_slice(&chunk);
            }
            self.usage.http_bytes_received += received.len() as u64;
            return Ok(Response {
                status: status.as_u16(),
                headers: response_headers,
                body: received,
            });
        }
        Err(HttpError::Transport(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}
