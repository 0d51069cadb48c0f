//! What a harness holds, and how it answers capability calls: the same
//! answers and errors as the Omnify host (`runtime/src/capability`), with the
//! host's default limits.

use super::reply::{RecordedRequest, Reply};
use crate::host::native::Backend;
use crate::host::{DataError, HttpError, KvError, Level, Page, Request, Response, SecretError, StreamRef};
use crate::http::Method;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The host's default cap on a key's length, in bytes.
pub(super) const KV_KEY_BYTES: u32 = 256;
/// The host's default cap on a value's size, in bytes.
pub(super) const KV_VALUE_BYTES: u32 = 64 << 10;
/// The host's default cap on the total size of a plugin's entries.
pub(super) const KV_TOTAL_BYTES: u64 = 1 << 20;
/// The most keys one `list-keys` returns.
const KV_MAX_LIST: u32 = 1000;
/// The host's default cap on HTTP requests in one call.
pub(super) const HTTP_REQUESTS: u32 = 200;
/// The most records one data `read` returns.
const DATA_MAX_PAGE: u32 = 1000;
/// The most bytes of records one data `read` returns (at least one record).
const DATA_MAX_PAGE_BYTES: usize = 4 << 20;

/// The replies scripted for one method and URL.
#[derive(Debug, Default)]
struct Script {
    replies: Vec<Reply>,
    served: usize,
}

impl Script {
    /// The next reply; the last one repeats.
    fn next(&mut self) -> Option<Reply> {
        let index = self.served.min(self.replies.len().checked_sub(1)?);
        self.served += 1;
        self.replies.get(index).cloned()
    }
}

/// Everything a harness was given and everything the plugin did.
#[derive(Debug)]
pub(super) struct State {
    pub(super) config: serde_json::Value,
    /// Declared secrets, with their value if set.
    pub(super) secrets: BTreeMap<String, Option<String>>,
    pub(super) kv_granted: bool,
    pub(super) kv: BTreeMap<String, Vec<u8>>,
    pub(super) logs: Vec<(Level, String)>,
    scripts: HashMap<(String, String), Script>,
    pub(super) requests: Vec<RecordedRequest>,
    /// Requests made in the current run, against [`HTTP_REQUESTS`].
    pub(super) requests_in_run: u32,
    /// Granted streams, in the order given.
    pub(super) streams: Vec<(String, String)>,
    /// The records of each granted stream, as JSON text.
    pub(super) records: HashMap<(String, String), Vec<String>>,
    pub(super) sleeps: Vec<Duration>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            config: serde_json::Value::Object(serde_json::Map::new()),
            secrets: BTreeMap::new(),
            kv_granted: true,
            kv: BTreeMap::new(),
            logs: Vec::new(),
            scripts: HashMap::new(),
            requests: Vec::new(),
            requests_in_run: 0,
            streams: Vec::new(),
            records: HashMap::new(),
            sleeps: Vec::new(),
        }
    }
}

impl State {
    pub(super) fn script(&mut self, method: &str, url: &str, reply: Reply) {
        let key = (method.to_ascii_uppercase(), url.to_string());
        self.scripts.entry(key).or_default().replies.push(reply);
    }

    fn kv_key_allowed(&self, key: &str) -> Result<(), KvError> {
        if !self.kv_granted {
            return Err(KvError::NotGranted);
        }
        if key.is_empty() || key.len() > KV_KEY_BYTES as usize {
            return Err(KvError::InvalidKey(KV_KEY_BYTES));
        }
        Ok(())
    }

    fn kv_used(&self) -> u64 {
        self.kv.iter().map(|(k, v)| entry_size(k, v)).sum()
    }
}

fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// The method as it is written on the wire.
pub(super) fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

/// A harness's state as the capability backend of a thread.
#[derive(Debug, Default)]
pub(super) struct Shared(pub(super) RefCell<State>);

impl Shared {
    /// Borrowed only for the length of one capability call, never across
    /// plugin code, so the borrow cannot clash.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

impl Backend for Shared {
    fn config_get_all(&self) -> String {
        self.with(|s| s.config.to_string())
    }

    fn config_get(&self, key: &str) -> Option<String> {
        self.with(|s| s.config.get(key).map(|value| value.to_string()))
    }

    fn secret(&self, name: &str) -> Result<String, SecretError> {
        self.with(|s| match s.secrets.get(name) {
            None => Err(SecretError::NotDeclared(format!(
                "secret `{name}` is not declared in the plugin's manifest \
                 (in a test, give it with Harness::secret)"
            ))),
            Some(None) => Err(SecretError::NotSet(format!(
                "secret `{name}` is declared but the tenant has not set it"
            ))),
            Some(Some(value)) => Ok(value.clone()),
        })
    }

    fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.with(|s| {
            s.kv_key_allowed(key)?;
            Ok(s.kv.get(key).cloned())
        })
    }

    fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.with(|s| {
            s.kv_key_allowed(key)?;
            if value.len() > KV_VALUE_BYTES as usize {
                return Err(KvError::ValueTooLarge(KV_VALUE_BYTES));
            }
            let old = s.kv.get(key).map_or(0, |v| entry_size(key, v));
            let new = entry_size(key, value);
            let total = s.kv_used().saturating_sub(old) + new;
            if new > old && total > KV_TOTAL_BYTES {
                return Err(KvError::QuotaExceeded(KV_TOTAL_BYTES));
            }
            s.kv.insert(key.to_string(), value.to_vec());
            Ok(())
        })
    }

    fn kv_delete(&self, key: &str) -> Result<bool, KvError> {
        self.with(|s| {
            s.kv_key_allowed(key)?;
            Ok(s.kv.remove(key).is_some())
        })
    }

    fn kv_list_keys(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<String>, KvError> {
        self.with(|s| {
            if !s.kv_granted {
                return Err(KvError::NotGranted);
            }
            // The map is ordered, as the host's store is.
            Ok(s.kv
                .keys()
                .filter(|key| key.starts_with(prefix) && after.is_none_or(|a| key.as_str() > a))
                .take(limit.min(KV_MAX_LIST) as usize)
                .cloned()
                .collect())
        })
    }

    fn log(&self, level: Level, message: &str) {
        self.with(|s| s.logs.push((level, message.to_string())));
    }

    fn http_send(&self, request: &Request) -> Result<Response, HttpError> {
        self.with(|s| {
            if s.requests_in_run >= HTTP_REQUESTS {
                return Err(HttpError::TooManyRequests(HTTP_REQUESTS));
            }
            s.requests_in_run += 1;
            let method = method_name(request.method);
            let key = (method.to_string(), request.url.clone());
            let reply = s.scripts.get_mut(&key).and_then(Script::next);
            s.requests.push(RecordedRequest {
                method: method.to_string(),
                url: request.url.clone(),
                headers: request
                    .headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect(),
                body: request.body.clone(),
                answered: reply.is_some(),
            });
            match reply {
                Some(reply) => reply.to_host(),
                None => Err(HttpError::Transport(format!(
                    "the test harness has no reply scripted for {method} {} \
                     (add one with Harness::reply)",
                    request.url
                ))),
            }
        })
    }

    fn data_streams(&self) -> Vec<StreamRef> {
        self.with(|s| {
            s.streams
                .iter()
                .map(|(connector, stream)| StreamRef {
                    connector: connector.clone(),
                    stream: stream.clone(),
                })
                .collect()
        })
    }

    fn data_read(
        &self,
        connector: &str,
        stream: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page, DataError> {
        self.with(|s| {
            let key = (connector.to_string(), stream.to_string());
            let Some(records) = s.records.get(&key) else {
                return Err(DataError::NotGranted(format!("{connector}/{stream}")));
            };
            let start = match after {
                None => 0,
                Some(position) => position.parse::<usize>().map_err(|_| {
                    DataError::Unavailable(format!("`{position}` is not a position a previous page returned"))
                })?,
            };
            let limit = limit.clamp(1, DATA_MAX_PAGE) as usize;
            let mut page = Vec::new();
            let mut bytes = 0;
            for record in records.iter().skip(start).take(limit) {
                if !page.is_empty() && bytes + record.len() > DATA_MAX_PAGE_BYTES {
                    break;
                }
                bytes += record.len();
                page.push(record.clone());
            }
            let end = start + page.len();
            Ok(Page {
                records: page,
                next: (end < records.len()).then(|| end.to_string()),
            })
        })
    }

    fn sleep(&self, duration: Duration) {
        self.with(|s| s.sleeps.push(duration));
    }
}
