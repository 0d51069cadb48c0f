//! The served OpenAPI document speaks to API users: no Rust paths, raw
//! bodies as bytes, the role every route needs, and how to call exports.

use super::*;

/// Every `description` and `summary` in `value`, with where it is.
fn texts(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{at}/{key}");
                match (key.as_str(), inner) {
                    ("description" | "summary", Value::String(text)) => found.push((here, text.clone())),
                    _ => texts(inner, &here, found),
                }
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                texts(inner, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

fn is_bytes(schema: &Value) -> bool {
    schema["type"] == "string" && schema["format"] == "binary"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_written_for_api_users() {
    captured_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, _) = TestHost::start(dir.path(), &[]).await;
    let reply = host.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let doc = &reply.json;

    let mut found = Vec::new();
    texts(doc, "", &mut found);
    assert!(found.len() > 100, "descriptions were found: {}", found.len());
    let internal: Vec<_> = found
        .iter()
        .filter(|(_, text)| text.contains("[`") || text.contains("::"))
        .collect();
    assert!(internal.is_empty(), "descriptions with Rust paths: {internal:#?}");
    for schema in [
        "EnableRequest",
        "RepinRequest",
        "NewTenant",
        "SyncRequest",
        "Role",
    ] {
        let description = doc["components"]["schemas"][schema]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(!description.starts_with("Input of"), "{schema}: {description}");
        assert!(!description.is_empty(), "{schema} is described");
    }

    let publish = &doc["paths"]["/v1/plugins"]["post"];
    assert!(
        is_bytes(&publish["requestBody"]["content"]["application/octet-stream"]["schema"]),
        "the package upload is bytes: {publish}"
    );
    let hook = &doc["paths"]["/v1/hooks/{tenant}/{connector}"]["post"];
    assert!(is_bytes(
        &hook["requestBody"]["content"]["application/octet-stream"]["schema"]
    ));
    let download = &doc["paths"]["/v1/plugins/{plugin}/versions/{version}/package"]["get"];
    assert!(is_bytes(
        &download["responses"]["200"]["content"]["application/octet-stream"]["schema"]
    ));

    // Every operation says who may call it, from the access table.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let description = operation["description"].as_str().unwrap_or_default();
            assert!(description.contains("Needs "), "{method} {path}: {description}");
            let summary = operation["summary"].as_str().unwrap_or_default();
            assert!(
                !summary.is_empty() && !summary.contains('\n'),
                "{method} {path} has a one-line summary: {summary}"
            );
            operations += 1;
        }
    }
    assert!(operations > 40, "{operations}");
    let needs = |method: &str, path: &str| {
        doc["paths"][path][method]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(needs("put", "/v1/tenants/{tenant}/plugins/{plugin}").ends_with("Needs the admin token."));
    assert!(
        needs("post", "/v1/tenants/{tenant}/plugins/{plugin}/invoke")
            .contains("Needs a key of this tenant with the role `operator` or above, or the admin token.")
    );

    // How to call `check` and the other exports through `/invoke`.
    let invoke = needs("post", "/v1/tenants/{tenant}/plugins/{plugin}/invoke");
    for export in [
        "spec",
        "check",
        "discover",
        "read",
        "actions",
        "preview",
        "act",
        "verify-webhook",
        "describe",
        "run",
    ] {
        assert!(
            invoke.contains(&format!("| `{export}`")),
            "`{export}` is listed: {invoke}"
        );
    }
    assert!(invoke.contains(r#"{"export": "check"}"#), "{invoke}");
    let examples = &doc["components"]["schemas"]["InvokeRequest"]["examples"];
    assert!(
        examples
            .as_array()
            .is_some_and(|e| e.contains(&json!({"export": "check"}))),
        "{examples}"
    );

    // How secrets are kept and cleared.
    let secrets = doc["components"]["schemas"]["EnableRequest"]["properties"]["secrets"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(secrets.contains(r#"{"api_token": null}"#), "{secrets}");
    assert!(secrets.contains("kept"), "{secrets}");
    host.stop().await;
}
