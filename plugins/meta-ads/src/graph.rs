//! The Graph API client: URLs, the access token, cursor paging, and Meta's
//! error body mapped to the SDK's error kinds.

use crate::Config;
use omnify_sdk::http::{self, Response};
use omnify_sdk::{Error, Value};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Error codes Meta uses for throttling: app (4), user (17), API-level
/// (32), per-call (613) and the business-use-case limits (80000–80014, the
/// ads management one being 80004).
fn is_rate_limit(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 613 | 80_000..=80_014)
}

/// The wait when a throttled answer does not say how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A client of one ad account's Graph API.
#[derive(Debug, Clone)]
pub struct Graph {
    /// `{base_url}/{api_version}`, without a trailing slash.
    root: String,
    token: String,
}

/// One page of an edge.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The objects of the page.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct Paging {
    #[serde(default)]
    next: Option<String>,
}

impl<T> Page<T> {
    /// The URL of the next page, if there is one.
    pub fn next(&self) -> Option<&str> {
        self.paging.as_ref().and_then(|p| p.next.as_deref())
    }
}

impl Graph {
    /// A client for `config`, with the `access_token` secret.
    pub fn new(config: &Config) -> Result<Self, Error> {
        Ok(Self {
            root: format!("{}/{}", config.base_url.trim_end_matches('/'), config.api_version),
            token: omnify_sdk::secrets::get("access_token")?,
        })
    }

    /// The URL of `path` (for example `act_1/campaigns`) with `query`.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut request = http::get(format!("{}/{path}", self.root));
        for (name, value) in query {
            request = request.query(name, value);
        }
        request.url()
    }

    /// `GET` an absolute URL: one built with [`Graph::url`], or a
    /// `paging.next` from an earlier page.
    pub fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        // A URL from the saved state must still point at the configured API,
        // so that the token is never sent anywhere else.
        if !url.starts_with(&format!("{}/", self.root)) {
            return Err(Error::internal(format!(
                "a paging URL left the configured Graph API ({}): {url}",
                self.root
            )));
        }
        let response = http::get(url).bearer_auth(&self.token).send()?;
        parse(response)
    }

    /// `POST` form `fields` to `path`.
    pub fn post<T: DeserializeOwned>(&self, path: &str, fields: &[(&str, String)]) -> Result<T, Error> {
        let response = http::post(format!("{}/{path}", self.root))
            .bearer_auth(&self.token)
            .form(fields)
            .send()?;
        parse(response)
    }

    /// The ad account's ISO 4217 currency.
    pub fn account_currency(&self, account_id: &str) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Account {
            currency: String,
        }
        let url = self.url(&format!("act_{account_id}"), &[("fields", "currency".into())]);
        Ok(self.get::<Account>(&url)?.currency)
    }
}

/// A `paging.next` URL without any `access_token` in it, so that the token
/// never lands in the saved stream state (the token is sent as a header).
pub fn without_token(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("access_token="))
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// How many minor units make one major unit of `currency` in Meta's budgets
/// (Meta's currency table: offset 1 for these, 100 for every other).
pub fn currency_offset(currency: &str) -> f64 {
    const OFFSET_ONE: [&str; 11] = [
        "CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND",
    ];
    if OFFSET_ONE.contains(&currency.to_ascii_uppercase().as_str()) {
        1.0
    } else {
        100.0
    }
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: GraphError,
}

/// Meta's `{"error": {...}}`.
#[derive(Debug, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: Option<bool>,
    #[serde(default)]
    fbtrace_id: Option<String>,
}

impl GraphError {
    /// The message with what support needs to trace it.
    fn describe(&self) -> String {
        let mut details = Vec::new();
        if let Some(kind) = &self.kind {
            details.push(kind.clone());
        }
        if let Some(code) = self.code {
            details.push(format!("code {code}"));
        }
        if let Some(subcode) = self.error_subcode {
            details.push(format!("subcode {subcode}"));
        }
        if let Some(trace) = &self.fbtrace_id {
            details.push(format!("fbtrace_id {trace}"));
        }
        format!("{} ({})", self.message, details.join(", "))
    }
}

/// The body of a successful answer, or the error Meta's answer means.
fn parse<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    if response.is_success() {
        return response.json();
    }
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(&response.body) else {
        // Not a Graph error body (a proxy, an outage page): judge by status.
        return Err(match response.error_for_status() {
            Err(error) => error,
            Ok(response) => {
                Error::internal(format!("HTTP {} is neither success nor failure", response.status))
            }
        });
    };
    let code = error.code.unwrap_or(0);
    let message = error.describe();
    Err(if is_rate_limit(code) {
        Error::RateLimited {
            retry_after_ms: u64::try_from(retry_after(&response).as_millis()).unwrap_or(u64::MAX),
            message,
        }
    } else {
        match (code, error.error_subcode) {
            // 190 expired or invalid token, 102 session, 104 no token,
            // 10 and 200–299 missing permissions.
            (190 | 102 | 104 | 10 | 200..=299, _) => Error::Auth(message),
            (100, Some(33)) | (803, _) => Error::NotFound(message),
            // 1 unknown and 2 temporary service errors are Meta's "retry later".
            (1 | 2, _) => Error::Transient(message),
            _ if error.is_transient == Some(true) || response.status >= 500 => Error::Transient(message),
            _ => Error::InvalidInput(message),
        }
    })
}

/// How long Meta asks to wait: the largest `estimated_time_to_regain_access`
/// (minutes) of `X-Business-Use-Case-Usage`, at least a second.
fn retry_after(response: &Response) -> Duration {
    let Some(usage) = response
        .header("x-business-use-case-usage")
        .and_then(|h| serde_json::from_str::<Value>(h).ok())
    else {
        return DEFAULT_RETRY_AFTER;
    };
    let minutes = usage
        .as_object()
        .into_iter()
        .flat_map(|accounts| accounts.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|entry| {
            entry
                .get("estimated_time_to_regain_access")
                .and_then(Value::as_u64)
        })
        .max();
    match minutes {
        Some(minutes) => Duration::from_secs(minutes.saturating_mul(60)).max(Duration::from_secs(1)),
        None => DEFAULT_RETRY_AFTER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_dropped_from_paging_urls() {
        assert_eq!(
            without_token("https://graph.facebook.com/v23.0/act_1/ads?access_token=EAA&limit=25&after=QQ"),
            "https://graph.facebook.com/v23.0/act_1/ads?limit=25&after=QQ"
        );
        assert_eq!(
            without_token("https://x/v23.0/a?access_token=E"),
            "https://x/v23.0/a"
        );
    }

    #[test]
    fn budgets_use_metas_currency_offsets() {
        assert_eq!(currency_offset("USD"), 100.0);
        assert_eq!(currency_offset("jpy"), 1.0);
    }
}
