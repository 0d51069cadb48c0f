//! A minimal connector for the sync engine's tests: one stream, `items`,
//! read page by page from `GET {base_url}/items?after=<cursor>&limit=<n>`.
//! It leaves retries to the host (no inline retry), so that the engine's
//! own backoff and `Retry-After` handling are what the tests see.

use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream, SyncMode};
use omnify_sdk::http::{self, RetryPolicy};
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    base_url: String,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Value>,
    next: Option<u64>,
}

struct PagedSource;

impl Connector for PagedSource {
    fn spec() -> Value {
        json!({"type": "object", "required": ["base_url"], "properties": {"base_url": {"type": "string"}}})
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(vec![
            Stream::new("items", &["id"], json!({"type": "object"})).incremental("id"),
        ])
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        if request.stream != "items" {
            return Err(Error::not_found(format!("no stream `{}`", request.stream)));
        }
        let config: Config = omnify_sdk::config::get()?;
        let after = match request.mode {
            SyncMode::Incremental | SyncMode::FullRefresh => request.state_as::<u64>()?.unwrap_or(0),
        };
        let page: Page = http::get(format!("{}/items", config.base_url))
            .query("after", after)
            .query("limit", request.limit)
            .retry(RetryPolicy::none())
            .send()?
            .error_for_status()?
            .json()?;
        let last = page
            .items
            .last()
            .and_then(|item| item.get("id"))
            .and_then(Value::as_u64)
            .unwrap_or(after);
        Ok(Batch {
            records: page.items,
            state: Some(json!(last)),
            has_more: page.next.is_some(),
        })
    }
}

omnify_sdk::export_connector!(PagedSource);
