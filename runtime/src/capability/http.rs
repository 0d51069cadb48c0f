//! The `http` capability: outbound requests through the host's `reqwest`
//! clients, checked against the plugin's allowlist and the egress guard
//! ([`super::egress`]) on every request and every redirect, with caps on
//! body sizes, time and the number of requests.

use super::HostState;
use super::egress::{EgressError, blocked_range};
use crate::plugin::contract::imports::http::{Header, Host, HttpError, Method, Request, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;
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

/// The only headers that follow a redirect to another origin (scheme, host
/// or port); every other one (tokens of any name, cookies) is dropped.
const CROSS_ORIGIN_HEADERS: [&str; 3] = ["accept", "accept-language", "user-agent"];

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

/// The error chain of a transport error, for the host's log only.
fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Whether the egress guard's resolver refused the connection.
fn blocked_by_guard(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if matches!(
            cause.downcast_ref::<EgressError>(),
            Some(EgressError::Blocked { .. })
        ) {
            return true;
        }
        source = cause.source();
    }
    false
}

/// What the guest sees when a connection cannot be made, whatever the
/// reason (a refused address, an unknown name, a closed port): the reason
/// is only in the host's log, so a plugin cannot map networks or ports.
fn unreachable(target: &str) -> HttpError {
    HttpError::Transport(format!("cannot connect to `{target}`"))
}

/// `host:port` of a URL, the port always written.
fn host_and_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The address of a URL whose host is an IP literal.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// What a request sends: its method, body and headers.
#[derive(Debug)]
struct Hop {
    method: reqwest::Method,
    body: Option<Vec<u8>>,
    headers: HeaderMap,
}

/// What to send to `to` after `status` from `from`, or why the redirect is
/// not followed: never from https to http; 303 (and 301/302 after a POST)
/// become a GET without body; to another origin (scheme, host or port) only
/// [`CROSS_ORIGIN_HEADERS`] go along, and a body is never resent (a 307 or
/// 308 with a body to another origin is refused).
fn follow_redirect(from: &Url, to: &Url, status: reqwest::StatusCode, mut hop: Hop) -> Result<Hop, String> {
    let origin = host_and_port(from);
    if from.scheme() == "https" && to.scheme() == "http" {
        return Err(format!(
            "a redirect from `{origin}` over https to plain http is not followed"
        ));
    }
    if status == reqwest::StatusCode::SEE_OTHER
        || (hop.method == reqwest::Method::POST && matches!(status.as_u16(), 301 | 302))
    {
        hop.method = reqwest::Method::GET;
        hop.body = None;
        hop.headers.remove(reqwest::header::CONTENT_TYPE);
    }
    if to.origin() != from.origin() {
        if hop.body.is_some() {
            return Err(format!(
                "a {} redirect from `{origin}` to another origin would resend the body; it is not followed",
                status.as_u16()
            ));
        }
        hop.headers = hop
            .headers
            .iter()
            .filter(|(name, _)| CROSS_ORIGIN_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
    }
    Ok(hop)
}

impl HostState {
    /// Check `url` against the grants and, for an IP literal, the egress
    /// guard; returns whether the request may reach private addresses (a
    /// grant that matches it is covered by a host the operator allowed).
    fn check_allowed(&mut self, url: &Url) -> Result<bool, HttpError> {
        let host = url.host_str().unwrap_or_default();
        let default_port = if url.scheme() == "https" { 443 } else { 80 };
        let port = url.port().unwrap_or(default_port);
        let target = host_and_port(url);
        let egress = &self.services.http;
        let mut granted = false;
        let mut private = false;
        for grant in &self.ctx.grants.http_hosts {
            if grant.matches(host, port, default_port) {
                granted = true;
                private |= egress.allows_private(grant);
            }
        }
        if !granted {
            self.deny(&format!("HTTP to `{target}` is not on the allowlist"));
            return Err(HttpError::HostNotAllowed(target));
        }
        if !private
            && let Some(ip) = literal_ip(url)
            && let Some(range) = blocked_range(ip)
        {
            self.deny(&format!(
                "HTTP to `{target}` refused by the egress guard: {ip} is {range}"
            ));
            return Err(unreachable(&target));
        }
        Ok(private)
    }

    /// Map a transport error for the guest, logging the details.
    fn transport_error(&mut self, error: reqwest::Error, target: &str) -> HttpError {
        // A connection that timed out is reported like a refused one, so a
        // filtered port reads the same as a closed port or a refused address.
        if error.is_timeout() && !error.is_connect() {
            return HttpError::Timeout;
        }
        let detail = describe(&error);
        if blocked_by_guard(&error) {
            self.deny(&format!(
                "HTTP to `{target}` refused by the egress guard: {detail}"
            ));
            return unreachable(target);
        }
        tracing::info!(
            tenant = %self.ctx.tenant,
            plugin = %self.ctx.plugin,
            request_id = %self.ctx.request_id,
            "HTTP to `{target}` failed: {detail}"
        );
        if error.is_connect() {
            unreachable(target)
        } else {
            HttpError::Transport(format!("the exchange with `{target}` failed"))
        }
    }

    /// Refuse to follow a redirect, saying why in the log and to the guest.
    fn refuse_redirect(&mut self, why: String) -> HttpError {
        self.deny(&why);
        HttpError::Transport(why)
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
            let private = self.check_allowed(&url)?;
            let target = host_and_port(&url);
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
                .client(private)
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .timeout(remaining);
            if let Some(body) = &body {
                self.usage.http_bytes_sent += body.len() as u64;
                outgoing = outgoing.body(body.clone());
            }
            // Waiting on the network leaves the tenant's share of the cores
            // to its other calls.
            let waiting = self.cpu.waiting();
            let mut response = match outgoing.send().await {
                Ok(response) => response,
                Err(error) => return Err(self.transport_error(error, &target)),
            };
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
                let hop = Hop {
                    method,
                    body,
                    headers,
                };
                let hop =
                    follow_redirect(&url, &next, status, hop).map_err(|why| self.refuse_redirect(why))?;
                (method, body, headers) = (hop.method, hop.body, hop.headers);
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
                    .map_err(|_| HttpError::Timeout)?;
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(error) => return Err(self.transport_error(error, &target)),
                };
                let Some(chunk) = chunk else { break };
                if (received.len() + chunk.len()) as u64 > max_body {
                    return Err(HttpError::ResponseTooLarge(max_body));
                }
                received.extend_from_slice(&chunk);
            }
            drop(waiting);
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("a URL")
    }

    fn hop(method: reqwest::Method, body: Option<&str>) -> Hop {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-shopify-access-token", "shpat_secret"),
            ("access-token", "secret"),
            ("developer-token", "secret"),
            ("authorization", "Bearer secret"),
            ("cookie", "session=secret"),
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        Hop {
            method,
            body: body.map(|b| b.as_bytes().to_vec()),
            headers,
        }
    }

    fn names(hop: &Hop) -> Vec<&str> {
        let mut names: Vec<_> = hop.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn https_to_http_is_never_followed() {
        let get = hop(reqwest::Method::GET, None);
        let error = follow_redirect(
            &url("https://shop.test/a"),
            &url("http://shop.test/b"),
            StatusCode::FOUND,
            get,
        )
        .expect_err("refused");
        assert!(error.contains("plain http"), "{error}");
        let up = follow_redirect(
            &url("http://shop.test/a"),
            &url("https://shop.test/b"),
            StatusCode::FOUND,
            hop(reqwest::Method::GET, None),
        )
        .expect("http to https is followed");
        assert_eq!(names(&up), ["accept"], "a change of scheme is a change of origin");
    }

    #[test]
    fn another_origin_gets_only_safe_headers_and_no_body() {
        for (from, to) in [
            ("https://shop.test/a", "https://other.test/b"),
            ("https://shop.test/a", "https://shop.test:8443/b"),
            ("http://shop.test/a", "https://shop.test/b"),
        ] {
            let next = follow_redirect(
                &url(from),
                &url(to),
                StatusCode::FOUND,
                hop(reqwest::Method::POST, Some("{}")),
            )
            .expect("followed");
            assert_eq!(next.method, reqwest::Method::GET);
            assert!(next.body.is_none());
            assert_eq!(names(&next), ["accept"], "to {to}");
        }
    }

    #[test]
    fn a_307_or_308_with_a_body_to_another_origin_is_refused() {
        for status in [StatusCode::TEMPORARY_REDIRECT, StatusCode::PERMANENT_REDIRECT] {
            let error = follow_redirect(
                &url("https://shop.test/a"),
                &url("https://other.test/b"),
                status,
                hop(reqwest::Method::POST, Some("{}")),
            )
            .expect_err("refused");
            assert!(error.contains("resend the body"), "{error}");
            let bodiless = follow_redirect(
                &url("https://shop.test/a"),
                &url("https://other.test/b"),
                status,
                hop(reqwest::Method::GET, None),
            )
            .expect("no body to resend");
            assert_eq!(names(&bodiless), ["accept"]);
        }
    }

    #[test]
    fn the_same_origin_keeps_headers_and_a_307_body() {
        let next = follow_redirect(
            &url("https://shop.test/a"),
            &url("https://shop.test/b"),
            StatusCode::TEMPORARY_REDIRECT,
            hop(reqwest::Method::POST, Some("{}")),
        )
        .expect("followed");
        assert_eq!(next.method, reqwest::Method::POST);
        assert_eq!(next.body.as_deref(), Some(&b"{}"[..]));
        assert_eq!(names(&next).len(), 7);
    }
}
