//! The checks several connector tests make alike.

use omnify_sandbox::world::Totals;
use omnify_tests::host::Reply;
use serde_json::{Value, json};

/// Cents as the major units the connectors write money in.
pub fn major(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Assert that `run` succeeded.
pub fn assert_succeeded(run: &Value) {
    assert_eq!(run["status"], "succeeded", "{run:#}");
}

/// Assert that `run` failed with an error naming each of `needles`;
/// returns the error.
pub fn assert_failed<'r>(run: &'r Value, needles: &[&str]) -> &'r str {
    assert_eq!(run["status"], "failed", "{run:#}");
    let error = run["last_error"].as_str().unwrap_or_default();
    for needle in needles {
        assert!(error.contains(needle), "no `{needle}` in the error of {run:#}");
    }
    error
}

/// The kind (`auth`, `invalid-input`, ...) and message of the error a
/// plugin returned from a failed invoke.
pub fn plugin_error(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, 502, "the call fails in the plugin: {}", reply.text);
    let error = &reply.json["error"]["details"]["error"];
    assert_eq!(error["code"], "plugin", "{}", reply.text);
    let kind = error["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no error kind: {}", reply.text));
    let message = error["message"].as_str().unwrap_or_default();
    (kind.to_string(), message.to_string())
}

/// Assert that the action audit entries `acts` are the successful runs of
/// the actions `names`, in that order.
pub fn assert_acted(acts: &[Value], names: &[&str]) {
    let acted: Vec<&Value> = acts.iter().map(|e| &e["details"]["action"]["name"]).collect();
    assert_eq!(acted, names, "{acts:#?}");
    assert!(acts.iter().all(|e| e["outcome"] == "ok"), "{acts:#?}");
}

/// Assert that a daily insight `record` carries the world's `totals` of
/// that object and day, money in dollars.
pub fn assert_insight(record: &Value, totals: &Totals) {
    assert_eq!(record["spend"], json!(major(totals.spend_cents)), "{record}");
    assert_eq!(record["impressions"], totals.impressions, "{record}");
    assert_eq!(record["clicks"], totals.clicks, "{record}");
    assert_eq!(
        record["conversions"],
        json!(totals.conversions as f64),
        "{record}"
    );
    assert_eq!(
        record["conversion_value"],
        json!(major(totals.conversion_value_cents)),
        "{record}"
    );
    assert_eq!(record["currency"], "USD", "{record}");
}

/// Assert that a failed invoke's plugin error is of `kind` and its
/// message names `needle`.
pub fn assert_refused(reply: &Reply, kind: &str, needle: &str) {
    let (got, message) = plugin_error(reply);
    assert_eq!(got, kind, "{message}");
    assert!(message.contains(needle), "no `{needle}` in: {message}");
}
