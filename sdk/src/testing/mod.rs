//! Unit-testing plugins natively, in a normal `#[test]`.
//!
//! A [`Harness`] stands in for the Omnify host: it holds the configuration,
//! secrets, key-value entries and synced records a call sees, answers HTTP
//! requests with scripted [`Reply`]s, and records what the plugin did. Call a
//! connector's or agent's functions inside [`Harness::run`]; their capability
//! calls go to the harness. Outside a run, a capability call panics with a
//! message that says so, failing only that test.
//!
//! The harness answers as the host does, with the host's default limits: a
//! secret it was not given is "not declared" ([`Error::Config`](crate::Error)),
//! keys are 1 to 256 bytes, values at most 64 KiB, 200 HTTP requests per
//! run. Waits the SDK makes between HTTP retries are recorded in
//! [`Harness::sleeps`] instead of slept, so tests of retries run at once.
//!
//! ```
//! use omnify_sdk::testing::{Harness, Reply};
//! use omnify_sdk::{http, json, kv};
//!
//! fn fetch_cursor() -> omnify_sdk::Result<String> {
//!     let token = omnify_sdk::secrets::get("api_token")?;
//!     let body: serde_json::Value = http::get("https://api.example.test/cursor")
//!         .bearer_auth(&token)
//!         .send()?
//!         .error_for_status()?
//!         .json()?;
//!     let cursor = body["cursor"].as_str().unwrap_or_default().to_string();
//!     kv::set("cursor", cursor.as_bytes())?;
//!     Ok(cursor)
//! }
//!
//! let harness = Harness::new()
//!     .secret("api_token", "t0k")
//!     .reply("GET", "https://api.example.test/cursor", Reply::json(200, json!({"cursor": "abc"})));
//! assert_eq!(harness.run(fetch_cursor), Ok("abc".to_string()));
//! assert_eq!(harness.kv("cursor"), Some(b"abc".to_vec()));
//! assert_eq!(harness.requests()[0].header("authorization"), Some("Bearer t0k"));
//! ```

mod reply;
mod state;

pub use crate::log::Level;
pub use reply::{RecordedRequest, Reply};

use crate::host::native;
use state::{Shared, State};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// A stand-in for the Omnify host in native tests. Build it with the
/// methods below, then call the plugin inside [`Harness::run`]. Clones
/// share one state.
#[derive(Debug, Clone, Default)]
pub struct Harness {
    shared: Rc<Shared>,
}

impl Harness {
    /// A harness with an empty configuration (`{}`), no secrets, an empty
    /// key-value store, no streams and no scripted replies.
    pub fn new() -> Self {
        Self::default()
    }

    fn edit(self, f: impl FnOnce(&mut State)) -> Self {
        f(&mut self.shared.0.borrow_mut());
        self
    }

    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.0.borrow())
    }

    /// The whole configuration, what [`config::get`](crate::config::get)
    /// and [`config::get_raw`](crate::config::get_raw) return. The host
    /// always holds a JSON object.
    pub fn config(self, config: serde_json::Value) -> Self {
        self.edit(|s| s.config = config)
    }

    /// Set one top-level setting of the configuration, keeping the others.
    pub fn setting(self, key: &str, value: serde_json::Value) -> Self {
        self.edit(|s| {
            if !s.config.is_object() {
                s.config = serde_json::Value::Object(serde_json::Map::new());
            }
            if let Some(object) = s.config.as_object_mut() {
                object.insert(key.to_string(), value);
            }
        })
    }

    /// A secret the manifest declares and the tenant set.
    pub fn secret(self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        self.edit(|s| {
            s.secrets.insert(name.to_string(), Some(value));
        })
    }

    /// A secret the manifest declares but the tenant has not set.
    pub fn declared_secret(self, name: &str) -> Self {
        self.edit(|s| {
            s.secrets.insert(name.to_string(), None);
        })
    }

    /// A key-value entry present before the call.
    pub fn kv_entry(self, key: &str, value: impl AsRef<[u8]>) -> Self {
        let value = value.as_ref().to_vec();
        self.edit(|s| {
            s.kv.insert(key.to_string(), value);
        })
    }

    /// Key-value storage not granted to the plugin: every `kv` call fails
    /// as it does in the host.
    pub fn without_kv(self) -> Self {
        self.edit(|s| s.kv_granted = false)
    }

    /// Grant the stream `stream` of connector `connector` to the agent, with
    /// `records` as its synced records, in the order [`crate::data`] reads
    /// them. Calling it again for the same stream appends.
    pub fn records(self, connector: &str, stream: &str, records: Vec<serde_json::Value>) -> Self {
        let key = (connector.to_string(), stream.to_string());
        self.edit(|s| {
            if !s.streams.contains(&key) {
                s.streams.push(key.clone());
            }
            let stored = s.records.entry(key).or_default();
            stored.extend(records.iter().map(|r| r.to_string()));
        })
    }

    /// Answer the request `method` `url` (the full URL, query string
    /// included, as the plugin builds it) with `reply`. Several replies for
    /// the same method and URL are served in order; the last one repeats. A
    /// request with none gets a transport error naming it.
    pub fn reply(self, method: &str, url: &str, reply: Reply) -> Self {
        self.edit(|s| s.script(method, url, reply))
    }

    /// Run `call` with this harness serving the capabilities on this
    /// thread, and return what it returns.
    ///
    /// Each run is one call as the host sees it: the HTTP request cap
    /// starts afresh, and key-value writes stay unless `call` panics (the
    /// host drops the writes of a call that traps).
    pub fn run<R>(&self, call: impl FnOnce() -> R) -> R {
        let kv_before = self.read(|s| s.kv.clone());
        self.shared.0.borrow_mut().requests_in_run = 0;
        let _installed = native::install(self.shared.clone());
        let _rollback = Rollback {
            harness: self,
            kv_before,
        };
        call()
    }

    /// Every HTTP request the plugin sent, in order, answered or not.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.read(|s| s.requests.clone())
    }

    /// The requests that had no scripted reply.
    pub fn unanswered(&self) -> Vec<RecordedRequest> {
        self.read(|s| s.requests.iter().filter(|r| !r.answered).cloned().collect())
    }

    /// The value stored under `key` now.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        self.read(|s| s.kv.get(key).cloned())
    }

    /// Every key-value entry now, in key order.
    pub fn kv_entries(&self) -> Vec<(String, Vec<u8>)> {
        self.read(|s| s.kv.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// Every line the plugin logged, in order.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.read(|s| s.logs.clone())
    }

    /// The waits the SDK made between HTTP retries, in order. They are
    /// recorded, not slept.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.read(|s| s.sleeps.clone())
    }
}

/// Puts the key-value store back as it was when the run panics.
struct Rollback<'a> {
    harness: &'a Harness,
    kv_before: BTreeMap<String, Vec<u8>>,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(mut state) = self.harness.shared.0.try_borrow_mut()
        {
            state.kv = std::mem::take(&mut self.kv_before);
        }
    }
}
