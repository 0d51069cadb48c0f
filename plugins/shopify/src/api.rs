//! Calls to the Admin REST API: the access-token header, Shopify's error
//! bodies mapped to the SDK's error kinds, and the `Link` header's next page.

use omnify_sdk::http::{self, RequestBuilder, Response};
use omnify_sdk::{Error, Value, secrets};
use std::time::Duration;

/// How long to wait on a `429` without `Retry-After`: the REST bucket leaks
/// two calls a second, so one second always frees a call.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);

/// Send `request` with the shop's access token and map the outcome.
pub fn send(request: RequestBuilder) -> Result<Response, Error> {
    let token = secrets::get("access_token")?;
    let response = request
        .header("X-Shopify-Access-Token", token)
        .header("Accept", "application/json")
        .send()?;
    check(response)
}

/// A `GET` of `url`, parsed as JSON.
pub fn get_json(url: &str) -> Result<(Value, Response), Error> {
    let response = send(http::get(url))?;
    let body = response.json()?;
    Ok((body, response))
}

/// The response if it is 2xx, otherwise the error kind its status means,
/// carrying Shopify's own message.
pub fn check(response: Response) -> Result<Response, Error> {
    if response.is_success() {
        return Ok(response);
    }
    let message = format!("Shopify HTTP {}: {}", response.status, error_message(&response));
    Err(match response.status {
        // 401: a wrong or revoked token; 403: the app lacks the scope.
        401 | 403 => Error::Auth(message),
        // 402: the shop is frozen for unpaid bills; 423: the shop is locked.
        402 | 423 => Error::Config(message),
        404 => Error::NotFound(message),
        // Reached only when the SDK's inline retries gave up.
        429 => Error::RateLimited {
            retry_after_ms: millis(response.retry_after().unwrap_or(DEFAULT_RATE_LIMIT_WAIT)),
            message,
        },
        400 | 406 | 422 => Error::InvalidInput(message),
        500.. => Error::Transient(message),
        _ => Error::Internal(message),
    })
}

fn millis(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
}

/// Shopify's `errors`, which is a string or an object of field → message(s).
fn error_message(response: &Response) -> String {
    let errors = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| body.get("errors").or_else(|| body.get("error")).cloned());
    match errors {
        Some(Value::String(text)) => text,
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(field, problem)| match problem {
                Value::Array(items) => {
                    let items: Vec<String> = items.iter().map(plain).collect();
                    format!("{field} {}", items.join(", "))
                }
                other => format!("{field}: {}", plain(other)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => {
            let text = response.text();
            text.chars().take(300).collect()
        }
    }
}

fn plain(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}

/// The URL marked `rel="next"` in a `Link` header, if any. URLs may hold
/// commas (`fields=id,tags`), so the header is split on `<…>`, not on commas.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let url = &after[..end];
        let params = &after[end + 1..];
        let params_end = params.find('<').unwrap_or(params.len());
        let is_next = params[..params_end].split(';').any(|param| {
            let param = param.trim().trim_end_matches(',').trim();
            param == "rel=\"next\"" || param == "rel=next"
        });
        if is_next {
            return Some(url.to_string());
        }
        rest = &params[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = "<https://s.myshopify.com/admin/api/2025-07/orders.json?limit=2&fields=id,tags&page_info=a>; \
                      rel=\"previous\", <https://s.myshopify.com/admin/api/2025-07/orders.json?limit=2&page_info=b>; rel=\"next\"";
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://s.myshopify.com/admin/api/2025-07/orders.json?limit=2&page_info=b")
        );
        assert_eq!(next_link("<https://x/a?page_info=a>; rel=\"previous\""), None);
        assert_eq!(next_link(""), None);
    }

    #[test]
    fn error_bodies_become_messages() {
        let response = |status: u16, body: &str| Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        let auth = check(response(401, r#"{"errors":"[API] Invalid API key"}"#));
        assert_eq!(
            auth,
            Err(Error::Auth("Shopify HTTP 401: [API] Invalid API key".into()))
        );
        let invalid = check(response(422, r#"{"errors":{"tags":["is invalid"]}}"#));
        assert_eq!(
            invalid,
            Err(Error::InvalidInput("Shopify HTTP 422: tags is invalid".into()))
        );
        let limited = check(response(429, r#"{"errors":"Exceeded 2 calls per second"}"#));
        assert!(matches!(
            limited,
            Err(Error::RateLimited {
                retry_after_ms: 1000,
                ..
            })
        ));
    }
}
