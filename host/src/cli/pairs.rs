//! `KEY=VALUE` flags (`--config`, `--secret`) as the plugin commands read
//! them.

use anyhow::Context;
use serde_json::Value;

/// Split `pair` at its first `=`; the key may not be empty.
pub(super) fn split_pair<'a>(flag: &str, pair: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    pair.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .with_context(|| format!("{flag} `{pair}` is not KEY=VALUE"))
}

/// A configuration value: JSON if it parses, else the text itself.
pub(super) fn json_or_text(value: &str) -> Value {
    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()))
}
