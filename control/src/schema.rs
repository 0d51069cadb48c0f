//! Checking JSON against the JSON Schemas plugins publish (a connector's
//! `spec`, an action's input schema), naming every failing path.

use serde_json::Value;

/// Why `instance` does not fit the schema `schema` (JSON Schema text): one
/// line per failing path, none when it fits. An error when the schema
/// itself is not JSON or not a valid JSON Schema.
pub(crate) fn problems(schema: &str, instance: &Value) -> Result<Vec<String>, String> {
    let schema: Value = serde_json::from_str(schema).map_err(|e| format!("the schema is not JSON: {e}"))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| format!("the schema is not a valid JSON Schema: {e}"))?;
    Ok(validator
        .iter_errors(instance)
        .map(|error| {
            let path = error.instance_path().to_string();
            format!("at {}: {error}", if path.is_empty() { "/" } else { &path })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::problems;
    use serde_json::json;

    #[test]
    fn every_failing_path_is_named() {
        let schema = r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}"#;
        let found = problems(schema, &json!({"a": 1, "b": "x"})).expect("a valid schema");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|p| p.starts_with("at /a:")), "{found:?}");
        assert!(problems(schema, &json!({"a": "ok"})).expect("valid").is_empty());
        assert!(problems("{", &json!({})).is_err());
    }
}
