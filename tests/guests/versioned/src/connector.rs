// The connector both builds share; each crate defines `BUILD` and includes
// this file, so the two components differ only in the build they report.

use omnify_sdk::connector::{Batch, Connector, ReadRequest, Stream};
use omnify_sdk::http::{self, RetryPolicy};
use omnify_sdk::{Error, Value, json};
use serde::Deserialize;

#[derive(Deserialize)]
struct Config {
    base_url: String,
}

struct Versioned;

impl Connector for Versioned {
    fn spec() -> Value {
        json!({"type": "object", "required": ["base_url"], "properties": {"base_url": {"type": "string"}}})
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn discover() -> Result<Vec<Stream>, Error> {
        Ok(vec![Stream::new("build", &["id"], json!({"type": "object"}))])
    }

    /// One record naming this build, after the server at `base_url` lets
    /// the call go on: a test holds calls there while it moves the pin.
    fn read(_request: ReadRequest) -> Result<Batch, Error> {
        let config: Config = omnify_sdk::config::get()?;
        http::get(format!("{}/wait", config.base_url))
            .retry(RetryPolicy::none())
            .send()?
            .error_for_status()?;
        Batch::from_records(&[json!({"id": 1, "build": BUILD})])
    }
}

omnify_sdk::export_connector!(Versioned);
