//! Every route refuses the wrong credentials; bad input changes nothing;
//! request ids and CORS.

use super::*;

/// The least role each route allows, written out here rather than read
/// from the host (or its documentation), so that a change of the host's
/// table shows up as a failing test.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("POST", "/v1/tenants", "admin"),
    ("GET", "/v1/tenants", "admin"),
    ("GET", "/v1/tenants/{tenant}", "viewer"),
    ("DELETE", "/v1/tenants/{tenant}", "admin"),
    ("POST", "/v1/tenants/{tenant}/suspend", "admin"),
    ("POST", "/v1/tenants/{tenant}/resume", "admin"),
    ("PUT", "/v1/tenants/{tenant}/quotas", "admin"),
    ("POST", "/v1/tenants/{tenant}/keys", "admin"),
    ("GET", "/v1/tenants/{tenant}/keys", "admin"),
    ("DELETE", "/v1/tenants/{tenant}/keys/{key}", "admin"),
    ("POST", "/v1/plugins", "admin"),
    ("GET", "/v1/plugins", "viewer"),
    ("GET", "/v1/plugins/{plugin}/versions", "viewer"),
    ("GET", "/v1/plugins/{plugin}/versions/{version}", "viewer"),
    ("GET", "/v1/plugins/{plugin}/versions/{version}/package", "viewer"),
    ("POST", "/v1/plugins/{plugin}/versions/{version}/yank", "admin"),
    ("PUT", "/v1/plugins/{plugin}/owner", "admin"),
    ("POST", "/v1/publishers", "admin"),
    ("GET", "/v1/publishers", "admin"),
    ("DELETE", "/v1/publishers/{key}", "admin"),
    ("GET", "/v1/tenants/{tenant}/plugins", "viewer"),
    ("PUT", "/v1/tenants/{tenant}/plugins/{plugin}", "admin"),
    ("DELETE", "/v1/tenants/{tenant}/plugins/{plugin}", "admin"),
    ("POST", "/v1/tenants/{tenant}/plugins/{plugin}/invoke", "operator"),
    ("POST", "/v1/tenants/{tenant}/plugins/{plugin}/upgrade", "admin"),
    ("POST", "/v1/tenants/{tenant}/plugins/{plugin}/rollback", "admin"),
    ("POST", "/v1/tenants/{tenant}/plugins/{plugin}/sync", "operator"),
    ("POST", "/v1/tenants/{tenant}/plugins/{plugin}/run", "operator"),
    ("POST", "/v1/tenants/{tenant}/jobs", "operator"),
    ("GET", "/v1/tenants/{tenant}/jobs", "viewer"),
    ("DELETE", "/v1/tenants/{tenant}/jobs/{job}", "operator"),
    ("GET", "/v1/tenants/{tenant}/runs", "viewer"),
    ("GET", "/v1/tenants/{tenant}/runs/{run}", "viewer"),
    ("POST", "/v1/tenants/{tenant}/runs/{run}/cancel", "operator"),
    (
        "GET",
        "/v1/tenants/{tenant}/records/{connector}/{stream}",
        "viewer",
    ),
    ("GET", "/v1/tenants/{tenant}/usage", "viewer"),
    ("GET", "/v1/tenants/{tenant}/audit", "viewer"),
    ("GET", "/v1/tenants/{tenant}/audit/verify", "viewer"),
    ("GET", "/v1/tenants/{tenant}/audit/export", "viewer"),
    ("GET", "/v1/tenants/{tenant}/events", "viewer"),
    ("GET", "/v1/audit/public-key", "viewer"),
    ("GET", "/v1/tenants/{tenant}/reports/{dataset}", "viewer"),
    ("GET", "/metrics", "admin"),
    ("GET", "/v1/tenants/{tenant}/proposals", "viewer"),
    ("GET", "/v1/tenants/{tenant}/proposals/{proposal}", "viewer"),
    (
        "POST",
        "/v1/tenants/{tenant}/proposals/{proposal}/approve",
        "operator",
    ),
    (
        "POST",
        "/v1/tenants/{tenant}/proposals/{proposal}/reject",
        "operator",
    ),
    ("GET", "/v1/tenants/{tenant}/autonomy", "viewer"),
    ("PUT", "/v1/tenants/{tenant}/autonomy", "admin"),
    ("POST", "/v1/tenants/{tenant}/autonomy/simulate", "admin"),
    ("POST", "/v1/hooks/{tenant}/{connector}", "public"),
    ("POST", "/v1/tenants/{tenant}/endpoints", "admin"),
    ("GET", "/v1/tenants/{tenant}/endpoints", "admin"),
    ("DELETE", "/v1/tenants/{tenant}/endpoints/{endpoint}", "admin"),
    (
        "GET",
        "/v1/tenants/{tenant}/endpoints/{endpoint}/deliveries",
        "admin",
    ),
    ("GET", "/v1/oauth/clients", "admin"),
    ("PUT", "/v1/oauth/clients/{provider}", "admin"),
    ("DELETE", "/v1/oauth/clients/{provider}", "admin"),
    ("PUT", "/v1/tenants/{tenant}/oauth/clients/{provider}", "admin"),
    ("DELETE", "/v1/tenants/{tenant}/oauth/clients/{provider}", "admin"),
    (
        "POST",
        "/v1/tenants/{tenant}/plugins/{plugin}/connect",
        "operator",
    ),
    (
        "GET",
        "/v1/tenants/{tenant}/plugins/{plugin}/connection",
        "viewer",
    ),
    ("GET", "/v1/oauth/callback", "public"),
];

const ROLES: [&str; 4] = ["viewer", "operator", "expert", "admin"];

/// The ids of real objects of one tenant, for every path parameter.
struct Objects {
    proposal: String,
    run: String,
    job: String,
    endpoint: String,
}

/// Give `tenant` a pending proposal (from the data agent, on the hello
/// connector), an agent run, a synced stream and a job.
async fn objects_of(world: &World, tenant: &str) -> Objects {
    let (host, admin) = (&world.host, world.admin.as_str());
    let path = format!("/v1/tenants/{tenant}/plugins/data-agent");
    let enabled = host.call(Method::PUT, &path, Some(admin), Some(&json!({}))).await;
    assert_eq!(enabled.status, 200, "{}", enabled.text);
    let task = json!({"kind": "propose", "input": {"proposals": [{
        "connector": "hello-connector", "action": "add-name", "input": {"name": "Edsger"},
        "confidence": 0.9, "metric": "names", "absolute": 1, "percent": 50, "rationale": "test",
    }]}});
    let started = host
        .call(Method::POST, &format!("{path}/run"), Some(admin), Some(&task))
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run = host
        .wait_for_run(admin, tenant, started.json["id"].as_str().expect("run"))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let proposals = host
        .call(
            Method::GET,
            &format!("/v1/tenants/{tenant}/proposals"),
            Some(admin),
            None,
        )
        .await;
    let proposal = proposals.json[0]["id"].as_str().expect("a proposal").to_string();
    let sync = host
        .call(
            Method::POST,
            &format!("/v1/tenants/{tenant}/plugins/hello-connector/sync"),
            Some(admin),
            Some(&json!({"streams": ["greetings"]})),
        )
        .await;
    assert_eq!(sync.status, 202, "{}", sync.text);
    host.wait_for_run(admin, tenant, sync.json["id"].as_str().expect("run"))
        .await;
    let job = json!({"plugin": "hello-connector", "schedule": {"type": "cron", "expression": "0 3 1 1 *"}});
    let created = host
        .call(
            Method::POST,
            &format!("/v1/tenants/{tenant}/jobs"),
            Some(admin),
            Some(&job),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    // Port 9 (discard) on loopback, grantable on the test host; only
    // `run.failed` events, which this test makes none of.
    let hook = json!({"url": "http://127.0.0.1:9/hook", "kinds": ["run.failed"]});
    let endpoint = host
        .call(
            Method::POST,
            &format!("/v1/tenants/{tenant}/endpoints"),
            Some(admin),
            Some(&hook),
        )
        .await;
    assert_eq!(endpoint.status, 201, "{}", endpoint.text);
    Objects {
        endpoint: endpoint.json["endpoint"]["id"]
            .as_str()
            .expect("endpoint")
            .to_string(),
        proposal,
        run: run["id"].as_str().expect("run").to_string(),
        job: created.json["id"].as_str().expect("job").to_string(),
    }
}

/// `path` with every parameter replaced by a real object of `acme`.
fn url_of(path: &str, world: &World, objects: &Objects, publisher_key: &str) -> String {
    path.replace("{version}", "0.1.0")
        .replace("{tenant}", "acme")
        .replace("{plugin}", "hello-connector")
        .replace("{connector}", "hello-connector")
        .replace("{stream}", "greetings")
        .replace("{dataset}", "usage")
        .replace("{proposal}", &objects.proposal)
        .replace("{run}", &objects.run)
        .replace("{job}", &objects.job)
        .replace("{endpoint}", &objects.endpoint)
        .replace("{provider}", "google")
        .replace(
            "{key}",
            if path.starts_with("/v1/publishers") {
                publisher_key
            } else {
                &world.acme_key_id
            },
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_allows_exactly_the_roles_it_should() {
    let world = world().await;
    let (host, admin) = (&world.host, world.admin.as_str());
    let upload = host
        .upload(admin, &data_agent_manifest(), guests::DATA_AGENT)
        .await;
    assert_eq!(upload.status, 201, "{}", upload.text);
    let enable_hello = json!({ "config": { "names": ["Ada"] } });
    let path = "/v1/tenants/rival/plugins/hello-connector";
    assert_eq!(
        host.call(Method::PUT, path, Some(admin), Some(&enable_hello))
            .await
            .status,
        200
    );
    let acme = objects_of(&world, "acme").await;
    let rival = objects_of(&world, "rival").await;
    let publishers = host.call(Method::GET, "/v1/publishers", Some(admin), None).await;
    let publisher_key = publishers.json[0]["id"].as_str().unwrap_or("none").to_string();
    let (viewer, _) = host.create_key(admin, "acme", "viewer").await;
    let (expert, _) = host.create_key(admin, "acme", "expert").await;
    let token_of = |role: &str| match role {
        "viewer" => viewer.clone(),
        "operator" => world.acme_operator.clone(),
        "expert" => expert.clone(),
        _ => world.admin.clone(),
    };

    let doc = host.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(doc.json["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc.json["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("operations") {
            let method_name = method.to_uppercase();
            let least = EXPECTED
                .iter()
                .find(|(m, p, _)| *m == method_name && p == path)
                .map(|(_, _, least)| *least)
                .unwrap_or_else(|| panic!("{method_name} {path} is not in this test's table"));
            assert!(
                operation.get("security").is_some(),
                "{method} {path} declares its security"
            );
            let url = url_of(path, &world, &acme, &publisher_key);
            let method = Method::from_bytes(method_name.as_bytes()).expect("method");
            let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
            let before = snapshot(host);
            if least == "public" {
                let refused = host.call(method.clone(), &url, None, body.as_ref()).await;
                assert!(refused.status >= 400, "{method} {url} unsigned: {}", refused.text);
                checked += 1;
                continue;
            }
            for (who, token) in [("no key", None), ("a revoked key", Some(world.revoked.as_str()))] {
                let reply = host.call(method.clone(), &url, token, body.as_ref()).await;
                assert_eq!(reply.status, 401, "{method} {url} with {who}: {}", reply.text);
            }
            if path.contains("{tenant}") {
                let other = host
                    .call(method.clone(), &url, Some(&world.rival_operator), body.as_ref())
                    .await;
                assert_eq!(
                    other.status, 403,
                    "{method} {url} with rival's key: {}",
                    other.text
                );
            }
            let rank = ROLES.iter().position(|r| *r == least).expect("a role");
            for role in &ROLES[..rank] {
                let reply = host
                    .call(method.clone(), &url, Some(&token_of(role)), body.as_ref())
                    .await;
                assert_eq!(reply.status, 403, "{method} {url} as {role}: {}", reply.text);
            }
            assert_unchanged(
                host,
                &before,
                &format!("refusals of {method} {url} change nothing"),
            );
            // Reading is safe to try with every allowed role.
            if method == Method::GET {
                for role in &ROLES[rank..] {
                    if path.ends_with("/events") {
                        // A stream that does not end: its status is enough.
                        let request = host.request(method.clone(), &url).bearer_auth(token_of(role));
                        let response = request.send().await.expect("the host answers");
                        assert_eq!(response.status(), 200, "{method} {url} as {role}");
                        continue;
                    }
                    let reply = host.call(method.clone(), &url, Some(&token_of(role)), None).await;
                    assert!(reply.status < 400, "{method} {url} as {role}: {}", reply.text);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, EXPECTED.len(), "every route in the table is documented");

    // A key of acme naming rival's objects under its own tenant finds
    // nothing and changes nothing.
    let before = snapshot(host);
    for (method, path) in [
        (
            Method::GET,
            format!("/v1/tenants/acme/proposals/{}", rival.proposal),
        ),
        (
            Method::POST,
            format!("/v1/tenants/acme/proposals/{}/approve", rival.proposal),
        ),
        (
            Method::POST,
            format!("/v1/tenants/acme/proposals/{}/reject", rival.proposal),
        ),
        (Method::GET, format!("/v1/tenants/acme/runs/{}", rival.run)),
        (Method::DELETE, format!("/v1/tenants/acme/jobs/{}", rival.job)),
    ] {
        let body = if path.ends_with("/reject") {
            json!({"reason": "not yours"})
        } else {
            json!({})
        };
        let reply = host
            .call(method.clone(), &path, Some(&world.acme_operator), Some(&body))
            .await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text);
    }
    assert_unchanged(host, &before, "cross-tenant ids change nothing");
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

    let unknown_plugin = host.enable(admin, "acme", "nothing", &json!({})).await;
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
        .enable(
            admin,
            "acme",
            "hello-connector",
            &json!({"config": {"names": ["Ada", 3], "colour": "red"}}),
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
        .enable(
            admin,
            "acme",
            "hello-connector",
            &json!({"config": {"names": []}, "grants": {"http_hosts": ["evil.example.com"]}}),
        )
        .await;
    assert_eq!(ungrantable.status, 422);
    assert!(ungrantable.text.contains("evil.example.com"));

    let undeclared_secret = host
        .enable(
            admin,
            "acme",
            "hello-connector",
            &json!({"config": {"names": []}, "secrets": {"other": "x"}}),
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

    assert_unchanged(host, &before, "rejected requests change nothing");
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
