//! A plugin's typed error answers with a status that says what happened,
//! and is logged at the level of what it is: each error comes from the real
//! hostile connector, some of them through a loopback platform that limits
//! its rate or is down.

use super::*;
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use std::time::Duration;

/// A loopback platform: `/limited` answers 429 asking to wait 7 s,
/// `/limited-silently` 429 without saying how long.
async fn platform() -> String {
    let app = axum::Router::new()
        .route(
            "/limited",
            axum::routing::get(|| async {
                let mut response = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("7"));
                response
            }),
        )
        .route(
            "/limited-silently",
            axum::routing::get(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// A loopback address nothing listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    drop(listener);
    url
}

fn act(name: &str, input: Value) -> Value {
    json!({"export": "act", "input": {"name": name, "input": input, "idempotency_key": format!("k-{name}")}})
}

/// The lines logged while serving the request with id `request_id` (the
/// request's span names it on each of them), waiting a little for them.
async fn logged_for(request_id: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = {
            let logs = captured_logs().lock().expect("logs");
            String::from_utf8_lossy(&logs)
                .lines()
                .filter(|line| line.contains(request_id))
                .map(str::to_string)
                .collect()
        };
        if lines.iter().any(|line| line.contains("omnify_api::error")) || std::time::Instant::now() > deadline
        {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_typed_error_answers_with_its_own_status_and_log_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (host, admin) = host_with_hostile(dir.path(), json!({ "secrets": { "api_token": SECRET } })).await;
    let platform = platform().await;
    let closed = closed_port_url().await;
    // (what the plugin is asked, its error kind, the status, the code, the level it is logged at)
    let cases = [
        (
            act("nope", json!({})),
            "not-found",
            404,
            "target_not_found",
            "INFO",
        ),
        (
            json!({"export": "read", "input": {"stream": "nowhere"}}),
            "not-found",
            404,
            "target_not_found",
            "INFO",
        ),
        (
            act("kv-set", json!({})),
            "invalid-input",
            422,
            "plugin_invalid_input",
            "INFO",
        ),
        (
            act("leak-secret", json!({})),
            "auth",
            424,
            "platform_auth_refused",
            "INFO",
        ),
        // A host outside the grant is the enablement's configuration.
        (
            act("http-get", json!({"url": "http://10.11.12.13/"})),
            "config",
            424,
            "plugin_config_invalid",
            "INFO",
        ),
        (
            act("http-get", json!({"url": format!("{platform}/limited")})),
            "rate-limited",
            429,
            "platform_rate_limited",
            "INFO",
        ),
        (
            act("http-get", json!({"url": format!("{platform}/limited-silently")})),
            "rate-limited",
            429,
            "platform_rate_limited",
            "INFO",
        ),
        (
            act("http-get", json!({"url": closed})),
            "transient",
            503,
            "platform_unavailable",
            "WARN",
        ),
        (
            act("huge-error", json!({"bytes": 16})),
            "internal",
            502,
            "plugin_internal",
            "WARN",
        ),
    ];
    for (body, kind, status, code, level) in &cases {
        let reply = host
            .call(
                Method::POST,
                "/v1/tenants/acme/plugins/hostile/invoke",
                Some(&admin),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, *status, "{body}: {}", reply.text);
        assert_eq!(reply.json["error"]["code"], *code, "{}", reply.text);
        assert_eq!(
            reply.json["error"]["details"]["error"]["kind"], *kind,
            "{}",
            reply.text
        );
        assert!(
            reply.json["error"]["details"]["usage"].is_object(),
            "{}",
            reply.text
        );
        let request_id = reply.headers["x-request-id"].to_str().expect("an id").to_string();
        let lines = logged_for(&request_id).await;
        let outcome: Vec<&String> = lines
            .iter()
            .filter(|line| line.contains("omnify_api::error"))
            .collect();
        assert_eq!(outcome.len(), 1, "one line says how the call ended: {lines:#?}");
        assert!(
            outcome[0].contains(level),
            "{kind} is logged at {level}: {}",
            outcome[0]
        );
        assert!(
            !lines.iter().any(|line| line.contains(" ERROR ")),
            "a plugin's {kind} is not a host error: {lines:#?}"
        );
    }

    // The platform's delay is the client's too; none is invented.
    let limited = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&admin),
            Some(&act("http-get", json!({"url": format!("{platform}/limited")}))),
        )
        .await;
    assert_eq!(limited.headers["retry-after"], "7", "{:?}", limited.headers);
    assert_eq!(limited.json["error"]["details"]["error"]["retry_after_ms"], 7000);
    let silent = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&admin),
            Some(&act(
                "http-get",
                json!({"url": format!("{platform}/limited-silently")}),
            )),
        )
        .await;
    assert_eq!(silent.status, 429, "{}", silent.text);
    assert!(
        silent.headers.get("retry-after").is_none(),
        "{:?}",
        silent.headers
    );

    // A plugin that panics or exhausts a limit is the plugin's fault: 502,
    // logged as a warning.
    let panicked = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&admin),
            Some(&act("panic", json!({}))),
        )
        .await;
    assert_eq!(panicked.status, 502, "{}", panicked.text);
    assert_eq!(panicked.json["error"]["code"], "invocation_failed");
    let request_id = panicked.headers["x-request-id"]
        .to_str()
        .expect("an id")
        .to_string();
    let lines = logged_for(&request_id).await;
    assert!(
        lines
            .iter()
            .any(|line| line.contains(" WARN ") && line.contains("omnify_api::error")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|line| line.contains(" ERROR ")), "{lines:#?}");

    // The caller's own mistakes keep their statuses.
    let unknown_export = host
        .call(
            Method::POST,
            "/v1/tenants/acme/plugins/hostile/invoke",
            Some(&admin),
            Some(&json!({"export": "describe"})),
        )
        .await;
    assert_eq!(unknown_export.status, 400, "{}", unknown_export.text);
    assert_eq!(unknown_export.json["error"]["code"], "wrong_export");
    host.stop().await;
}
