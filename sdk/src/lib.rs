//! # omnify-sdk
//!
//! Write Omnify plugins in Rust. A plugin is a WebAssembly component built for
//! `wasm32-wasip2` against the `omnify:plugin@1.1.0` contract (the WIT files in
//! this crate's `wit/`). There are two kinds:
//!
//! - a **connector** implements [`connector::Connector`] and is exported with
//!   [`export_connector!`]: it reads records from a platform in batches and
//!   performs actions on it;
//! - an **agent** implements [`agent::Agent`] and is exported with
//!   [`export_agent!`]: it reads the tenant's synced records through [`data`]
//!   and returns insights and proposed actions.
//!
//! Both can use the host's capabilities: [`log`], [`kv`], [`config`],
//! [`secrets`] and [`http`] (and [`data`] for agents). Every capability is scoped by the host to the
//! current tenant and plugin, and limited to what the tenant granted.
//!
//! ## A complete connector
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "greetings"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! # From crates.io. From a checkout of the Omnify repository instead:
//! # omnify-sdk = { version = "0.1", path = "<checkout>/sdk" }
//! omnify-sdk = "0.1"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
//! use omnify_sdk::{Error, http, json};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     base_url: String,
//! }
//!
//! #[derive(Deserialize, Serialize)]
//! struct Greeting {
//!     id: u64,
//!     text: String,
//! }
//!
//! #[derive(Deserialize)]
//! struct Page {
//!     greetings: Vec<Greeting>,
//!     next_page: Option<u32>,
//! }
//!
//! struct Greetings;
//!
//! impl Connector for Greetings {
//!     fn spec() -> serde_json::Value {
//!         json!({
//!             "type": "object",
//!             "required": ["base_url"],
//!             "properties": { "base_url": { "type": "string", "format": "uri" } }
//!         })
//!     }
//!
//!     fn check() -> Result<(), Error> {
//!         let config: Config = omnify_sdk::config::get()?;
//!         http::get(format!("{}/greetings", config.base_url)).send()?.error_for_status()?;
//!         Ok(())
//!     }
//!
//!     fn discover() -> Result<Vec<Stream>, Error> {
//!         Ok(vec![Stream::new("greetings", &["id"], json!({"type": "object"}))])
//!     }
//!
//!     fn read(request: ReadRequest) -> Result<Batch, Error> {
//!         let config: Config = omnify_sdk::config::get()?;
//!         let page_number: u32 = request.state_as()?.unwrap_or(1);
//!         let page: Page = http::get(format!("{}/greetings", config.base_url))
//!             .query("page", page_number)
//!             .query("per_page", request.limit)
//!             .bearer_auth(&omnify_sdk::secrets::get("api_token")?)
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         omnify_sdk::info!("page {page_number}: {} greetings", page.greetings.len());
//!         let batch = Batch::from_records(&page.greetings)?;
//!         match page.next_page {
//!             Some(next) => Ok(batch.with_state(&next)?.with_more(true)),
//!             None => Ok(batch),
//!         }
//!     }
//! }
//!
//! omnify_sdk::export_connector!(Greetings);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and run it with
//! `omnify plugin run <crate dir or .wasm> read --input '{"stream":"greetings"}'
//! --config base_url=... --secret api_token=... --allow-host ...`.
//!
//! ## Testing it natively
//!
//! A plugin's exports are plain functions, so a normal `#[test]` (run with
//! `cargo test`, no WebAssembly involved) can call them inside
//! [`testing::Harness::run`], which stands in for the host: it gives the
//! configuration and secrets, scripts the HTTP replies, and records the
//! requests, key-value writes and logs. A capability called outside a run
//! panics with a message that says so, failing only that test.
//!
//! ```
//! # use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
//! # use omnify_sdk::{Error, http, json};
//! # struct Greetings;
//! # impl Connector for Greetings {
//! #     fn spec() -> serde_json::Value { json!({}) }
//! #     fn check() -> Result<(), Error> { Ok(()) }
//! #     fn discover() -> Result<Vec<Stream>, Error> { Ok(vec![]) }
//! #     fn read(request: ReadRequest) -> Result<Batch, Error> {
//! #         let base: String = omnify_sdk::config::setting("base_url")?.unwrap_or_default();
//! #         let page: serde_json::Value = http::get(format!("{base}/greetings"))
//! #             .query("page", 1)
//! #             .query("per_page", request.limit)
//! #             .bearer_auth(&omnify_sdk::secrets::get("api_token")?)
//! #             .send()?
//! #             .error_for_status()?
//! #             .json()?;
//! #         Batch::from_records(page["greetings"].as_array().map_or(&[][..], |a| &a[..]))
//! #     }
//! # }
//! use omnify_sdk::testing::{Harness, Reply};
//!
//! // In `#[cfg(test)] mod tests`, as a `#[test] fn`:
//! let harness = Harness::new()
//!     .config(json!({"base_url": "https://api.example.test"}))
//!     .secret("api_token", "t0k")
//!     .reply(
//!         "GET",
//!         "https://api.example.test/greetings?page=1&per_page=500",
//!         Reply::json(200, json!({"greetings": [{"id": 1, "text": "hi"}], "next_page": null})),
//!     );
//! let batch = harness.run(|| Greetings::read(ReadRequest::new("greetings"))).unwrap();
//! assert_eq!(batch.records, vec![json!({"id": 1, "text": "hi"})]);
//! assert_eq!(harness.requests()[0].header("authorization"), Some("Bearer t0k"));
//! ```
//!
//! See [`testing`] for scripting `429`s and failures, key-value entries and,
//! for agents, synced records.

#![warn(missing_docs)]

extern crate self as omnify_sdk;

pub mod agent;
#[doc(hidden)]
pub mod bindings;
pub mod config;
pub mod connector;
pub mod data;
mod error;
mod host;
pub mod http;
pub mod kv;
pub mod log;
pub mod secrets;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod webhook;

pub use error::{Error, Result};
pub use serde_json::{Value, json};

/// Re-exports used by the macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
