//! Every route refuses the wrong credentials; bad input changes nothing;
//! request ids and CORS.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_refuses_the_wrong_credentials() {
    let world = world().await;
    let host = &world.host;
    let doc = host.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc.json["paths"].as_object().expect("paths");
    for expected in [
        "/v1/tenants",
        "/v1/tenants/{tenant}",
        "/v1/tenants/{tenant}/keys",
        "/v1/plugins",
        "/v1/tenants/{tenant}/plugins/{plugin}",
        "/v1/tenants/{tenant}/plugins/{plugin}/invoke",
        "/v1/tenants/{tenant}/usage",
        "/v1/tenants/{tenant}/audit",
        "/v1/tenants/{tenant}/audit/verify",
        "/metrics",
    ] {
        assert!(paths.contains_key(expected), "{expected} is documented");
    }

    let before = snapshot(host);
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("operations") {
            let security = operation.get("security");
            assert!(security.is_some(), "{method} {path} declares its security");
            let summary = operation["summary"].as_str().unwrap_or_default();
            let admin_only = summary.contains("(admin)");
            let tenant_scoped = path.contains("{tenant}");
            let url = path
                .replace("{version}", "0.1.0")
                .replace("{tenant}", "acme")
                .replace("{plugin}", "hello-connector")
                .replace("{key}", &world.acme_key_id);
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
            if security == Some(&json!([{}])) {
                // A public route (webhook deliveries): it authenticates
                // the request itself, and refuses one it cannot.
                let refused = host.call(method.clone(), &url, None, body.as_ref()).await;
                assert!(refused.status >= 400, "{method} {url} unsigned: {}", refused.text);
                checked += 1;
                continue;
            }

            let none = host.call(method.clone(), &url, None, body.as_ref()).await;
            assert_eq!(none.status, 401, "{method} {url} without a key: {}", none.text);
            let revoked = host
                .call(method.clone(), &url, Some(&world.revoked), body.as_ref())
                .await;
            assert_eq!(
                revoked.status, 401,
                "{method} {url} with a revoked key: {}",
                revoked.text
            );
            if tenant_scoped {
                let other = host
                    .call(method.clone(), &url, Some(&world.rival_operator), body.as_ref())
                    .await;
                assert_eq!(
                    other.status, 403,
                    "{method} {url} with another tenant's key: {}",
                    other.text
                );
            }
            if admin_only {
                let operator = host
                    .call(method.clone(), &url, Some(&world.acme_operator), body.as_ref())
                    .await;
                assert_eq!(
                    operator.status, 403,
                    "{method} {url} with an operator key: {}",
                    operator.text
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 18, "checked {checked} operations");
    assert_eq!(snapshot(host), before, "refused requests changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let before = snapshot(host);

    let malformed = host
        .send(
            host.request(Method::POST, "/v1/tenants")
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .body("{\"id\": \"new\","),
        )
        .await;
    assert_eq!(
        (malformed.status, malformed.json["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );

    let wrong_type = host
        .call(
            Method::POST,
            "/v1/tenants",
            Some(admin),
            Some(&json!({"id": 7, "name": "Seven"})),
        )
        .await;
    assert_eq!(wrong_type.status, 422, "{}", wrong_type.text);
    assert!(
        wrong_type.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("id")
    );

    let bad_id = host
        .call(
            Method::POST,
            "/v1/tenants",
            Some(admin),
            Some(&json!({"id": "Not Valid", "name": "x"})),
        )
        .await;
    assert_eq!(bad_id.status, 422);

    let duplicate = host.create_tenant(admin, "acme").await;
    assert_eq!(duplicate.status, 409);

    let unknown_tenant = host
        .call(Method::GET, "/v1/tenants/nobody", Some(admin), None)
        .await;
    assert_eq!(
        (
            unknown_tenant.status,
            unknown_tenant.json["error"]["code"].as_str()
        ),
        (404, Some("not_found"))
    );

    let unknown_plugin = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/nothing",
            Some(admin),
            Some(&json!({})),
        )
        .await;
    assert_eq!(unknown_plugin.status, 404);
    assert_eq!(unknown_plugin.json["error"]["message"], "no plugin `nothing`");

    let not_enabled = host
        .call(
            Method::POST,
            "/v1/tenants/rival/plugins/hello-connector/invoke",
            Some(admin),
            Some(&invoke_body("spec", Value::Null)),
        )
        .await;
    assert_eq!(not_enabled.status, 404, "{}", not_enabled.text);

    // The server answers before reading the whole body and closes the
    // connection, so this request must not share a pooled one.
    let oversize = host
        .send(
            host.request(Method::POST, "/v1/tenants")
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .header("connection", "close")
                .body(json!({"id": "big", "name": "x".repeat(2 << 20)}).to_string()),
        )
        .await;
    assert_eq!(
        (oversize.status, oversize.json["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );

    let bad_config = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(admin),
            Some(&json!({"config": {"names": ["Ada", 3], "colour": "red"}})),
        )
        .await;
    assert_eq!(bad_config.status, 422);
    let message = bad_config.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("at /names/1: 3 is not of type \"string\""),
        "{message}"
    );
    assert!(
        message.contains("colour"),
        "every failing path is named: {message}"
    );

    let ungrantable = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(admin),
            Some(&json!({"config": {"names": []}, "grants": {"http_hosts": ["evil.example.com"]}})),
        )
        .await;
    assert_eq!(ungrantable.status, 422);
    assert!(ungrantable.text.contains("evil.example.com"));

    let undeclared_secret = host
        .call(
            Method::PUT,
            "/v1/tenants/acme/plugins/hello-connector",
            Some(admin),
            Some(&json!({"config": {"names": []}, "secrets": {"other": "x"}})),
        )
        .await;
    assert_eq!(undeclared_secret.status, 422);

    let unknown_export = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hello-connector/invoke",
            Some(admin),
            Some(&invoke_body("explode", Value::Null)),
        )
        .await;
    assert_eq!(unknown_export.status, 422);

    let bad_upload = host.publish_bytes(admin, b"not a package".to_vec()).await;
    assert_eq!(bad_upload.status, 422, "{}", bad_upload.text);
    let garbage = std::env::temp_dir().join(format!("not-a-component-{}", std::process::id()));
    std::fs::write(&garbage, b"hello").expect("write");
    let package = host
        .signed_package(
            admin,
            &hello_manifest().replace("0.1.0", "0.2.0"),
            garbage.to_str().expect("path"),
        )
        .await;
    let not_a_component = host
        .publish_bytes(admin, package.to_bytes().expect("package"))
        .await;
    assert_eq!(not_a_component.status, 422);
    assert!(
        not_a_component.text.contains("not a WebAssembly binary"),
        "{}",
        not_a_component.text
    );
    let same_version = host
        .upload(admin, &hello_manifest(), guests::HELLO_CONNECTOR)
        .await;
    assert_eq!(same_version.status, 409);

    assert_eq!(snapshot(host), before, "rejected requests changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id_and_cors_allows_only_configured_origins() {
    let world = world().await;
    let host = &world.host;
    let ok = host.call(Method::GET, "/v1/health", None, None).await;
    assert!(ok.headers.contains_key("x-request-id"));
    let error = host.call(Method::GET, "/v1/tenants", None, None).await;
    let header = error.headers["x-request-id"].to_str().expect("text").to_string();
    assert_eq!(error.json["error"]["request_id"], header);
    let unknown = host.call(Method::GET, "/v2/anything", None, None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json["error"]["request_id"],
        unknown.headers["x-request-id"].to_str().expect("text")
    );
    let given = host
        .send(
            host.request(Method::GET, "/v1/health")
                .header("x-request-id", "frontend-123"),
        )
        .await;
    assert_eq!(given.headers["x-request-id"], "frontend-123");

    let preflight = |origin: &'static str| {
        host.request(Method::OPTIONS, "/v1/tenants")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
    };
    let allowed = host.send(preflight("https://app.example.com")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = host.send(preflight("https://evil.example.com")).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
}
