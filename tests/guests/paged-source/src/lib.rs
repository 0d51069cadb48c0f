//! A minimal connector for the sync engine's tests: one stream, `items`,
//! read page by page from `GET {base_url}/items?after=<cursor>&limit=<n>`.
//! It leaves retries to the host (no inline retry), so that the engine's
//! own backoff and `Retry-After` handling are what the tests see. One
//! action, `set-level`, puts a number at `PUT {base_url}/level` with the
//! idempotency key, and previews it from `GET {base_url}/level`, so that a
//! test's server sees exactly what executing a proposal does.

use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, SyncMode};
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

#[derive(Deserialize)]
struct Level {
    level: f64,
}

struct PagedSource;

impl PagedSource {
    /// The level `set-level` sets, checked.
    fn wanted(name: &str, input: &Value) -> Result<f64, Error> {
        if name != "set-level" {
            return Err(Error::not_found(format!("no action `{name}`")));
        }
        input
            .get("level")
            .and_then(Value::as_f64)
            .filter(|level| level.is_finite())
            .ok_or_else(|| Error::invalid_input("`level` must be a number"))
    }
}

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

    fn actions() -> Vec<ActionSpec> {
        vec![ActionSpec {
            name: "set-level".into(),
            description: "Set the source's level".into(),
            input_schema: json!({"type": "object", "required": ["level"], "properties": {"level": {"type": "number"}}}),
        }]
    }

    fn act(name: &str, input: Value, idempotency_key: &str) -> Result<Value, Error> {
        let level = Self::wanted(name, &input)?;
        let config: Config = omnify_sdk::config::get()?;
        http::put(format!("{}/level", config.base_url))
            .header("idempotency-key", idempotency_key)
            .json(&json!({ "level": level }))
            .retry(RetryPolicy::none())
            .timeout(std::time::Duration::from_secs(60))
            .send()?
            .error_for_status()?
            .json()
    }

    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        let level = Self::wanted(name, &input)?;
        let config: Config = omnify_sdk::config::get()?;
        let now: Level = http::get(format!("{}/level", config.base_url))
            .retry(RetryPolicy::none())
            .send()?
            .error_for_status()?
            .json()?;
        Ok(Preview::new(
            "source",
            "level",
            "level",
            (now.level, level),
            "units",
        ))
    }
}

omnify_sdk::export_connector!(PagedSource);
