//! The TikTok Marketing API v1.3 client: the `Access-Token` header, the
//! `{code, message, request_id, data}` envelope, and TikTok's error codes
//! mapped to the SDK's error kinds.

use omnify_sdk::http::{self, Response};
use omnify_sdk::{Error, Value};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The real API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://business-api.tiktok.com";

/// How long to wait after code 40100: TikTok sends no retry-after, and its
/// limits are per second (QPS) and per minute.
const RATE_LIMIT_WAIT_MS: u64 = 1_000;

/// The tenant's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The API's base URL, without the `/open_api/v1.3` path.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The advertiser account to read and change.
    pub advertiser_id: String,
    /// The first day of the first sync of the insight streams (`YYYY-MM-DD`).
    #[serde(default)]
    pub start_date: Option<String>,
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}

/// A client for one advertiser, with the tenant's access token.
pub struct Client {
    /// The tenant's configuration.
    pub config: Config,
    token: String,
}

/// The envelope of every answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    data: Value,
}

/// A page of a list: `data: {list, page_info}`.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub list: Vec<T>,
    /// Where the page is; absent on endpoints that do not page.
    #[serde(default)]
    pub page_info: Option<PageInfo>,
}

/// Paging facts of a list.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct PageInfo {
    /// This page's number, from 1.
    pub page: u32,
    /// Pages in all.
    pub total_page: u32,
}

impl<T> Page<T> {
    /// Whether a page follows this one.
    pub fn has_next(&self) -> bool {
        self.page_info.is_some_and(|info| info.page < info.total_page)
    }
}

impl Client {
    /// A client from the tenant's configuration and the `access_token` secret.
    pub fn from_host() -> Result<Self, Error> {
        let config: Config = omnify_sdk::config::get()?;
        if config.advertiser_id.trim().is_empty() {
            return Err(Error::config("`advertiser_id` is empty"));
        }
        let token = omnify_sdk::secrets::get("access_token")?;
        Ok(Self { config, token })
    }

    fn url(&self, endpoint: &str) -> String {
        format!(
            "{}/open_api/v1.3/{endpoint}",
            self.config.base_url.trim_end_matches('/')
        )
    }

    /// `GET` an endpoint (for example `campaign/get/`) with `advertiser_id`
    /// and `query`; returns the envelope's `data`.
    pub fn get<T: DeserializeOwned>(&self, endpoint: &str, query: &[(&str, String)]) -> Result<T, Error> {
        let mut request = http::get(self.url(endpoint))
            .header("Access-Token", &self.token)
            .query("advertiser_id", &self.config.advertiser_id);
        for (name, value) in query {
            request = request.query(name, value);
        }
        data(request.send()?)
    }

    /// `GET` an endpoint that names advertisers in `advertiser_ids` rather
    /// than `advertiser_id` (`advertiser/info/`).
    pub fn get_advertisers<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T, Error> {
        let ids = serde_json::to_string(&[&self.config.advertiser_id])?;
        let request = http::get(self.url(endpoint))
            .header("Access-Token", &self.token)
            .query("advertiser_ids", ids);
        data(request.send()?)
    }

    /// `POST` a JSON body to an endpoint; `advertiser_id` is added to it.
    pub fn post<T: DeserializeOwned>(&self, endpoint: &str, mut body: Value) -> Result<T, Error> {
        if let Some(object) = body.as_object_mut() {
            object.insert(
                "advertiser_id".into(),
                Value::from(self.config.advertiser_id.clone()),
            );
        }
        let request = http::post(self.url(endpoint))
            .header("Access-Token", &self.token)
            .json(&body);
        data(request.send()?)
    }
}

/// The `data` of a successful answer, or the error its `code` means.
fn data<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    // TikTok answers HTTP 200 even for errors; any other status comes from
    // something in front of the API (a gateway, a proxy).
    let response = response.error_for_status()?;
    let envelope: Envelope = response.json()?;
    if envelope.code != 0 {
        return Err(error_of(&envelope));
    }
    serde_json::from_value(envelope.data)
        .map_err(|e| Error::internal(format!("TikTok answered data of an unexpected shape: {e}")))
}

/// The SDK error a TikTok error code means.
fn error_of(envelope: &Envelope) -> Error {
    let message = match &envelope.request_id {
        Some(id) => format!(
            "TikTok error {}: {} (request_id {id})",
            envelope.code, envelope.message
        ),
        None => format!("TikTok error {}: {}", envelope.code, envelope.message),
    };
    match envelope.code {
        40100 => Error::RateLimited {
            retry_after_ms: RATE_LIMIT_WAIT_MS,
            message,
        },
        // No permission for the advertiser; token expired, missing, wrong.
        40001 | 40102 | 40104 | 40105 => Error::Auth(message),
        40002 => Error::InvalidInput(message),
        50000..=59999 => Error::Transient(message),
        _ => Error::Internal(message),
    }
}

/// A metric value as a number: TikTok sends them as strings (`"12.34"`);
/// `"-"` and absent mean not applicable.
pub fn number(metrics: &Value, name: &str) -> Result<Option<f64>, Error> {
    match metrics.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "-" || s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .map(Some)
            .map_err(|_| Error::internal(format!("metric `{name}` is not a number: `{s}`"))),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(Error::internal(format!(
            "metric `{name}` is not a number: {other}"
        ))),
    }
}

/// A count metric (impressions, clicks, reach) as an integer.
pub fn count(metrics: &Value, name: &str) -> Result<Option<i64>, Error> {
    Ok(number(metrics, name)?.map(|n| n.round() as i64))
}

/// A text field or metric; ids may come as numbers.
pub fn text(object: &Value, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(s) if s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
