//! A small connector that shows every part of the SDK a partner needs.
//!
//! - `greetings`: one record per name, from the tenant's configuration plus
//!   the names added with the `add-name` action (kept in the plugin's KV
//!   store). Incremental on `id`.
//! - `quotes`: read page by page over HTTP from `quotes_url`, with an optional
//!   `api_token` secret sent as a bearer token.

use omnify_sdk::connector::{ActionSpec, Batch, Connector, Preview, ReadRequest, Stream, SyncMode};
use omnify_sdk::{Error, http, json, kv};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const EXTRA_NAMES_KEY: &str = "extra-names";

#[derive(Deserialize)]
struct Config {
    #[serde(default = "default_greeting")]
    greeting: String,
    names: Vec<String>,
    quotes_url: Option<String>,
}

fn default_greeting() -> String {
    "Hello".to_string()
}

#[derive(Serialize)]
struct Greeting {
    id: u64,
    name: String,
    text: String,
}

#[derive(Deserialize, Serialize)]
struct Quote {
    id: u64,
    text: String,
}

#[derive(Deserialize)]
struct QuotePage {
    quotes: Vec<Quote>,
    next_page: Option<u32>,
}

struct Hello;

impl Hello {
    /// The name `add-name` adds, checked, and the extra names stored now.
    fn names_for<'a>(action: &str, input: &'a Value) -> Result<(&'a str, Vec<String>), Error> {
        if action != "add-name" {
            return Err(Error::not_found(format!("no action `{action}`")));
        }
        let new_name = input
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::invalid_input("`name` must be a non-empty string"))?;
        Ok((
            new_name,
            kv::get_json::<Vec<String>>(EXTRA_NAMES_KEY)?.unwrap_or_default(),
        ))
    }

    fn names(config: &Config) -> Result<Vec<String>, Error> {
        let mut names = config.names.clone();
        names.extend(kv::get_json::<Vec<String>>(EXTRA_NAMES_KEY)?.unwrap_or_default());
        Ok(names)
    }

    fn quotes_url(config: &Config) -> Result<&str, Error> {
        config
            .quotes_url
            .as_deref()
            .ok_or_else(|| Error::config("`quotes_url` is not set, so there is no `quotes` stream"))
    }

    fn read_greetings(config: &Config, request: &ReadRequest) -> Result<Batch, Error> {
        let after = match request.mode {
            SyncMode::Incremental => request.state_as::<u64>()?.unwrap_or(0),
            SyncMode::FullRefresh => 0,
        };
        let names = Self::names(config)?;
        let greetings: Vec<Greeting> = names
            .iter()
            .enumerate()
            .map(|(i, name)| Greeting {
                id: i as u64 + 1,
                name: name.clone(),
                text: format!("{}, {name}!", config.greeting),
            })
            .filter(|g| g.id > after)
            .take(request.limit as usize)
            .collect();
        let last = greetings.last().map_or(after, |g| g.id);
        Ok(Batch::from_records(&greetings)?
            .with_state(&last)?
            .with_more(last < names.len() as u64))
    }

    fn read_quotes(config: &Config, request: &ReadRequest) -> Result<Batch, Error> {
        let page_number = request.state_as::<u32>()?.unwrap_or(1);
        let mut call = http::get(Self::quotes_url(config)?)
            .query("page", page_number)
            .query("per_page", request.limit);
        if let Ok(token) = omnify_sdk::secrets::get("api_token") {
            call = call.bearer_auth(&token);
        }
        let page: QuotePage = call.send()?.error_for_status()?.json()?;
        omnify_sdk::info!("quotes page {page_number}: {} quotes", page.quotes.len());
        let batch = Batch::from_records(&page.quotes)?;
        match page.next_page {
            Some(next) => Ok(batch.with_state(&next)?.with_more(true)),
            None => Ok(batch),
        }
    }
}

impl Connector for Hello {
    fn spec() -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["names"],
            "properties": {
                "greeting": { "type": "string", "default": "Hello" },
                "names": { "type": "array", "items": { "type": "string" } },
                "quotes_url": { "type": "string", "format": "uri" }
            },
            "additionalProperties": false
        })
    }

    fn check() -> Result<(), Error> {
        let config: Config = omnify_sdk::config::get()?;
        if let Some(url) = &config.quotes_url {
            http::get(url)
                .query("page", 1)
                .query("per_page", 1)
                .send()?
                .error_for_status()?;
        }
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        let config: Config = omnify_sdk::config::get()?;
        let mut streams = vec![
            Stream::new(
                "greetings",
                &["id"],
                json!({"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "text": {"type": "string"}
                }}),
            )
            .incremental("id"),
        ];
        if config.quotes_url.is_some() {
            streams.push(Stream::new(
                "quotes",
                &["id"],
                json!({"type": "object", "properties": {
                    "id": {"type": "integer"}, "text": {"type": "string"}
                }}),
            ));
        }
        Ok(streams)
    }

    fn read(request: ReadRequest) -> Result<Batch, Error> {
        let config: Config = omnify_sdk::config::get()?;
        match request.stream.as_str() {
            "greetings" => Self::read_greetings(&config, &request),
            "quotes" => Self::read_quotes(&config, &request),
            other => Err(Error::not_found(format!("no stream `{other}`"))),
        }
    }

    fn actions() -> Vec<ActionSpec> {
        vec![ActionSpec {
            name: "add-name".into(),
            description: "Add a name to greet, kept in the plugin's key-value store".into(),
            input_schema: json!({
                "type": "object",
                "required": ["name"],
                "properties": { "name": { "type": "string", "minLength": 1 } }
            }),
        }]
    }

    fn act(name: &str, input: Value, _idempotency_key: &str) -> Result<Value, Error> {
        let (new_name, mut extra) = Self::names_for(name, &input)?;
        // Adding a name twice changes nothing, so a retried action is safe.
        if !extra.iter().any(|n| n == new_name) {
            extra.push(new_name.to_string());
            kv::set_json(EXTRA_NAMES_KEY, &extra)?;
        }
        Ok(json!({ "extra_names": extra }))
    }

    /// What `add-name` would change: the number of extra names, now and
    /// after. The host judges a proposal by this, not by the agent's word.
    fn preview(name: &str, input: Value) -> Result<Preview, Error> {
        let (new_name, extra) = Self::names_for(name, &input)?;
        let now = extra.len() as f64;
        let after = if extra.iter().any(|n| n == new_name) {
            now
        } else {
            now + 1.0
        };
        Ok(Preview::new(
            "name-list",
            EXTRA_NAMES_KEY,
            "names",
            (now, after),
            "names",
        ))
    }
}

omnify_sdk::export_connector!(Hello);
