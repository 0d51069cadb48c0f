//! Reading the console's cookies from a request and writing them: always
//! HttpOnly, SameSite=Strict and `Path=/console`, `Secure` when the visitor
//! reached the host over TLS.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use std::time::Duration;

/// The value of cookie `name` in `headers`, if sent.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// Whether the request reached the host over TLS: the host serves plain
/// HTTP, so only a TLS-terminating proxy in front of it knows, and says so
/// with `X-Forwarded-Proto: https` (or the operator says every visitor
/// does, with `always`). Trusting the header is safe here: a false `https`
/// only makes the browser keep the cookie from plain HTTP.
pub fn over_tls(headers: &HeaderMap, always: bool) -> bool {
    always
        || headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for `name`=`value` lasting `max_age`.
pub fn set(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Max-Age={}; Path=/console; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    )
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear(name: &str, secure: bool) -> String {
    set(name, "", Duration::ZERO, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; omnify_console=tok; b=2"));
        headers.append(COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(read(&headers, "omnify_console"), Some("tok"));
        assert_eq!(read(&headers, "c"), Some("3"));
        assert_eq!(read(&headers, "omnify"), None);
    }

    #[test]
    fn cookies_are_strict_and_secure_behind_tls() {
        let mut headers = HeaderMap::new();
        assert!(!over_tls(&headers, false));
        assert!(over_tls(&headers, true));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(over_tls(&headers, false));
        let value = set("s", "v", Duration::from_secs(60), true);
        assert_eq!(
            value,
            "s=v; Max-Age=60; Path=/console; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(clear("s", false).starts_with("s=; Max-Age=0;"));
    }
}
